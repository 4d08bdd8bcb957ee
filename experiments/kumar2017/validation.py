"""The checks of a Kumar 2017 configuration beyond its field types: ranges, and the step and
window lengths the estimators need."""

from __future__ import annotations

import numpy as np

OWNER = "kumar2017"
VARIANT_KEYS = {"thermal_capacitance_j_per_k", "dt_ns", "t_measure_ns", "noise_scales"}
ZOOM_KEYS = {"edges", "half_width_mv", "points", "t_measure_ns", "noise_scales", "bracket_points",
             "check_points"}


def _fail(config, name, want):
    raise ValueError(f"{OWNER}: config[{name!r}]={getattr(config, name, None)!r}; expected {want}")


def _positive(config, name, allow_zero=False):
    v = getattr(config, name)
    ok = isinstance(v, (int, float, np.number)) and not isinstance(v, bool) and np.isfinite(v)
    if not ok or (v < 0 if allow_zero else v <= 0):
        _fail(config, name, "a finite number " + (">= 0" if allow_zero else "> 0"))


def check_config(config):
    """Raise ``ValueError`` naming the entry, its value and what is expected."""
    b = config.bias_v
    if (not isinstance(b, (list, tuple)) or len(b) != 3 or not all(np.isfinite(b[:2]))
            or not b[0] < b[1] or int(b[2]) != b[2] or b[2] < 3):
        _fail(config, "bias_v", "[lowest V, highest V, number of points >= 3] with lowest < highest")
    ns = np.asarray(config.noise_scales, float)
    if ns.ndim != 1 or ns.size == 0 or not np.all(np.isfinite(ns)) or np.any(ns < 0):
        _fail(config, "noise_scales", "a non-empty list of multipliers >= 0 of the thermal noise")
    for name in ("thermal_capacitance_j_per_k", "noise_reference_k", "dt_ns", "t_measure_ns",
                 "two_trajectory_d0", "positive_threshold_per_period"):
        _positive(config, name)
    _positive(config, "t_transient_ns", allow_zero=True)
    for name in ("block_steps", "min_band_points", "lorenz_blocks"):
        v = getattr(config, name)
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
            _fail(config, name, "an integer >= 1")
    tau_ns = 3e5 * config.thermal_capacitance_j_per_k / 1e-9  # R_th C_th, default NbO2 R_th
    if config.dt_ns > 0.2 * tau_ns:
        _fail(config, "dt_ns", f"<= 0.2 R_th C_th = {0.2 * tau_ns:.3g} ns (the step must resolve "
              "the thermal time)")
    block_ns = config.dt_ns * config.block_steps
    n_blocks = config.t_measure_ns / block_ns
    if n_blocks < 80:
        _fail(config, "t_measure_ns", f">= 80 blocks of block_steps * dt_ns = {block_ns:g} ns "
              f"(got {n_blocks:.0f})")
    if not isinstance(config.variants, (list, tuple)) or not all(
            isinstance(v, dict) and set(v) <= VARIANT_KEYS for v in config.variants):
        _fail(config, "variants", f"a list of dicts with keys among {sorted(VARIANT_KEYS)}")
    cb = np.asarray(config.check_biases_v, float)
    if cb.ndim != 1 or cb.size == 0 or not np.all(np.isfinite(cb)):
        _fail(config, "check_biases_v", "a non-empty list of bias voltages (V)")
    z = config.onset_zoom
    want = ('a dict: edges (a list of "low"/"high"), half_width_mv > 0, points >= 3, '
            "t_measure_ns > 0, noise_scales (multipliers >= 0), bracket_points >= 3, "
            "check_points >= 1")
    if not isinstance(z, dict) or set(z) != ZOOM_KEYS:
        _fail(config, "onset_zoom", want)
    zs = np.asarray(z["noise_scales"], float)
    if (not isinstance(z["edges"], (list, tuple)) or not set(z["edges"]) <= {"low", "high"}
            or not (np.isfinite(z["half_width_mv"]) and z["half_width_mv"] > 0)
            or not (np.isfinite(z["t_measure_ns"]) and z["t_measure_ns"] > 0)
            or zs.ndim != 1 or zs.size == 0 or not np.all(np.isfinite(zs)) or np.any(zs < 0)
            or any(not isinstance(z[k], (int, np.integer)) or z[k] < lo
                   for k, lo in (("points", 3), ("bracket_points", 3), ("check_points", 1)))):
        _fail(config, "onset_zoom", want)
    if z["t_measure_ns"] / block_ns < 80:
        _fail(config, "onset_zoom", f"t_measure_ns >= 80 blocks of {block_ns:g} ns")
