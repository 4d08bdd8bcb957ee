r"""Dynamical-systems diagnostics: largest Lyapunov exponents and bifurcation diagrams.

A system is given as a one-step map ``step(y, xi) -> y'`` of a fixed time step (an ODE or SDE
integrator step, :func:`rk4_step` or :func:`heun_step`, or any map), where ``xi`` are the standard
normal increments of that step. The increments of block ``j`` are drawn from
``fold_in(key, j)``, so every estimator below sees the *same* noise realisation along the same
trajectory: the exponent of a noisy system is that of a random dynamical system on one
realisation.

- Largest Lyapunov exponent $\lambda = \lim_{t\to\infty} \frac1t \ln\|\delta y(t)\|/\|\delta y(0)\|$,
  two ways: the tangent map (``jax.jvp`` of the step, Benettin renormalisation after every block,
  :func:`tangent_logs`) and two nearby trajectories (:func:`two_trajectory_logs`). Both give the
  log-growth of each block; :func:`exponent_from_logs` (a regression slope) and
  :func:`exponent_cycle_aligned` (between whole cycles of an oscillation) turn them into an
  exponent and its standard error.
- Bifurcation diagrams: :func:`cycle_extrema` gives the peaks and troughs of an observable, one
  per cycle, and the mean period, from its per-block maxima and minima; :func:`find_bands`
  the contiguous runs of a flag along a parameter scan.

Everything is jit-able JAX except the estimators from the logs (NumPy, after the solve).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["advance", "cycle_extrema", "exponent_cycle_aligned", "exponent_from_logs",
           "exponents", "find_bands", "heun_step", "rk4_step", "tangent_logs",
           "two_trajectory_logs"]

Step = Callable[[jax.Array, jax.Array], jax.Array]


def _increments(key, block, block_steps, noise_dim):
    """Standard normal increments of one block, shape (block_steps, max(noise_dim, 1)): block
    ``block`` of the stream ``key``, so that every method sees the same realisation."""
    return jax.random.normal(jax.random.fold_in(key, block), (block_steps, max(noise_dim, 1)))


def rk4_step(field: Callable[[jax.Array], jax.Array], h: float) -> Step:
    r"""The classical Runge-Kutta step of $\dot y = f(y)$:
    $y' = y + \frac h6 (k_1 + 2k_2 + 2k_3 + k_4)$.

    **Arguments:**

    - `field`: $f(y)$, the vector field (state units per time unit).
    - `h`: the step (time units).

    **Returns:** ``step(y, xi)``, deterministic (``xi`` is ignored).
    """
    def step(y, xi):
        k1 = field(y)
        k2 = field(y + 0.5 * h * k1)
        k3 = field(y + 0.5 * h * k2)
        k4 = field(y + h * k3)
        return y + (h / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)
    return step


def heun_step(field: Callable[[jax.Array], jax.Array], h: float, g) -> Step:
    r"""The stochastic Heun step of $dy = f(y)\,dt + g\,dW$ with additive noise $g$ and one
    Wiener process (strong order 1 for additive noise): with $\Delta W = \sqrt h\,\xi$,
    $\tilde y = y + h f(y) + g\Delta W$, $y' = y + \frac h2 (f(y) + f(\tilde y)) + g\Delta W$.

    **Arguments:**

    - `field`: $f(y)$ (state units per time unit).
    - `h`: the step (time units).
    - `g`: the noise amplitude per component, shape of the state (state units per
      sqrt(time unit)).

    **Returns:** ``step(y, xi)`` with ``xi[0]`` the standard normal increment of the step.
    """
    def step(y, xi):
        dw = g * (jnp.sqrt(h) * xi[0])
        k1 = field(y)
        k2 = field(y + h * k1 + dw)
        return y + 0.5 * h * (k1 + k2) + dw
    return step


def advance(step: Step, y, key, n_blocks: int, block_steps: int, noise_dim: int,
            first_block: int = 0):
    """Iterate ``y <- step(y, xi)`` for ``n_blocks * block_steps`` steps (a transient).

    **Arguments:**

    - `step`: the one-step map.
    - `y`: the initial state.
    - `key`: the noise stream; block ``first_block + j`` draws from ``fold_in(key, ...)``.
    - `n_blocks`, `block_steps`: number of blocks and steps per block.
    - `noise_dim`: Wiener processes per step (0: deterministic).
    - `first_block`: index of the first block in the stream (to continue a realisation).

    **Returns:** the state after the last step.
    """
    def block(y, j):
        xi = _increments(key, first_block + j, block_steps, noise_dim)
        return jax.lax.scan(lambda y, x: (step(y, x), None), y, xi)[0], None
    return jax.lax.scan(block, y, jnp.arange(n_blocks))[0]


def tangent_logs(step: Step, y, key, n_blocks: int, block_steps: int, noise_dim: int, weights,
                 first_block: int = 0, observe: int = 0):
    r"""Benettin's method: the tangent vector $\delta y' = \partial_y \mathrm{step}(y, \xi)\,
    \delta y$ (``jax.jvp``, noise held fixed) carried along the trajectory and renormalised after
    every block; the block's log-growth is $\ln\|\delta y\|_w$ with $\|x\|_w = \|w \odot x\|$.

    **Arguments:**

    - `step`, `y`, `key`, `n_blocks`, `block_steps`, `noise_dim`, `first_block`: as
      :func:`advance`.
    - `weights`: $w$, one per state component (1/unit of that component), so that the norm
      compares unlike quantities (e.g. volts and kelvin).
    - `observe`: the state component whose per-block maximum and minimum are returned.

    **Returns:** (log-growth per block, shape ``(n_blocks,)``; max and min of ``y[observe]``
    within each block, same shape).
    """
    w = jnp.asarray(weights, y.dtype)
    dy = jnp.ones_like(y) / w
    dy = dy / jnp.linalg.norm(dy * w)

    def block(c, j):
        xi = _increments(key, first_block + j, block_steps, noise_dim)

        def inner(c, x):
            y2, dy2 = jax.jvp(lambda z: step(z, x), (c[0],), (c[1],))
            return (y2, dy2), y2[observe]

        (y, dy), obs = jax.lax.scan(inner, c, xi)
        n = jnp.linalg.norm(dy * w)
        return (y, dy / n), (jnp.log(n), obs.max(), obs.min())

    _, (logs, hi, lo) = jax.lax.scan(block, (y, dy), jnp.arange(n_blocks))
    return logs, hi, lo


def two_trajectory_logs(step: Step, y, key, n_blocks: int, block_steps: int, noise_dim: int,
                        weights, d0: float, first_block: int = 0):
    r"""The exponent from two trajectories a distance $d_0$ apart (weighted norm, as in
    :func:`tangent_logs`), driven by the same increments; after every block the second is brought
    back to $d_0$ along their separation, and the block's log-growth is $\ln(d/d_0)$.

    **Arguments:** as :func:`tangent_logs`; `d0`: the separation (weighted-norm units), small
    enough for the linearisation and large against rounding (1e-8 in float64).

    **Returns:** the log-growth per block, shape ``(n_blocks,)``.
    """
    w = jnp.asarray(weights, y.dtype)
    u = jnp.ones_like(y) / w
    u = u / jnp.linalg.norm(u * w)

    def block(c, j):
        xi = _increments(key, first_block + j, block_steps, noise_dim)
        (a, b), _ = jax.lax.scan(lambda c, x: ((step(c[0], x), step(c[1], x)), None), c, xi)
        d = jnp.linalg.norm((b - a) * w)
        return (a, a + (b - a) * (d0 / d)), jnp.log(d / d0)

    _, logs = jax.lax.scan(block, (y, y + d0 * u), jnp.arange(n_blocks))
    return logs


def exponent_from_logs(logs, block_time: float, discard: float = 0.1, n_batches: int = 8):
    r"""$\lambda$ as the least-squares slope of the accumulated log-growth
    $L_k = \sum_{j \le k} \ln g_j$ against time $t_k = k\,\Delta t$, after the first ``discard``
    of the window; the standard error from the spread of ``n_batches`` batch means.

    **Arguments:**

    - `logs`: log-growth per block, last axis = blocks (from :func:`tangent_logs` or
      :func:`two_trajectory_logs`).
    - `block_time`: $\Delta t$, the duration of one block (time units).
    - `discard`: the fraction of blocks left out at the start.
    - `n_batches`: batches for the standard error.

    **Returns:** (exponent, standard error), per time unit, shape ``logs.shape[:-1]``.
    """
    logs = np.asarray(logs, float)
    n = logs.shape[-1]
    k0 = int(discard * n)
    cum = np.cumsum(logs[..., k0:], axis=-1)
    t = block_time * np.arange(1, n - k0 + 1)
    tc = t - t.mean()
    slope = np.sum((cum - cum.mean(axis=-1, keepdims=True)) * tc, axis=-1) / np.sum(tc**2)
    m = (n - k0) // n_batches
    batches = logs[..., k0:k0 + m * n_batches].reshape(logs.shape[:-1] + (n_batches, m))
    lam_b = batches.sum(axis=-1) / (m * block_time)
    se = lam_b.std(axis=-1, ddof=1) / np.sqrt(n_batches)
    return slope, se


def exponent_cycle_aligned(logs, hi, lo, block_time: float, discard: float = 0.1,
                           n_batches: int = 8, min_amplitude: float = 0.02):
    r"""$\lambda = (L_{k_b} - L_{k_a}) / ((k_b - k_a)\Delta t)$ between whole cycles of an
    oscillating observable, with $k_a, k_b$ its first and last upward crossings of the mid-level.

    On a limit cycle the tangent norm swings by a factor of order e within each period, so a
    window that ends at another phase than it starts biases the exponent by O(1)/window; here the
    window and its ``n_batches`` batches start and end at upward crossings of the mid-level of the
    per-block maxima ``hi``. A quiescent lane (span below ``min_amplitude``) or one with fewer
    than ``n_batches`` cycles falls back to :func:`exponent_from_logs`.

    **Arguments:**

    - `logs`: log-growth per block of one lane, shape ``(n_blocks,)``.
    - `hi`, `lo`: per-block maximum and minimum of the observable (from :func:`tangent_logs`).
    - `block_time`, `discard`, `n_batches`: as :func:`exponent_from_logs`.
    - `min_amplitude`: the smallest span of the observable called an oscillation (its units).

    **Returns:** (exponent, standard error) per time unit, floats.
    """
    logs, hi, lo = (np.asarray(x, float) for x in (logs, hi, lo))
    n = logs.size
    k0 = int(discard * n)
    if hi[k0:].max() - lo[k0:].min() >= min_amplitude:
        mid = 0.5 * (hi[k0:].max() + lo[k0:].min())
        up = np.nonzero((hi[1:] >= mid) & (hi[:-1] < mid))[0] + 1
        up = up[up >= k0]
        if up.size > n_batches:  # at least one whole cycle per batch
            cum = np.concatenate([[0.0], np.cumsum(logs)])  # cum[j] = log growth before block j
            edges = up[np.linspace(0, up.size - 1, n_batches + 1).round().astype(int)]
            lam_b = np.diff(cum[edges]) / (np.diff(edges) * block_time)
            lam = (cum[up[-1]] - cum[up[0]]) / ((up[-1] - up[0]) * block_time)
            return float(lam), float(lam_b.std(ddof=1) / np.sqrt(n_batches))
    lam, se = exponent_from_logs(logs, block_time, discard, n_batches)
    return float(lam), float(se)


def exponents(logs, hi, lo, block_time: float):
    """:func:`exponent_cycle_aligned` over the leading (lane) axes of ``logs``, ``hi``, ``lo``.

    **Returns:** (exponent, standard error) per time unit, arrays of shape ``logs.shape[:-1]``.
    """
    logs, hi, lo = (np.asarray(x, float) for x in (logs, hi, lo))
    flat = [exponent_cycle_aligned(a, b, c, block_time) for a, b, c in
            zip(logs.reshape(-1, logs.shape[-1]), hi.reshape(-1, logs.shape[-1]),
                lo.reshape(-1, logs.shape[-1]), strict=True)]
    lam, se = (np.array([f[i] for f in flat]).reshape(logs.shape[:-1]) for i in (0, 1))
    return lam, se


def cycle_extrema(hi, lo, block_time: float, min_amplitude: float = 0.02):
    r"""The points of a bifurcation diagram at one parameter value: the highest and the lowest
    value of the observable in every whole cycle, and the mean period.

    Cycles run between upward crossings of the mid-level $\frac12(\max hi + \min lo)$ by the
    per-block maxima ``hi`` (as in :func:`exponent_cycle_aligned`). Local maxima would not do: a
    noisy oscillator that dwells near its fixed point between spikes makes every wiggle there a
    local maximum above the mid-level.

    **Arguments:**

    - `hi`, `lo`: per-block maximum and minimum of the observable, shape ``(n_blocks,)``.
    - `block_time`: the duration of one block (time units).
    - `min_amplitude`: a lane whose span is smaller is quiescent (units of the observable).

    **Returns:** (peaks, troughs, mean period in time units). Quiescent: its mean level as the
    only peak and trough, period NaN; less than one whole cycle: the overall max and min, NaN.
    """
    hi = np.asarray(hi)
    lo = np.asarray(lo)
    if hi.max() - lo.min() < min_amplitude:
        level = np.array([0.5 * (hi.mean() + lo.mean())])
        return level, level, np.nan
    mid = 0.5 * (hi.max() + lo.min())
    up = np.nonzero((hi[1:] >= mid) & (hi[:-1] < mid))[0] + 1
    if up.size < 2:  # less than one whole cycle
        return np.array([hi.max()]), np.array([lo.min()]), np.nan
    peaks = np.array([hi[a:b].max() for a, b in zip(up[:-1], up[1:], strict=True)])
    troughs = np.array([lo[a:b].min() for a, b in zip(up[:-1], up[1:], strict=True)])
    return peaks, troughs, float(np.mean(np.diff(up)) * block_time)


def find_bands(flags, values, min_points: int) -> list[list[float]]:
    """Contiguous runs of True in ``flags`` along a scan, at least ``min_points`` long.

    **Arguments:**

    - `flags`: booleans, one per scan point.
    - `values`: the scanned parameter at each point (e.g. a bias in V).
    - `min_points`: the shortest run reported.

    **Returns:** ``[[first value, last value], ...]`` of every such run, in order.
    """
    bands, start = [], None
    for i, f in enumerate(list(flags) + [False]):
        if f and start is None:
            start = i
        elif not f and start is not None:
            if i - start >= min_points:
                bands.append([float(values[start]), float(values[i - 1])])
            start = None
    return bands
