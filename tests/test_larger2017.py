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


def _synthetic_fsdd(seed=0):
    """Frames, digits, speakers and repetitions shaped like FSDD's (6 speakers, reps 0-14)."""
    rng = np.random.default_rng(seed)
    speakers, reps = np.meshgrid(np.arange(6), np.arange(15), indexing="ij")
    speakers, reps = speakers.ravel(), reps.ravel()
    frames = rng.normal(2.0, 3.0, (speakers.size, 4, 3)) + speakers[:, None, None]
    return frames, rng.integers(0, 10, speakers.size), speakers, reps


def test_speaker_folds_are_standardised_without_the_held_out_speaker():
    """The standardisation of a leave-one-speaker-out fold comes from its training speakers only:
    changing the held-out speaker's frames changes none of the fold's other inputs (so neither
    its mean nor its standard deviation), while the folds that train on that speaker do change.
    The official split keeps its training-set statistics (repetitions 5-49)."""
    mod = load_experiment("larger2017")
    frames, _, speakers, reps = _synthetic_fsdd()
    problems = mod.splits(speakers, reps)
    inputs = mod.split_inputs(frames, problems)
    np.testing.assert_array_equal(inputs["official"], mod.standardise(frames, reps >= 5))
    assert len({id(v) for v in inputs.values()}) == 7  # official + one per held-out speaker
    for k, name in enumerate(mod.FSDD_SPEAKERS):
        train = speakers != k
        x = inputs[f"speaker_{name}"]
        m, s = frames[train].mean((0, 1)), frames[train].std((0, 1))
        np.testing.assert_allclose(x, (frames - m) / s, rtol=1e-6, atol=1e-6)
        changed = frames.copy()
        changed[~train] = 10.0 * changed[~train] - 7.0  # the held-out speaker's data
        other = mod.split_inputs(changed, problems)
        np.testing.assert_array_equal(other[f"speaker_{name}"][train], x[train])
        np.testing.assert_allclose(other[f"speaker_{name}"][~train], (changed[~train] - m) / s,
                                   rtol=1e-6, atol=1e-5)
        v = mod.FSDD_SPEAKERS[(k + 1) % 6]  # a fold that trains on speaker k
        assert not np.array_equal(other[f"speaker_{v}"][speakers != k], inputs[f"speaker_{v}"][speakers != k])


def test_scan_evaluates_every_fold_on_its_own_inputs():
    """_scan computes features once per distinct standardisation and evaluates each problem with
    its own: the result equals evaluate() on that problem's inputs alone."""
    mod = load_experiment("larger2017")
    frames, digits, speakers, reps = _synthetic_fsdd(1)
    problems = mod.splits(speakers, reps)
    inputs = mod.split_inputs(frames, problems)
    groups = speakers * 3 + np.where(reps < 5, 0, np.where(reps < 10, 1, 2))
    cfg = {"rel_alphas": [1e-3, 1.0]}
    seen = []

    def feats(pt, x):
        seen.append(id(x))
        return x

    summary, results = mod._scan("test", [{}], feats, inputs, digits, groups, 18, problems, cfg)
    assert sorted(seen) == sorted({id(v) for v in inputs.values()})
    for name, prob in problems.items():
        alone = mod.evaluate(inputs[name], digits, groups, 18, {name: prob}, cfg["rel_alphas"])
        assert results[0][name] == alone[name], name
