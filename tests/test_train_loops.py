"""Tests for physnn.train's tools for hand-written loops (train_loop) and runs made of stages
(Stages): exact resume, errors, and the stage file round trip."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from physnn.checkpoint import CheckpointError, Stages, remove_run_checkpoints
from physnn.train import train_loop

TARGET = jnp.array([1.0, -2.0, 3.0])
OPT = optax.adam(0.1)
KEY = jax.random.key(3)


def make_step(fail_at=None, error=KeyboardInterrupt, calls=None):
    """A noisy quadratic: the noise of step i comes from fold_in(KEY, i)."""

    def step(i, state):
        if calls is not None:
            calls.append(i)
        if i == fail_at:
            raise error(f"stop at {i}")
        w, opt_state = state
        noise = 0.1 * jax.random.normal(jax.random.fold_in(KEY, i), w.shape)
        loss, g = jax.value_and_grad(lambda v: jnp.sum((v - TARGET + noise) ** 2))(w)
        upd, opt_state = OPT.update(g, opt_state, w)
        return (optax.apply_updates(w, upd), opt_state), {"loss": loss, "w0": w[0]}

    return step


def initial():
    w = jnp.zeros(3)
    return w, OPT.init(w)


def same(a, b):
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    return len(la) == len(lb) and all(np.array_equal(np.asarray(x), np.asarray(y))
                                      for x, y in zip(la, lb, strict=True))


def test_train_loop_trains_and_records():
    (w, _), hist = train_loop(make_step(), initial(), 60)
    assert sorted(hist) == ["loss", "w0"] and len(hist["loss"]) == 60
    assert hist["loss"][-1] < 0.1 * hist["loss"][0]
    np.testing.assert_allclose(w, TARGET, atol=0.2)


@pytest.mark.parametrize("error,every", [(KeyboardInterrupt, 5), (RuntimeError, 4)])
def test_train_loop_resumes_exactly(tmp_path, error, every):
    """Interrupted at step 13 (Ctrl-C saves the state; another error, like a killed process,
    leaves only the periodic checkpoint), then resumed: bitwise equal to an uninterrupted loop."""
    ref, ref_hist = train_loop(make_step(), initial(), 20)
    ck = tmp_path / "loop.eqx"
    with pytest.raises(error):
        train_loop(make_step(fail_at=13, error=error), initial(), 20, checkpoint=ck, every=every)
    calls = []
    out, hist = train_loop(make_step(calls=calls), initial(), 20, checkpoint=ck, every=every)
    first = 13 if error is KeyboardInterrupt else 12  # the last periodic checkpoint: step 12
    assert calls[0] == first and calls[-1] == 19
    assert same(out, ref) and hist == ref_hist
    # a finished loop returns its state without a step
    calls.clear()
    again, hist2 = train_loop(make_step(calls=calls), initial(), 20, checkpoint=ck)
    assert calls == [] and same(again, ref) and hist2 == ref_hist


def test_train_loop_sigterm_saves_the_last_step(tmp_path):
    import os
    import signal

    ck = tmp_path / "loop.eqx"
    base = make_step()

    def step(i, state):
        if i == 7:
            os.kill(os.getpid(), signal.SIGTERM)
        return base(i, state)

    with pytest.raises(KeyboardInterrupt):
        train_loop(step, initial(), 20, checkpoint=ck, every=100)
    calls = []
    out, hist = train_loop(make_step(calls=calls), initial(), 20, checkpoint=ck)
    assert calls[0] == 7  # the signal stopped step 7 midway: 0-6 were saved, 7 is redone
    assert same(out, train_loop(make_step(), initial(), 20)[0])


def test_train_loop_non_finite_record(tmp_path):
    base = make_step()

    def step(i, state):
        new, rec = base(i, state)
        return new, {"loss": jnp.nan if i == 3 else rec["loss"]}

    ck = tmp_path / "loop.eqx"
    with pytest.raises(FloatingPointError, match=r"my-loop: non-finite loss = nan at step 3"):
        train_loop(step, initial(), 10, checkpoint=ck, every=2, owner="my-loop")
    from physnn.checkpoint import load_checkpoint

    _, header = load_checkpoint(ck, initial())
    assert header["train_loop"]["step"] == 2  # nothing written for step 3


def test_train_loop_errors(tmp_path):
    with pytest.raises(ValueError, match=r"steps = -1"):
        train_loop(make_step(), initial(), -1)
    with pytest.raises(ValueError, match=r"every=0"):
        train_loop(make_step(), initial(), 3, every=0)
    with pytest.raises(ValueError, match=r"record a dict"):
        train_loop(lambda i, s: (s, 1.0), initial(), 3)
    ck = tmp_path / "loop.eqx"
    train_loop(make_step(), initial(), 4, checkpoint=ck, owner="a")
    with pytest.raises(CheckpointError, match=r"not a checkpoint of b's loop"):
        train_loop(make_step(), initial(), 4, checkpoint=ck, owner="b")
    with pytest.raises(CheckpointError, match=r"step 4 in the checkpoint"):
        train_loop(make_step(), initial(), 3, checkpoint=ck, owner="a")
    with pytest.raises(CheckpointError, match=r"does not match") as e:
        train_loop(make_step(), (jnp.zeros(4), OPT.init(jnp.zeros(4))), 4, checkpoint=ck, owner="a")
    assert f"delete {ck}" in str(e.value)  # each refusal names the file and the way out
    for owner, steps in (("b", 4), ("a", 3)):
        with pytest.raises(CheckpointError, match=f"To recover, delete {ck}"):
            train_loop(make_step(), initial(), steps, checkpoint=ck, owner=owner)
    ck.write_bytes(ck.read_bytes()[:-7])  # cut short (a full disk, a copy interrupted)
    with pytest.raises(CheckpointError, match="truncated") as e:
        train_loop(make_step(), initial(), 4, checkpoint=ck, owner="a")
    assert str(ck) in str(e.value) and f"delete {ck}" in str(e.value)


def test_train_loop_zero_steps():
    state, hist = train_loop(make_step(), initial(), 0)
    assert same(state, initial()) and hist == {}


VALUE = {
    "none": None, "flag": True, "name": "x", "n": 3, "x": 0.1, "nan": float("nan"),
    "np_scalar": np.float64(0.25), "f32": np.float32(1.5), "i64": np.int64(-7),
    "arr": np.arange(6, dtype=np.int16).reshape(2, 3), "f": np.array([0.1, np.inf]),
    "jax": jnp.array([1.0, 2.0], jnp.float32), "tuple": (1, (2.0, "a")), "list": [np.zeros(0), []],
    5: {"nested": {(1, 2): "tuple key"}},
}


def check_same(a, b):
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            check_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            check_same(x, y)
    elif isinstance(a, (np.ndarray, np.generic, jax.Array)):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b)
    else:
        assert a == b


def test_stages_store_and_resume(tmp_path):
    calls = []

    def compute(scale, offset=0):
        calls.append((scale, offset))
        return VALUE

    st = Stages(tmp_path / "ck", {"config": {"a": 1}}, owner="exp")
    first = st("values", compute, 2, offset=1)
    assert first is VALUE and calls == [(2, 1)] and st.resumed == []
    st2 = Stages(tmp_path / "ck", {"config": {"a": 1}}, owner="exp")
    loaded = st2("values", compute, 2, offset=1)
    assert calls == [(2, 1)] and st2.resumed == ["values"]
    check_same(VALUE, loaded)
    assert st2.path("loop") == tmp_path / "ck" / "loop.eqx"
    st2.remove()
    assert not (tmp_path / "ck").exists()


def test_stages_keep_float64_jax_arrays(tmp_path):
    """A stage computed with float64 enabled returns float64 JAX arrays, also when loaded."""

    def compute():
        with jax.enable_x64(True):
            return jnp.asarray([0.1, 1 / 3], jnp.float64), jnp.asarray([1, 2], jnp.int64)

    computed = Stages(tmp_path, {}, "exp")("x64", compute)
    loaded = Stages(tmp_path, {}, "exp")("x64", compute)
    assert computed[0].dtype == jnp.float64 and computed[1].dtype == jnp.int64
    check_same(computed, loaded)


def test_stages_errors(tmp_path, monkeypatch):
    st = Stages(tmp_path / "ck", {"config": {"a": 1}}, owner="exp")
    with pytest.raises(ValueError, match=r"exp: stage name '../x'"):
        st("../x", dict)
    st("one", dict)
    with pytest.raises(ValueError, match=r"'one' is used twice"):
        st("one", dict)
    with pytest.raises(TypeError, match=r"exp: stage 'obj'\[0\]: cannot store a set"):
        st("obj", lambda: [{1, 2}])
    with pytest.raises(TypeError, match=r"PRNG key"):
        st("key", lambda: jax.random.key(0))
    with pytest.raises(ValueError, match=r"config keys that differ: \['a'\]"):
        Stages(tmp_path / "ck", {"config": {"a": 2}}, owner="exp")
    import physnn

    monkeypatch.setattr(physnn, "__version__", "0.0.1")
    with pytest.raises(ValueError, match=r"other entries that differ: \['physnn_version'\]"):
        Stages(tmp_path / "ck", {"config": {"a": 1}}, owner="exp")
    monkeypatch.undo()
    (tmp_path / "ck" / "bad.stage").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match=r"not a physnn stage file"):
        Stages(tmp_path / "ck", {"config": {"a": 1}}, owner="exp")("bad", dict)
    f = tmp_path / "ck" / "one.stage"
    f.write_bytes(f.read_bytes()[:-3] + b"xyz")
    with pytest.raises(CheckpointError, match=r"sha256 mismatch"):
        Stages(tmp_path / "ck", {"config": {"a": 1}}, owner="exp")("one", dict)


def test_stages_of_a_run_say_what_they_loaded_and_are_removed(tmp_path):
    st = Stages.of_run(tmp_path, {"a": 1}, "exp")
    assert st.dir == tmp_path / "checkpoints" and st("x", lambda: 1.5) == 1.5
    assert st.notes() == []
    again = Stages.of_run(tmp_path, {"a": 1}, "exp")
    assert again("x", lambda: 0.0) == 1.5
    assert again.notes() == ["resumed from the checkpoints of an earlier run in this folder "
                             "(stages x); the wall times count only this part"]
    with pytest.raises(ValueError, match=r"config keys that differ: \['a'\]"):
        Stages.of_run(tmp_path, {"a": 2}, "exp")
    remove_run_checkpoints(tmp_path)
    assert not (tmp_path / "checkpoints").exists() and tmp_path.exists()


def test_train_loop_refuses_a_step_that_poisons_the_state(tmp_path):
    """A step whose record is finite but whose new state holds NaN (a NaN gradient through
    Adam) is not committed or checkpointed; the error names the leaf."""
    base = make_step()

    def step(i, state):
        (w, opt_state), rec = base(i, state)
        return (w.at[1].set(jnp.nan) if i == 3 else w, opt_state), rec

    ck = tmp_path / "loop.eqx"
    with pytest.raises(FloatingPointError, match=r"my-loop: step 3 made \[0\] of the state non-finite"):
        train_loop(step, initial(), 10, checkpoint=ck, every=1, owner="my-loop")
    from physnn.checkpoint import load_checkpoint

    (w, _), header = load_checkpoint(ck, initial())
    assert header["train_loop"]["step"] == 3 and bool(jnp.all(jnp.isfinite(w)))
    # a state that was already non-finite (a best-so-far at inf) is not an error
    state, _ = train_loop(lambda i, s: (s, None), (jnp.full(2, jnp.inf),), 2)
    assert bool(jnp.all(jnp.isinf(state[0])))
