"""Chirps: tones with linearly swept frequencies, checked against their closed-form phase and
against injection-locking physics (an oscillator follows a slow sweep until the instantaneous
detuning leaves the Adler locking range)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import physnn as pn
from physnn.devices.spintronic import _relative_phase, lab_phase, locking_order, mean_frequency_ghz


def _phase_of(u):
    """theta from the drive's value u = (A cos theta, -A sin theta)."""
    return np.arctan2(-np.asarray(u[..., 1, :], float), np.asarray(u[..., 0, :], float))


def _wrapped_close(a, b, atol):
    d = np.angle(np.exp(1j * (np.asarray(a, float) - np.asarray(b, float))))
    assert np.max(np.abs(d)) < atol, np.max(np.abs(d))


def test_chirps_with_equal_ends_are_tones():
    f = jnp.array([[0.31, 0.34], [0.32, 0.33]])
    ch = pn.Chirps(f, f, 300.0, amps=[1.0, 2.0], phases=[0.0, 0.4])
    tn = pn.Tones(f, amps=[1.0, 2.0], phases=[0.0, 0.4])
    assert ch.batch_shape == tn.batch_shape == (2,)
    for t in (0.0, 17.3, 299.0, 512.5):
        np.testing.assert_allclose(np.asarray(ch(t)), np.asarray(tn(t)), atol=2e-6)
    t = jnp.linspace(0.0, 500.0, 11).reshape(-1, 1, 1)
    np.testing.assert_allclose(np.asarray(ch.frame_phase(t, 0.32)), np.asarray(tn.frame_phase(t, 0.32)),
                               atol=1e-6)


def test_chirp_phase_is_the_integral_of_its_frequency():
    f0, f1, big_t, phase = 0.312, 0.347, 500.0, 0.3
    ch = pn.Chirps([f0, f1], [f1, f0], big_t, amps=1.5, phases=phase)  # one up, one down
    ts = np.array([-20.0, 0.0, 3.7, 125.0, 250.0, 499.0, 500.0, 731.25])
    for t in ts:
        # closed form in float64: the integral of the piecewise-linear frequency
        s = np.clip(t, 0.0, big_t)
        swept = s * s / (2 * big_t) + max(t - big_t, 0)
        cyc = np.array([f0, f1]) * t + np.array([f1 - f0, f0 - f1]) * swept
        _wrapped_close(_phase_of(ch(t)), 2 * np.pi * cyc + phase, atol=2e-4)
        np.testing.assert_allclose(np.abs(np.asarray(ch(t)[0] + 1j * ch(t)[1])), 1.5, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(ch.frequency(250.0)), [0.5 * (f0 + f1)] * 2, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(ch.frequency(900.0)), [f1, f0], rtol=1e-6)
    # and the phase in a rotating frame is the lab phase less the frame's
    tt = jnp.asarray(ts[:, None], jnp.float32)
    _wrapped_close(np.asarray(ch.frame_phase(tt, 0.33)) + 2 * np.pi * 0.33 * ts[:, None],
                   _phase_of(jnp.stack([ch(t) for t in ts])), atol=2e-4)


def _unlock_detuning(dev, amp, sweep_time):
    """Sweep a tone from half a locking range below the oscillator to two above, and return the
    instantaneous detuning (in locking half-widths) at which its phase has slipped a full cycle."""
    half = float(dev.locking_range_ghz(amp)[0])
    fg = float(dev.free_running_frequency_ghz()[0])
    ch = pn.Chirps(fg - 0.5 * half, fg + 2.0 * half, sweep_time, amps=amp)
    ts = np.linspace(0.0, sweep_time, 64001)
    tr = pn.simulate(dev, ch, t1=sweep_time, dt=1.0, saveat=ts)
    phi = np.asarray(lab_phase(tr, dev))[:, 0] - 2 * np.pi * dev.frame_ghz * ts
    rel = phi - np.asarray(ch.frame_phase(jnp.asarray(ts[:, None], jnp.float32), dev.frame_ghz))[:, 0]
    settled = np.searchsorted(ts, 0.2 * sweep_time)
    slip = np.argmax(np.abs(rel - rel[settled]) > 2 * np.pi)
    assert slip > settled, "the oscillator never locked, or never unlocked"
    return (float(ch.frequency(ts[slip])[0]) - fg) / half


@pytest.mark.slow
def test_slow_sweep_unlocks_at_the_adler_range_and_a_fast_one_later():
    """Quasi-static limit: a slowly swept tone drags the oscillator along until the instantaneous
    detuning reaches the locking half-width (weak forcing, with the nu-widening); a faster sweep
    overshoots it (slow passage through the saddle-node: the delay grows with the rate)."""
    dev = pn.STONetwork(temperature_k=0.0)
    slow = _unlock_detuning(dev, 0.25, 256000.0)
    fast = _unlock_detuning(dev, 0.25, 32000.0)
    assert slow == pytest.approx(1.0, abs=0.03)
    assert fast > slow + 0.05


@pytest.mark.slow
def test_locked_oscillator_follows_the_chirp():
    """Inside the locking range the oscillator follows the sweep adiabatically: at every moment it
    sits in the locked state of a fixed tone at the chirp's instantaneous frequency (phase lag and
    frequency), and it is coherent with the chirp, not with a fixed tone."""
    dev = pn.STONetwork(temperature_k=0.0)
    half = float(dev.locking_range_ghz(1.0)[0])
    fg = float(dev.free_running_frequency_ghz()[0])
    big_t = 4000.0
    ch = pn.Chirps(fg - 0.4 * half, fg + 0.4 * half, big_t, amps=1.0)  # stays inside the range
    ts = np.linspace(0.0, big_t, 2001)
    tr = pn.simulate(dev, ch, t1=big_t, dt=0.5, saveat=ts)
    rel = np.asarray(_relative_phase(tr, dev, ch))[:, 0, 0]
    # the locked phase lag of fixed tones at the chirp's frequency at T/2, 3T/4 and T
    fixed = pn.Tones(np.asarray(ch.frequency(jnp.array([[0.5], [0.75], [1.0]]) * big_t)), amps=1.0)
    ts_fixed = np.linspace(0.0, 2000.0, 501)
    tr_fixed = pn.simulate(dev, fixed, t1=2000.0, dt=0.5, saveat=ts_fixed)
    lag = np.asarray(_relative_phase(tr_fixed, dev, fixed))[-1, :, 0, 0]
    idx = np.searchsorted(ts, [0.5 * big_t, 0.75 * big_t, big_t])
    _wrapped_close(rel[idx], lag, atol=0.01)
    assert np.ptp(lag) > 0.3  # the lag does move with the detuning, by far more than the tolerance
    r_chirp = float(locking_order(tr, dev, ch, t_start=big_t / 2)[0, 0])
    r_static = float(locking_order(tr, dev, pn.Tones(fg - 0.4 * half, amps=1.0), t_start=big_t / 2)[0, 0])
    assert r_chirp > 0.98 and r_static < 0.5
    # its mean frequency over the second half is the chirp's: (f(T/2) + f(T)) / 2
    f = float(mean_frequency_ghz(tr, dev, t_start=big_t / 2)[0])
    want = 0.5 * float(ch.frequency(big_t / 2)[0] + ch.frequency(big_t)[0])
    assert abs(f - want) < 0.02 * 0.8 * half  # within 2 % of the sweep


def test_bad_chirps_are_named():
    with pytest.raises(ValueError, match="f_start"):
        pn.Chirps(-0.1, 0.3, 100.0)
    with pytest.raises(ValueError, match="f_end"):
        pn.Chirps(0.3, jnp.nan, 100.0)
    with pytest.raises(ValueError, match="sweep_time"):
        pn.Chirps(0.3, 0.31, 0.0)
    with pytest.raises(ValueError, match="sweep_time"):
        jax.jit(lambda t: pn.Chirps(0.3, 0.31, t)(1.0))(100.0)
    with pytest.raises(ValueError):
        pn.Chirps(jnp.ones(3), jnp.ones(2), 100.0)


@pytest.mark.slow
def test_gradient_through_a_chirped_solve_matches_central_differences():
    """d/d(f_start, f_end, amps) of the coherence between a driven oscillator and its chirp,
    through the solve, against central differences (float64)."""
    with jax.enable_x64(True):
        dev = pn.STONetwork(temperature_k=0.0, frame_ghz=0.31)
        fg = float(dev.free_running_frequency_ghz()[0])
        big_t = 600.0
        ts = jnp.linspace(0.0, big_t, 301)

        def coherence(p):
            ch = pn.Chirps(fg + p[0], fg + p[1], big_t, amps=p[2])
            tr = pn.simulate(dev, ch, t1=big_t, dt=0.5, saveat=ts)
            return locking_order(tr, dev, ch, t_start=big_t / 2, taper="hann")[0, 0]

        p0 = jnp.array([-0.004, 0.006, 0.6])  # a sweep across the locking range: partly locked
        grad = np.asarray(jax.grad(coherence)(p0))
        h = np.array([1e-6, 1e-6, 1e-5])
        fd = np.array([(coherence(p0 + h[i] * np.eye(3)[i]) - coherence(p0 - h[i] * np.eye(3)[i]))
                       / (2 * h[i]) for i in range(3)])
        assert 0.05 < float(coherence(p0)) < 0.99
        assert np.all(np.abs(fd) > 1e-2)
        np.testing.assert_allclose(grad, fd, rtol=1e-5)
