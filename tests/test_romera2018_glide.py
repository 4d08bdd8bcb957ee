"""physnn run romera2018-glide: the vowel network driven by swept tones (Chirps) that follow each
vowel's formants from 20 % to 80 % of its duration, read over both halves of the presentation.
The tokens line up with the steady ones, the model's tones are the chirps of its input map, the
windowed observables are the Hann-weighted means over each half, the quick run trains both
variants (slow)."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

import experiments.romera2018 as romera
import experiments.romera2018.glide as rg
import physnn as pn
from experiments.romera2018 import measure
from experiments.romera2018 import model as M
from physnn.devices.spintronic import window_weights
from physnn.tasks import load_romera

EXPERIMENT = "romera2018-glide"  # for the quick_run fixture (conftest.py)


def test_tokens_are_the_steady_tokens_at_two_moments():
    x_glide, x_steady, y, spk = rg.load_tokens(rg.QUICK)
    s = load_romera()
    assert x_glide.shape == (259, 4) and x_steady.shape == (259, 2)
    np.testing.assert_array_equal(x_steady, s.features.astype(np.float32))
    np.testing.assert_array_equal(y, s.labels)
    np.testing.assert_array_equal(spk, s.speakers)
    np.testing.assert_array_equal(x_glide[:, :2], load_romera(when="20").features.astype(np.float32))
    np.testing.assert_array_equal(x_glide[:, 2:], load_romera(when="80").features.astype(np.float32))
    with pytest.raises(ValueError, match="glide_to='50'.*miss 1 of the 259"):  # no F1/F2 at 50 %
        rg.load_tokens(dataclasses.replace(rg.QUICK, glide_to="50"))


@pytest.mark.slow
def test_glide_model_sweeps_its_tones_and_reads_both_halves():
    x, x_steady, _, _ = rg.load_tokens(rg.QUICK)
    x, x_steady = x[:6], x_steady[:6]
    m = rg.variant_model(x, rg.QUICK, "glide")
    tones = m.tones(jnp.asarray(x))
    assert isinstance(tones, pn.Chirps) and tones.sweep_time == m.t1_ns
    np.testing.assert_allclose(tones.f_start, m.tone_freqs(jnp.asarray(x[:, :2])), rtol=1e-7)
    np.testing.assert_allclose(tones.f_end, m.tone_freqs(jnp.asarray(x[:, 2:])), rtol=1e-7)
    # the input map spans the training tokens' formants at both moments
    np.testing.assert_allclose(m.f_min, np.minimum(x[:, :2].min(0), x[:, 2:].min(0)))
    feats = measure.present_features(m, jnp.asarray(x))
    assert feats.shape == (6, 2 * M.n_features()) == (6, 32)
    # each half: the Hann-weighted mean over that half of the saved trajectory
    traj, ts, _, _ = measure.solve(m, jnp.asarray(x), None, None)
    power = np.asarray(traj.obs["power"])
    first = ts <= m.t1_ns / 2
    w1 = np.asarray(window_weights(ts[first], 0.0, "hann"))
    w2 = np.asarray(window_weights(ts, m.t1_ns / 2, "hann"))
    np.testing.assert_allclose(feats[:, :4], np.tensordot(w1, power[first], 1), rtol=1e-5)
    np.testing.assert_allclose(feats[:, 16:20], np.tensordot(w2, power, 1), rtol=1e-5)
    assert not np.allclose(feats[:, :16], feats[:, 16:], atol=1e-3)
    # the second half is exactly what romera2018's one-window readout measures
    m_steady = rg.variant_model(x_steady, rg.QUICK, "steady")
    m_one = M.initial_model(x_steady, romera.QUICK, "linear")
    np.testing.assert_allclose(measure.present_features(m_steady, jnp.asarray(x_steady))[:, 16:],
                               measure.present_features(m_one, jnp.asarray(x_steady)), rtol=1e-6, atol=1e-7)
    # a glide that does not move is the steady tone (the same input map: the same formants)
    still = np.concatenate([x_steady, x_steady], 1)
    m_still = rg.variant_model(still, rg.QUICK, "glide")
    np.testing.assert_array_equal(m_still.f_min, m_steady.f_min)
    np.testing.assert_allclose(measure.present_features(m_still, jnp.asarray(still)),
                               measure.present_features(m_steady, jnp.asarray(x_steady)), atol=2e-3)


def test_bad_feature_windows_are_named():
    x = load_romera().features.astype(np.float32)[:4]
    for bad in ([], [[0.5, 0.5]], [[-0.1, 0.5]], [[0.5, 1.2]]):
        with pytest.raises(ValueError, match="feature_windows"):
            M.initial_model(x, romera.QUICK, "linear", feature_windows=bad)


@pytest.mark.slow
def test_quick_run_trains_both_variants(quick_run):
    out, rec, printed = quick_run
    m = rec["metrics"]
    assert (out / "glide.png").stat().st_size > 10_000
    for v in ("glide", "steady"):
        assert len(rec["per_seed"]["seed0"][v]["test"]) == rec["config"]["n_folds"]
        assert m[f"test_accuracy_{v}"] > 0.6  # 7 classes: chance is 0.14
        assert m[f"train_accuracy_{v}"] >= m[f"test_accuracy_{v}"] - 0.05
    # the glide carries more information about the vowel than the steady pair (the digital
    # classifiers on the same folds see it)
    assert m["test_accuracy_qda_glide"] > m["test_accuracy_qda_steady"] + 0.03
    assert np.sum(rec["confusion_test_glide"]) == 259
    assert "test_accuracy_glide" in printed and "0.88" in printed
