r"""The temporal parity benchmark of mechanical reservoirs (Coulombe, York & Sylvestre, PLoS ONE
12, e0178663 (2017); Dion, Mejaouri & Sylvestre, J. Appl. Phys. 124, 152132 (2018)).

A stream of random bits $u(k) \in \{0, 1\}$ enters the reservoir one bit per time step; the target
of order $n$ is the parity of the last $n$ bits,

$$P_n(k) = u(k) \oplus u(k-1) \oplus \dots \oplus u(k-n+1),$$

so $P_1$ is the current bit (no memory, linear), and $P_n$ for $n \ge 2$ needs memory of $n - 1$
past bits and a nonlinearity of order $n$ (parity is not linearly separable). The score is the bit
error rate of a thresholded linear readout.
"""

from __future__ import annotations

import numpy as np

__all__ = ["parity_task", "parity_targets", "bit_error_rate"]


def _check_order(order, func: str) -> int:
    if int(order) != order or int(order) < 1:
        raise ValueError(f"{func}: order={order!r} must be an integer >= 1 (the number of bits "
                         "whose parity is the target)")
    return int(order)


def parity_targets(bits, order: int) -> np.ndarray:
    r"""$P_n(k) = u(k) \oplus \dots \oplus u(k-n+1)$ of a bit stream ``bits`` (last axis = time),
    as ``int8``. The first ``order - 1`` entries, which would need bits before the stream,
    are computed with the missing bits taken as 0; drop them (a washout) when scoring."""
    order = _check_order(order, "parity_targets")
    b = np.asarray(bits)
    if b.ndim < 1 or b.shape[-1] == 0:
        raise ValueError(f"parity_targets: bits must have a non-empty time axis, got shape {b.shape}")
    if not np.all((b == 0) | (b == 1)):
        raise ValueError("parity_targets: bits must be 0 or 1")
    b = b.astype(np.int8)
    out = b.copy()
    for lag in range(1, order):
        shifted = np.zeros_like(b)
        shifted[..., lag:] = b[..., :-lag]
        out ^= shifted
    return out


def parity_task(n_bits: int, order: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    r"""A random bit stream and its parity target of order ``order``.

    **Arguments:**

    - `n_bits`: length of the stream, >= ``order``.
    - `order`: $n \ge 1$.
    - `seed`: seed of a NumPy ``default_rng`` (same seed, same stream for every order, so the
      orders can share one reservoir run).

    **Returns:** ``(bits, targets)``, both ``int8`` of shape ``(n_bits,)``; ``targets[k]`` is
    valid for ``k >= order - 1``.
    """
    order = _check_order(order, "parity_task")
    if int(n_bits) != n_bits or int(n_bits) < order:
        raise ValueError(f"parity_task: n_bits={n_bits!r} must be an integer >= order={order}")
    bits = np.random.default_rng(seed).integers(0, 2, int(n_bits)).astype(np.int8)
    return bits, parity_targets(bits, order)


def bit_error_rate(pred, target) -> float:
    """Fraction of bits where ``pred`` (0/1, or a score thresholded at 0.5) differs from ``target``."""
    p = np.asarray(pred)
    t = np.asarray(target)
    if p.shape != t.shape or p.size == 0:
        raise ValueError(f"bit_error_rate: pred shape {p.shape} and target shape {t.shape} must be "
                         "equal and non-empty")
    if np.issubdtype(p.dtype, np.floating):
        bad = ~np.isfinite(p)
        if bad.any():  # NaN > 0.5 is False: a diverged reservoir would score as if it said 0
            raise ValueError(f"bit_error_rate: pred has {int(bad.sum())} non-finite scores (NaN or "
                             f"inf) of {p.size}, the first at index "
                             f"{tuple(int(i) for i in np.argwhere(bad)[0])}; expected finite scores")
        p = p > 0.5
    return float(np.mean(p.astype(np.int8) != t.astype(np.int8)))
