"""The shape contract (physnn.contract) that simulate checks before tracing.

Property-based (Hypothesis): for every device and every drive it takes, a batched solve equals
the loop over its samples; wrong shapes (channels, y0, history, batches) raise physnn's
``ValueError`` naming the argument, never a JAX internal error. Plus one regression test for
each silent broadcast found in issue 34. Examples are drawn from small, fixed shape sets so that
the solves compile a few times only (the file runs in well under a minute on one core).
"""

from __future__ import annotations

import diffrax as dfx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import physnn as pn
from physnn import contract

SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ------------------------------------------------------------------------------------------
# devices (tiny), each with the drives it takes and a solve of a few steps
# ------------------------------------------------------------------------------------------

def sto(channels):
    return pn.STONetwork(temperature_k=0.0, n_oscillators=2,
                         rf_coupling=0.002 * jnp.ones((2, channels)))


def duffing(channels):
    return pn.DuffingNetwork(n_resonators=2, input_gain=0.1 * jnp.ones((2, channels)),
                             temperature_k=0.0)


def mott(channels):
    return pn.MottNetwork(n_oscillators=2 if channels == 2 else 1, noise=0.0)


def mackey_glass(channels):
    return pn.MackeyGlassNode(n_nodes=4, theta=0.2)


def ikeda(channels):
    return pn.IkedaNode(n_nodes=4, theta=0.05)


def duffing_delay(channels):
    return pn.DuffingDelayNode(n_nodes=4, theta=20.0)


def tones(batch, channels):
    f = 0.3 + 0.01 * jnp.arange(int(np.prod(batch)) * channels).reshape(batch + (channels,))
    return pn.Tones(f, 0.5)


def chirps(batch, channels):
    f = 0.3 + 0.01 * jnp.arange(int(np.prod(batch)) * channels).reshape(batch + (channels,))
    return pn.Chirps(f, f + 0.02, 2.0, 0.5)


def constant(batch, channels):
    return pn.Constant(0.1 + 0.05 * jnp.arange(int(np.prod(batch)) * channels)
                       .reshape(batch + (channels,)))


def sample_and_hold(hold):
    def make(batch, channels):
        v = jnp.sin(jnp.arange(int(np.prod(batch)) * 3 * channels)).reshape(batch + (3, channels))
        return pn.SampleAndHold(0.1 * v, hold)
    return make


def masked(theta):
    def make(batch, channels):
        u = jnp.cos(jnp.arange(int(np.prod(batch)) * 2)).reshape(batch + (2,))
        return pn.Masked(0.5 * u, jnp.array([1.0, -1.0, 0.5, -0.5]), theta)
    return make


# Whether a batch solves as its samples do alone depends on how the vector field handles the
# batch axes, not on the solver (at fixed steps, every solver's arithmetic is per element), so
# the ODE devices use Euler: it compiles in half the time of the default Tsit5.
EULER = dfx.Euler()

# name: (device(channels), {drive name: drive(batch, channels)}, channel counts, solve kwargs)
CASES = {
    "sto": (sto, {"tones": tones, "chirps": chirps}, (1, 2), dict(t1=0.4, dt=0.1, solver=EULER)),
    "duffing": (duffing, {"constant": constant, "sample_and_hold": sample_and_hold(0.2)}, (1, 3),
                dict(t1=0.6, dt=0.1, solver=EULER)),
    "mott": (mott, {"constant": constant, "sample_and_hold": sample_and_hold(2.0)}, (1, 2),
             dict(t1=6.0, dt=1.0, solver=EULER)),
    "mackey_glass": (mackey_glass, {"masked": masked(0.2), "sample_and_hold": sample_and_hold(0.2)},
                     (1,), dict(dt=0.1)),
    "ikeda": (ikeda, {"masked": masked(0.05)}, (1,), dict(dt=0.025)),
    "duffing_delay": (duffing_delay, {"masked": masked(20.0)}, (1,), dict(dt=10.0)),
}
DRIVE_KINDS = {"tones": tones, "chirps": chirps, "constant": constant,
               "sample_and_hold": sample_and_hold(0.2), "masked": masked(0.2)}


def sample(drive, i):
    """Sample ``i`` of a drive with one batch axis (its declared batch fields indexed)."""
    import equinox as eqx
    names = list(type(drive).batch_fields)
    return eqx.tree_at(lambda d: [getattr(d, n) for n in names], drive,
                       [getattr(drive, n)[i] for n in names])


def solve(device, drive, kwargs, **more):
    held = drive is not None and drive.hold is not None
    kw = {k: v for k, v in kwargs.items() if not (held and k == "t1")}
    return pn.simulate(device, drive, saveat="final", observe=False, **kw, **more).ys


# ------------------------------------------------------------------------------------------
# valid combinations: a batched solve equals the per-sample loop
# ------------------------------------------------------------------------------------------

def scaled(drive, factor):
    """``drive`` with its first declared batch field (frequencies, values, inputs) times
    ``factor``: drawn values on fixed shapes, so that the solves compile once."""
    import equinox as eqx
    name = next(iter(type(drive).batch_fields))
    return eqx.tree_at(lambda d: getattr(d, name), drive, factor * getattr(drive, name))


#: every device with every drive it takes
PAIRS = [(case, kind) for case in sorted(CASES) for kind in sorted(CASES[case][1])]


@pytest.mark.parametrize("case,kind", PAIRS)
@settings(max_examples=2, **SETTINGS)
@given(channel_index=st.integers(0, 1), n=st.sampled_from([1, 2]),
       factor=st.floats(0.5, 1.5, width=32))
def test_batched_solve_equals_the_per_sample_loop(case, kind, channel_index, n, factor):
    make_device, drives, channel_counts, kwargs = CASES[case]
    channels = channel_counts[channel_index % len(channel_counts)]
    device = make_device(channels)
    drive = scaled(drives[kind]((n,), channels), factor)
    ys = solve(device, drive, kwargs)
    for i in range(n):
        one = solve(device, sample(drive, i), kwargs)
        np.testing.assert_allclose(np.asarray(ys)[:, i], np.asarray(one), rtol=2e-5, atol=1e-6,
                                   err_msg=f"{case} with {kind}, sample {i} of {n}")


@pytest.mark.parametrize("case", ["sto", "duffing", "mott"])
@settings(max_examples=2, **SETTINGS)
@given(n=st.sampled_from([2, 3]), spread=st.floats(0.0625, 0.5, width=32))
def test_y0_batch_equals_the_per_sample_loop(case, n, spread):
    """A y0 with its own batch axes and no drive: each row solves as it would alone."""
    make_device, _, channel_counts, kwargs = CASES[case]
    device = make_device(channel_counts[0])
    y0 = device.init_state((n,))
    y0 = jax.tree_util.tree_map(lambda a: a * (1.0 + spread * jnp.arange(n).reshape(
        (n,) + (1,) * (a.ndim - 1))), y0)
    ys = solve(device, None, kwargs, y0=y0)
    for i in range(n):
        one = solve(device, None, kwargs, y0=jax.tree_util.tree_map(lambda a, i=i: a[i], y0))
        np.testing.assert_allclose(np.asarray(ys)[:, i], np.asarray(one), rtol=2e-5, atol=1e-6)


def chip(device, i):
    """Chip ``i`` of a device with ensemble axes ``(n, 1)``: every declared ensemble parameter's
    leading axes indexed away (a parameter without them is shared by every chip)."""
    import equinox as eqx
    names, values = [], []
    for name, own in type(device).ensemble_params.items():
        a = getattr(device, name)
        if a is None:  # an optional parameter this device does not use
            continue
        lead = a.ndim - own
        if lead:
            names.append(name)
            values.append(a[(i if a.shape[0] > 1 else 0,) + (0,) * (lead - 1)])
    return eqx.tree_at(lambda d: [getattr(d, n) for n in names], device, values)


ENSEMBLE_SPREAD = {"sto": "current_ma", "duffing": "f0_mhz", "mott": "capacitance_f"}


@pytest.mark.parametrize("case", sorted(ENSEMBLE_SPREAD))
@settings(max_examples=3, **SETTINGS)
@given(seed=st.integers(0, 2**16), spread=st.sampled_from([0.02, 0.1]))
def test_a_chip_ensemble_times_a_drive_batch_equals_the_loop_over_both(case, seed, spread):
    """Ensemble axes (2, 1) (fabricated chips) broadcast with a drive batch (2,) into a batch
    (2, 2): entry (e, b) is chip e under drive sample b. Only the values are drawn, never the
    shapes, so the solves compile once."""
    from physnn import codesign
    make_device, drives, channel_counts, kwargs = CASES[case]
    kind = sorted(drives)[0]
    nominal = make_device(channel_counts[0])
    chips = codesign.fabricate(nominal, jax.random.key(seed), {ENSEMBLE_SPREAD[case]: spread}, 2,
                               batch_ndim=1)
    assert chips.batch_shape[:2] == (2, 1)
    drive = drives[kind]((2,), channel_counts[0])
    ys = np.asarray(solve(chips, drive, kwargs))
    assert ys.shape[1:3] == (2, 2)
    for e in range(2):
        for b in range(2):
            one = solve(chip(chips, e), sample(drive, b), kwargs)
            np.testing.assert_allclose(ys[:, e, b], np.asarray(one), rtol=2e-5, atol=1e-6,
                                       err_msg=f"{case}: chip {e}, drive sample {b}")


# ------------------------------------------------------------------------------------------
# invalid combinations: physnn's ValueError, naming the argument; nothing is traced
# ------------------------------------------------------------------------------------------

def raises_physnn_error(fn, *words):
    with pytest.raises(ValueError) as err:
        fn()
    msg = str(err.value)
    assert msg.startswith("simulate:"), msg  # physnn's message, not a JAX internal error
    for w in words:
        assert w in msg, (w, msg)
    return msg


@pytest.mark.parametrize("case", sorted(CASES))
@settings(max_examples=15, **SETTINGS)
@given(data=st.data())
def test_a_drive_the_device_does_not_take_is_refused(case, data):
    make_device, drives, channel_counts, kwargs = CASES[case]
    channels = data.draw(st.sampled_from(channel_counts), label="channels")
    device = make_device(channels)
    accepted = {tuple(s) for s in device.input_shapes()}
    kind = data.draw(st.sampled_from(sorted(DRIVE_KINDS)), label="drive")
    drive_channels = data.draw(st.sampled_from([1, 2, 3]), label="drive channels")
    drive = DRIVE_KINDS[kind]((1,), drive_channels)
    got = contract.drive_value_shape(drive, 0.0)
    if got in accepted:
        return  # a valid pairing; the solve itself is covered above
    kwargs = {**kwargs, "t1": kwargs.get("t1", 1.6)}  # delay cases: a t1 for continuous drives
    raises_physnn_error(lambda: solve(device, drive, kwargs), type(drive).__name__,
                        str(tuple(got)), type(device).__name__)


@pytest.mark.parametrize("case", sorted(CASES))
@settings(max_examples=12, **SETTINGS)
@given(data=st.data())
def test_a_y0_of_the_wrong_shape_is_refused(case, data):
    make_device, _, channel_counts, kwargs = CASES[case]
    device = make_device(channel_counts[0])
    good = jax.eval_shape(lambda: device.init_state(()))
    own = tuple(good.shape)
    # change one trailing axis, or drop or add one
    how = data.draw(st.sampled_from(["grow", "drop", "add"]), label="how")
    batch = data.draw(st.sampled_from([(), (2,)]), label="batch")
    if how == "grow" and own:
        axis = data.draw(st.integers(0, len(own) - 1), label="axis")
        shape = own[:axis] + (own[axis] + 1,) + own[axis + 1:]
    elif how == "drop" and own:
        shape = own[1:] if own[0] != 1 else own[1:] + (3,)
    else:
        shape = own + (3,) if len(own) else None
    if shape is None:
        return  # a scalar state: any leading axes are a batch; nothing is wrong
    y0 = jnp.full(batch + shape, 0.1)
    if y0.shape[y0.ndim - len(own):] == own:
        return  # the drawn shape happens to end with the state's shape
    raises_physnn_error(lambda: solve(device, None, {**kwargs, "t1": kwargs.get("t1", 1.6)},
                                      y0=y0), "y0", str(tuple(y0.shape)))


@pytest.mark.parametrize("case", ["sto", "duffing", "mott", "mackey_glass"])
@settings(max_examples=6, **SETTINGS)
@given(data=st.data())
def test_a_y0_smaller_than_the_batch_is_refused(case, data):
    make_device, drives, channel_counts, kwargs = CASES[case]
    device = make_device(channel_counts[0])
    kind = data.draw(st.sampled_from(sorted(drives)), label="drive")
    n = data.draw(st.sampled_from([2, 3]), label="drive batch")
    m = data.draw(st.sampled_from([1, n + 1]), label="y0 batch")
    drive = drives[kind]((n,), channel_counts[0])
    y0 = device.init_state((m,)) if m != 1 else device.init_state(())
    raises_physnn_error(lambda: solve(device, drive, kwargs, y0=y0), "y0", "batch")


@pytest.mark.parametrize("case", ["mackey_glass", "ikeda", "duffing_delay"])
@settings(max_examples=12, **SETTINGS)
@given(data=st.data())
def test_a_history_of_the_wrong_shape_is_refused_for_every_delay_device(case, data):
    """A history (a constant or a function of time) must have the state's trailing shape and,
    with a y0, y0's batch axes; without one it is y0's value, and gives the batch itself."""
    make_device, drives, channel_counts, kwargs = CASES[case]
    device = make_device(channel_counts[0])
    own = tuple(jax.eval_shape(lambda: device.init_state(())).shape)
    y0_batch = data.draw(st.sampled_from([None, (2,)]), label="y0 batch")
    hist_batch = data.draw(st.sampled_from([(), (2,), (3,), (2, 2)]), label="history batch")
    trailing = data.draw(st.sampled_from([own, own[:-1], own + (3,)]), label="history trailing")
    as_function = data.draw(st.booleans(), label="history(t)")
    value = jnp.full(hist_batch + trailing, 0.1)
    history = (lambda t: value + 0.0 * t) if as_function else value
    y0 = None if y0_batch is None else device.init_state(y0_batch)
    kwargs = {**kwargs, "t1": kwargs.get("t1", 1.6)}
    ends_right = value.shape[value.ndim - len(own):] == own
    if ends_right and (y0_batch is None or value.shape[:value.ndim - len(own)] == y0_batch):
        return  # a valid history (a scalar state takes any leading axes as its batch)
    raises_physnn_error(lambda: solve(device, None, kwargs, y0=y0, history=history),
                        "history(t)" if as_function else "history", str(tuple(value.shape))
                        if not ends_right else "batch axes")


@pytest.mark.parametrize("case", sorted(ENSEMBLE_SPREAD) + ["duffing_delay"])
@settings(max_examples=8, **SETTINGS)
@given(data=st.data())
def test_ensemble_and_drive_batches_that_do_not_broadcast_are_refused(case, data):
    from physnn import codesign
    make_device, drives, channel_counts, kwargs = CASES[case]
    e = data.draw(st.sampled_from([2, 3]), label="chips")
    b = data.draw(st.sampled_from([2, 4]), label="drive batch")
    kind = data.draw(st.sampled_from(sorted(drives)), label="drive")
    nominal = make_device(channel_counts[0])
    name = next(iter(type(nominal).ensemble_params))
    device = codesign.fabricate(nominal, jax.random.key(0), {name: 0.0}, e)
    drive = drives[kind]((b,), channel_counts[0])
    if e == b:
        assert contract.solve_batch_shape(device, drive)[:1] == (e,)
        return
    kwargs = {**kwargs, "t1": kwargs.get("t1", 1.6)}
    raises_physnn_error(lambda: solve(device, drive, kwargs), f"({e},", f"({b},)", "broadcast")


# ------------------------------------------------------------------------------------------
# the examples of issue 34, one by one
# ------------------------------------------------------------------------------------------

def test_one_rf_column_is_not_reused_for_two_tones():
    msg = raises_physnn_error(
        lambda: pn.simulate(pn.STONetwork(temperature_k=0.0), pn.Tones([0.3, 0.31], 0.1),
                            t1=10.0, dt=0.1), "(2, 2)", "(2, 1)", "rf_coupling")
    assert "one column" in msg


def test_one_input_gain_column_is_not_reused_for_three_channels():
    device = pn.DuffingNetwork(n_resonators=2, input_gain=jnp.ones((2, 1)))
    raises_physnn_error(lambda: pn.simulate(device, pn.Constant(jnp.ones(3)), t1=1.0, dt=0.1),
                        "(3,)", "(1,)", "input_gain")


def test_a_one_oscillator_device_does_not_run_as_three():
    raises_physnn_error(
        lambda: pn.simulate(pn.STONetwork(temperature_k=0.0), None, t1=10.0, dt=0.1,
                            y0=jnp.full((2, 3), 0.1)), "y0", "(2, 3)", "(2, 1)")


def test_a_drive_of_a_kind_the_device_does_not_take_is_refused():
    raises_physnn_error(lambda: pn.simulate(pn.STONetwork(temperature_k=0.0), pn.Constant([0.1]),
                                            t1=1.0, dt=0.1), "Constant", "(1,)", "(2, 1)")
    raises_physnn_error(lambda: pn.simulate(pn.MottNetwork(noise=0.0), pn.Tones([0.3]),
                                            t1=1.0, dt=0.1), "Tones", "(2, 1)", "(1,)")


def test_an_ensemble_that_disagrees_with_the_drive_batch_is_refused():
    device = pn.STONetwork(temperature_k=0.0, current_ma=jnp.full((3, 1), 7.5))
    raises_physnn_error(lambda: pn.simulate(device, pn.Tones(jnp.full((2, 1), 0.3)), t1=1.0,
                                            dt=0.1), "ensemble axes (3,)", "batch axes (2,)")


def test_a_y0_of_another_structure_is_refused():
    device = pn.STONetwork(temperature_k=0.0)
    raises_physnn_error(lambda: pn.simulate(device, None, t1=1.0, dt=0.1,
                                            y0={"c": device.init_state(())}), "y0", "structure")


def test_an_integer_y0_is_refused():
    raises_physnn_error(lambda: pn.simulate(pn.MackeyGlassNode(n_nodes=4), None, t1=1.0, dt=0.1,
                                            y0=jnp.zeros((), jnp.int32)), "y0", "dtype")


def test_a_history_of_the_wrong_shape_is_refused():
    node = pn.DuffingDelayNode(n_nodes=4, theta=20.0)
    raises_physnn_error(lambda: pn.simulate(node, None, t1=200.0, dt=10.0,
                                            history=jnp.zeros((3,))), "history", "(3,)")


def test_a_history_function_of_the_wrong_shape_is_refused_before_the_delay_integrator():
    node = pn.DuffingDelayNode(n_nodes=4, theta=20.0)
    raises_physnn_error(lambda: pn.simulate(node, None, t1=200.0, dt=10.0,
                                            history=lambda t: jnp.zeros(3) + t),
                        "history(t)", "(3,)", "(2,)")
    raises_physnn_error(lambda: pn.simulate(node, None, t1=200.0, dt=10.0,
                                            history=lambda t: t[0]), "history(t)", "scalar time")


def test_a_history_must_have_the_batch_of_y0():
    node = pn.MackeyGlassNode(n_nodes=4, theta=0.2)
    drive = pn.Masked(jnp.ones((2, 3)), jnp.array([1.0, -1.0, 0.5, -0.5]), 0.2)
    for history in (jnp.asarray(0.1), lambda t: 0.1 + 0.0 * t):
        raises_physnn_error(lambda h=history: pn.simulate(node, drive, dt=0.1, history=h),
                            "history", "()", "(2,)")
        raises_physnn_error(lambda h=history: pn.simulate(node, drive, dt=0.1, history=h,
                                                          y0=jnp.zeros(2)), "history", "()", "(2,)")


@pytest.mark.parametrize("saveat, words", [
    (np.zeros((2, 2)), ["shape (2, 2)"]), (np.array([0.0, 2.0]), ["0 to 2", "[0.0, 1.0]"]),
    ([0.0, np.nan], ["not all finite"]), ([0.5, 0.2], ["not increasing"]),
    (["a"], ["not an array of times"]), ([], ["shape (0,)"])])
def test_saveat_times_that_do_not_fit_the_solve_are_refused(saveat, words):
    raises_physnn_error(lambda: pn.simulate(pn.STONetwork(temperature_k=0.0), None, t1=1.0, dt=0.1,
                                            saveat=saveat), "saveat", *words)


def test_the_checks_run_under_grad_with_traced_parameters():
    drive = pn.Tones([0.3, 0.31], 0.1)

    def power(current):
        device = pn.STONetwork(temperature_k=0.0, current_ma=current, frame_ghz=0.3)
        return pn.simulate(device, drive, t1=0.3, dt=0.1).obs["power"].sum()

    with pytest.raises(ValueError, match="rf_coupling"):
        jax.grad(power)(jnp.array([7.5]))


def test_the_checks_run_under_jit_with_traced_parameters():
    import equinox as eqx
    drive = pn.Tones([0.3, 0.31], 0.1)

    @eqx.filter_jit
    def run(device):
        return pn.simulate(device, drive, t1=1.0, dt=0.1).ys

    with pytest.raises(ValueError, match="rf_coupling"):
        run(pn.STONetwork(temperature_k=0.0))


def test_a_device_without_a_declaration_is_not_checked():
    """A user's device that declares no input_shapes keeps working with any drive."""
    class Free(pn.AbstractDevice):
        rate: float = 1.0
        ensemble_params = {}

        def init_state(self, batch_shape=()):
            return jnp.zeros(tuple(batch_shape) + (1,))

        def drift(self, t, y, u):
            return -self.rate * y + (0.0 if u is None else jnp.sum(u, -1, keepdims=True))

        def observe(self, t, y, u):
            return y

        def power(self, t, y, u):
            return jnp.zeros(y.shape[:-1])

    ys = pn.simulate(Free(), pn.Constant(jnp.ones(3)), t1=1.0, dt=0.01, saveat="final").ys
    np.testing.assert_allclose(ys[-1, 0], 3 * (1 - np.exp(-1.0)), rtol=1e-5)
