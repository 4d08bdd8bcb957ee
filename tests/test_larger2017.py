"""The larger2017 spoken-digit experiment: quick mode runs and its results are sane, and a second
run in its folder resumes every stage."""

import json
import math

import numpy as np
import pytest

from physnn.cli import load_experiment
from physnn.readout import ridge_fit

CHANCE = 0.9  # WER of guessing among 10 digits


EXPERIMENT = "larger2017"  # for the quick_run fixture (conftest.py)


@pytest.fixture(scope="module")
def quick(quick_run):
    out, record, _ = quick_run
    return out, record


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


def test_wers_better_than_chance(quick):
    m = quick[1]["metrics"]
    for split in ("official", "speaker"):
        for system in ("front_end", "front_end_sequence", "ikeda", "mackey_glass"):
            wer = m[f"wer_{split}_{system}"]
            assert math.isfinite(wer) and 0.0 <= wer < CHANCE - 0.2, (split, system, wer)
    assert m["words_per_s_ikeda"] > 0 and m["energy_per_word_j_ikeda"] > 0
    assert m["map_vs_continuous_prediction_agreement"] >= 0.75
    assert m["map_vs_continuous_max_state_diff"] < 0.1


def test_feature_shapes(quick):
    record = quick[1]
    mod = load_experiment("larger2017")
    cfg = dict(mod.QUICK)
    x, digits, speakers, reps, _ = mod.load_inputs(cfg)
    assert x.shape == (len(digits), cfg["n_frames"], cfg["n_mfcc"])
    assert list(x.shape) == record["feature_shapes"]["inputs"]
    sub = x[:5]
    node = mod.ikeda_node(cfg, 0.8, 0.5, -0.785, 2.5)
    states = mod.reservoir_states(node, sub, mod.make_mask(cfg, cfg["n_mfcc"]))
    assert states.shape == (5, cfg["n_frames"], cfg["n_nodes"])
    assert np.all(np.isfinite(states))
    # one batched call gives the same states as a single utterance (no cross-talk in the batch)
    one = mod.reservoir_states(node, sub[2:3], mod.make_mask(cfg, cfg["n_mfcc"]))
    np.testing.assert_allclose(one[0], states[2], rtol=1e-5, atol=1e-6)


def test_wta_ridge_matches_ridge_fit():
    """The group-statistics solve equals physnn.readout.ridge_fit on the flattened frames."""
    mod = load_experiment("larger2017")
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(40, 6, 8))
    labels = np.arange(40) % 10
    groups = np.arange(40) % 4
    stats = mod.group_stats(feats, labels, groups, 4)
    (w, b, alpha), = mod.wta_ridge(stats, [0, 1, 2, 3], [1e-2])
    # ridge_fit solves in float64 but stores its weights as JAX arrays (float32 without x64)
    ref = ridge_fit(feats.reshape(-1, 8), np.repeat(labels, 6), alpha=alpha, classify=True)
    np.testing.assert_allclose(w, np.asarray(ref.weights), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(b, np.asarray(ref.bias), rtol=1e-5, atol=1e-8)


def test_a_rerun_in_the_same_folder_resumes_every_stage(rerun_resumes_every_stage):
    """With every checkpoint of a finished run in its folder, the same command computes no
    reservoir state and writes the same record bit for bit."""
    rerun_resumes_every_stage(["front_end", "front_end_sequence", "ikeda", "mackey_glass",
                               "continuous_check"], ["_scan", "continuous_check"])
