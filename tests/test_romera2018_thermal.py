"""physnn run romera2018-thermal: the vowel network tested with thermal noise. At 0 K it
classifies exactly as romera2018 does; at a temperature the noise is repeatable for a key, fresh
for another, and growing with the temperature as the linewidth does; the quick run trains the four models
and records recognition and linewidth per temperature (slow); bad configurations are named."""

import dataclasses

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pytest

import experiments.romera2018 as romera
import experiments.romera2018.thermal as rt
from experiments.romera2018 import gradient, measure
from experiments.romera2018 import model as M
from physnn.tasks import load_romera

EXPERIMENT = "romera2018-thermal"  # for the quick_run fixture (conftest.py)


@pytest.fixture(scope="module")
def small():
    d = load_romera()
    return d.features.astype(np.float32), d.labels


@pytest.mark.slow
def test_at_zero_kelvin_it_classifies_as_romera2018(small):
    x, y = small
    for mode in ("linear", "pattern"):
        m = M.initial_model(x, romera.QUICK, mode)
        # a readout that is not constant, so that the measurement matters
        if mode == "pattern":
            m = eqx.tree_at(lambda n: n.table, m, jnp.arange(25, dtype=jnp.int32) % 7)
        else:
            m = gradient.fit_readout(m, x[:40], y[:40], romera.QUICK)
        want = measure.predict_formants(m, x[:40])
        got = rt.predict_at(m, x[:40], 0.0, rt.noise_key(rt.QUICK, 0, 0))
        np.testing.assert_array_equal(got, want)
        assert len(np.unique(want)) > 1


@pytest.mark.slow
def test_the_0k_train_accuracy_of_a_model_trained_through_the_noise_is_taken_at_0k(small):
    """A model trained at 300 K keeps its temperature; its recorded "0 K" train accuracy must be
    measured with the oscillators at 0 K, not with one noise draw at 300 K."""
    x, y = small
    m = gradient.fit_readout(M.initial_model(x, romera.QUICK, "linear"), x[:40], y[:40], romera.QUICK)
    hot = rt.at_temperature(m, 300.0)
    want = float(np.mean(measure.predict_formants(m, x[:40]) == y[:40]))
    assert rt.accuracy_at_0k(hot, x[:40], y[:40]) == want
    # the noise at 300 K does change the predictions, so the check above can tell them apart
    assert not np.array_equal(measure.predict_formants(hot, x[:40]), measure.predict_formants(m, x[:40]))


@pytest.mark.slow
def test_thermal_noise_is_repeatable_per_key_and_grows_with_the_temperature(small):
    x, y = small
    m = M.initial_model(x, romera.QUICK, "linear")
    hot = rt.at_temperature(m, 300.0)
    np.testing.assert_array_equal(np.asarray(hot.sto.temperature_k), 300.0)
    assert float(m.sto.temperature_k[0]) == 0.0  # the model itself is unchanged
    # linewidth proportional to T (Kim, Tiberkevich & Slavin: D = Gamma (1 + Q p0) k_B T / E0)
    lw = [np.asarray(rt.at_temperature(m, t).sto.linewidth_ghz()) for t in (30.0, 300.0)]
    np.testing.assert_allclose(lw[1], 10 * lw[0], rtol=1e-5)
    xs = jnp.asarray(x[:8])
    k0, k1 = rt.noise_key(rt.QUICK, 0, 0), rt.noise_key(rt.QUICK, 0, 1)
    f0 = measure.present_features(hot, xs, key=k0)
    np.testing.assert_array_equal(f0, measure.present_features(hot, xs, key=k0))  # repeatable
    f1 = measure.present_features(hot, xs, key=k1)
    cold = measure.present_features(m, xs)
    assert not np.allclose(f0, f1, atol=1e-4)  # a fresh realisation
    # the noise moves the observables by a small amount at 3 K and more at 300 K
    warm = measure.present_features(rt.at_temperature(m, 3.0), xs, key=k0)
    d3, d300 = np.abs(warm - cold).mean(), np.abs(f0 - cold).mean()
    assert 0 < d3 < d300
    # (the linewidth formula itself against simulated phase diffusion: tests/test_sto.py)


def test_bad_configurations_are_named():
    for key, bad in (("temperatures", []), ("temperatures", [-1.0]), ("temperatures", [np.nan]),
                     ("draws", 0), ("draws", 1.5), ("train_temperature_k", 0.0)):
        with pytest.raises(ValueError, match=key):
            rt.check_config(dataclasses.replace(rt.QUICK, **{key: bad}))


@pytest.mark.slow
def test_quick_run_records_recognition_and_linewidth_per_temperature(quick_run):
    out, rec, printed = quick_run
    m = rec["metrics"]
    assert (out / "thermal.png").stat().st_size > 10_000
    for name in ("a", "a_noisy", "b", "b_noisy"):
        assert m[f"test_accuracy_{name}_0K"] > 0.6  # 7 classes: chance is 0.14
        assert m[f"test_accuracy_{name}_0K_draw_std"] == 0.0  # deterministic at 0 K
        assert 0.14 < m[f"test_accuracy_{name}_300K"] < 1.0
        assert m[f"test_accuracy_{name}_300K_draw_std"] >= 0.0
        assert len(rec["per_fold"][name]) == rec["config"]["n_folds"]
    assert m["linewidth_mhz_0K"] == 0.0
    assert 1.0 < m["linewidth_mhz_300K"] < 20.0  # MHz, with the default mode energy
    assert 1.0 < m["lock_halfwidth_mhz"] < 20.0
    assert "test_accuracy_a_300K" in printed and "0.88" in printed
