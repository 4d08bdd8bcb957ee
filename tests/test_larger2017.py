"""The larger2017 spoken-digit experiment: quick mode runs and its results are sane; its scan
evaluates every fold on its own inputs. (The evaluation itself: tests/test_fsdd_evaluation.py.)"""

import dataclasses
import json
import math

import numpy as np
import pytest

import experiments.larger2017 as larger
from experiments.larger2017 import evaluation, reservoirs
from physnn.tasks.fsdd import fsdd_groups, fsdd_inputs, fsdd_problem_inputs, fsdd_problems, wta_evaluate

CHANCE = 0.9  # WER of guessing among 10 digits


EXPERIMENT = "larger2017"  # for the quick_run fixture (conftest.py)


@pytest.fixture(scope="module")
def quick(quick_run):  # the quick run: the tests that use it are slow
    out, record, _ = quick_run
    return out, record


@pytest.mark.slow
def test_results_json(quick):
    out, record = quick
    saved = json.loads((out / "results.json").read_text())
    for key in ("experiment", "quick", "metrics", "reference", "config", "wall_s", "versions"):
        assert key in saved
    assert saved["experiment"] == "larger2017" and saved["quick"] is True
    assert "TI-46" in saved["dataset"] and "FSDD" in saved["dataset"]
    assert any("TI-46" in n for n in saved["notes"])
    for fig in saved["figures"]:
        assert (out / fig).stat().st_size > 0


@pytest.mark.slow
def test_wers_better_than_chance(quick):
    m = quick[1]["metrics"]
    for split in ("official", "speaker"):
        for system in ("front_end", "front_end_sequence", "ikeda", "mackey_glass"):
            wer = m[f"wer_{split}_{system}"]
            assert math.isfinite(wer) and 0.0 <= wer < CHANCE - 0.2, (split, system, wer)
    assert m["words_per_s_ikeda"] > 0 and m["energy_per_word_j_ikeda"] > 0
    assert m["map_vs_continuous_prediction_agreement"] >= 0.75
    assert m["map_vs_continuous_max_state_diff"] < 0.1


@pytest.mark.slow
def test_feature_shapes(quick):
    record = quick[1]
    cfg = larger.QUICK
    x, digits, speakers, reps, _ = fsdd_inputs(cfg.n_frames, cfg.n_mfcc, cfg.max_rep)
    assert x.shape == (len(digits), cfg.n_frames, cfg.n_mfcc)
    assert list(x.shape) == record["feature_shapes"]["inputs"]
    sub = x[:5]
    node = reservoirs.ikeda_node(cfg, 0.8, 0.5, -0.785, 2.5)
    states = reservoirs.reservoir_states(node, sub, reservoirs.make_mask(cfg, cfg.n_mfcc))
    assert states.shape == (5, cfg.n_frames, cfg.n_nodes)
    assert np.all(np.isfinite(states))
    # one batched call gives the same states as a single utterance (no cross-talk in the batch)
    one = reservoirs.reservoir_states(node, sub[2:3], reservoirs.make_mask(cfg, cfg.n_mfcc))
    np.testing.assert_allclose(one[0], states[2], rtol=1e-5, atol=1e-6)


def test_scan_evaluates_every_fold_on_its_own_inputs(synthetic_fsdd):
    """scan computes features once per distinct standardisation and evaluates each problem with
    its own: the result equals wta_evaluate() on that problem's inputs alone."""
    frames, digits, speakers, reps = synthetic_fsdd(1)
    problems = fsdd_problems(speakers, reps)
    inputs = fsdd_problem_inputs(frames, problems)
    groups, _ = fsdd_groups(speakers, reps)
    cfg = dataclasses.replace(larger.QUICK, rel_alphas=(1e-3, 1.0))
    seen = []

    def feats(pt, x):
        seen.append(id(x))
        return x

    summary, results = evaluation.scan("test", [{}], feats, inputs, digits, groups, 18, problems, cfg)
    assert sorted(seen) == sorted({id(v) for v in inputs.values()})
    for name, prob in problems.items():
        alone = wta_evaluate(inputs[name], digits, groups, 18, {name: prob}, cfg.rel_alphas)
        assert results[0][name] == alone[name], name
