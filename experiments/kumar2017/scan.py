"""The scans of Kumar 2017: the Lorenz check of the estimators, the bias sweep at several noise
amplitudes (exponents, bifurcation diagram, chaos flags and bands), and the zoom on the edges of
the oscillation window."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from physnn.analysis import (
    advance,
    cycle_extrema,
    exponent_from_logs,
    exponents,
    find_bands,
    rk4_step,
    tangent_logs,
    two_trajectory_logs,
)

from .model import check, counts, device, sweep, thermal_noise

LORENZ_REFERENCE = 0.9056  # largest exponent of Lorenz (10, 28, 8/3), e.g. Sprott, Chaos and
# Time-Series Analysis (2003), Table A.1


def lorenz_exponent(n_blocks=2000, block_steps=10, h=0.01, d0=1e-8):
    """Largest exponent of Lorenz (10, 28, 8/3) by both methods, float64. Returns
    (tangent, two-trajectory, standard error)."""
    with jax.enable_x64(True):
        def field(y):
            x, yy, z = y[0], y[1], y[2]
            return jnp.stack([10.0 * (yy - x), x * (28.0 - z) - yy, x * yy - 8.0 / 3.0 * z])
        step = rk4_step(field, h)
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


def bias_sweep(config, vins, scales):
    """One thermal capacitance (``config``): the tangent exponent, its standard error, the period
    and the peak/trough voltages at every (noise scale, bias), and the chaos flags and bands."""
    with jax.enable_x64(True):
        dev = device(config)
        sigma1, t_std = thermal_noise(dev, config.noise_reference_k)
        cth = float(dev.thermal_capacitance_j_per_k[0])
        tau_ns = float(dev.thermal_resistance_k_per_w[0]) * cth / 1e-9
        _, bt, _, _ = counts(config)
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
            peaks[i][j], troughs[i][j], periods[i, j] = cycle_extrema(hi[i, j], lo[i, j], bt)
    oscillating = np.isfinite(periods)
    quiescent = hi.max(axis=-1) - lo.min(axis=-1) < 0.02
    # A rate that grows a perturbation by less than this per period is not called chaos; at a
    # quiescent point the median period of the scan stands in.
    t_typ = np.nanmedian(periods) if oscillating.any() else 100.0
    t0 = np.where(oscillating, periods, t_typ)
    threshold = config.positive_threshold_per_period / t0
    positive = lam - 3 * se > threshold
    bands = {f"x{s:g}": find_bands(positive[i], vins, config.min_band_points)
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
    n = int(config.onset_zoom["bracket_points"])
    for _ in range(2):
        vins = np.linspace(a, b, n)
        osc = bias_sweep(config, vins, np.zeros(1))["oscillating"][0]
        if osc[0] or not osc[-1]:
            raise RuntimeError(f"kumar2017: no onset of oscillation between {a!r} V and {b!r} V")
        k = int(np.argmax(osc))  # the first oscillating bias from the quiescent side
        a, b = float(vins[k - 1]), float(vins[k])
    return a, b


def onset_zoom(config, main, vins):
    """The noisy oscillator on a fine bias grid around each edge of the deterministic window
    (``onset_zoom``): the onset located by :func:`locate_onset`, then ``points`` biases within
    +-``half_width_mv`` of it, measured for ``t_measure_ns`` at the zoom's noise scales, with
    the exponent, bands and flags of :func:`bias_sweep`; then the two-trajectory check at up to
    ``check_points`` biases (those flagged chaotic, else those of largest exponent/error)."""
    z = config.onset_zoom
    if main["window"] is None:
        return []
    step = float(vins[1] - vins[0])
    cfg = dataclasses.replace(config, t_measure_ns=z["t_measure_ns"])
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
            _, bt, _, _ = counts(cfg)
            cv, cs = np.meshgrid(zv[pick], scales * r["sigma1"])
            la, lb, chi, clo = check(dev, jnp.asarray(cv.ravel()), jnp.asarray(cs.ravel()), cfg)
            lam_a, se_a = exponents(la, chi, clo, bt)
            lam_b, se_b = exponents(lb, chi, clo, bt)
        out.append(dict(edge=edge, bracket=bracket, onset=onset, vins=zv, r=r, check_v=zv[pick],
                        check=(lam_a.reshape(cv.shape), se_a.reshape(cv.shape),
                               lam_b.reshape(cv.shape), se_b.reshape(cv.shape))))
    return out
