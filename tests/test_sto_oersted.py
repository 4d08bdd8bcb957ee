"""The Oersted-field tuning of STONetwork (``current_shift_ghz_per_ma``, kappa): the linear
frequency moves by kappa per mA of DC current. It adds kappa to the tunability, and, because it
does not depend on the power, it leaves the amplitude-phase coupling nu, the locking range and
the linewidth as they are: an isochronous vortex (N = 0) that tunes by current locks over the
plain Adler range and has the nu = 0 linewidth."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import physnn as pn
from physnn.devices.spintronic import is_locked, lab_phase

KAPPA = 0.0065  # GHz/mA: 6.5 MHz/mA, the tunability of the vowel network's oscillators


def quiet(**kw):
    kw.setdefault("temperature_k", 0.0)
    return pn.STONetwork(**kw)


@pytest.mark.slow
@pytest.mark.parametrize("shift_ghz", [0.0, 0.05])
def test_free_running_frequency_and_tunability_include_the_oersted_shift(shift_ghz):
    currents = jnp.array([6.0, 7.5, 10.0])
    dev = quiet(current_ma=currents, nonlinear_shift_ghz=shift_ghz, current_shift_ghz_per_ma=KAPPA)
    y0 = dev.init_state() * 0.5
    tr = pn.simulate(dev, None, t1=3000.0, dt=0.5, y0=y0, saveat="final")
    zeta = np.asarray(currents) / 5.0
    p0 = (zeta - 1) / (zeta + 1.5)
    want = 0.3 + KAPPA * np.asarray(currents) + shift_ghz * p0
    np.testing.assert_allclose(np.asarray(tr.obs["frequency_ghz"][-1]), want, rtol=1e-5)
    np.testing.assert_allclose(dev.free_running_frequency_ghz(), want, rtol=1e-6)
    np.testing.assert_allclose(dev.free_running_power(), p0, rtol=1e-6)  # the power is untouched
    # nu comes from N alone
    plain = quiet(current_ma=currents, nonlinear_shift_ghz=shift_ghz)
    np.testing.assert_array_equal(dev.amplitude_phase_coupling(), plain.amplitude_phase_coupling())
    # the tunability through the solve: kappa + (N/2pi) dp0/dI, against central differences
    with jax.enable_x64(True):
        d64 = quiet(current_ma=jnp.asarray([7.5]), nonlinear_shift_ghz=shift_ghz,
                    current_shift_ghz_per_ma=KAPPA)

        def steady(i):
            d = eqx.tree_at(lambda m: m.current_ma, d64, i)
            out = pn.simulate(d, None, t1=1500.0, dt=0.5, y0=jnp.asarray([[0.2], [0.1]]), saveat="final")
            return out.obs["frequency_ghz"][-1, 0]

        i = jnp.asarray([7.5])
        g = float(jax.grad(steady)(i)[0])
        fd = float((steady(i + 1e-4) - steady(i - 1e-4)) / 2e-4)
        np.testing.assert_allclose(g, fd, rtol=1e-5)
        np.testing.assert_allclose(g, KAPPA + shift_ghz * 2.5 / (5.0 * 3.0**2), rtol=1e-5)


@pytest.mark.parametrize("shift_ghz", [0.0, 0.05])
def test_current_for_frequency_inverts_the_tuning_curve(shift_ghz):
    dev = quiet(current_ma=jnp.full(4, 7.5), nonlinear_shift_ghz=shift_ghz,
                current_shift_ghz_per_ma=KAPPA)
    targets = jnp.array([0.34, 0.35, 0.37, 0.40])
    i = dev.current_for_frequency_ma(targets)
    assert np.all(np.asarray(i) > 5.0)
    back = eqx.tree_at(lambda m: m.current_ma, dev, i).free_running_frequency_ghz()
    np.testing.assert_allclose(back, targets, atol=1e-6)
    with pytest.raises(ValueError, match=r"f_ghz=.*at or below the frequency at threshold"):
        dev.current_for_frequency_ma(0.3 + KAPPA * 5.0 - 0.001)
    with pytest.raises(ValueError, match="current_shift_ghz_per_ma=-0.0065"):
        quiet(current_shift_ghz_per_ma=-KAPPA).current_for_frequency_ma(0.2)
    for bad in (np.nan, [0.1, 0.2]):
        with pytest.raises(ValueError, match="current_shift_ghz_per_ma"):
            quiet(current_shift_ghz_per_ma=bad)


def test_an_isochronous_vortex_locks_over_the_adler_range():
    """N = 0, kappa = 6.5 MHz/mA: nu = 0, so the tone locks the oscillator over the plain Adler
    half-width F A / (2 pi sqrt(p0)) and not beyond."""
    dev = quiet(nonlinear_shift_ghz=0.0, current_shift_ghz_per_ma=KAPPA)
    amp = 0.25
    half = float(dev.locking_range_ghz(amp)[0])
    np.testing.assert_allclose(half, 0.002 * amp / (2 * np.pi * np.sqrt(float(dev.free_running_power()[0]))),
                               rtol=1e-6)
    fg = float(dev.free_running_frequency_ghz()[0])
    x = np.array([-1.15, -0.85, 0.0, 0.85, 1.15])
    tones = pn.Tones(fg + x[:, None] * half, amps=amp)
    t1 = 40000.0
    tr = pn.simulate(dev, tones, t1=t1, dt=2.0, saveat=np.linspace(0.0, t1, 2001))
    locked = np.asarray(is_locked(tr, dev, tones, t_start=t1 / 2))[:, 0, 0]
    assert locked.tolist() == [False, True, True, True, False]


def test_an_isochronous_vortex_has_the_nu_zero_linewidth():
    """With N = 0 the phase diffuses at D / p0 (Kim, Tiberkevich & Slavin with nu = 0), whatever
    kappa: a tuning that does not depend on the power does not convert amplitude noise into
    phase noise."""
    dev = pn.STONetwork(temperature_k=300.0, nonlinear_shift_ghz=0.0, current_shift_ghz_per_ma=KAPPA)
    assert float(dev.amplitude_phase_coupling()[0]) == 0.0
    ts = np.linspace(0, 3000, 301)
    tr = pn.simulate(dev, None, t1=3000.0, dt=0.5, y0=dev.init_state((2048,)), saveat=ts,
                     key=jax.random.key(0))
    phi = np.asarray(lab_phase(tr, dev))[:, :, 0]
    var = (phi - phi[0]).var(axis=1)
    late = ts >= 500
    slope = np.polyfit(ts[late], var[late], 1)[0]
    want = float(dev.noise_intensity()[0] / dev.free_running_power()[0])  # rad^2/ns
    np.testing.assert_allclose(slope, want, rtol=0.1)
    np.testing.assert_allclose(2 * np.pi * float(dev.linewidth_ghz()[0]), want, rtol=1e-6)


# the lab and rotating frames with the Oersted shift: tests/test_sto.py (parametrised)
