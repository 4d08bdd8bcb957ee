"""Tests for physnn.train: convergence, exact resume, checkpoint integrity, errors."""

import json
import os
import signal
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from physnn.checkpoint import (
    CHECKPOINT_NAME,
    CheckpointError,
    bind_checkpoint_dir,
    load_checkpoint,
    save_checkpoint,
)
from physnn.train import fit


class Quad(eqx.Module):
    w: jax.Array
    frozen: jax.Array


TARGET = jnp.array([1.0, -2.0, 3.0])


def quad_loss(model, batch, key):
    r = model.w - batch["target"]
    return jnp.sum(r**2), {"norm": jnp.linalg.norm(model.w)}


def quad_model():
    return Quad(w=jnp.zeros(3), frozen=jnp.array([5.0]))


# Linear regression with a random minibatch sampler: makes the resume test meaningful.
W_TRUE = jnp.array([[0.5, -1.0, 2.0]])


def sampler(step, key):
    kx, kn = jax.random.split(key)
    x = jax.random.normal(kx, (16, 3))
    y = x @ W_TRUE.T + 0.1 * jax.random.normal(kn, (16, 1))
    return x, y


def mse(model, batch, key):
    x, y = batch
    pred = jax.vmap(model)(x)
    # Use the key too, so loss randomness is part of what must be reproduced on resume.
    noise = 1e-3 * jax.random.normal(key, ())
    err = pred - y
    return jnp.mean(err**2) + noise, {"mae": jnp.mean(jnp.abs(err))}


def linear():
    return eqx.nn.Linear(3, 1, key=jax.random.key(1))


def leaves_equal(a, b):
    la = jax.tree_util.tree_leaves(eqx.filter(a, eqx.is_array))
    lb = jax.tree_util.tree_leaves(eqx.filter(b, eqx.is_array))
    return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb, strict=True))


def test_converges_to_minimiser_with_history_and_metrics():
    model, hist = fit(
        quad_model(),
        quad_loss,
        {"target": TARGET},
        optax.sgd(0.1),
        steps=60,
        key=jax.random.key(0),
        progress=False,
    )
    np.testing.assert_allclose(model.w, TARGET, atol=1e-4)
    assert np.array_equal(model.frozen, jnp.array([5.0]))  # trained, but zero gradient
    assert hist["step"] == list(range(60))
    assert len(hist["loss"]) == len(hist["norm"]) == 60
    assert all(isinstance(v, float) for v in hist["loss"] + hist["norm"])
    assert hist["loss"][-1] < 1e-6 < hist["loss"][0]
    assert all(b <= a for a, b in zip(hist["loss"], hist["loss"][1:], strict=False))
    np.testing.assert_allclose(hist["norm"][-1], float(jnp.linalg.norm(TARGET)), rtol=1e-4)


def test_scalar_loss_and_log_every_and_progress_bar(capsys):
    loss = lambda m, b, k: jnp.sum((m.w - b) ** 2)
    _, hist = fit(
        quad_model(),
        loss,
        TARGET,
        optax.sgd(0.1),
        steps=12,
        key=jax.random.key(0),
        log_every=5,
        progress=True,
    )
    assert hist["step"] == [0, 5, 10, 11]
    assert set(hist) == {"step", "loss"}
    assert "fit" in capsys.readouterr().err


def test_filter_spec_callable_and_pytree_of_bools():
    loss = lambda m, b, k: jnp.sum((m.w - b) ** 2) + jnp.sum(m.frozen**2)
    kw = dict(steps=20, key=jax.random.key(0), progress=False)
    # Default: all inexact arrays, so `frozen` is trained towards 0 as well.
    m, _ = fit(quad_model(), loss, TARGET, optax.sgd(0.1), **kw)
    assert float(m.frozen[0]) < 0.1
    # PyTree of bools, as for eqx.partition.
    spec = Quad(w=True, frozen=False)
    m, _ = fit(quad_model(), loss, TARGET, optax.sgd(0.1), filter_spec=spec, **kw)
    assert np.array_equal(m.frozen, jnp.array([5.0]))
    np.testing.assert_allclose(m.w, TARGET, atol=0.05)
    # Callable.
    m, _ = fit(
        quad_model(),
        loss,
        TARGET,
        optax.sgd(0.1),
        **kw,
        filter_spec=lambda x: eqx.is_inexact_array(x) and x.shape == (3,),
    )
    assert np.array_equal(m.frozen, jnp.array([5.0]))


def test_warns_when_nothing_is_trainable():
    """Parameters given as Python floats are constants to JAX: fit says so (and what to do)
    instead of silently training nothing; a model with one array parameter does not warn."""
    loss = lambda m, b, k: (m.w - b) ** 2
    kw = dict(steps=3, key=jax.random.key(0), progress=False)
    floats = Quad(w=0.5, frozen=5.0)
    with pytest.warns(UserWarning, match=r"nothing in the model is trainable.*2 of the model's "
                                         r"leaves are Python floats.*jnp.asarray\(0.5\)"):
        m, hist = fit(floats, loss, 2.0, optax.sgd(0.1), **kw)
    assert m.w == 0.5 and hist["loss"][-1] == pytest.approx(2.25)  # unchanged
    with pytest.warns(UserWarning, match="nothing in the model is trainable.*check filter_spec"):
        fit(quad_model(), lambda m, b, k: jnp.sum(m.w ** 2), TARGET, optax.sgd(0.1),
            filter_spec=lambda x: False, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m, _ = fit(Quad(w=jnp.asarray(0.5), frozen=5.0), loss, 2.0, optax.sgd(0.1), **kw)
    assert float(m.w) != 0.5


def test_step_is_traced_once():
    traces = []

    def loss(m, b, k):
        traces.append(1)  # Python side effect: runs only while tracing
        return jnp.sum((m.w - b) ** 2)

    fit(
        quad_model(), loss, TARGET, optax.adam(0.1), steps=15, key=jax.random.key(0), progress=False
    )
    assert len(traces) == 1


def _run_uninterrupted(tmp_path):
    return fit(
        linear(),
        mse,
        sampler,
        optax.adam(3e-2),
        steps=20,
        key=jax.random.key(7),
        checkpoint_dir=tmp_path / "a",
        checkpoint_every=5,
        progress=False,
    )


class InterruptingSampler:
    """Wraps `sampler`, records the steps it is asked for, and interrupts once at `at`."""

    def __init__(self, at, how):
        self.at, self.how, self.calls, self.fired = at, how, [], False

    def __call__(self, step, key):
        self.calls.append(step)
        if step == self.at and not self.fired:
            self.fired = True
            if self.how == "sigterm":
                os.kill(os.getpid(), signal.SIGTERM)
            raise KeyboardInterrupt
        return sampler(step, key)


@pytest.mark.parametrize("how", ["keyboard", "sigterm"])
def test_resume_is_bitwise_exact(tmp_path, how):
    if how == "sigterm" and os.name != "posix":
        pytest.skip("needs POSIX signals")
    model_a, hist_a = _run_uninterrupted(tmp_path)

    ckdir = tmp_path / "b"
    data = InterruptingSampler(at=12, how=how)
    old_handler = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        fit(
            linear(),
            mse,
            data,
            optax.adam(3e-2),
            steps=20,
            key=jax.random.key(7),
            checkpoint_dir=ckdir,
            checkpoint_every=5,
            progress=False,
        )
    assert signal.getsignal(signal.SIGTERM) is old_handler  # handler restored
    # The interrupt saved the last completed step (12 steps done), not only step 10.
    with open(ckdir / CHECKPOINT_NAME, "rb") as f:
        assert json.loads(f.readline())["step"] == 12
    assert os.listdir(ckdir) == [CHECKPOINT_NAME]

    data.calls.clear()
    model_b, hist_b = fit(
        linear(),
        mse,
        data,
        optax.adam(3e-2),
        steps=20,
        key=jax.random.key(7),
        checkpoint_dir=ckdir,
        checkpoint_every=5,
        progress=False,
    )
    assert data.calls == list(range(12, 20))  # resumed, not restarted
    assert leaves_equal(model_a, model_b)
    assert hist_a == hist_b
    assert set(hist_b) == {"step", "loss", "mae"} and len(hist_b["loss"]) == 20
    # The run actually learned something (the sampler is not trivial).
    assert hist_b["loss"][-1] < hist_b["loss"][0]

    # At or past `steps`: returns the loaded model immediately.
    data.calls.clear()
    model_c, hist_c = fit(
        linear(),
        mse,
        data,
        optax.adam(3e-2),
        steps=20,
        key=jax.random.key(7),
        checkpoint_dir=ckdir,
        progress=False,
    )
    assert data.calls == []
    assert leaves_equal(model_a, model_c) and hist_c == hist_a


def test_resume_extends_a_finished_run(tmp_path):
    model_a, hist_a = _run_uninterrupted(tmp_path)  # 20 steps
    ref, ref_hist = fit(
        linear(), mse, sampler, optax.adam(3e-2), steps=26, key=jax.random.key(7), progress=False
    )
    more, more_hist = fit(
        linear(),
        mse,
        sampler,
        optax.adam(3e-2),
        steps=26,
        key=jax.random.key(7),
        checkpoint_dir=tmp_path / "a",
        progress=False,
    )
    assert leaves_equal(ref, more) and ref_hist == more_hist


def _checkpoint(tmp_path):
    fit(
        quad_model(),
        quad_loss,
        {"target": TARGET},
        optax.adam(0.1),
        steps=5,
        key=jax.random.key(0),
        checkpoint_dir=tmp_path,
        progress=False,
    )
    return tmp_path / CHECKPOINT_NAME


def _resume(tmp_path, model=None):
    return fit(
        quad_model() if model is None else model,
        quad_loss,
        {"target": TARGET},
        optax.adam(0.1),
        steps=10,
        key=jax.random.key(0),
        checkpoint_dir=tmp_path,
        progress=False,
    )


def test_checkpoint_file_format(tmp_path):
    path = _checkpoint(tmp_path)
    raw = path.read_bytes()
    header = json.loads(raw[: raw.index(b"\n")].decode("utf-8"))
    assert header["format"] == "physnn-checkpoint" and header["version"] == 1
    assert header["step"] == 5 and len(header["history"]["loss"]) == 5
    assert isinstance(header["physnn_version"], str)
    assert [leaf["shape"] for leaf in header["structure"]["leaves"][:1]] == [[3]]
    assert isinstance(header["structure"]["treedef"], str)
    assert b"pickle" not in raw and raw[raw.index(b"\n") + 1 :][:6] == b"\x93NUMPY"
    assert os.listdir(tmp_path) == [CHECKPOINT_NAME]  # no temp files left


def test_truncated_checkpoint(tmp_path):
    path = _checkpoint(tmp_path)
    raw = path.read_bytes()
    path.write_bytes(raw[:-10])
    with pytest.raises(CheckpointError, match="truncated") as e:
        _resume(tmp_path)
    assert str(path) in str(e.value)
    path.write_bytes(raw[:20])  # inside the header
    with pytest.raises(CheckpointError, match="header"):
        _resume(tmp_path)


def test_flipped_payload_byte(tmp_path):
    path = _checkpoint(tmp_path)
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="sha256") as e:
        _resume(tmp_path)
    assert str(path) in str(e.value)


def test_bad_json_header(tmp_path):
    path = _checkpoint(tmp_path)
    raw = path.read_bytes()
    path.write_bytes(b"{not json\n" + raw[raw.index(b"\n") + 1 :])
    with pytest.raises(CheckpointError, match="JSON"):
        _resume(tmp_path)
    assert isinstance(CheckpointError("x"), ValueError)


def test_mismatching_model(tmp_path):
    _checkpoint(tmp_path)
    wrong = Quad(w=jnp.zeros(4), frozen=jnp.array([5.0]))
    with pytest.raises(CheckpointError) as e:
        _resume(tmp_path, wrong)
    msg = str(e.value)
    assert "leaf 0" in msg and ".w" in msg and "(4,)" in msg and "(3,)" in msg


def test_save_and_load_checkpoint_helpers(tmp_path):
    model = linear()
    path = save_checkpoint(tmp_path / "model.eqx", model, {"note": "trained", "step": 3})
    like = eqx.filter_eval_shape(linear)
    loaded, header = load_checkpoint(path, like)
    assert leaves_equal(loaded, model) and header["note"] == "trained" and header["step"] == 3
    assert os.listdir(tmp_path) == ["model.eqx"]
    with pytest.raises(ValueError, match="reserved"):
        save_checkpoint(tmp_path / "x.eqx", model, {"sha256": "0"})
    with pytest.raises(CheckpointError, match="leaf"):
        load_checkpoint(path, eqx.nn.Linear(2, 1, key=jax.random.key(0)))


def test_failed_write_leaves_old_checkpoint_and_no_temp(tmp_path, monkeypatch):
    path = _checkpoint(tmp_path)
    before = path.read_bytes()

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, quad_model(), {"step": 99})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == [CHECKPOINT_NAME]


def test_non_finite_loss(tmp_path):
    def data(step, key):
        return {"target": TARGET * (jnp.nan if step == 3 else 1.0)}

    with pytest.raises(FloatingPointError, match="step 3") as e:
        fit(
            quad_model(),
            quad_loss,
            data,
            optax.sgd(0.1),
            steps=10,
            key=jax.random.key(0),
            checkpoint_dir=tmp_path,
            checkpoint_every=1,
            progress=False,
        )
    assert "nan" in str(e.value)
    # The last checkpoint is the last good state (3 completed steps), never the bad one.
    (params, _), header = load_checkpoint(
        tmp_path / CHECKPOINT_NAME,
        (eqx.filter(quad_model(), eqx.is_inexact_array), optax.sgd(0.1).init(quad_model())),
    )
    assert header["step"] == 3
    assert bool(jnp.all(jnp.isfinite(params.w)))


def test_finite_loss_with_a_nan_gradient_commits_nothing(tmp_path):
    """A loss whose value is finite but whose gradient is NaN from step 3 on (|d| at d = 0, d
    having the value 0 and the gradient 1) must not commit or checkpoint NaN parameters: the
    error names the leaf and the step."""

    def loss(model, batch, key):
        base, _ = quad_loss(model, batch, key)
        d = model.w - jax.lax.stop_gradient(model.w) + batch["offset"]
        return base + jnp.sum(jnp.sqrt(d**2))

    def data(step, key):
        return {"target": TARGET, "offset": jnp.asarray(0.0 if step >= 3 else 1.0)}

    with pytest.raises(FloatingPointError, match=r"step 3 made .*\.w.* non-finite") as e:
        fit(quad_model(), loss, data, optax.sgd(0.1), steps=10, key=jax.random.key(0),
            checkpoint_dir=tmp_path, checkpoint_every=1, progress=False)
    assert "loss is finite" in str(e.value)
    (params, _), header = load_checkpoint(
        tmp_path / CHECKPOINT_NAME,
        (eqx.filter(quad_model(), eqx.is_inexact_array), optax.sgd(0.1).init(quad_model())),
    )
    assert header["step"] == 3
    assert bool(jnp.all(jnp.isfinite(params.w)))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"steps": 0}, "steps"),
        ({"steps": 2.5}, "steps"),
        ({"steps": True}, "steps"),
        ({"checkpoint_every": 0}, "checkpoint_every"),
        ({"checkpoint_every": "5"}, "checkpoint_every"),
        ({"log_every": -1}, "log_every"),
    ],
)
def test_bad_arguments(kwargs, name):
    kw = {"steps": 5, "key": jax.random.key(0), "progress": False, **kwargs}
    with pytest.raises(ValueError, match=name) as e:
        fit(quad_model(), quad_loss, {"target": TARGET}, optax.sgd(0.1), **kw)
    assert repr(next(iter(kwargs.values()))) in str(e.value)


def test_weakly_typed_parameters_compile_the_step_once():
    """jnp.asarray(0.5) is weakly typed; the first update returns it strongly typed, which used
    to make the jitted step trace (and compile) again."""
    traces = []

    def loss(model, batch, key):
        traces.append(1)  # runs once per trace
        return jnp.sum((model.w - batch["target"]) ** 2)

    model = Quad(w=jnp.asarray(0.5), frozen=jnp.asarray(1.0))
    assert model.w.weak_type
    trained, hist = fit(model, loss, {"target": jnp.asarray(2.0)}, optax.adam(0.1), steps=5,
                        key=jax.random.key(0), progress=False)
    assert len(traces) == 1
    assert hist["loss"][-1] < hist["loss"][0]


def test_fit_in_chunks_compiles_the_step_once():
    """fit(steps=2) then fit(steps=4) from its checkpoint, same loss and optimiser: one trace,
    and the same result as one uninterrupted run."""
    traces = []

    def loss(model, batch, key):
        traces.append(1)
        return quad_loss(model, batch, key)

    opt = optax.adam(0.1)
    data = {"target": TARGET}
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        fit(quad_model(), loss, data, opt, steps=2, key=jax.random.key(0), checkpoint_dir=d,
            progress=False)
        chunked, _ = fit(quad_model(), loss, data, opt, steps=4, key=jax.random.key(0),
                         checkpoint_dir=d, progress=False)
    assert len(traces) == 1
    whole, _ = fit(quad_model(), quad_loss, data, optax.adam(0.1), steps=4, key=jax.random.key(0),
                   progress=False)
    assert np.allclose(np.asarray(chunked.w), np.asarray(whole.w))


def test_bind_checkpoint_dir_ties_a_folder_to_its_setup(tmp_path):
    """The first call records the set-up; the same set-up binds again; another one is an error
    naming the config keys and the other entries that differ, and leaves the record alone."""
    d = tmp_path / "ckpt"
    setup = {"config": {"lr": 0.1, "steps": 10}, "data": "abc"}
    assert bind_checkpoint_dir(d, setup, "exp") == d
    recorded = {**setup, "checkpoints_of": "exp"}  # the owner is recorded beside the set-up
    assert json.loads((d / "setup.json").read_text()) == recorded
    assert bind_checkpoint_dir(d, {"data": "abc", "config": {"steps": 10, "lr": 0.1}}, "exp") == d
    with pytest.raises(ValueError, match=r"exp: .*\(config keys that differ: \['lr'\]; other entries "
                                         r"that differ: none"):
        bind_checkpoint_dir(d, {**setup, "config": {"lr": 0.2, "steps": 10}}, "exp")
    with pytest.raises(ValueError, match=r"config keys that differ: none; other entries that "
                                         r"differ: \['data'\]"):
        bind_checkpoint_dir(d, {**setup, "data": "xyz"}, "exp")
    assert json.loads((d / "setup.json").read_text()) == recorded
    assert [p.name for p in d.iterdir()] == ["setup.json"]  # no temporary file left behind
