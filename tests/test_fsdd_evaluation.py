"""The spoken-digit evaluation of physnn.tasks.fsdd and the winner-take-all ridge of
physnn.readout, on small synthetic data shaped like FSDD's (no audio, no reservoir)."""

import numpy as np
import pytest

from physnn.readout import blas_threads, group_stats, ridge_fit, wta_predict, wta_ridge
from physnn.tasks.fsdd import (
    FSDD_SPEAKERS,
    fsdd_groups,
    fsdd_problem_inputs,
    fsdd_problems,
    standardise_frames,
    wta_choose,
    wta_evaluate,
)


def test_wta_ridge_matches_ridge_fit():
    """The group-statistics solve equals physnn.readout.ridge_fit on the flattened frames."""
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(40, 6, 8))
    labels = np.arange(40) % 10
    groups = np.arange(40) % 4
    stats = group_stats(feats, labels, groups, 4, 10)
    (w, b, alpha), = wta_ridge(stats, [0, 1, 2, 3], [1e-2])
    # ridge_fit solves in float64 but stores its weights as JAX arrays (float32 without x64)
    ref = ridge_fit(feats.reshape(-1, 8), np.repeat(labels, 6), alpha=alpha, classify=True)
    np.testing.assert_allclose(w, np.asarray(ref.weights), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(b, np.asarray(ref.bias), rtol=1e-5, atol=1e-8)
    # a union of groups is the solve on those sequences alone
    (w2, b2, _), = wta_ridge(stats, [1, 3], [1e-2])
    sub = np.isin(groups, [1, 3])
    (w3, b3, _), = wta_ridge(group_stats(feats[sub], labels[sub], np.zeros(sub.sum(), int), 1, 10),
                             [0], [1e-2])
    np.testing.assert_allclose(w2, w3, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b2, b3, rtol=1e-9, atol=1e-12)


def test_wta_predict_is_the_argmax_of_the_time_averaged_outputs():
    rng = np.random.default_rng(1)
    feats, w, b = rng.normal(size=(7, 5, 3)), rng.normal(size=(3, 4)), rng.normal(size=4)
    outputs = feats @ w + b  # per frame
    np.testing.assert_array_equal(wta_predict(feats.mean(1), w, b), np.argmax(outputs.mean(1), -1))


def test_problems_and_groups(synthetic_fsdd):
    _, _, speakers, reps = synthetic_fsdd()
    problems = fsdd_problems(speakers, reps)
    assert list(problems)[0] == "official" and len(problems) == 1 + len(FSDD_SPEAKERS)
    trv, val, tr, te = problems["official"]
    np.testing.assert_array_equal(te, reps < 5)
    np.testing.assert_array_equal(tr, reps >= 5)
    assert not np.any(trv & val) and np.array_equal(trv | val, tr) and not np.any(tr & te)
    trv, val, tr, te = problems["speaker_jackson"]  # speaker 1; validation: speaker 2
    np.testing.assert_array_equal(te, speakers == 1)
    np.testing.assert_array_equal(val, speakers == 2)
    groups, n_groups = fsdd_groups(speakers, reps)
    assert n_groups == 18 and groups.max() == 17
    for trv, val, tr, te in problems.values():  # every mask is a union of groups
        for mask in (trv, val, tr, te):
            inside = set(groups[mask].tolist())
            np.testing.assert_array_equal(mask, np.isin(groups, list(inside)))
    blocks, n_blocks = fsdd_groups(speakers, reps, by_speaker=False)
    assert n_blocks == 3 and set(blocks.tolist()) == {0, 1, 2}


def test_speaker_folds_are_standardised_without_the_held_out_speaker(synthetic_fsdd):
    """The standardisation of a leave-one-speaker-out fold comes from its training speakers only:
    changing the held-out speaker's frames changes none of the fold's other inputs (so neither
    its mean nor its standard deviation), while the folds that train on that speaker do change.
    The official split keeps its training-set statistics (repetitions 5-49)."""
    frames, _, speakers, reps = synthetic_fsdd()
    problems = fsdd_problems(speakers, reps)
    inputs = fsdd_problem_inputs(frames, problems)
    np.testing.assert_array_equal(inputs["official"], standardise_frames(frames, reps >= 5))
    assert len({id(v) for v in inputs.values()}) == 7  # official + one per held-out speaker
    for k, name in enumerate(FSDD_SPEAKERS):
        train = speakers != k
        x = inputs[f"speaker_{name}"]
        m, s = frames[train].mean((0, 1)), frames[train].std((0, 1))
        np.testing.assert_allclose(x, (frames - m) / s, rtol=1e-6, atol=1e-6)
        changed = frames.copy()
        changed[~train] = 10.0 * changed[~train] - 7.0  # the held-out speaker's data
        other = fsdd_problem_inputs(changed, problems)
        np.testing.assert_array_equal(other[f"speaker_{name}"][train], x[train])
        np.testing.assert_allclose(other[f"speaker_{name}"][~train], (changed[~train] - m) / s,
                                   rtol=1e-6, atol=1e-5)
        v = FSDD_SPEAKERS[(k + 1) % 6]  # a fold that trains on speaker k
        assert not np.array_equal(other[f"speaker_{v}"][speakers != k], inputs[f"speaker_{v}"][speakers != k])


def test_wta_evaluate_learns_separable_digits_and_uses_no_test_label_for_validation(synthetic_fsdd):
    rng = np.random.default_rng(2)
    _, _, speakers, reps = synthetic_fsdd()
    digits = (reps + speakers) % 10  # every digit in every training set
    centres = 3.0 * np.eye(10, 12)  # one direction per digit: linearly separable
    feats = centres[digits][:, None, :] + 0.05 * rng.normal(size=(speakers.size, 4, 12))
    groups, n_groups = fsdd_groups(speakers, reps)
    problems = fsdd_problems(speakers, reps)
    res = wta_evaluate(feats, digits, groups, n_groups, problems, [1e-6, 1e-2])
    assert set(res) == set(problems)
    for r in res.values():
        assert len(r["val"]) == len(r["test"]) == len(r["alphas"]) == 2
        assert r["test"][0] == 0.0 and r["val"][0] == 0.0  # separable classes: no error
    # other test labels change the test WER and leave the validation WER
    wrong = digits.copy()
    te = problems["official"][3]
    wrong[te] = (wrong[te] + 1) % 10
    again = wta_evaluate(feats, wrong, groups, n_groups, {"official": problems["official"]}, [1e-6])
    assert again["official"]["val"] == res["official"]["val"][:1]
    assert again["official"]["test"] == [1.0]


def test_wta_choose_prefers_lower_validation_then_earlier_point_then_larger_alpha():
    def r(*val):
        return {"p": {"val": list(val), "test": [0.0] * len(val)}}
    assert wta_choose([r(0.3, 0.2), r(0.1, 0.4)], "p") == (1, 0)
    assert wta_choose([r(0.2, 0.2), r(0.2, 0.2)], "p") == (0, 1)  # ties: first point, larger alpha
    with pytest.raises(ValueError, match="problem"):
        wta_choose([], "p")


def test_group_stats_and_wta_ridge_name_bad_arguments():
    feats = np.zeros((4, 2, 3))
    with pytest.raises(ValueError, match="labels"):
        group_stats(feats, np.array([0, 1, 2, 10]), np.zeros(4, int), 1, 10)
    with pytest.raises(ValueError, match="groups"):
        group_stats(feats, np.zeros(4, int), np.array([0, 0, 1, 2]), 2, 10)
    with pytest.raises(ValueError, match="feats"):
        group_stats(np.zeros((4, 3)), np.zeros(4, int), np.zeros(4, int), 1, 10)
    with pytest.raises(ValueError, match="train_groups"):
        wta_ridge(group_stats(feats, np.zeros(4, int), np.zeros(4, int), 1, 10), [], [1.0])


def test_blas_threads_restores_the_thread_count_and_checks_n():
    import ctypes
    import re

    def counts():
        with open("/proc/self/maps") as f:
            paths = sorted(set(re.findall(r"(/\S*openblas\S*\.so\S*)", f.read())))
        out = []
        for p in paths:
            lib = ctypes.CDLL(p)
            for get in ("openblas_get_num_threads", "scipy_openblas_get_num_threads64_",
                        "openblas_get_num_threads64_"):
                if hasattr(lib, get):
                    out.append(getattr(lib, get)())
                    break
        return out

    np.linalg.eigh(np.eye(3))  # make sure the BLAS is loaded
    before = counts()
    with blas_threads(1):
        assert all(c == 1 for c in counts())
    assert counts() == before
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="blas_threads: n"):
            with blas_threads(bad):
                pass
