r"""Periodic and (looked-for) chaotic regimes of a NbO2 relaxation oscillator with thermal noise.

Kumar, Strachan & Williams, Nature 548, 318 (2017) bias a NbO2 Mott memristor in a relaxation
oscillator (switch in parallel with a capacitor, fed through a series resistor) and observe "a
tunable range of periodic and chaotic self-oscillations"; the abstract attributes the chaos to
"the nonlinear current transport coupled with thermal fluctuations at the nanoscale".

Protocol. The device is ``physnn.MottNetwork("NbO2")`` (defaults: Frenkel-Poole insulating
channel + smooth IMT at 1070 K, C = 100 pF, R_s = 1 kOhm, thermal time R_th C_th = 0.3 ns), whose
state (V, T) is two-dimensional: without noise it cannot be chaotic (Poincare-Bendixson), so the
only route the model offers to the paper's "thermal fluctuations" is the exponent of the *noisy*
system, a random dynamical system. The bias V_in is swept across and beyond the oscillation
window, at several noise amplitudes:

- Thermal noise on T (additive, K/sqrt(ns)): the fluctuation-dissipation amplitude of a filament
  of heat capacity C_th coupled to the bath through R_th, sigma = sqrt(2 k_B / R_th) T_ref / C_th,
  whose Ornstein-Uhlenbeck variance is k_B T_ref^2 / C_th (std 0.13 K for the defaults at
  T_ref = 1070 K, the hottest point of the cycle) and whose correlation time is R_th C_th.
  ``noise_scales`` multiplies it (x1, x10, x100, ...); 0 is the deterministic model.
- Integration: stochastic Heun (strong order 1 for additive noise), fixed step ``dt_ns``, in
  float64, one ``lax.scan``; every bias and noise amplitude is one lane of a single ``vmap``.
- Largest Lyapunov exponent, two ways along the *same* noise realisation: (1) tangent dynamics,
  ``jax.jvp`` of the stochastic step with the noise increments held fixed (Benettin
  renormalisation every ``block_steps`` steps); (2) two nearby trajectories (distance d0 in the
  weighted norm ||(dV/1 V, dT/100 K)||, renormalised every block) driven by the same increments.
  The exponent is the accumulated log-growth over whole cycles (between upward crossings of the
  mid-level of V, after the first 10 % of the window) divided by their duration, with a standard
  error from 8 batches of whole cycles; at a quiescent bias, the least-squares slope of the
  accumulated log-growth and 8 batch means. The same code reproduces
  the Lorenz exponent (0.906) to check it.
- Bifurcation diagram: the peak voltages (maxima of V, one per cycle) against bias.
- The edges of the window, zoomed (``onset_zoom``). The coarse sweep's steps (12.5 mV) are far
  wider than the region where the oscillation is born: the full relaxation cycle appears within
  0.02 mV of biases where the fixed point is only weakly stable, and there the noise decides when
  the oscillator fires.
  Each edge of the deterministic window is located to about 0.02 mV (:func:`locate_onset`: two
  grids of deterministic runs), and the noisy oscillator is measured on a fine grid around it
  (+-0.5 mV in 0.05 mV steps, 640 us per bias: the exponents there are small, of order 1e-3 per
  ns, and need about 3000 cycles to resolve), with the two-trajectory check at the biases found
  chaotic.

A bias point counts as chaotic when its exponent exceeds ``positive_threshold_per_period`` per
oscillation period by three standard errors; a band is at least ``min_band_points`` adjacent such
points. If none appears, the experiment says so (``positive_band_found: false``).

An interrupted run (Ctrl-C, SIGTERM, a killed job) resumes when the same command is run again
with the same ``--out``: the Lorenz check, each bias sweep, the two-trajectory check and the onset
zooms are stages kept in ``DIR/checkpoints`` (``physnn.checkpoint.Stages``), removed once
``results.json`` is written.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import physnn as pn
from physnn import _validate as V

K_B = 1.380649e-23  # J/K
LORENZ_REFERENCE = 0.9056  # largest exponent of Lorenz (10, 28, 8/3), e.g. Sprott, Chaos and
# Time-Series Analysis (2003), Table A.1
WEIGHTS = (1.0, 0.01)  # norm of a (dV, dT) perturbation: 1 V weighs as much as 100 K

QUICK = {
    "bias_v": [2.95, 3.65, 15],
    "noise_scales": [0.0, 1.0, 10.0, 100.0],
    "thermal_capacitance_j_per_k": 1e-15,
    "noise_reference_k": 1070.0,
    "dt_ns": 0.02,
    "block_steps": 50,
    "t_transient_ns": 500.0,
    "t_measure_ns": 2000.0,
    "check_biases_v": [3.1, 3.5],
    "two_trajectory_d0": 1e-8,
    "positive_threshold_per_period": 0.02,
    "min_band_points": 2,
    "lorenz_blocks": 2000,
    "seed": 0,
    # the edges of the deterministic window, located to ~0.02 mV and scanned finely with long
    # measurements (the coarse sweep's steps are far wider than the canard region at the onset)
    "onset_zoom": {"edges": ["low"], "half_width_mv": 0.5, "points": 5, "t_measure_ns": 8000.0,
                   "noise_scales": [1.0], "bracket_points": 26, "check_points": 2},
}
FULL = dict(
    QUICK,
    bias_v=[2.95, 3.65, 57],
    noise_scales=[0.0, 1.0, 3.0, 10.0, 30.0, 100.0],
    t_transient_ns=1500.0,
    t_measure_ns=16000.0,
    check_biases_v=[3.06, 3.1, 3.2, 3.3, 3.4, 3.5],
    lorenz_blocks=5000,
    onset_zoom={"edges": ["low", "high"], "half_width_mv": 0.5, "points": 21,
                "t_measure_ns": 640000.0, "noise_scales": [1.0], "bracket_points": 26,
                "check_points": 3},
    # thermal time comparable with RC (90 ns vs 100 ns): the slow-thermal variant
    variants=[{"thermal_capacitance_j_per_k": 3e-13, "dt_ns": 0.2, "t_measure_ns": 60000.0,
               "noise_scales": [0.0, 1.0, 10.0, 100.0, 1000.0]}],
)

OWNER = "kumar2017"

# ------------------------------------------------------------------ Lyapunov estimators (generic)


def _increments(key, block, block_steps, noise_dim):
    """Standard normal increments of one block, shape (block_steps, noise_dim): block index
    ``block`` of the stream ``key``, so every method sees the same realisation."""
    return jax.random.normal(jax.random.fold_in(key, block), (block_steps, max(noise_dim, 1)))


def advance(step, y, key, n_blocks, block_steps, noise_dim, first_block=0):
    """Advance ``y`` by ``n_blocks * block_steps`` steps of ``step(y, xi)``."""
    def block(y, j):
        xi = _increments(key, first_block + j, block_steps, noise_dim)
        return jax.lax.scan(lambda y, x: (step(y, x), None), y, xi)[0], None
    return jax.lax.scan(block, y, jnp.arange(n_blocks))[0]


def tangent_logs(step, y, key, n_blocks, block_steps, noise_dim, weights, first_block=0,
                 observe=0):
    """Benettin's method with the tangent map ``jax.jvp(step)`` along the trajectory from ``y``
    (noise increments held fixed). Returns the log-growth of the tangent vector in each block
    (shape ``(n_blocks,)``) and the max and min of ``y[observe]`` within each block."""
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


def two_trajectory_logs(step, y, key, n_blocks, block_steps, noise_dim, weights, d0,
                        first_block=0):
    """The same exponent from two trajectories a distance ``d0`` apart (weighted norm), driven by
    the same increments and brought back to ``d0`` along their separation after every block."""
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


def exponent_from_logs(logs, block_time, discard=0.1, n_batches=8):
    """(exponent, standard error) from per-block log-growths ``logs`` (last axis = blocks): the
    least-squares slope of the accumulated log against time after the first ``discard`` of the
    window, and the spread of ``n_batches`` batch means."""
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


def exponent_cycle_aligned(logs, hi, lo, block_time, discard=0.1, n_batches=8,
                           min_amplitude=0.02):
    """(exponent, standard error) of one oscillating lane, measured between whole cycles.

    On a cycle the norm of the tangent vector swings by a factor of order e within each period
    (the switching is fast in T, the charging slow in V), so a window that ends at a different
    phase than it starts biases the exponent by O(1)/window. Here the window and the ``n_batches``
    batches start and end at upward crossings of the mid-level of V (slow charging, found from the
    per-block max ``hi`` and min ``lo``). Falls back to :func:`exponent_from_logs` for a quiescent
    lane or fewer than ``n_batches`` cycles."""
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


def exponents(logs, hi, lo, block_time):
    """:func:`exponent_cycle_aligned` over the leading axes of ``logs``, ``hi``, ``lo``."""
    logs, hi, lo = (np.asarray(x, float) for x in (logs, hi, lo))
    flat = [exponent_cycle_aligned(a, b, c, block_time) for a, b, c in
            zip(logs.reshape(-1, logs.shape[-1]), hi.reshape(-1, logs.shape[-1]),
                lo.reshape(-1, logs.shape[-1]), strict=True)]
    lam, se = (np.array([f[i] for f in flat]).reshape(logs.shape[:-1]) for i in (0, 1))
    return lam, se


def rk4(field, h):
    """A deterministic fixed-step RK4 step ``step(y, xi)`` (``xi`` ignored) for ``dy/dt = field(y)``."""
    def step(y, xi):
        k1 = field(y)
        k2 = field(y + 0.5 * h * k1)
        k3 = field(y + 0.5 * h * k2)
        k4 = field(y + h * k3)
        return y + (h / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)
    return step


def heun(field, h, g):
    """Stochastic Heun step for ``dy = field(y) dt + g dW`` with additive ``g`` (one Wiener
    process): ``step(y, xi)`` with ``xi`` the standard normal increment(s) of the step."""
    def step(y, xi):
        dw = g * (jnp.sqrt(h) * xi[0])
        k1 = field(y)
        k2 = field(y + h * k1 + dw)
        return y + 0.5 * h * (k1 + k2) + dw
    return step


def lorenz_exponent(n_blocks=2000, block_steps=10, h=0.01, d0=1e-8):
    """Largest exponent of Lorenz (10, 28, 8/3) by both methods, float64. Returns
    (tangent, two-trajectory, standard error)."""
    with jax.enable_x64(True):
        def field(y):
            x, yy, z = y[0], y[1], y[2]
            return jnp.stack([10.0 * (yy - x), x * (28.0 - z) - yy, x * yy - 8.0 / 3.0 * z])
        step = rk4(field, h)
        key = jax.random.key(0)

        @jax.jit
        def go(y0):
            y = advance(step, y0, key, 100, block_steps, 0)
            a = tangent_logs(step, y, key, n_blocks, block_steps, 0, (1.0, 1.0, 1.0))[0]
            b = two_trajectory_logs(step, y, key, n_blocks, block_steps, 0, (1.0, 1.0, 1.0), d0)
            return a, b

        a, b = go(jnp.array([1.0, 1.0, 1.0]))
        lam_a, se = exponent_from_logs(a, block_steps * h)
        lam_b, _ = exponent_from_logs(b, block_steps * h)
    return float(lam_a), float(lam_b), float(se)


# ------------------------------------------------------------------ the NbO2 oscillator


def check_config(config):
    """Raise ``ValueError`` naming the entry, its value and what is expected."""
    def fail(name, want):
        raise ValueError(f"{OWNER}: config[{name!r}]={config.get(name)!r}; expected {want}")
    b = config.get("bias_v")
    if (not isinstance(b, (list, tuple)) or len(b) != 3 or not all(np.isfinite(b[:2]))
            or not b[0] < b[1] or int(b[2]) != b[2] or b[2] < 3):
        fail("bias_v", "[lowest V, highest V, number of points >= 3] with lowest < highest")
    ns = np.asarray(config.get("noise_scales", []), float)
    if ns.ndim != 1 or ns.size == 0 or not np.all(np.isfinite(ns)) or np.any(ns < 0):
        fail("noise_scales", "a non-empty list of multipliers >= 0 of the thermal noise")
    for name in ("thermal_capacitance_j_per_k", "noise_reference_k", "dt_ns", "t_measure_ns",
                 "two_trajectory_d0", "positive_threshold_per_period"):
        V.positive(f"config[{name!r}]", config.get(name), owner=OWNER)
    V.positive("config['t_transient_ns']", config.get("t_transient_ns"), owner=OWNER,
               allow_zero=True)
    for name in ("block_steps", "min_band_points", "lorenz_blocks"):
        v = config.get(name)
        if not isinstance(v, (int, np.integer)) or v < 1:
            fail(name, "an integer >= 1")
    tau_ns = 3e5 * config["thermal_capacitance_j_per_k"] / 1e-9  # R_th C_th, default NbO2 R_th
    if config["dt_ns"] > 0.2 * tau_ns:
        fail("dt_ns", f"<= 0.2 R_th C_th = {0.2 * tau_ns:.3g} ns (the step must resolve the "
             "thermal time)")
    n_blocks = config["t_measure_ns"] / (config["dt_ns"] * config["block_steps"])
    if n_blocks < 80:
        fail("t_measure_ns", f">= 80 blocks of block_steps * dt_ns = "
             f"{config['dt_ns'] * config['block_steps']:g} ns (got {n_blocks:.0f})")
    variants = config.get("variants", [])
    allowed = {"thermal_capacitance_j_per_k", "dt_ns", "t_measure_ns", "noise_scales"}
    if not isinstance(variants, (list, tuple)) or not all(
            isinstance(v, dict) and set(v) <= allowed for v in variants):
        fail("variants", f"a list of dicts with keys among {sorted(allowed)}")
    cb = np.asarray(config.get("check_biases_v", []), float)
    if cb.ndim != 1 or cb.size == 0 or not np.all(np.isfinite(cb)):
        fail("check_biases_v", "a non-empty list of bias voltages (V)")
    z = config.get("onset_zoom")
    want = ('a dict: edges (a list of "low"/"high"), half_width_mv > 0, points >= 3, '
            "t_measure_ns > 0, noise_scales (multipliers >= 0), bracket_points >= 3, "
            "check_points >= 1")
    keys = {"edges", "half_width_mv", "points", "t_measure_ns", "noise_scales", "bracket_points",
            "check_points"}
    if not isinstance(z, dict) or set(z) != keys:
        fail("onset_zoom", want)
    zs = np.asarray(z["noise_scales"], float)
    if (not isinstance(z["edges"], (list, tuple)) or not set(z["edges"]) <= {"low", "high"}
            or not (np.isfinite(z["half_width_mv"]) and z["half_width_mv"] > 0)
            or not (np.isfinite(z["t_measure_ns"]) and z["t_measure_ns"] > 0)
            or zs.ndim != 1 or zs.size == 0 or not np.all(np.isfinite(zs)) or np.any(zs < 0)
            or any(not isinstance(z[k], (int, np.integer)) or z[k] < lo
                   for k, lo in (("points", 3), ("bracket_points", 3), ("check_points", 1)))):
        fail("onset_zoom", want)
    if z["t_measure_ns"] / (config["dt_ns"] * config["block_steps"]) < 80:
        fail("onset_zoom", f"t_measure_ns >= 80 blocks of "
             f"{config['dt_ns'] * config['block_steps']:g} ns")


def device(config) -> pn.MottNetwork:
    return pn.MottNetwork("NbO2", thermal_capacitance_j_per_k=config["thermal_capacitance_j_per_k"])


def thermal_noise(dev, t_ref):
    """(sigma in K/sqrt(ns), stationary std of T in K) of the fluctuation-dissipation noise of a
    heat capacity C_th coupled through R_th, at temperature ``t_ref``."""
    r_th = float(dev.thermal_resistance_k_per_w[0])
    c_th = float(dev.thermal_capacitance_j_per_k[0])
    sigma = np.sqrt(2 * K_B / r_th) * t_ref / c_th * np.sqrt(1e-9)
    return float(sigma), float(np.sqrt(K_B * t_ref**2 / c_th))


def _mott(dev, h):
    """The state-space field (per ns) of one oscillator as a function of (y = (V, T), V_in)."""
    v0 = dev.source_voltage_v[0]

    def field(y, vin):
        return dev.drift(0.0, y.reshape(2, 1), vin - v0).reshape(2)

    def step_for(vin, sigma):
        g = jnp.stack([jnp.zeros_like(sigma), sigma])
        return heun(lambda y: field(y, vin), h, g)

    return step_for


def _counts(config):
    k = config["block_steps"]
    bt = config["dt_ns"] * k
    return k, bt, int(round(config["t_transient_ns"] / bt)), int(round(config["t_measure_ns"] / bt))


def _lanes(dev, vins, sigmas, config, two_trajectory: bool):
    """Every (sigma, V_in) lane in one vmapped solve: transient, then the tangent log-growths
    and block max/min of V, and, with ``two_trajectory``, the two-trajectory log-growths on the
    same noise realisation."""
    k, _, n_tr, n_me = _counts(config)
    step_for = _mott(dev, config["dt_ns"])
    key = jax.random.key(config["seed"])

    def lane(vin, sigma):
        step = step_for(vin, sigma)
        y = advance(step, jnp.array([0.0, 300.0]), key, n_tr, k, 1)
        a, hi, lo = tangent_logs(step, y, key, n_me, k, 1, WEIGHTS, first_block=n_tr)
        if not two_trajectory:
            return a, hi, lo
        b = two_trajectory_logs(step, y, key, n_me, k, 1, WEIGHTS, config["two_trajectory_d0"],
                                first_block=n_tr)
        return a, b, hi, lo

    return jax.jit(jax.vmap(lane))(vins, sigmas)


def sweep(dev, vins, sigmas, config):
    """Tangent log-growths and block max/min of V for every (sigma, V_in) lane."""
    return _lanes(dev, vins, sigmas, config, two_trajectory=False)


def check(dev, vins, sigmas, config):
    """Tangent and two-trajectory log-growths on the same noise realisation, and the block
    max/min of V, per lane."""
    return _lanes(dev, vins, sigmas, config, two_trajectory=True)


def extrema(hi, lo, block_time, min_amplitude=0.02):
    """Peak and trough voltages (one each per cycle) from the per-block maxima ``hi`` and minima
    ``lo`` of V, and the mean period (ns; NaN when quiescent). A lane whose V spans less than
    ``min_amplitude`` is quiescent: its peak and trough are its mean level.

    Cycles run between upward crossings of the mid-level of V by ``hi`` (the slow charging, as in
    :func:`exponent_cycle_aligned`), and each whole cycle gives its highest and lowest V. Local
    maxima would not do: near the edges of the window, noise makes the oscillator dwell at its
    fixed point between spikes, where every wiggle of V is a local maximum above the mid-level."""
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


def peaks_and_period(hi, lo, block_time, min_amplitude=0.02):
    """(peak voltages, mean period in ns or NaN when quiescent); see :func:`extrema`."""
    p, _, period = extrema(hi, lo, block_time, min_amplitude)
    return p, period


def find_bands(flags, vins, min_points):
    """Contiguous runs of True in ``flags`` of at least ``min_points`` points, as [V_lo, V_hi]."""
    bands, start = [], None
    for i, f in enumerate(list(flags) + [False]):
        if f and start is None:
            start = i
        elif not f and start is not None:
            if i - start >= min_points:
                bands.append([float(vins[start]), float(vins[i - 1])])
            start = None
    return bands


def bias_sweep(config, vins, scales):
    """One thermal capacitance (``config``): the tangent exponent, its standard error, the period
    and the peak/trough voltages at every (noise scale, bias), and the chaos flags and bands."""
    with jax.enable_x64(True):
        dev = device(config)
        sigma1, t_std = thermal_noise(dev, config["noise_reference_k"])
        cth = float(dev.thermal_capacitance_j_per_k[0])
        tau_ns = float(dev.thermal_resistance_k_per_w[0]) * cth / 1e-9
        _, bt, _, _ = _counts(config)
        gv, gs = np.meshgrid(vins, scales * sigma1)  # (n_scale, n_bias)
        logs, hi, lo = sweep(dev, jnp.asarray(gv.ravel()), jnp.asarray(gs.ravel()), config)
        hi = np.asarray(hi).reshape(gv.shape + (-1,))
        lo = np.asarray(lo).reshape(gv.shape + (-1,))
        lam, se = exponents(np.asarray(logs).reshape(hi.shape), hi, lo, bt)
    peaks = [[None] * len(vins) for _ in scales]
    troughs = [[None] * len(vins) for _ in scales]
    periods = np.full(gv.shape, np.nan)
    for i in range(len(scales)):
        for j in range(len(vins)):
            peaks[i][j], troughs[i][j], periods[i, j] = extrema(hi[i, j], lo[i, j], bt)
    oscillating = np.isfinite(periods)
    quiescent = hi.max(axis=-1) - lo.min(axis=-1) < 0.02
    # A rate that grows a perturbation by less than this per period is not called chaos; at a
    # quiescent point the median period of the scan stands in.
    t_typ = np.nanmedian(periods) if oscillating.any() else 100.0
    t0 = np.where(oscillating, periods, t_typ)
    threshold = config["positive_threshold_per_period"] / t0
    positive = lam - 3 * se > threshold
    bands = {f"x{s:g}": find_bands(positive[i], vins, config["min_band_points"])
             for i, s in enumerate(scales)}
    det = np.nonzero(scales == 0)[0]
    osc0 = oscillating[det[0]] if det.size else oscillating[0]
    window = ([round(float(vins[osc0].min()), 6), round(float(vins[osc0].max()), 6)]
              if osc0.any() else None)
    lam_det = (float(np.max(np.abs(lam[det[0]][osc0] * t0[det[0]][osc0])))
               if det.size and osc0.any() else float("nan"))
    lam_max = {f"x{s:g}": float(np.max(lam[i]) * 1e3) for i, s in enumerate(scales)}
    lam_max_osc = {
        f"x{s:g}": float(np.max(lam[i][oscillating[i]] * t0[i][oscillating[i]]))
        if oscillating[i].any() else None for i, s in enumerate(scales)}
    z = lam / np.maximum(se, 1e-300)
    # (deterministic lanes: no noise, the batch spread vanishes and the ratio means nothing)
    z_max = {f"x{s:g}": float(np.max(z[i][oscillating[i]]))
             for i, s in enumerate(scales) if s > 0 and oscillating[i].any()}
    frac_pos = {f"x{s:g}": float(np.mean(lam[i][oscillating[i]] > 0))
                if oscillating[i].any() else None for i, s in enumerate(scales)}
    return dict(scales=scales, sigma1=sigma1, t_std=t_std, lam=lam, se=se, periods=periods, peaks=peaks,
                troughs=troughs, oscillating=oscillating, quiescent=quiescent, z_max=z_max,
                frac_pos=frac_pos, threshold=threshold, positive=positive,
                bands=bands, found=any(bands.values()), window=window, lam_det_periodic=lam_det,
                lam_max_per_us=lam_max, lam_max_per_period=lam_max_osc,
                cth=cth, tau_ns=tau_ns)


def locate_onset(config, v_quiet, v_osc):
    """Where the deterministic oscillation starts between a quiescent bias ``v_quiet`` and an
    oscillating one ``v_osc`` (either order, so both edges of the window): two grids of
    ``onset_zoom["bracket_points"]`` biases, each on the bracket left by the one before.
    Returns (last quiescent, first oscillating) bias of the finer grid."""
    a, b = float(v_quiet), float(v_osc)
    n = int(config["onset_zoom"]["bracket_points"])
    for _ in range(2):
        vins = np.linspace(a, b, n)
        osc = bias_sweep(config, vins, np.zeros(1))["oscillating"][0]
        if osc[0] or not osc[-1]:
            raise RuntimeError(f"{OWNER}: no onset of oscillation between {a!r} V and {b!r} V")
        k = int(np.argmax(osc))  # the first oscillating bias from the quiescent side
        a, b = float(vins[k - 1]), float(vins[k])
    return a, b


def onset_zoom(config, main, vins):
    """The noisy oscillator on a fine bias grid around each edge of the deterministic window
    (``onset_zoom``): the onset located by :func:`locate_onset`, then ``points`` biases within
    +-``half_width_mv`` of it, measured for ``t_measure_ns`` at the zoom's noise scales, with
    the exponent, bands and flags of :func:`bias_sweep`; then the two-trajectory check at up to
    ``check_points`` biases (those flagged chaotic, else those of largest exponent/error)."""
    z = config["onset_zoom"]
    if main["window"] is None:
        return []
    step = float(vins[1] - vins[0])
    cfg = dict(config, t_measure_ns=z["t_measure_ns"])
    scales = np.asarray(z["noise_scales"], float)
    out = []
    for edge in z["edges"]:
        w = main["window"][0] if edge == "low" else main["window"][1]
        quiet = w - step if edge == "low" else w + step
        if not vins[0] <= quiet <= vins[-1]:
            continue  # the sweep does not reach beyond this edge
        bracket = locate_onset(config, quiet, w)
        onset = 0.5 * sum(bracket)
        zv = onset + 1e-3 * np.linspace(-z["half_width_mv"], z["half_width_mv"], z["points"])
        r = bias_sweep(cfg, zv, scales)
        zsc = r["lam"] / np.maximum(r["se"], 1e-300)
        flagged = np.nonzero(r["positive"].any(0))[0]
        pick = flagged if flagged.size else np.argsort(-zsc.max(0))[:z["check_points"]]
        pick = np.sort(pick[np.linspace(0, pick.size - 1, min(pick.size, z["check_points"]))
                            .round().astype(int)])
        with jax.enable_x64(True):
            dev = device(cfg)
            _, bt, _, _ = _counts(cfg)
            cv, cs = np.meshgrid(zv[pick], scales * r["sigma1"])
            la, lb, chi, clo = check(dev, jnp.asarray(cv.ravel()), jnp.asarray(cs.ravel()), cfg)
            lam_a, se_a = exponents(la, chi, clo, bt)
            lam_b, se_b = exponents(lb, chi, clo, bt)
        out.append(dict(edge=edge, bracket=bracket, onset=onset, vins=zv, r=r, check_v=zv[pick],
                        check=(lam_a.reshape(cv.shape), se_a.reshape(cv.shape),
                               lam_b.reshape(cv.shape), se_b.reshape(cv.shape))))
    return out


def run(config, out_dir) -> dict:
    check_config(config)
    for var in config.get("variants", []):
        check_config(dict(config, **var, variants=[]))
    out_dir = Path(out_dir)
    # an interrupted run resumes: each sweep below is a stage kept in out_dir/checkpoints
    stages = pn.checkpoint.Stages.of_run(out_dir, config, OWNER)
    lor_t, lor_2, lor_se = stages("lorenz", lorenz_exponent, n_blocks=config["lorenz_blocks"])
    scales = np.asarray(config["noise_scales"], float)
    vins = np.linspace(config["bias_v"][0], config["bias_v"][1], int(config["bias_v"][2]))
    main = stages("sweep", bias_sweep, config, vins, scales)
    variants = [(var, stages(f"variant_{i}", bias_sweep, dict(config, **var), vins,
                             np.asarray(var.get("noise_scales", scales), float)))
                for i, var in enumerate(config.get("variants", []))]

    with jax.enable_x64(True):  # the two-trajectory check, main thermal capacitance
        dev = device(config)
        _, bt, _, _ = _counts(config)
        cb = np.asarray(config["check_biases_v"], float)
        cv, cs = np.meshgrid(cb, scales * main["sigma1"])

        def two_trajectory_check():  # the exponents only: the raw growths are large
            la, lb, chi, clo = check(dev, jnp.asarray(cv.ravel()), jnp.asarray(cs.ravel()), config)
            lam_a, se_a = exponents(la, chi, clo, bt)
            lam_b, _ = exponents(lb, chi, clo, bt)
            return tuple(x.reshape(cv.shape) for x in (lam_a, lam_b, se_a))

        lam_a, lam_b, se_a = stages("check", two_trajectory_check)
    zooms = stages("onset_zoom", onset_zoom, config, main, vins)
    per_us = 1e3
    agree = np.abs(lam_a - lam_b) * per_us
    found = (main["found"] or any(r["found"] for _, r in variants)
             or any(zm["r"]["found"] for zm in zooms))

    _figures(out_dir, vins, scales, main, variants, cb, lam_b * per_us)
    _figure_zoom(out_dir, zooms)

    sigma1, t_std = main["sigma1"], main["t_std"]
    metrics = {
        "positive_band_found": bool(found),
        "positive_bands_v": {k: b for k, b in main["bands"].items() if b} or None,
        "oscillation_window_v": main["window"],
        "lambda_max_per_us": main["lam_max_per_us"],
        "lambda_max_oscillating_per_period": main["lam_max_per_period"],
        "lambda_max_z_score_oscillating": main["z_max"],
        "fraction_positive_oscillating": main["frac_pos"],
        "deterministic_periodic_max_abs_lambda_per_period": main["lam_det_periodic"],
        "tangent_vs_two_trajectory_max_abs_diff_per_us": float(agree.max()),
        "tangent_vs_two_trajectory_max_diff_over_standard_error": float(
            np.max(agree / np.maximum(se_a * per_us, 1e-12))),
        "lorenz_lambda_tangent": lor_t,
        "lorenz_lambda_two_trajectory": lor_2,
        "thermal_noise_sigma_k_per_sqrt_ns": sigma1,
        "thermal_noise_temperature_std_k": t_std,
    }
    for zm in zooms:
        r, tag = zm["r"], f"onset_{zm['edge']}"
        lam_a_z, se_a_z, lam_b_z, _ = zm["check"]
        metrics[f"{tag}_bracket_v"] = [round(v, 7) for v in zm["bracket"]]
        metrics[f"{tag}_positive_bands_v"] = {k: b for k, b in r["bands"].items() if b} or None
        metrics[f"{tag}_lambda_max_per_period"] = {
            f"x{sc:g}": float(np.max(r["lam"][i] * np.where(r["oscillating"][i], r["periods"][i],
                                                             np.nanmedian(r["periods"]))))
            for i, sc in enumerate(r["scales"])}
        metrics[f"{tag}_lambda_max_z_score"] = {
            f"x{sc:g}": float(np.max(r["lam"][i] / np.maximum(r["se"][i], 1e-300)))
            for i, sc in enumerate(r["scales"])}
        metrics[f"{tag}_check_tangent_per_us"] = (lam_a_z * per_us).round(4).tolist()
        metrics[f"{tag}_check_two_trajectory_per_us"] = (lam_b_z * per_us).round(4).tolist()
        metrics[f"{tag}_check_standard_error_per_us"] = (se_a_z * per_us).round(4).tolist()
    for var, r in variants:
        tag = f"cth_{var['thermal_capacitance_j_per_k']:.0e}"
        metrics[f"{tag}_positive_bands_v"] = {k: b for k, b in r["bands"].items() if b} or None
        metrics[f"{tag}_oscillation_window_v"] = r["window"]
        metrics[f"{tag}_lambda_max_oscillating_per_period"] = r["lam_max_per_period"]
        metrics[f"{tag}_lambda_max_z_score_oscillating"] = r["z_max"]
    reference = {
        "positive_band_found": True,
        "lorenz_lambda_tangent": LORENZ_REFERENCE,
        "lorenz_lambda_two_trajectory": LORENZ_REFERENCE,
        "deterministic_periodic_max_abs_lambda_per_period": 0.0,
        "tangent_vs_two_trajectory_max_abs_diff_per_us": 0.0,
        "tangent_vs_two_trajectory_max_diff_over_standard_error": 0.0,
        "lambda_max_z_score_oscillating": "> 3 in a band (chaos)",
    }

    def record(r, sc):
        return {
            "thermal_time_ns": r["tau_ns"],
            "noise_sigma_k_per_sqrt_ns": (sc * r["sigma1"]).tolist(),
            "lambda_per_us": (r["lam"] * per_us).tolist(),
            "lambda_standard_error_per_us": (r["se"] * per_us).tolist(),
            "period_ns": [[None if not np.isfinite(p) else float(p) for p in row]
                          for row in r["periods"]],
            "chaotic_flag": r["positive"].tolist(),
            "peak_v_min": [[float(np.min(p)) for p in row] for row in r["peaks"]],
            "peak_v_max": [[float(np.max(p)) for p in row] for row in r["peaks"]],
        }

    sweep_rec = dict(bias_v=vins.tolist(), noise_scales=scales.tolist(), **record(main, scales))
    variant_rec = [dict(var, **record(r, r["scales"])) for var, r in variants]
    zoom_rec = [dict(edge=zm["edge"], bracket_v=list(zm["bracket"]), bias_v=zm["vins"].tolist(),
                     noise_scales=zm["r"]["scales"].tolist(), check_bias_v=zm["check_v"].tolist(),
                     **record(zm["r"], zm["r"]["scales"])) for zm in zooms]
    check_rec = {
        "bias_v": cb.tolist(),
        "lambda_tangent_per_us": (lam_a * per_us).tolist(),
        "lambda_two_trajectory_per_us": (lam_b * per_us).tolist(),
        "standard_error_per_us": (se_a * per_us).tolist(),
    }
    notes = [
        "paper (Kumar, Strachan & Williams 2017): 'a tunable range of periodic and chaotic "
        "self-oscillations' as the bias is varied, the chaos attributed to nonlinear transport "
        "coupled with thermal fluctuations; i.e. a positive largest exponent in a bias band inside "
        "the oscillating range",
        f"thermal noise: sigma = sqrt(2 k_B/R_th) T_ref/C_th = {sigma1:.3g} K/sqrt(ns) at "
        f"T_ref = {config['noise_reference_k']:g} K (std of T {t_std:.3g} K, correlation time "
        f"R_th C_th = {main['tau_ns']:.2g} ns); scanned x{', x'.join(f'{s:g}' for s in scales)}",
        "the model's state (V, T) is 2-D: deterministic chaos is impossible; the exponent is "
        "that of the noisy system on one noise realisation (tangent via jax.jvp, checked against "
        "two nearby trajectories with the same increments)",
        f"deterministic oscillation window {main['window']} V; the largest exponent over the "
        "oscillating biases, per period: " + ", ".join(
            f"{k}: {v:+.3g}" for k, v in main["lam_max_per_period"].items() if v is not None)
        + "; largest exponent/standard error: " + ", ".join(
            f"{k}: {v:+.2g}" for k, v in main["z_max"].items() if v is not None)
        + f" (chaos needs > 3 in a band; noise alone gives a max of about "
        f"{np.sqrt(2 * np.log(max(int(main['oscillating'][0].sum()), 2))):.1f} over the "
        f"{int(main['oscillating'][0].sum())} oscillating biases)",
    ]
    for var, r in variants:
        notes.append(
            f"variant C_th = {var['thermal_capacitance_j_per_k']:g} J/K (thermal time "
            f"{r['tau_ns']:.3g} ns vs RC 100 ns; noise x1 = {r['sigma1']:.3g} K/sqrt(ns)): window "
            f"{r['window']} V, positive band " + ("found" if r["found"] else "none"))
    for zm in zooms:
        r = zm["r"]
        lam_a_z, se_a_z, lam_b_z, _ = zm["check"]
        notes.append(
            f"{zm['edge']} edge of the window: the deterministic oscillation starts between "
            f"{zm['bracket'][0]:.6f} and {zm['bracket'][1]:.6f} V; {len(zm['vins'])} biases within "
            f"+-{config['onset_zoom']['half_width_mv']:g} mV of it, "
            f"{config['onset_zoom']['t_measure_ns'] / 1e3:g} us each: positive band(s) "
            + (", ".join(f"{k} {a:.5f}-{b:.5f} V" for k, bl in r["bands"].items() for a, b in bl)
               or "none")
            + "; largest exponent/standard error " + ", ".join(
                f"x{sc:g}: {np.max(r['lam'][i] / np.maximum(r['se'][i], 1e-300)):+.2g}"
                for i, sc in enumerate(r["scales"]))
            + "; two-trajectory check at " + ", ".join(f"{v:.5f}" for v in zm["check_v"])
            + " V: tangent " + ", ".join(f"{x:+.2f}" for x in (lam_a_z * per_us).ravel())
            + ", two trajectories " + ", ".join(f"{x:+.2f}" for x in (lam_b_z * per_us).ravel())
            + " (+-" + ", ".join(f"{x:.2f}" for x in (se_a_z * per_us).ravel()) + ") per us")
    if found:
        allb = [("main", main["bands"])] + [(f"C_th={v['thermal_capacitance_j_per_k']:g}",
                                            r["bands"]) for v, r in variants]
        allb += [(f"onset ({zm['edge']} edge)", zm["r"]["bands"]) for zm in zooms]
        notes.append("positive exponent band(s) (bias V, per noise scale): " + "; ".join(
            f"{name} {k}: " + ", ".join(f"{a:.5f}-{b:.5f}" for a, b in bl)
            for name, bands in allb for k, bl in bands.items() if bl))
    else:
        notes.append(
            "NO positive-exponent band in this model at any scanned noise amplitude or thermal "
            "capacitance: the noisy oscillator stays periodic (exponent ~0) or is synchronised "
            "by the noise (exponent < 0); the paper's chaotic window is NOT reproduced")
    figures = ["bifurcation.png", "lyapunov.png"] + (["onset_zoom.png"] if zooms else [])
    notes += stages.notes()
    return {"metrics": metrics, "reference": reference, "sweep": sweep_rec,
            "variants": variant_rec, "onset_zoom": zoom_rec, "two_trajectory_check": check_rec,
            "notes": notes, "figures": figures, "resumed": stages.resumed}


#: ``physnn run`` calls it once ``results.json`` is written: a new run in the folder starts afresh.
finished = pn.checkpoint.remove_run_checkpoints


def _figures(out_dir, vins, scales, main, variants, cb, lam_two):
    colours = plt.cm.viridis(np.linspace(0.0, 0.85, len(scales)))
    peaks, troughs, quiescent = main["peaks"], main["troughs"], main["quiescent"]
    fig, axes = plt.subplots(len(scales), 1, figsize=(6.4, 1.9 * len(scales) + 0.6), sharex=True,
                             constrained_layout=True, squeeze=False)
    for i, s in enumerate(scales):
        ax = axes[i, 0]
        first_q = True
        for j, v in enumerate(vins):
            p = np.asarray(peaks[i][j])
            if quiescent[i, j]:  # the fixed point
                ax.plot([v], p[:1], "o", mfc="none", ms=3, color="0.4",
                        label="fixed point" if first_q else None)
                first_q = False
                continue
            q = np.asarray(troughs[i][j])
            ax.plot(np.full(p.shape, v), p, ".", ms=1.5, color=colours[i], alpha=0.6)
            ax.plot(np.full(q.shape, v), q, ".", ms=1.5, color="0.6", alpha=0.6)
        ax.set_ylabel("V (V)")
        if i == 0:
            ax.plot([], [], ".", color=colours[0], label="peaks")
            ax.plot([], [], ".", color="0.6", label="troughs")
            ax.legend(fontsize=7, loc="center right")
        label = ("deterministic" if s == 0
                 else f"noise x{s:g} ({s * main['sigma1']:.2g} K/$\\sqrt{{ns}}$)")
        ax.set_title(label, fontsize=9)
    axes[-1, 0].set_xlabel("bias $V_{in}$ (V)")
    fig.suptitle("NbO2 relaxation oscillator: peak (and trough) voltages against bias",
                 fontsize=10)
    fig.savefig(out_dir / "bifurcation.png", dpi=130)
    plt.close(fig)

    runs = [(f"C_th = {main['cth']:.0e} J/K", main)]
    runs += [(f"C_th = {v['thermal_capacitance_j_per_k']:.0e} J/K", r) for v, r in variants]
    fig, axes = plt.subplots(len(runs), 1, figsize=(6.4, 3.6 * len(runs) + 0.4),
                             constrained_layout=True, squeeze=False, sharex=True)
    for n, (title, r) in enumerate(runs):
        ax = axes[n, 0]
        lam, se = r["lam"] * 1e3, r["se"] * 1e3
        colours = plt.cm.viridis(np.linspace(0.0, 0.85, len(r["scales"])))
        for i, s in enumerate(r["scales"]):
            label = "deterministic" if s == 0 else f"noise x{s:g}"
            ax.errorbar(vins, lam[i], yerr=3 * se[i], fmt="-o", ms=2.5, lw=1, color=colours[i],
                        label=label)
            if n == 0:
                ax.plot(cb, lam_two[i], "x", color=colours[i], ms=7,
                        label="two trajectories" if i == 0 else None)
        ax.plot(vins, 1e3 * np.min(r["threshold"], axis=0), "k:", lw=1, label="chaos threshold")
        ax.axhline(0.0, color="k", lw=0.6)
        lo = np.nanpercentile(lam, 5)
        ax.set_ylim(max(lo * 1.2, -60.0), max(5.0, np.nanmax(lam) * 1.3))
        ax.set_ylabel("largest Lyapunov exp. (1/$\\mu$s)")
        ax.set_title(f"{title} (thermal time {r['tau_ns']:.2g} ns): tangent (jvp) exponent, "
                     "3 s.e. bars" + ("; x: two-trajectory check" if n == 0 else ""), fontsize=8)
        ax.legend(fontsize=7, ncol=2)
    axes[-1, 0].set_xlabel("bias $V_{in}$ (V)")
    fig.savefig(out_dir / "lyapunov.png", dpi=130)
    plt.close(fig)


def _figure_zoom(out_dir, zooms):
    if not zooms:
        return
    fig, axes = plt.subplots(1, len(zooms), figsize=(5.2 * len(zooms), 3.8),
                             constrained_layout=True, squeeze=False)
    for ax, zm in zip(axes[0], zooms, strict=True):
        r = zm["r"]
        dv = 1e3 * (zm["vins"] - zm["onset"])
        colours = plt.cm.viridis(np.linspace(0.2, 0.85, len(r["scales"])))
        for i, sc in enumerate(r["scales"]):
            ax.errorbar(dv, 1e3 * r["lam"][i], yerr=3e3 * r["se"][i], fmt="-o", ms=3, lw=1,
                        color=colours[i], label=f"tangent, noise x{sc:g}")
        lam_a, _, lam_b, _ = zm["check"]
        ax.plot(1e3 * (zm["check_v"] - zm["onset"]), 1e3 * lam_b[0], "x", color="C3", ms=8,
                label="two trajectories")
        ax.plot(dv, 1e3 * np.min(r["threshold"], axis=0), "k:", lw=1, label="chaos threshold")
        ax.axhline(0.0, color="k", lw=0.6)
        ax.axvline(0.0, color="0.5", lw=0.6, ls="--")
        for bl in r["bands"].values():
            for a, b in bl:
                ax.axvspan(1e3 * (a - zm["onset"]), 1e3 * (b - zm["onset"]), color="C1",
                           alpha=0.15)
        ax.set_xlabel(f"bias - deterministic edge {zm['onset']:.5f} V (mV)")
        ax.set_ylabel("largest Lyapunov exp. (1/$\\mu$s)")
        ax.set_title(f"{zm['edge']} edge of the window (3 s.e. bars; shaded: chaotic band)",
                     fontsize=8)
        ax.legend(fontsize=7)
    fig.savefig(out_dir / "onset_zoom.png", dpi=130)
    plt.close(fig)
