r"""NARMA: the nonlinear auto-regressive moving-average benchmark of reservoir computing.

The order-10 system (NARMA10) was introduced by Atiya & Parlos, IEEE Trans. Neural Netw. 11(3),
697 (2000), and is the standard memory/nonlinearity benchmark of delay reservoirs (Appeltant et
al., Nat. Commun. 2, 468 (2011); Larger et al., Phys. Rev. X 7, 011015 (2017)):

$$y(k+1) = 0.3\,y(k) + 0.05\,y(k)\sum_{i=0}^{9} y(k-i) + 1.5\,u(k-9)\,u(k) + 0.1,
\qquad u(k) \sim \mathcal{U}[0, 0.5]\ \text{i.i.d.}$$

:func:`narma` generalises the order and the coefficients (a, b, c, d):

$$y(k+1) = a\,y(k) + b\,y(k)\sum_{i=0}^{n-1} y(k-i) + c\,u(k-n+1)\,u(k) + d .$$

Conventions
-----------
- ``y(k) = 0`` for ``k < n`` (the first ``n`` outputs, before the delayed input exists); the first
  update computes ``y(n)``. Inputs are drawn for every ``k``.
- The arrays are **aligned for a readout**: ``y[k]`` is $y(k+1)$, the first output that depends
  on ``u[k]``. A reservoir driven by ``u[0..k]`` is trained to output ``y[k]``.
- ``washout`` time steps are generated first and dropped (the initial zeros and the transient).
- Everything is float64 NumPy, drawn with ``numpy.random.default_rng(seed)``: the same seed gives
  the same data. The recursion is a short scalar loop (a few ms for 10^4 steps).

Divergence
----------
NARMA is not stable for every input: with larger inputs (e.g. ``U[0, 1]`` at order 10) or other
coefficients the quadratic term $b\,y(k)\sum y$ makes $y$ blow up within a few steps. Such data
are useless, so :func:`narma` raises ``ValueError`` (naming the order, the coefficients, the input
range, the seed and the step) as soon as $|y|$ exceeds ``bound`` or becomes non-finite. Even the
standard NARMA10 diverges for some seeds: measured with :func:`narma10` (washout 200), 18 of
seeds 0-499 diverge within 7000 steps and 21 within 10^4 (seed 0 does not); choose another seed
then. With ``input_range=(0, 0.6)`` all of seeds 0-19 diverge within 2000 steps.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["narma", "narma10", "NARMA10_COEFFICIENTS"]

#: (a, b, c, d) of the standard NARMA10 (Atiya & Parlos 2000).
NARMA10_COEFFICIENTS: tuple[float, float, float, float] = (0.3, 0.05, 1.5, 0.1)


def _int_at_least(name: str, value, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lo:
        raise ValueError(f"{name}={value!r} must be an integer >= {lo}")
    return int(value)


def _finite_float(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if isinstance(value, bool) or not np.isfinite(v):
        raise ValueError(f"{name}={value!r} must be a finite real number")
    return v


def _seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed={seed!r} must be a non-negative integer")
    return int(seed)


def narma(
    n_steps: int,
    order: int = 10,
    *,
    seed: int = 0,
    washout: int = 200,
    coefficients: tuple[float, float, float, float] = NARMA10_COEFFICIENTS,
    input_range: tuple[float, float] = (0.0, 0.5),
    bound: float = 1e3,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Generate an order-``order`` NARMA input/target pair.

    $y(k+1) = a\,y(k) + b\,y(k)\sum_{i=0}^{n-1} y(k-i) + c\,u(k-n+1)\,u(k) + d$ with
    $u(k) \sim \mathcal{U}$[``input_range``] and ``(a, b, c, d) = coefficients``; see the module
    docstring for the alignment (``y[k]`` is $y(k+1)$) and the initial conditions.

    Args:
        n_steps: number of returned time steps, >= 1.
        order: memory ``n`` of the system, >= 1 (10 for NARMA10).
        seed: non-negative integer seed of ``numpy.random.default_rng``.
        washout: steps generated and discarded before the returned ones, >= 0. The default 200
            covers the initial zeros and the transient of NARMA10.
        coefficients: ``(a, b, c, d)``, finite. Default: NARMA10's ``(0.3, 0.05, 1.5, 0.1)``.
        input_range: ``(low, high)`` of the uniform input, finite, ``low < high``.
        bound: divergence threshold on ``|y|``, > 0.

    Returns:
        ``(u, y)``, float64 arrays of shape ``(n_steps,)``.

    Raises:
        ValueError: invalid arguments (naming the parameter), or a diverging series
            (``|y| > bound`` or non-finite), naming the step and the parameters.
    """
    n_steps = _int_at_least("n_steps", n_steps, 1)
    order = _int_at_least("order", order, 1)
    washout = _int_at_least("washout", washout, 0)
    seed = _seed(seed)
    try:
        coefs = tuple(coefficients)
    except TypeError:
        coefs = ()
    if len(coefs) != 4:
        raise ValueError(f"coefficients={coefficients!r} must be a sequence of 4 numbers (a, b, c, d)")
    a, b, c, d = (_finite_float(f"coefficients[{i}]", v) for i, v in enumerate(coefs))
    try:
        rng_ = tuple(input_range)
    except TypeError:
        rng_ = ()
    if len(rng_) != 2:
        raise ValueError(f"input_range={input_range!r} must be a pair (low, high)")
    lo, hi = (_finite_float(f"input_range[{i}]", v) for i, v in enumerate(rng_))
    if not lo < hi:
        raise ValueError(f"input_range={input_range!r} must have low < high")
    bound = _finite_float("bound", bound)
    if bound <= 0:
        raise ValueError(f"bound={bound!r} must be > 0 (divergence threshold on |y|)")

    total = n_steps + washout
    # Full time axis: k = 0 .. order + total - 1; y(k) = 0 for k < order.
    length = order + total
    u = np.random.default_rng(seed).uniform(lo, hi, size=length)
    y = [0.0] * (length + 1)
    uu = u.tolist()
    for k in range(order - 1, length):
        yk = y[k]
        window = sum(y[k - order + 1 : k + 1])  # sum_{i=0}^{order-1} y(k-i), exact each step
        ynext = a * yk + b * yk * window + c * uu[k - order + 1] * uu[k] + d
        if not abs(ynext) <= bound:  # also catches NaN/inf
            step = k + 1 - order - washout
            where = (
                f"step {step} of the returned series" if step >= 0 else f"washout step {step + washout}"
            )
            raise ValueError(
                f"narma diverged: |y| = {abs(ynext):.3g} exceeds bound={bound:g} at {where} "
                f"(order={order}, coefficients={(a, b, c, d)}, input_range={(lo, hi)}, seed={seed}); "
                "NARMA is only stable for small inputs: reduce input_range or the coefficients, "
                "or try another seed"
            )
        y[k + 1] = ynext
    # Readout alignment: the target for input u(k) is y(k+1). The loop covers k = order-1 ...,
    # so the returned window starts at k0 = order + washout (u(k0 - order + 1) already exists).
    k0 = order + washout
    u_out = u[k0 : k0 + n_steps].copy()
    y_out = np.asarray(y[k0 + 1 : k0 + 1 + n_steps], dtype=np.float64)
    return u_out, y_out


def narma10(n_steps: int, *, seed: int = 0, washout: int = 200) -> tuple[np.ndarray, np.ndarray]:
    r"""The standard NARMA10 task, $u \sim \mathcal{U}[0, 0.5]$; see :func:`narma`.

    Returns ``(u, y)``, float64 arrays of shape ``(n_steps,)`` with ``y[k]`` $= y(k+1)$.
    """
    return narma(n_steps, 10, seed=seed, washout=washout)
