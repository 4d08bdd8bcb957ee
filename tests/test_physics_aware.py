"""codesign.physics_aware: physics-aware training (Wright et al., Nature 2022). The forward pass
is the physical system's, the backward pass the digital model's Jacobian at the same arguments;
checked exactly against jax.vjp of the model, against central differences where the two agree,
and by in-situ training of a mismatched chip (deterministic, thermally noisy, and behind a
non-differentiable, quantised instrument callback), which must land on the chip's own closed-form
optimum where in-silico training misses it by megahertz."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import physnn as pn
from physnn import codesign
from physnn.devices.spintronic import mean_frequency_ghz

TARGETS_GHZ = jnp.array([0.308, 0.312, 0.316, 0.320])
SPREAD = {"f0_ghz": 0.01, "nonlinear_shift_ghz": 0.1, "threshold_ma": 0.05}


def test_value_is_the_physical_one_and_the_gradient_the_models_jacobian():
    """A quantised measurement (an ADC) of a system the model gets 10 % wrong: the value is the
    measurement, and the gradient is exactly the model's vector-Jacobian product with the
    cotangent of the loss at the *measured* output, for the parameters and the inputs (both
    positional) under jit and vmap; a keyword argument is not differentiated."""
    def model(th, x, *, gain=1.0):
        return {"y": gain * jnp.tanh(th["a"] * x) + th["b"]}

    def physical(th, x, *, gain=1.0):
        return {"y": jnp.round((gain * jnp.tanh(1.1 * th["a"] * x) + th["b"]) * 8) / 8}

    f = codesign.physics_aware(physical, model)
    th = {"a": jnp.array(0.7), "b": jnp.array([0.1, 0.2])}
    x = jnp.array([0.3, -1.0])

    def loss(th, x, gain):
        return jnp.sum((f(th, x, gain=gain)["y"] - 0.5) ** 2)

    y = physical(th, x, gain=2.0)["y"]
    np.testing.assert_array_equal(f(th, x, gain=2.0)["y"], y)
    _, vjp = jax.vjp(lambda t, u: model(t, u, gain=2.0), th, x)
    want_th, want_x = vjp({"y": 2 * (y - 0.5)})
    for g_th, g_x in (jax.grad(loss, argnums=(0, 1))(th, x, 2.0),
                      jax.jit(jax.grad(loss, argnums=(0, 1)))(th, x, 2.0)):
        for a, b in zip(jax.tree_util.tree_leaves((g_th, g_x)),
                        jax.tree_util.tree_leaves((want_th, want_x)), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6)
    assert float(jnp.abs(want_th["a"])) > 0
    # plain autodiff through the quantiser sees no gradient at all
    assert float(jnp.abs(jax.grad(lambda t: jnp.sum((physical(t, x)["y"] - 0.5) ** 2))(th)["a"])) == 0
    per_input = jax.vmap(jax.grad(loss), in_axes=(None, 0, None))(th, jnp.stack([x, 2 * x]), 2.0)
    assert per_input["b"].shape == (2, 2)
    np.testing.assert_allclose(per_input["b"][0], want_th["b"], rtol=1e-6)


def test_arguments_that_are_not_arrays_pass_through():
    """A positional argument may be any Python object (a function, an int, a string): it is
    handed to both functions and has no gradient."""
    def model(x, f, n, label):
        assert label == "chip A" and n == 3
        return f(x) * n

    f = codesign.physics_aware(lambda x, f, n, label: 1.1 * model(x, f, n, label), model)
    x = jnp.array([0.2, 1.0])
    g = jax.grad(lambda x: jnp.sum(f(x, jnp.sin, 3, "chip A")))(x)
    np.testing.assert_allclose(g, 3 * jnp.cos(x), rtol=1e-6)
    np.testing.assert_allclose(f(x, jnp.sin, 3, "chip A"), 3.3 * jnp.sin(x), rtol=1e-6)


def steady_frequency(dev, key=None, t1=900.0, window=300.0):
    """The mean frequency of every oscillator over the last ``window`` ns, relaxed from p = 0.2."""
    y0 = jnp.broadcast_to(jnp.array([[0.45], [0.0]]), dev.batch_shape + (2, dev.n_oscillators))
    tr = pn.simulate(dev, None, t1=t1, dt=1.0, y0=y0, saveat=np.arange(t1 - window, t1 + 1, 10.0),
                     key=key)
    return mean_frequency_ghz(tr, dev)


@pytest.mark.slow
def test_with_the_model_as_the_physical_system_the_gradient_is_the_true_one():
    """physical = model (a solve of two coupled oscillators): physics-aware training is plain
    backpropagation, checked against central differences in float64."""
    with jax.enable_x64(True):
        dev = pn.STONetwork(n_oscillators=2, current_ma=jnp.array([8.0, 9.0]), temperature_k=0.0,
                            coupling=0.002 * (1 - jnp.eye(2)))
        design = codesign.constrain(dev, {"current_ma": (5.5, 20.0), "coupling": "positive"})

        def freq(d):
            return steady_frequency(d.device, t1=400.0, window=100.0)

        f = codesign.physics_aware(freq, freq)
        w = jnp.array([1.0, -2.0])

        def loss(d):
            return jnp.sum(w * f(d))

        g = eqx.filter_grad(loss)(design)
        h = 1e-6
        for name, shape in (("current_ma", (2,)), ("coupling", (2, 2))):
            for i in np.ndindex(shape):
                if name == "coupling" and i[0] == i[1]:
                    continue
                at = [loss(eqx.tree_at(lambda d: d.raw, design,
                                       {**design.raw, name: design.raw[name].at[i].add(s)}))
                      for s in (h, -h)]
                fd = float((at[0] - at[1]) / (2 * h))
                assert fd != 0
                assert float(g.raw[name][i]) == pytest.approx(fd, rel=1e-6)


def mismatched_chip(temperature_k):
    """One fabricated chip of four uncoupled oscillators (frequencies spread by 1 %, tunability
    by 10 %, thresholds by 5 %), unknown to the model, which is the nominal device."""
    nominal = pn.STONetwork(n_oscillators=4, current_ma=9.0, temperature_k=0.0)
    chip = codesign.fabricate(pn.STONetwork(n_oscillators=4, current_ma=9.0, temperature_k=temperature_k),
                              jax.random.key(7), SPREAD, 1)
    return nominal, chip


def train_in_situ(nominal, chip, steps, lr):
    """Fine-tune the currents on the chip, starting from the in-silico design (the model's
    closed-form inverse), with Adam and a cosine decay of its learning rate."""
    start = eqx.tree_at(lambda d: d.current_ma, nominal, nominal.current_for_frequency_ma(TARGETS_GHZ))
    design = codesign.constrain(start, {"current_ma": (5.5, 20.0)})

    def measure(d, key):  # the chip, operated at the design's currents
        return steady_frequency(eqx.tree_at(lambda c: c.current_ma, chip, d.value("current_ma")), key)[0]

    def twin(d, key):  # what we believe the chip to be
        return steady_frequency(d.device)

    f = codesign.physics_aware(measure, twin)

    def loss(d, batch, key):
        return jnp.sum(((f(d, key=key) - TARGETS_GHZ) * 1e3) ** 2)  # MHz^2

    opt = optax.adam(optax.cosine_decay_schedule(lr, steps, alpha=0.01))
    trained, hist = pn.train.fit(design, loss, None, opt, steps=steps, key=jax.random.key(0),
                                 filter_spec=design.filter_spec, progress=False)
    return trained.values()["current_ma"], hist


def chip_error_mhz(chip, currents):
    on = eqx.tree_at(lambda c: c.current_ma, chip, jnp.asarray(currents, jnp.float32))
    return np.asarray(on.free_running_frequency_ghz()[0] - TARGETS_GHZ) * 1e3


@pytest.mark.slow
def test_in_situ_training_lands_on_the_chips_own_optimum():
    """The chip's frequencies are off the model's by up to 5 MHz. Currents trained in silico
    (the model's closed-form inverse) miss the targets on the chip by megahertz; trained in situ
    (the chip measured, the model's Jacobian borrowed) they land on the chip's own closed-form
    currents, f = f0 + N (zeta - 1)/(zeta + Q) inverted, although the model never learns the chip."""
    nominal, chip = mismatched_chip(0.0)
    insilico = nominal.current_for_frequency_ma(TARGETS_GHZ)
    miss = chip_error_mhz(chip, insilico)
    assert np.max(np.abs(miss)) > 3.0
    currents, hist = train_in_situ(nominal, chip, steps=150, lr=0.2)
    want = np.asarray(chip.current_for_frequency_ma(TARGETS_GHZ)[0])
    np.testing.assert_allclose(currents, want, atol=0.01)
    assert np.max(np.abs(chip_error_mhz(chip, currents))) < 0.02
    assert hist["loss"][-1] < 1e-3 * hist["loss"][0]


@pytest.mark.slow
def test_in_situ_training_through_thermal_noise():
    """The same chip at 300 K: every step measures it with fresh thermal noise (the loss's key).
    The in-situ currents still land far closer to the chip's targets than the in-silico ones; what
    is left is of the order of the measurement's own scatter."""
    nominal, chip = mismatched_chip(300.0)
    currents, _ = train_in_situ(nominal, chip, steps=100, lr=0.1)
    rms = lambda e: float(np.sqrt(np.mean(e**2)))  # noqa: E731
    insilico = rms(chip_error_mhz(chip, nominal.current_for_frequency_ma(TARGETS_GHZ)))
    insitu = rms(chip_error_mhz(chip, currents))
    on = eqx.tree_at(lambda c: c.current_ma, chip, jnp.asarray(currents, jnp.float32))
    readings = [np.asarray(steady_frequency(on, jax.random.key(100 + i))[0]) for i in range(8)]
    scatter = np.std(readings, 0) * 1e3
    assert insitu < insilico / 5
    assert insitu < 2 * rms(scatter)


def test_a_laboratory_instrument_behind_a_callback():
    """A measurement outside JAX (numpy, through jax.pure_callback, read by an ADC with a 0.5 MHz
    step) cannot be differentiated at all; physics-aware training with the model's closed form
    still tunes the chip to within the ADC's resolution."""
    nominal, chip = mismatched_chip(0.0)
    lsb = 0.5e-3  # GHz

    def instrument(currents):
        on = eqx.tree_at(lambda c: c.current_ma, chip, jnp.asarray(currents, jnp.float32))
        f = np.asarray(on.free_running_frequency_ghz()[0], np.float32)
        return (np.round(f / lsb) * lsb).astype(np.float32)

    def physical(currents):
        return jax.pure_callback(instrument, jax.ShapeDtypeStruct((4,), jnp.float32), currents)

    def model(currents):
        return eqx.tree_at(lambda c: c.current_ma, nominal, currents).free_running_frequency_ghz()

    with pytest.raises(ValueError, match="do not support JVP"):  # the instrument has no derivative
        jax.grad(lambda c: jnp.sum(physical(c)))(jnp.full(4, 9.0))
    f = codesign.physics_aware(physical, model)
    loss = jax.jit(jax.value_and_grad(lambda c: jnp.sum(((f(c) - TARGETS_GHZ) * 1e3) ** 2)))
    currents, opt = nominal.current_for_frequency_ma(TARGETS_GHZ), optax.adam(0.05)
    state = opt.init(currents)
    for _ in range(200):
        value, g = loss(currents)
        updates, state = opt.update(g, state)
        currents = optax.apply_updates(currents, updates)
    # every reading on its target's code (one code off would add 0.25 MHz^2; what is left is the
    # float32 rounding of code x step against the target)
    assert float(value) < 1e-6
    assert np.max(np.abs(chip_error_mhz(chip, currents))) <= 0.25 + 1e-3


def test_errors_name_what_is_wrong():
    def model(x):
        return x * 2.0

    with pytest.raises(TypeError, match="physical must be callable"):
        codesign.physics_aware(None, model)
    with pytest.raises(TypeError, match="model must be callable"):
        codesign.physics_aware(model, 3.0)
    f = codesign.physics_aware(lambda x: jnp.stack([x, x]), model)
    with pytest.raises(ValueError, match=r"same structure, shapes and dtypes.*\(2, 3\)"):
        f(jnp.ones(3))
    g = codesign.physics_aware(lambda x: (x > 0).astype(jnp.int32), model)
    with pytest.raises(ValueError, match="physical must return floating-point arrays.*int32"):
        g(jnp.ones(3))
    h = codesign.physics_aware(lambda x: jnp.log(x - 2.0), model)
    with pytest.raises(RuntimeError, match="physical system returned non-finite values"):
        jax.grad(lambda x: jnp.sum(h(x)))(jnp.ones(3))
    with pytest.raises(RuntimeError, match="physical system returned non-finite values"):
        h(jnp.ones(3))
