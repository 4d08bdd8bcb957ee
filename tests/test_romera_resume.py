"""An interrupted romera2018 run resumes from its checkpoints and ends exactly where an
uninterrupted run ends: the rule of readout (a), the gradient training of readout (b), and the
whole cross-validated run."""

import json

import jax
import numpy as np
import pytest

from physnn import cli
from physnn.train import CheckpointError


@pytest.fixture(scope="module")
def exp():
    return cli.load_experiment("romera2018")


@pytest.fixture(scope="module")
def cfg(exp):
    """A small run; its presentation length, population and step count are shared by all the
    tests here, so that they share the compiled solves."""
    return {**exp.QUICK, "t1_ns": 52.0, "rule_iters": 1, "rule_candidates": 10, "grad_steps": 2,
            "readout_steps": 20, "mlp_steps": 20, "map_points": 5}


@pytest.fixture(scope="module")
def tokens(cfg):
    """The training tokens of the run's first fold, and the count the run pads them to."""
    from physnn.tasks import load_romera, speaker_folds

    data = load_romera()
    folds = speaker_folds(data.speakers, n_folds=cfg["n_folds"], seed=cfg["seed"])
    tr = folds[0][0]
    return data.features.astype(np.float32)[tr], data.labels[tr], max(len(t) for t, _ in folds)


class Killed(BaseException):
    """Stands for a process killed outright: nothing in the training loop catches it."""


class Interrupt:
    """A progress bar that raises ``error`` (KeyboardInterrupt, as Ctrl-C or SIGTERM would) once
    ``after`` units of work are done; ``after=None`` never does."""

    def __init__(self, after=None, error=KeyboardInterrupt):
        self.n, self.after, self.error = 0, after, error

    def update(self, k=1):
        self.n += k
        if self.after is not None and self.n >= self.after:
            raise self.error("test interruption")


def _same_tree(a, b):
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    return len(la) == len(lb) and all(np.array_equal(np.asarray(u), np.asarray(v))
                                      for u, v in zip(la, lb, strict=True))


def test_rule_resumes_from_its_checkpoint_exactly(exp, cfg, tokens, tmp_path, monkeypatch):
    """Interrupted after its second iteration and started again with the same file, the rule
    measures only the iterations it had not done and returns the currents, table and history of
    an uninterrupted rule, random moves (two per iteration here) included."""
    x, y, n_pad = tokens
    cfg = {**cfg, "rule_iters": 4}
    model = exp.initial_model(x, cfg, "pattern")
    calls = []
    present = exp.present_patterns
    monkeypatch.setattr(exp, "present_patterns", lambda *a, **k: calls.append(1) or present(*a, **k))
    kw = {"vtl_sigma": 0.04, "n_pad": n_pad}

    ref, hist_ref = exp.train_pattern_rule(model, x, y, cfg, **kw)
    assert len(calls) == 5  # the first population and four iterations
    ck = tmp_path / "rule.eqx"
    with pytest.raises(KeyboardInterrupt):
        exp.train_pattern_rule(model, x, y, cfg, checkpoint=ck, progress=Interrupt(2), **kw)
    calls.clear()
    bar = Interrupt()
    got, hist = exp.train_pattern_rule(model, x, y, cfg, checkpoint=ck, progress=bar, **kw)
    assert len(calls) == 2 and bar.n == 4  # iterations 3 and 4 measured; the bar counts all four
    assert hist == hist_ref
    assert _same_tree(got, ref)
    # a finished rule's checkpoint returns the result without measuring again
    calls.clear()
    again, _ = exp.train_pattern_rule(model, x, y, cfg, checkpoint=ck, **kw)
    assert not calls and _same_tree(again, ref)


def test_gradient_training_resumes_from_its_checkpoint_exactly(exp, cfg, tokens, tmp_path,
                                                              monkeypatch):
    """Interrupted after the first of its two steps, the end-to-end training resumes with its
    model, optimiser state and history and ends bit for bit where an uninterrupted one ends:
    whether the interruption wrote the checkpoint (Ctrl-C, SIGTERM) or the periodic checkpoint
    is all there is (a process killed outright). A file that is not a checkpoint of this
    training is a clear error."""
    x, y, n_pad = tokens
    model = exp.initial_model(x, cfg, "linear")
    kw = {"vtl_sigma": 0.04, "n_pad": n_pad}
    ref, hist_ref = exp.train_gradient(model, x, y, cfg, **kw)

    def step_of(path):
        return json.loads(path.read_bytes().split(b"\n", 1)[0])["romera2018_gradient"]["step"]

    for error, every in ((KeyboardInterrupt, exp.GRAD_CHECKPOINT_EVERY), (Killed, 1)):
        monkeypatch.setattr(exp, "GRAD_CHECKPOINT_EVERY", every)
        ck = tmp_path / f"grad_{error.__name__}.eqx"
        with pytest.raises(error):
            exp.train_gradient(model, x, y, cfg, checkpoint=ck, progress=Interrupt(1, error), **kw)
        assert step_of(ck) == 1
        bar = Interrupt()
        got, hist = exp.train_gradient(model, x, y, cfg, checkpoint=ck, progress=bar, **kw)
        assert bar.n == 2 and hist == hist_ref and len(hist["loss"]) == 2
        assert _same_tree(got, ref)
        assert step_of(ck) == 2

    other = tmp_path / "rule.eqx"  # a checkpoint of the rule, not of this training
    exp._save_rule_state(other, 0, (0.5,), 0.5, np.zeros(25, np.int32), np.ones(4), 0.5, [0.5],
                         np.random.default_rng(0))
    with pytest.raises(CheckpointError, match="does not match"):
        exp.train_gradient(model, x, y, cfg, checkpoint=other, **kw)


def test_run_resumes_after_an_interruption_and_cleans_up(exp, cfg, tmp_path, monkeypatch):
    """A small cross-validated run interrupted in its second fold resumes from its checkpoints:
    the finished fold is not trained again, and every metric, per-fold figure, the confusion
    matrix and the saved model equal those of an uninterrupted run. ``finished`` removes the
    checkpoints; a different set-up in a folder with checkpoints is a clear error."""
    ref = exp.run(cfg, tmp_path / "ref")
    assert ref["resumed"] == []

    train = exp.train_gradient
    calls = []

    def interrupted(*a, **k):  # the third (b) training is fold 1's coupled one
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt("test interruption")
        return train(*a, **k)

    monkeypatch.setattr(exp, "train_gradient", interrupted)
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        exp.run(cfg, out)
    assert sorted(p.name for p in (out / "checkpoints").glob("*.eqx")) == [
        "fold0.eqx", "fold0_uncoupled.eqx", "fold1_a_progress.eqx"]
    calls.clear()
    monkeypatch.setattr(exp, "train_gradient", lambda *a, **k: calls.append(1) or train(*a, **k))
    got = exp.run(cfg, out)
    assert len(calls) == 2  # fold 1 coupled and uncoupled
    assert got["resumed"] == ["fold0", "fold0_uncoupled"]
    assert got["metrics"] == ref["metrics"] and got["per_fold"] == ref["per_fold"]
    assert got["confusion_test_b"] == ref["confusion_test_b"]
    assert (out / "model.eqx").read_bytes() == (tmp_path / "ref" / "model.eqx").read_bytes()

    with pytest.raises(ValueError, match=r"config keys that differ: \['grad_steps'\]"):
        exp.run({**cfg, "grad_steps": 3}, out)
    exp.finished(out)
    assert not (out / "checkpoints").exists() and (out / "model.eqx").exists()
