"""An interrupted romera2018 run resumes from its checkpoints and ends exactly where an
uninterrupted run ends: the rule of readout (a), the gradient training of readout (b), and the
whole cross-validated run."""

import json

import jax
import numpy as np
import pytest

from physnn import cli
from physnn.checkpoint import CheckpointError


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

    def close(self):
        pass


def _same_tree(a, b):
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    return len(la) == len(lb) and all(np.array_equal(np.asarray(u), np.asarray(v))
                                      for u, v in zip(la, lb, strict=True))


def _header(path, key):
    return json.loads(path.read_bytes().split(b"\n", 1)[0])[key]


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

    ref_ck = tmp_path / "ref.eqx"
    ref, hist_ref = exp.train_pattern_rule(model, x, y, cfg, checkpoint=ref_ck, **kw)
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
    # the random generator went on where it stopped: its state, like the rest of the rule's,
    # ends as in the uninterrupted rule (even where no random move won)
    assert _header(ck, "romera2018_rule") == _header(ref_ck, "romera2018_rule")
    # a finished rule's checkpoint returns the result without measuring again
    calls.clear()
    again, _ = exp.train_pattern_rule(model, x, y, cfg, checkpoint=ck, **kw)
    assert not calls and _same_tree(again, ref)


def test_run_resumes_after_interruptions_and_cleans_up(exp, cfg, tmp_path, monkeypatch):
    """A small cross-validated run, interrupted three times in its second fold and resumed each
    time from its checkpoints, ends with every metric, per-fold figure, the confusion matrix and
    the saved model of an uninterrupted run:

    1. Ctrl-C in the rule of readout (a), after its first iteration;
    2. Ctrl-C in the gradient training of readout (b), after its first step (written on the
       interruption; the periodic checkpoint is every 5 steps);
    3. a kill that nothing catches, after the second step, with a checkpoint every step.

    Finished folds and steps are not trained again. ``finished`` removes the checkpoints; a
    checkpoint of the wrong kind, or a different set-up in a folder with checkpoints, is a clear
    error."""
    cfg = {**cfg, "rule_iters": 2}  # 4 units of progress per fold and variant: 2 + 2 steps
    ref = exp.run(cfg, tmp_path / "ref")
    assert ref["resumed"] == []
    out, ck = tmp_path / "run", tmp_path / "run" / "checkpoints"
    train = exp.train_gradient
    calls = []
    monkeypatch.setattr(exp, "train_gradient", lambda *a, **k: calls.append(1) or train(*a, **k))

    def interrupted_run(bar):
        monkeypatch.setattr(exp, "tqdm", lambda **kw: bar)
        with pytest.raises(bar.error):
            exp.run(cfg, out)

    interrupted_run(Interrupt(9))  # fold 0 (8 units), then fold 1's rule, iteration 1
    assert sorted(p.name for p in ck.glob("*.eqx")) == [
        "fold0.eqx", "fold0_uncoupled.eqx", "fold1_a_progress.eqx"]
    assert _header(ck / "fold1_a_progress.eqx", "romera2018_rule")["iteration"] == 1
    interrupted_run(Interrupt(11))  # iteration 2, then the first gradient step
    assert _header(ck / "fold1_b_progress.eqx", "train_loop")["step"] == 1
    monkeypatch.setattr(exp, "GRAD_CHECKPOINT_EVERY", 1)
    interrupted_run(Interrupt(12, Killed))  # the second step, then killed
    assert _header(ck / "fold1_b_progress.eqx", "train_loop")["step"] == 2
    assert len(calls) == 4  # fold 0's two variants, then fold 1's coupled one in runs 2 and 3

    with pytest.raises(CheckpointError, match="does not match"):  # a rule's file is not (b)'s
        two = np.asarray([[300.0, 900.0], [900.0, 2900.0]], np.float32)
        train(exp.initial_model(two, cfg, "linear"), two, np.asarray([0, 1]), cfg,
              checkpoint=ck / "fold1_a_progress.eqx")

    calls.clear()
    bar = Interrupt()
    monkeypatch.setattr(exp, "tqdm", lambda **kw: bar)
    got = exp.run(cfg, out)
    assert len(calls) == 2  # fold 1 coupled (resumed, already at its last step) and uncoupled
    assert bar.n == 16
    assert got["resumed"] == ["fold0", "fold0_uncoupled"]
    assert got["metrics"] == ref["metrics"] and got["per_fold"] == ref["per_fold"]
    assert got["confusion_test_b"] == ref["confusion_test_b"]
    assert (out / "model.eqx").read_bytes() == (tmp_path / "ref" / "model.eqx").read_bytes()

    with pytest.raises(ValueError, match=r"config keys that differ: \['grad_steps'\]"):
        exp.run({**cfg, "grad_steps": 3}, out)
    exp.finished(out)
    assert not ck.exists() and (out / "model.eqx").exists()
