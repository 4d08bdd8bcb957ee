"""Spin-torque oscillator physics against the closed forms of Slavin & Tiberkevich (2009) and
Kim, Tiberkevich & Slavin (2008)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import physnn as pn
from physnn.devices.spintronic import (
    is_locked,
    lab_phase,
    lock_state,
    locking_order,
    locking_phasor,
    mean_frequency_ghz,
    window_average,
    window_weights,
)


def quiet(**kw):
    kw.setdefault("temperature_k", 0.0)
    return pn.STONetwork(**kw)


def test_a_deterministic_solve_at_room_temperature_meets_the_closed_form():
    """key=None is the noise-free model at any temperature: the Stratonovich noise-induced
    drift (STONetwork.noise_drift, +Gamma Q theta / 2 c) is left out, so p0 = (zeta-1)/(zeta+Q).
    Before issue 34 it was kept, and p0 came out 0.155 % high at 300 K."""
    dev = pn.STONetwork(temperature_k=300.0, current_ma=jnp.array([7.5, 10.0]))
    zeta = np.array([7.5, 10.0]) / 5.0
    p0 = (zeta - 1) / (zeta + 1.5)
    tr = pn.simulate(dev, None, t1=3000.0, dt=0.5, y0=dev.init_state() * 0.5, saveat="final")
    np.testing.assert_allclose(np.asarray(tr.obs["power"][-1]), p0, rtol=1e-5)
    # the term exists, belongs to the noise, and is 1/2 Gamma Q theta c
    y = dev.init_state()
    extra = np.asarray(dev.noise_drift(0.0, y, None))
    rate = 0.5 * 0.02 * 1.5 * np.asarray(dev.thermal_ratio())
    np.testing.assert_allclose(extra, rate * np.asarray(y), rtol=1e-6)
    assert quiet().noise_drift(0.0, y[..., :1], None) is None


def test_free_running_steady_power_and_frequency():
    currents = jnp.array([6.0, 7.5, 10.0, 15.0])
    dev = quiet(current_ma=currents, nonlinear_damping=1.5, threshold_ma=5.0)
    zeta = np.asarray(currents) / 5.0
    p0 = (zeta - 1) / (zeta + 1.5)
    y0 = dev.init_state() * 0.3  # start away from the steady state
    tr = pn.simulate(dev, None, t1=3000.0, dt=0.5, y0=y0, saveat="final")
    p = np.asarray(tr.obs["power"][-1])
    f = np.asarray(tr.obs["frequency_ghz"][-1])
    np.testing.assert_allclose(p, p0, rtol=1e-3)
    np.testing.assert_allclose(f, 0.3 + 0.05 * p0, rtol=1e-3)
    np.testing.assert_allclose(dev.free_running_power(), p0, rtol=1e-6)


def test_decay_below_threshold():
    dev = quiet(current_ma=4.0, threshold_ma=5.0, damping=0.02)  # zeta = 0.8
    y0 = jnp.array([[0.01], [0.0]])  # p = 1e-4: the linear regime
    ts = np.linspace(0, 200, 11)
    tr = pn.simulate(dev, None, t1=200.0, dt=0.5, y0=y0, saveat=ts)
    rate = -np.polyfit(ts, np.log(np.asarray(tr.obs["power"][:, 0])), 1)[0]
    np.testing.assert_allclose(rate, 2 * 0.02 * (1 - 0.8), rtol=1e-3)


def test_relaxation_rate_above_threshold():
    dev = quiet(current_ma=7.5)
    gp = float(dev.relaxation_rate()[0])
    assert gp == pytest.approx(0.02 * 0.5)
    p0 = float(dev.free_running_power()[0])
    y0 = dev.init_state() * np.sqrt(1.01)  # delta p = 1 % of p0
    ts = np.linspace(0, 150, 16)
    tr = pn.simulate(dev, None, t1=150.0, dt=0.25, y0=y0, saveat=ts)
    dp = np.asarray(tr.obs["power"][:, 0]) - p0
    rate = -np.polyfit(ts, np.log(dp), 1)[0]
    # small-signal: delta p ~ exp(-2 Gamma_p t); 1 % perturbation leaves a ~1 % nonlinear correction
    np.testing.assert_allclose(rate, 2 * gp, rtol=2e-2)


def _locking_scan(dev, amp, detunings_ghz, t1=16000.0):
    fg = float(dev.free_running_frequency_ghz()[0])
    tones = pn.Tones(fg + detunings_ghz[:, None], amps=amp)
    ts = np.linspace(0.0, t1, 4001)
    tr = pn.simulate(dev, tones, t1=t1, dt=1.0, saveat=ts)
    return np.asarray(is_locked(tr, dev, tones, t_start=t1 / 2))[:, 0, 0], tr, tones


@pytest.mark.parametrize("shift_ghz", [0.0, 0.05])
def test_injection_locking_range_follows_adler_with_nu(shift_ghz):
    dev = quiet(nonlinear_shift_ghz=shift_ghz)
    amp = 0.25  # weak forcing: F A / sqrt(p0) = 0.12 Gamma_p
    half = float(dev.locking_range_ghz(amp)[0])
    nu = float(dev.amplitude_phase_coupling()[0])
    adler = 0.002 * amp / (2 * np.pi * np.sqrt(float(dev.free_running_power()[0])))
    np.testing.assert_allclose(half, adler * np.sqrt(1 + nu**2), rtol=1e-6)
    x = np.array([-1.15, -0.85, -0.5, 0.0, 0.5, 0.85, 1.15])
    locked, _, _ = _locking_scan(dev, amp, x * half)
    assert locked.tolist() == [False, True, True, True, True, True, False]
    if shift_ghz:
        assert nu > 4  # the widening is large: 0.85 * half is far outside the nu = 0 Adler range
        assert 0.85 * half > 4 * adler


def test_soft_locking_measure_tracks_the_hard_one():
    dev = quiet()
    half = float(dev.locking_range_ghz(0.25)[0])
    locked, tr, tones = _locking_scan(dev, 0.25, np.array([0.0, 0.5, 2.0, 4.0]) * half)
    r = np.asarray(locking_order(tr, dev, tones, t_start=8000.0))[:, 0, 0]
    assert locked.tolist() == [True, True, False, False]
    assert np.all(r[:2] > 0.99) and np.all(r[2:] < 0.3)
    # locked oscillators run exactly at the tone frequency
    f = np.asarray(mean_frequency_ghz(tr, dev, t_start=8000.0))[:2, 0]
    np.testing.assert_allclose(f, np.asarray(tones.freqs)[:2, 0], rtol=1e-6)
    # lock_state gives both from one relative phase: the same values, bit for bit
    for taper in ("none", "hann"):
        both = lock_state(tr, dev, tones, t_start=8000.0, max_slip_cycles=0.25, taper=taper)
        np.testing.assert_array_equal(np.asarray(both[0]),
                                      np.asarray(is_locked(tr, dev, tones, t_start=8000.0)))
        np.testing.assert_array_equal(np.asarray(both[1]),
                                      np.asarray(locking_order(tr, dev, tones, 8000.0, taper)))


def _phase_lag_scan(dev, amp, x):
    """arg Z(delta) - arg Z(0) of one oscillator locked to tones at detunings x * half-range."""
    half = float(dev.locking_range_ghz(amp)[0])
    fg = float(dev.free_running_frequency_ghz()[0])
    tones = pn.Tones(fg + x[:, None] * half, amps=amp)
    t1 = 4000.0 / amp  # many locking times at every amplitude
    tr = pn.simulate(dev, tones, t1=t1, dt=2.0, saveat=np.linspace(0.0, t1, 2001))
    z = np.asarray(locking_phasor(tr, dev, tones, t_start=t1 / 2))[:, 0, 0]
    np.testing.assert_array_equal(np.abs(z), np.asarray(locking_order(tr, dev, tones, t1 / 2))[:, 0, 0])
    return np.abs(z), np.angle(z / z[x == 0.0][0])


def test_locking_phasor_lag_follows_adler_across_the_band():
    """The lock-in phase of a locked oscillator behind the tone: Adler's
    sin(-(arg Z(delta) - arg Z(0))) = delta / Delta f, with the nu-widened Delta f, in the
    weak-forcing limit; the residual is the first-order finite-forcing correction (it halves
    with the amplitude)."""
    dev = quiet(nonlinear_shift_ghz=0.05)  # nu > 4: the lag's offset and the band are nu's
    x = np.array([-0.85, -0.5, 0.0, 0.5, 0.85])
    err = {}
    for amp in (0.1, 0.05):
        mag, lag = _phase_lag_scan(dev, amp, x)
        assert np.all(mag > 0.999)  # locked throughout
        ratio = np.sin(-lag[x != 0]) / x[x != 0]
        err[amp] = np.max(np.abs(ratio - 1.0))
    assert err[0.05] < 0.015  # lags up to arcsin(0.85) = 1.02 rad, each within 1.5 %
    assert 0.4 < err[0.05] / err[0.1] < 0.6  # the residual is linear in the forcing


def test_mutual_synchronisation_of_two_oscillators():
    currents = jnp.array([7.3, 7.7])  # free-running frequencies about 1.4 MHz apart
    ts = np.linspace(0, 8000, 4001)
    freqs = {}
    for w in (0.0, 0.004):
        dev = quiet(current_ma=currents, coupling=w * (1 - jnp.eye(2)))
        tr = pn.simulate(dev, None, t1=8000.0, dt=1.0, saveat=ts)
        freqs[w] = np.asarray(mean_frequency_ghz(tr, dev, t_start=4000.0))
    fg = np.asarray(quiet(current_ma=currents).free_running_frequency_ghz())
    np.testing.assert_allclose(freqs[0.0], fg, rtol=1e-5)  # uncoupled: each its own frequency
    assert abs(freqs[0.0][1] - freqs[0.0][0]) > 1e-3
    assert abs(freqs[0.004][1] - freqs[0.004][0]) < 1e-6  # coupled: one common frequency


@pytest.mark.parametrize("extra", [{}, {"current_shift_ghz_per_ma": 0.0065, "f0_ghz": 0.25}],
                         ids=["plain", "oersted"])
def test_rotating_frame_agrees_with_lab_frame(extra):
    kw = dict(current_ma=jnp.array([7.0, 8.0]), coupling=0.003 * (1 - jnp.eye(2)),
              coupling_phase=0.3 * (1 - jnp.eye(2)), rf_coupling=jnp.full((2, 1), 0.004), **extra)
    rot, lab = quiet(**kw), quiet(frame="lab", **kw)
    tones = pn.Tones(jnp.array([0.305]), amps=1.0)
    y0 = lab.init_state() * 0.5
    ts = np.linspace(0, 300, 31)
    a = pn.simulate(rot, tones, t1=300.0, dt=0.25, y0=y0, saveat=ts)
    b = pn.simulate(lab, tones, t1=300.0, dt=0.01, y0=y0, saveat=ts)
    for key in ("power", "frequency_ghz", "voltage_mv"):
        np.testing.assert_allclose(a.obs[key], b.obs[key], rtol=2e-3, atol=2e-3 * float(
            jnp.abs(b.obs[key]).max()))
    # the lab-frame saves are 3 carrier periods apart, so compare phases modulo 2 pi
    dphi = np.angle(np.exp(1j * np.asarray(lab_phase(a, rot)[-1] - lab_phase(b, lab)[-1])))
    np.testing.assert_allclose(dphi, 0.0, atol=1e-2)


@pytest.mark.parametrize("temperature", [100.0, 300.0])
def test_linewidth_matches_kim_tiberkevich_slavin(temperature):
    dev = pn.STONetwork(temperature_k=temperature)
    ts = np.linspace(0, 3000, 301)
    tr = pn.simulate(dev, None, t1=3000.0, dt=0.5, y0=dev.init_state((2048,)), saveat=ts,
                     key=jax.random.key(0))
    phi = np.asarray(lab_phase(tr, dev))[:, :, 0]
    var = (phi - phi[0]).var(axis=1)
    late = ts >= 500  # after the amplitude relaxation (1/(2 Gamma_p) = 50 ns)
    slope = np.polyfit(ts[late], var[late], 1)[0]  # d<dphi^2>/dt = FWHM in rad/ns
    np.testing.assert_allclose(slope, 2 * np.pi * float(dev.linewidth_ghz()[0]), rtol=0.1)


@pytest.mark.parametrize("q", [0.0, 1.5])
def test_a_passive_oscillator_thermalises_to_the_boltzmann_distribution(q):
    """Fluctuation-dissipation: with no current, the power of an oscillator in contact with a
    bath at T is Boltzmann-distributed, P(p) ~ exp(-E0 p / k_B T), so <p> = theta and
    <p^2> = 2 theta^2 with theta = k_B T / E0, whatever the nonlinear damping Q (the noise
    follows the damping Gamma (1 + Q p)). theta = 0.1 makes Q p matter."""
    from physnn.devices.spintronic import K_B

    theta = 0.1
    dev = pn.STONetwork(current_ma=0.0, nonlinear_damping=q, temperature_k=300.0,
                        mode_energy_j=K_B * 300.0 / theta)
    np.testing.assert_allclose(float(dev.thermal_ratio()[0]), theta, rtol=1e-6)
    y0 = jnp.broadcast_to(jnp.asarray([[theta ** 0.5], [0.0]]), (4096, 2, 1))
    ts = np.arange(200.0, 2000.1, 10.0)  # after 8 relaxation times 1/(2 Gamma) = 25 ns
    tr = pn.simulate(dev, None, t1=2000.0, dt=0.5, y0=y0, saveat=ts, key=jax.random.key(2))
    p = np.asarray(tr.obs["power"])
    np.testing.assert_allclose(p.mean() / theta, 1.0, atol=0.02)
    np.testing.assert_allclose((p ** 2).mean() / (2 * theta ** 2), 1.0, atol=0.04)


def test_linewidth_grows_with_temperature():
    widths = []
    for temperature in (50.0, 150.0, 450.0):
        dev = pn.STONetwork(temperature_k=temperature)
        ts = np.linspace(0, 2000, 201)
        tr = pn.simulate(dev, None, t1=2000.0, dt=0.5, y0=dev.init_state((512,)), saveat=ts,
                         key=jax.random.key(1))
        phi = np.asarray(lab_phase(tr, dev))[:, :, 0]
        widths.append(np.polyfit(ts[50:], (phi - phi[0]).var(axis=1)[50:], 1)[0])
    assert widths[0] < widths[1] < widths[2]
    assert 2.0 < widths[1] / widths[0] < 4.5 and 2.0 < widths[2] / widths[1] < 4.5  # ~ linear in T


def test_thermal_noise_depends_on_temperature_over_mode_energy_only():
    """The noise enters only through theta = k_B T / E0 (D = Gamma (1 + Q p) theta): a junction
    with ten times the mode energy at 300 K is the default one at 30 K, realisation for
    realisation (what romera2018-thermal's linewidth axis relies on)."""
    kw = dict(current_ma=jnp.array([6.5, 7.5]), coupling=0.002 * (1 - jnp.eye(2)),
              rf_coupling=jnp.full((2, 1), 0.002))
    tones = pn.Tones(jnp.array([0.31]), amps=1.0)
    ts = np.linspace(0, 300, 61)
    runs = [pn.simulate(pn.STONetwork(temperature_k=t, mode_energy_j=e, **kw), tones, t1=300.0,
                        dt=0.5, saveat=ts, key=jax.random.key(4)).ys
            for t, e in ((300.0, 4e-17), (30.0, 4e-18), (300.0, 4e-18))]
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-5, atol=1e-6)
    assert np.abs(np.asarray(runs[2]) - np.asarray(runs[1])).max() > 1e-3  # the noise matters


def test_gradient_of_steady_frequency_wrt_current():
    with jax.enable_x64(True):
        dev = quiet(current_ma=jnp.asarray([7.5]))
        y0 = jnp.asarray([[0.2], [0.1]])

        def steady_freq(current):
            d = eqx.tree_at(lambda m: m.current_ma, dev, current)
            tr = pn.simulate(d, None, t1=1500.0, dt=0.5, y0=y0, saveat="final")
            return tr.obs["frequency_ghz"][-1, 0]

        i = jnp.asarray([7.5])
        g = jax.grad(steady_freq)(i)[0]
        h = 1e-4
        fd = (steady_freq(i + h) - steady_freq(i - h)) / (2 * h)
        np.testing.assert_allclose(g, fd, rtol=1e-5)
        # and both equal the analytic tunability df/dI = (N/2pi) (1 + Q) / (I_th (zeta + Q)^2)
        np.testing.assert_allclose(g, 0.05 * 2.5 / (5.0 * 3.0**2), rtol=1e-5)


@pytest.mark.slow
def test_batched_run_equals_per_sample_runs():
    # float64, so that the comparison is not blurred by float32 round-off (the batched and single
    # programs are vectorised differently and round differently).
    with jax.enable_x64(True):
        dev = pn.STONetwork(n_oscillators=2, coupling=0.003 * (1 - jnp.eye(2)),
                            rf_coupling=jnp.full((2, 1), 0.002), temperature_k=0.0)
        freqs = jnp.array([[0.30], [0.31], [0.32]])
        batched = pn.simulate(dev, pn.Tones(freqs, amps=0.5), t1=500.0, dt=0.5)
        for b in range(3):
            single = pn.simulate(dev, pn.Tones(freqs[b], amps=0.5), t1=500.0, dt=0.5)
            np.testing.assert_allclose(batched.ys[:, b], single.ys, rtol=1e-10, atol=1e-12)


def test_dissipated_power_and_bad_parameters():
    dev = quiet(current_ma=jnp.array([6.0, 8.0]), resistance_ohm=50.0)
    y = dev.init_state((3,))
    np.testing.assert_allclose(dev.power(0.0, y, None), (36 + 64) * 50e-6, rtol=1e-6)
    with pytest.raises(ValueError, match="damping=-0.1"):
        pn.STONetwork(damping=-0.1)
    mismatch = r"disagree on the number of oscillators.*coupling -> 3.*n_oscillators -> 2"
    with pytest.raises(ValueError, match=mismatch):
        pn.STONetwork(n_oscillators=2, coupling=jnp.zeros((3, 3)))
    with pytest.raises(ValueError, match="current_ma=.*finite"):
        pn.STONetwork(current_ma=float("nan"))
    with pytest.raises(ValueError, match="frame='carrier'"):
        pn.STONetwork(frame="carrier")
    # built inside grad, the rotating frame cannot come from traced parameters: a clear error,
    # not a TracerArrayConversionError; frame_ghz given, the device builds
    with pytest.raises(ValueError, match="frame_ghz=None.*traced.*pass frame_ghz"):
        jax.grad(lambda c: pn.STONetwork(current_ma=c).current_ma.sum())(jnp.array([7.5]))
    assert jax.grad(lambda c: pn.STONetwork(current_ma=c, frame_ghz=0.3).current_ma.sum())(
        jnp.array([7.5])) == 1.0


@pytest.mark.parametrize("x", [0.5, 1.7, 3.5, 6.25])
def test_hann_window_average_of_a_beat_matches_its_closed_form(x):
    """|<exp(2 pi i df t)>| over a window of length T, with x = df T: sin(pi x)/(pi x) for the
    plain average, and that divided by (1 - x^2) for the Hann taper (its Fourier transform), so
    a beat leaves (df T)^-3 instead of (df T)^-1."""
    t1, t_start = 200.0, 100.0
    ts = np.linspace(0.0, t1, 20001)
    z = jnp.exp(2j * np.pi * (x / (t1 - t_start)) * jnp.asarray(ts))
    sinc = abs(np.sinc(x))
    rect = abs(complex(window_average(z, ts, t_start, "none")))
    hann = abs(complex(window_average(z, ts, t_start, "hann")))
    np.testing.assert_allclose(rect, sinc, atol=2e-4)
    np.testing.assert_allclose(hann, sinc / abs(1 - x**2), atol=2e-4)
    w = np.asarray(window_weights(ts, t_start, "hann"))
    assert np.all(w[ts < t_start] == 0) and abs(w.sum() - 1) < 1e-6


def test_unknown_taper_or_an_empty_window_is_a_clear_error():
    ts = np.linspace(0, 1, 11)
    with pytest.raises(ValueError, match="taper='hamming'"):
        window_weights(ts, 0.5, "hamming")
    with pytest.raises(ValueError, match=r"t_start=2.0: the averaging window holds 0 of the saved"):
        window_weights(ts, 2.0)
    with pytest.raises(ValueError, match="holds 2 .* 'hann' taper needs at least 3"):
        window_weights(ts, 0.85, "hann")
    assert np.all(np.isfinite(np.asarray(window_weights(ts, 0.8, "hann"))))
