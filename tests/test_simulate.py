"""simulate(): alignment with held drives, saving, batching, noise, errors."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import BlowUp, Relaxation

import physnn as pn


def _exact_held(values, hold, tau, y0=0.0):
    y, out = y0, []
    a = np.exp(-hold / tau)
    for u in values:
        y = a * y + (1 - a) * u
        out.append(y)
    return np.array(out)


def test_held_drive_is_exact_when_dt_does_not_divide_hold(relaxation):
    # Jumps every hold; dt = 0.3 does not divide hold = 1, so simulate uses 4 steps of 0.25.
    # A solver stage that saw the next sample would make an O(1) error at every jump.
    rng = np.random.default_rng(0)
    values = rng.uniform(-1, 1, size=(3, 20, 1))
    drive = pn.SampleAndHold(values, hold=1.0)
    traj = pn.simulate(relaxation, drive, dt=0.3)
    assert traj.ts.shape == (20,)
    np.testing.assert_allclose(traj.ts, np.arange(1, 21), rtol=1e-6)
    for b in range(3):
        ref = _exact_held(values[b, :, 0], 1.0, 2.0)
        np.testing.assert_allclose(np.asarray(traj.ys[:, b, 0]), ref, atol=2e-6)


def test_save_modes(relaxation):
    drive = pn.SampleAndHold(jnp.ones((2, 5, 1)), hold=2.0)
    assert pn.simulate(relaxation, drive, dt=0.5, saveat="steps").ys.shape == (20, 2, 1)
    assert pn.simulate(relaxation, drive, dt=0.5, saveat="final").ys.shape == (1, 2, 1)
    tr = pn.simulate(relaxation, pn.Constant(jnp.ones(1)), t1=3.0, dt=0.01, saveat=[0.0, 1.5, 3.0])
    np.testing.assert_allclose(tr.ys[:, 0], 1 - np.exp(-np.array([0, 1.5, 3.0]) / 2), atol=1e-6)
    assert pn.simulate(relaxation, None, t1=1.0, dt=0.1).ts.shape == (11,)


def test_batched_equals_per_sample(relaxation):
    values = np.random.default_rng(1).normal(size=(4, 6, 1))
    batched = pn.simulate(relaxation, pn.SampleAndHold(values, hold=0.7), dt=0.1)
    for b in range(4):
        single = pn.simulate(relaxation, pn.SampleAndHold(values[b], hold=0.7), dt=0.1)
        np.testing.assert_allclose(batched.ys[:, b], single.ys, rtol=1e-6, atol=1e-7)


def test_adaptive_matches_fixed(relaxation):
    drive = pn.SampleAndHold(np.linspace(-1, 1, 8), hold=1.0)
    fixed = pn.simulate(relaxation, drive, dt=0.05)
    adapt = pn.simulate(relaxation, drive, dt=0.05, adaptive=True, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(adapt.ys, fixed.ys, atol=1e-5)


def test_noise_reproducible_and_differentiable():
    dev = Relaxation(tau=jnp.asarray(1.0), noise=jnp.asarray(0.3))
    kw = dict(t1=20.0, dt=0.05, y0=jnp.zeros((500, 1)), saveat="final")
    a = pn.simulate(dev, None, key=jax.random.key(3), **kw).ys
    b = pn.simulate(dev, None, key=jax.random.key(3), **kw).ys
    c = pn.simulate(dev, None, key=jax.random.key(4), **kw).ys
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    # Ornstein-Uhlenbeck stationary variance sigma^2 tau / 2 = 0.045
    assert abs(float(jnp.var(a)) - 0.045) < 0.045 * 0.2
    # Without a key the device is deterministic.
    assert float(jnp.abs(pn.simulate(dev, None, **kw).ys).max()) == 0.0

    def var(noise):
        d = eqx.tree_at(lambda m: m.noise, dev, noise)
        return jnp.var(pn.simulate(d, None, key=jax.random.key(3), **kw).ys)

    g = jax.grad(var)(jnp.asarray(0.3))
    h = 1e-3
    fd = (var(jnp.asarray(0.3 + h)) - var(jnp.asarray(0.3 - h))) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=2e-2)
    # Same key, same path: var is exactly quadratic in the amplitude, d var / d noise = 2 var / noise
    np.testing.assert_allclose(g, 2 * var(jnp.asarray(0.3)) / 0.3, rtol=1e-3)


def test_nonfinite_state_names_device_and_time():
    with pytest.raises(pn.SimulationError, match=r"BlowUp.*non-finite.*between t=1 and t=1.1"):
        pn.simulate(BlowUp(), None, t1=2.0, dt=0.01, saveat=np.linspace(0, 2, 21))


def test_nonfinite_inside_jit_raises():
    @jax.jit
    def run():
        return pn.simulate(BlowUp(), None, t1=2.0, dt=0.01).ys

    with pytest.raises(Exception, match="non-finite"):
        jax.block_until_ready(run())


def test_traced_save_times_are_a_clear_error(relaxation):
    @jax.jit
    def run(ts):
        return pn.simulate(relaxation, None, t1=1.0, dt=0.1, saveat=ts).ys

    with pytest.raises(ValueError, match="saveat times must be concrete"):
        run(jnp.linspace(0.0, 1.0, 5))


def test_step_budget_exhausted(relaxation):
    with pytest.raises(pn.SimulationError, match="max_steps=3"):
        pn.simulate(relaxation, pn.Constant(jnp.ones(1)), t1=100.0, dt=0.01, adaptive=True,
                    max_steps=3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(dt=0.0), "dt=0.0"),
        (dict(dt=0.1, t1=2.5), r"t1=2.5 is not aligned"),
        (dict(dt=0.1, saveat="everything"), "saveat='everything'"),
        (dict(dt=0.1, saveat=[0.0, 1.0]), "saveat must be 'holds'"),
        (dict(dt=0.1, t1=0.0), "t1=0.0 must be greater"),
    ],
)
def test_bad_arguments(relaxation, kwargs, match):
    drive = pn.SampleAndHold(jnp.ones((4, 1)), hold=1.0)
    with pytest.raises(ValueError, match=match):
        pn.simulate(relaxation, drive, **kwargs)


def test_drives():
    tones = pn.Tones([0.1, 0.25], amps=[1.0, 2.0], phases=[0.0, 0.5])
    u = tones(2.0)
    assert u.shape == (2, 2)
    np.testing.assert_allclose(u[0], [np.cos(0.4 * np.pi), 2 * np.cos(np.pi + 0.5)], atol=1e-6)
    np.testing.assert_allclose(u[1], [-np.sin(0.4 * np.pi), -2 * np.sin(np.pi + 0.5)], atol=1e-6)
    m = pn.Masked(jnp.array([[1.0, 2.0]]), mask=jnp.array([1.0, -1.0, 0.5]), theta=0.2)
    assert m.batch_shape == (1,) and m.n_segments == 6 and m.duration == pytest.approx(1.2)
    np.testing.assert_allclose([m(t)[0, 0] for t in (0.1, 0.3, 0.5, 0.7, 0.9, 1.1)],
                               [1, -1, 0.5, 2, -2, 1])
    s = pn.SampleAndHold(jnp.arange(3.0), hold=0.5, t0=1.0)
    np.testing.assert_allclose([s(t)[0] for t in (0.0, 1.2, 1.7, 2.2, 9.0)], [0, 0, 1, 2, 2])
    with pytest.raises(ValueError, match="hold=0"):
        pn.SampleAndHold(jnp.ones(3), hold=0.0)
    with pytest.raises(ValueError, match="freqs=-1"):
        pn.Tones(-1.0)
    with pytest.raises(ValueError, match="values=.*finite"):
        pn.SampleAndHold(jnp.array([1.0, jnp.nan]), hold=1.0)
    with pytest.raises(ValueError, match="mask shape"):
        pn.Masked(jnp.ones((4, 2)), mask=jnp.ones((3, 3)), theta=0.1)


def test_tone_phase_is_accurate_in_float32():
    # f t is ~600 cycles at 2 us; a plain float32 product is ~3e-5 cycles off, the compensated
    # product ~1e-7 (the float64 result is the reference).
    from physnn.drives import phase_cycles

    f = np.float32(0.3173913)
    ts = np.arange(0, 2000, 0.37, dtype=np.float32)
    exact = np.float64(f) * ts.astype(np.float64)
    got = np.asarray(jax.jit(phase_cycles)(jnp.float32(f), jnp.asarray(ts)))
    err = np.abs((got - exact + 0.5) % 1 - 0.5).max()
    assert err < 1e-7
    naive = np.asarray(jax.jit(lambda a, b: a * b)(jnp.float32(f), jnp.asarray(ts)))
    assert np.abs((naive - exact + 0.5) % 1 - 0.5).max() > 1e-5  # the problem being solved
