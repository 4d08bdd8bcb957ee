"""Kumar 2017 (NbO2 oscillator, Lyapunov exponent against bias): the estimators on Lorenz, the
tangent (jvp) exponent against two nearby trajectories on the noisy Mott oscillator, the
deterministic limits (0 on the limit cycle, the Jacobian eigenvalue at a stable fixed point),
config validation, and the quick run end to end (slow). The estimators themselves are tested
on known systems in test_analysis.py."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import experiments.kumar2017 as E
from experiments.kumar2017 import model, scan
from physnn import analysis as A


def test_lorenz_exponent_both_methods():
    lam_t, lam_2, se = scan.lorenz_exponent(n_blocks=2000)
    # T = 200 time units: the finite-time exponent of Lorenz fluctuates by ~0.01 (the batch-mean
    # standard error); RK4 at h = 0.01 adds far less. 0.04 is ~4 standard errors.
    assert se < 0.02
    assert abs(lam_t - scan.LORENZ_REFERENCE) < 0.04
    # same trajectory, same renormalisation: the two methods differ only by O(d0) terms
    assert abs(lam_t - lam_2) < 1e-3


def _short(**kw):
    return dataclasses.replace(E.QUICK, t_transient_ns=400.0, t_measure_ns=1600.0, **kw)


@pytest.mark.slow
def test_tangent_matches_two_trajectories_on_the_noisy_oscillator():
    config = _short()
    with jax.enable_x64(True):
        dev = model.device(config)
        sigma1, _ = model.thermal_noise(dev, config.noise_reference_k)
        vins = jnp.array([3.08, 3.3, 3.3, 3.6])
        sigmas = jnp.array([0.0, 0.0, 10 * sigma1, 100 * sigma1])
        a, b, hi, lo = model.check(dev, vins, sigmas, config)
    bt = config.dt_ns * config.block_steps
    lam_a, se = A.exponents(a, hi, lo, bt)
    lam_b, _ = A.exponents(b, hi, lo, bt)
    # per-block log-growths agree, not only their mean: measured to 3e-4 in the blocks that
    # hold a switching event (the separation there grows e^2-fold within ~1 ns; the finite d0
    # adds its curvature), 1e-6 elsewhere
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=2e-3)
    np.testing.assert_allclose(lam_a, lam_b, atol=2e-6)  # per ns; |lam| up to ~3e-2 here
    # the strong-noise lane is synchronised by the noise: clearly negative
    assert lam_a[3] + 3 * se[3] < 0


@pytest.mark.slow
def test_deterministic_limits_periodic_zero_and_fixed_point_eigenvalue():
    config = _short()
    with jax.enable_x64(True):
        dev = model.device(config)
        vins = jnp.array([3.3, 3.65])  # inside the oscillation window; above it (stable node)
        logs, hi, lo = model.sweep(dev, vins, jnp.zeros(2), config)
        step_for = model.mott_step(dev, config.dt_ns)
        # the fixed point at 3.65 V and the Jacobian of the field there
        v0 = dev.source_voltage_v[0]

        def field(y):
            return dev.drift(0.0, y.reshape(2, 1), 3.65 - v0).reshape(2)

        y = jnp.array([0.0, 300.0])
        step = step_for(3.65, 0.0)
        y = A.advance(step, y, jax.random.key(0), 2000, config.block_steps, 1)
        assert float(jnp.linalg.norm(field(y) * jnp.array([1.0, 0.01]))) < 1e-9
        eig = np.linalg.eigvals(np.asarray(jax.jacfwd(field)(y)))
    bt = config.dt_ns * config.block_steps
    lam, se = A.exponents(logs, hi, lo, bt)
    _, _, period = A.cycle_extrema(hi[0], lo[0], bt)
    assert 80 < period < 200  # ns, the relaxation oscillation
    # limit cycle: the exponent is 0. Measured over whole cycles: 3e-4 per period (the cycle
    # edges are located to one 1-ns block); the unaligned regression slope gives 1e-2.
    assert abs(lam[0] * period) < 0.003
    assert se[0] * period < 0.003
    # stable node: the exponent is the largest real part of the Jacobian eigenvalues
    assert lam[1] == pytest.approx(np.max(eig.real), rel=0.02)
    assert lam[1] < -0.01


def test_period_and_peaks_per_cycle_when_noise_makes_the_oscillator_dwell():
    """Near the edges of the window the noisy oscillator dwells at its fixed point (just below
    its switching voltage) between spikes; the wiggles of V there are not cycles."""
    rng = np.random.default_rng(0)
    bt, n, every = 1.0, 4000, 400  # 1-ns blocks; a spike every 400 ns
    hi = 1.5425 + 2e-4 * rng.standard_normal(n)  # dwelling at the fixed point
    lo = hi - 1e-4
    spikes = np.arange(every // 2, n, every)
    for s in spikes:  # switch down to 1.185 V, then recharge over 150 ns
        ramp = np.linspace(1.185, 1.54, 150)
        hi[s:s + 150], lo[s:s + 150] = ramp + 2e-3, ramp
    peaks, troughs, period = A.cycle_extrema(hi, lo, bt)
    assert period == pytest.approx(every, rel=1e-3)
    assert len(peaks) == len(troughs) == len(spikes) - 1  # whole cycles only
    assert np.all(troughs < 1.19) and np.all(peaks > 1.54)
    # a clean relaxation cycle: one peak per period as before
    t = np.arange(n) * bt
    saw = 1.185 + 0.358 * ((t / 150.0) % 1.0)
    peaks, _, period = A.cycle_extrema(saw + 1e-3, saw, bt)
    assert period == pytest.approx(150.0, rel=0.01) and np.allclose(peaks, peaks[0], atol=3e-3)


@pytest.mark.parametrize("key, value, match", [
    ("dt_ns", -0.01, "dt_ns"),
    ("dt_ns", 0.5, "dt_ns"),
    ("noise_scales", [0.0, -1.0], "noise_scales"),
    ("bias_v", [3.5, 3.0, 11], "bias_v"),
    ("thermal_capacitance_j_per_k", 0.0, "thermal_capacitance_j_per_k"),
    ("t_measure_ns", 10.0, "t_measure_ns"),
    ("onset_zoom", {"edges": ["middle"]}, "onset_zoom"),
])
def test_bad_config_is_a_clear_error(tmp_path, key, value, match):
    with pytest.raises(ValueError, match=match) as err:
        E.run(dataclasses.replace(E.QUICK, **{key: value}), tmp_path)
    msg = str(err.value)
    assert "kumar2017" in msg and ("expected" in msg or "must be" in msg)


EXPERIMENT = "kumar2017"  # for the quick_run fixture (conftest.py)


@pytest.mark.slow
def test_quick_run_end_to_end(quick_run):
    tmp_path, rec, out = quick_run
    assert "positive_band_found" in out and "note:" in out
    assert rec["experiment"] == "kumar2017" and rec["quick"] is True
    for key in ("metrics", "reference", "config", "wall_s", "sweep", "two_trajectory_check", "notes"):
        assert key in rec
    m = rec["metrics"]
    for key in ("positive_band_found", "oscillation_window_v", "lambda_max_per_us",
                "tangent_vs_two_trajectory_max_abs_diff_per_us", "lorenz_lambda_tangent",
                "thermal_noise_sigma_k_per_sqrt_ns"):
        assert key in m
    assert isinstance(m["positive_band_found"], bool)
    # the band verdict is stated plainly either way
    said = " ".join(rec["notes"])
    assert ("NO positive-exponent band" in said) != m["positive_band_found"]
    # the deterministic oscillation window brackets the NDR window of the model (3.05-3.52 V)
    lo, hi = m["oscillation_window_v"]
    assert 3.0 <= lo <= 3.15 and 3.45 <= hi <= 3.55
    assert m["tangent_vs_two_trajectory_max_abs_diff_per_us"] < 0.01
    assert abs(m["lorenz_lambda_tangent"] - 0.9056) < 0.04
    # the low edge of the window located to better than 0.1 mV (deterministic onset 3.05221 V)
    a, b = m["onset_low_bracket_v"]
    assert 3.05 < a < b < 3.055 and b - a < 1e-4
    zoom = rec["onset_zoom"][0]
    points = E.QUICK.onset_zoom["points"]
    assert zoom["edge"] == "low" and len(zoom["bias_v"]) == points
    for name in rec["figures"]:
        assert (tmp_path / name).stat().st_size > 10_000


@pytest.mark.slow
def test_thermal_noise_makes_the_onset_of_oscillation_chaotic():
    """Where the oscillation dies (deterministic edge 3.51911 V, the top of the window), the
    fluctuation-dissipation thermal noise gives a positive largest exponent: by
    three standard errors above the experiment's chaos threshold (0.02 per period) with the
    tangent dynamics, and positive with two nearby trajectories on the same noise, the two
    agreeing within their errors. In the middle of the window the same noise leaves the
    oscillation regular. (The full run measures 640 us per bias; 80 us, about 400 cycles, is
    enough here, where the exponent is largest, about 2 per us: 2.4 +- 0.5.)"""
    config = dataclasses.replace(E.FULL, t_measure_ns=80000.0)
    with jax.enable_x64(True):
        dev = model.device(config)
        sigma1, _ = model.thermal_noise(dev, config.noise_reference_k)
        a, b, hi, lo = model.check(dev, jnp.array([3.51906, 3.3]), jnp.full(2, sigma1), config)
    bt = config.dt_ns * config.block_steps
    lam_a, se_a = A.exponents(a, hi, lo, bt)
    lam_b, se_b = A.exponents(b, hi, lo, bt)
    period = np.array([A.cycle_extrema(np.asarray(hi[j]), np.asarray(lo[j]), bt)[2] for j in range(2)])
    assert np.all(np.isfinite(period))  # both oscillate
    thr = config.positive_threshold_per_period / period
    assert lam_a[0] - 3 * se_a[0] > thr[0]
    assert lam_b[0] > thr[0]
    assert abs(lam_a[0] - lam_b[0]) < 3 * np.hypot(se_a[0], se_b[0])
    assert lam_a[1] < thr[1]  # mid-window: not chaotic
