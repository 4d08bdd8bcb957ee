"""A spin-torque oscillator driven through its DC current, I(t) = I_dc + dI J(t)
(``STONetwork(input="current")``, Torrejon et al. 2017), against the Slavin-Tiberkevich closed
forms: the logistic response to a current step, the amplitude relaxation rate, the steady power,
and the low-pass response to a small current modulation. The closed forms are written out here
from the model's equation, not read from the device's own methods, except where a method is
what is tested (then it is compared with the simulation)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import physnn as pn
from physnn.drives import AbstractDrive

GAMMA, Q, I_TH = 0.02, 1.5, 5.0


def current_sto(**kw):
    kw.setdefault("temperature_k", 0.0)
    kw.setdefault("damping", GAMMA)
    kw.setdefault("nonlinear_damping", Q)
    kw.setdefault("threshold_ma", I_TH)
    return pn.STONetwork(input="current", **kw)


def p_inf(i_ma):
    z = np.asarray(i_ma) / I_TH
    return np.where(z > 1, (z - 1) / (z + Q), 0.0)


def logistic(p_s, i_ma, t):
    """dp/dt = 2p(a - b p): p(t) = a p_s / (a e^{-2at} + b p_s (1 - e^{-2at}))."""
    sigma = GAMMA / I_TH
    a, b = sigma * i_ma - GAMMA, sigma * i_ma + GAMMA * Q
    e = np.exp(-2 * a * t)
    return a * p_s / (a * e + b * p_s * (1 - e))


class Sine(AbstractDrive):
    """J(t) = sin(2 pi f t), one channel (a test drive)."""

    freq: float

    def __call__(self, t):
        return jnp.sin(2 * jnp.pi * self.freq * t)[None]

    @property
    def batch_shape(self):
        return ()


@pytest.mark.parametrize("j_after", [0.8, -2.0])  # up to 9.5 mA; down to 3.5 mA, below threshold
def test_a_current_step_follows_the_logistic_solution(j_after):
    with jax.enable_x64(True):
        dev = current_sto(current_ma=7.5, current_input_ma=2.5)
        drive = pn.SampleAndHold(jnp.array([[0.0], [j_after]]), hold=150.0)
        tr = pn.simulate(dev, drive, t1=300.0, dt=0.25, saveat="steps")
        ts, p = np.asarray(tr.ts), np.asarray(tr.obs["power"][:, 0])
        after = ts >= 150.0
        i_after = 7.5 + 2.5 * j_after
        want = logistic(p_inf(7.5), i_after, ts[after] - 150.0)
        np.testing.assert_allclose(p[after], want, rtol=1e-8)
        # the device's exact map is the same function
        got = np.asarray(dev.power_after(dev.free_running_power(), i_after, ts[after][:, None] - 150.0))
        np.testing.assert_allclose(got[:, 0], want, rtol=1e-12)
        # the observed current is I_dc + dI J (at t = 150 itself, the end of the first hold)
        np.testing.assert_allclose(np.asarray(tr.obs["current_ma"][ts > 150.0, 0]), i_after)


def test_relaxation_rate_and_steady_power_follow_the_stepped_current():
    """A 1 % current step: the power relaxes to p0(I) at the rate 2 Gamma (I/I_th - 1), fitted
    from the simulation, at three currents."""
    with jax.enable_x64(True):
        currents = np.array([6.5, 8.0, 11.0])
        dev = current_sto(current_ma=currents / 1.01, current_input_ma=currents * 0.01 / 1.01)
        drive = pn.SampleAndHold(jnp.array([[0.0], [1.0]]), hold=100.0)
        # 2000 ns after the step: e^{-2 Gamma_p t} < 1e-10 at the slowest (6.5 mA)
        tr = pn.simulate(dev, drive, t1=100.0 + 2000.0, dt=0.5, saveat="steps")
        ts, p = np.asarray(tr.ts), np.asarray(tr.obs["power"])
        np.testing.assert_allclose(p[-1], p_inf(currents), rtol=1e-6)
        sel = (ts > 120.0) & (ts < 400.0)
        rates = [-np.polyfit(ts[sel], np.log(np.abs(p[sel, j] - p_inf(c))), 1)[0]
                 for j, c in enumerate(currents)]
        np.testing.assert_allclose(rates, 2 * GAMMA * (currents / I_TH - 1), rtol=1e-2)
        np.testing.assert_allclose(dev.relaxation_rate(currents), GAMMA * (currents / I_TH - 1))
        np.testing.assert_allclose(dev.free_running_power(currents), p_inf(currents))


@pytest.mark.parametrize("corner_multiple", [0.0, 1.0, 3.0])
def test_a_small_current_modulation_is_low_pass_filtered(corner_multiple):
    """J = sin(2 pi f t) with dI = 0.01 mA around 7.5 mA: the power oscillates with the complex
    amplitude dI * current_response(f) = dI 2 p0 sigma (1-p0) / (2 Gamma_p + i omega), measured by
    lock-in over whole periods after the transient (at f = 0, the DC sensitivity dp0/dI)."""
    with jax.enable_x64(True):
        di = 0.01
        dev = current_sto(current_ma=7.5, current_input_ma=di)
        gp = GAMMA * (7.5 / I_TH - 1)
        if corner_multiple == 0.0:
            want = (1 + Q) / (I_TH * (7.5 / I_TH + Q) ** 2)  # d p0 / d I, by hand
            np.testing.assert_allclose(complex(dev.current_response(0.0)[0]), want, rtol=1e-12)
            return
        f = corner_multiple * 2 * gp / (2 * np.pi)
        period = 1 / f
        t1 = 400.0 + 4 * period
        ts = np.linspace(400.0, t1, 801)[:-1]
        tr = pn.simulate(dev, Sine(freq=f), t1=t1, dt=0.1, saveat=jnp.asarray(ts))
        dp = np.asarray(tr.obs["power"][:, 0]) - p_inf(7.5)
        # dp(t) = Im[H dI e^{i w t}]: project on sin and cos
        w = 2 * np.pi * f
        amp = 2 * np.mean(dp * np.sin(w * ts)) + 2j * np.mean(dp * np.cos(w * ts))
        p0 = p_inf(7.5)
        want = di * 2 * p0 * (GAMMA / I_TH) * (1 - p0) / (2 * gp + 1j * w)
        # measured against the closed form; dI = 0.01 mA leaves a ~1e-3 nonlinear correction
        assert abs(amp - want) < 5e-3 * abs(want)
        assert abs(complex(dev.current_response(f)[0]) * di - want) < 1e-12 * abs(want)
        if corner_multiple == 1.0:  # at the corner: 1/sqrt(2) of the DC response, 45 deg behind
            assert abs(want) == pytest.approx(di * (1 + Q) / (I_TH * (1.5 + Q) ** 2) / np.sqrt(2))


def test_power_after_is_smooth_at_threshold_and_has_finite_gradients():
    """At I = I_th (a = 0) the map is p_s / (1 + 2 b p_s t); its value and gradient are finite
    and continuous across threshold."""
    with jax.enable_x64(True):
        dev = current_sto(current_ma=7.5)
        b = GAMMA / I_TH * I_TH + GAMMA * Q
        at = float(dev.power_after(jnp.array([0.2]), I_TH, 30.0)[0])
        assert at == pytest.approx(0.2 / (1 + 2 * b * 0.2 * 30.0), rel=1e-12)
        g = jax.grad(lambda i: dev.power_after(jnp.array([0.2]), i, 30.0)[0])
        for i in (I_TH - 1e-9, I_TH, I_TH + 1e-9):
            assert np.isfinite(float(g(i)))
        fd = (float(dev.power_after(jnp.array([0.2]), I_TH + 1e-5, 30.0)[0])
              - float(dev.power_after(jnp.array([0.2]), I_TH - 1e-5, 30.0)[0])) / 2e-5
        assert float(g(I_TH)) == pytest.approx(fd, rel=1e-6)


def test_gradient_through_a_masked_current_drive_matches_finite_differences():
    """d(mean power over the last holds)/d(dI, I_dc) through simulate, against central
    differences, for a masked (time-multiplexed) input."""
    with jax.enable_x64(True):
        mask = jnp.array([1.0, -1.0, 0.5, -0.5])
        drive = pn.Masked(jnp.array([0.3, -0.6, 0.9]), mask, theta=20.0)

        def loss(params):
            dev = current_sto(current_ma=params[0], current_input_ma=params[1], frame_ghz=0.3)
            tr = pn.simulate(dev, drive, t1=240.0, dt=1.0, saveat="holds")
            return jnp.sum(tr.obs["power"][-6:, 0] ** 2)

        x = jnp.array([7.5, 1.2])
        g = np.asarray(jax.grad(loss)(x))
        for k in range(2):
            e = np.zeros(2)
            e[k] = 1e-5
            fd = (float(loss(x + e)) - float(loss(x - e))) / 2e-5
            assert g[k] == pytest.approx(fd, rel=1e-6)
        assert abs(g[1]) > 1e-4  # the input scaling matters


def test_thermal_noise_is_kept_and_is_the_tone_devices_noise():
    """With J = 0, a current-driven oscillator and a tone-driven one without a tone see the same
    thermal noise, bit for bit, for the same key (and the noise is there: p wanders)."""
    key = jax.random.PRNGKey(3)
    cur = pn.STONetwork(input="current", temperature_k=300.0, current_input_ma=1.0)
    tone = pn.STONetwork(temperature_k=300.0, rf_coupling=jnp.zeros((1, 1)))
    a = pn.simulate(cur, pn.Constant(jnp.zeros(1)), t1=100.0, dt=0.5, saveat="steps", key=key)
    b = pn.simulate(tone, pn.Tones(0.3, 0.0), t1=100.0, dt=0.5, saveat="steps", key=key)
    np.testing.assert_array_equal(np.asarray(a.obs["power"]), np.asarray(b.obs["power"]))
    assert np.std(np.asarray(a.obs["power"])) > 1e-4


def test_dissipated_power_and_oersted_shift_follow_the_instantaneous_current():
    with jax.enable_x64(True):
        dev = current_sto(current_ma=7.5, current_input_ma=2.0, current_shift_ghz_per_ma=0.004,
                          resistance_ohm=40.0)
        drive = pn.SampleAndHold(jnp.array([[0.0], [1.0]]), hold=400.0)
        tr = pn.simulate(dev, drive, t1=800.0, dt=0.25, saveat="steps")
        y, u = tr.ys[-1], drive(799.0)
        assert float(dev.power(799.0, y, u)) == pytest.approx(9.5**2 * 40.0 * 1e-6, rel=1e-12)
        f = float(tr.obs["frequency_ghz"][-1, 0])
        assert f == pytest.approx(0.3 + 0.004 * 9.5 + 0.05 * float(p_inf(9.5)), rel=1e-7)


def test_shape_contract_and_bad_arguments_of_the_current_input():
    one = pn.STONetwork(input="current", temperature_k=0.0)
    with pytest.raises(ValueError, match=r"takes \(1,\)"):
        pn.simulate(one, pn.Tones(0.3, 1.0), t1=10.0, dt=1.0)
    two = pn.STONetwork(input="current", temperature_k=0.0, current_ma=jnp.array([7.0, 8.0]),
                        current_input_ma=jnp.array([1.0, -1.0]))
    for drive in (pn.Constant(jnp.ones(2)), pn.Constant(jnp.ones(1))):
        tr = pn.simulate(two, drive, t1=10.0, dt=1.0, saveat="final")
        assert tr.obs["power"].shape[-1] == 2
    with pytest.raises(ValueError, match=r"\(3,\)"):
        pn.simulate(two, pn.Constant(jnp.ones(3)), t1=10.0, dt=1.0)
    with pytest.raises(ValueError, match="input='sideband'"):
        pn.STONetwork(input="sideband")
    with pytest.raises(ValueError, match="current_input_ma=2.0"):
        pn.STONetwork(current_input_ma=2.0)
    with pytest.raises(ValueError, match="number of oscillators"):
        pn.STONetwork(input="current", current_ma=jnp.ones(2) * 7, current_input_ma=jnp.ones(3))
    # built inside jit from traced currents, with the frame given as a number (the docstring's
    # advice; the frame's check used to stage it into the trace and fail)
    built = jax.jit(lambda i: pn.STONetwork(input="current", current_ma=i, frame_ghz=0.3)
                    .free_running_power())
    assert float(built(7.5)[0]) == pytest.approx((1.5 - 1) / (1.5 + 1.5), rel=1e-6)
    with pytest.raises(ValueError, match="frame_ghz=-1.0"):
        pn.STONetwork(frame_ghz=-1.0)
    # a tone device carries no extra parameter: its tree of arrays (saved models) is unchanged
    assert pn.STONetwork().current_input_ma is None
    assert len(jax.tree_util.tree_leaves(pn.STONetwork())) == 13
    # and the current device's input scaling is a trainable leaf
    params, _ = eqx.partition(two, eqx.is_inexact_array)
    assert params.current_input_ma is not None
