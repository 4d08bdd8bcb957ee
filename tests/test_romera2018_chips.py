"""physnn run romera2018-chips: readout (b) of the vowel network on fabricated chips. The chip's
observables feed the loss and the nominal network's Jacobian the gradient (checked against the
nominal network's own derivatives); a spread of 1 % in the oscillators' frequencies
costs the in-silico model accuracy, which a refitted readout wins back; in-situ training keeps the
chip's training accuracy far above the deployed model's (slow)."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import experiments.romera2018.chips as rc
from experiments.romera2018 import chips_training, gradient, measure
from experiments.romera2018 import model as M
from physnn import codesign
from physnn.tasks import load_romera

EXPERIMENT = "romera2018-chips"  # for the quick_run fixture (conftest.py)


@pytest.mark.slow
def test_chip_features_measure_the_chip_and_differentiate_the_chosen_network():
    """CHIP_FEATURES[False] returns the chip's observables and, for an objective linear in them,
    exactly the nominal network's gradient; CHIP_FEATURES[True] returns the same observables."""
    x = load_romera().features.astype(np.float32)[:8]
    model = M.initial_model(x, rc.QUICK, "linear")
    chip = chips_training.draw_chips(model.sto, dataclasses.replace(rc.QUICK, chips=1), fold=0)[0]
    assert not np.allclose(chip["f0_ghz"], np.asarray(model.sto.f0_ghz))
    xs, key = jnp.asarray(x), jax.random.key(0)
    w = jax.random.normal(jax.random.key(1), (8, M.n_features()))

    def grad_of(features):
        return eqx.filter_grad(lambda m: jnp.sum(w * features(m)))(model)

    on_chip = lambda m: measure.present_features(chips_training.on_chip(m, chip), xs, key=key)  # noqa: E731
    nominal = lambda m: measure.present_features(m, xs, key=key)  # noqa: E731
    in_situ = lambda m: chips_training.CHIP_FEATURES[False](m, xs, key=key, chip=chip)  # noqa: E731
    exact = lambda m: chips_training.CHIP_FEATURES[True](m, xs, key=key, chip=chip)  # noqa: E731
    np.testing.assert_array_equal(in_situ(model), on_chip(model))
    np.testing.assert_array_equal(exact(model), on_chip(model))
    assert not np.allclose(in_situ(model), nominal(model), atol=1e-3)
    g_in_situ, g_nominal = grad_of(in_situ), grad_of(nominal)
    for name in ("current_ma", "coupling"):
        np.testing.assert_allclose(getattr(g_in_situ.sto, name), getattr(g_nominal.sto, name),
                                   rtol=1e-5, atol=1e-7)
    for name in ("enc_scale", "enc_offset", "enc_log_gain"):
        np.testing.assert_allclose(getattr(g_in_situ, name), getattr(g_nominal, name), rtol=1e-5, atol=1e-7)
    assert float(jnp.abs(g_in_situ.sto.current_ma).max()) > 0
    # (that CHIP_FEATURES[True], physics_aware(f, f), is the chip's own gradient is what
    # test_physics_aware.py checks against central differences)


@pytest.mark.slow
def test_in_situ_training_scales_every_learning_rate_by_pat_lr_scale():
    """One Adam step on a unit gradient moves every group by its learning rate: in situ, the
    currents, the coupling and the input map each move by pat_lr_scale times (b)'s step (the
    currents' and coupling's rates are multiples of grad_lr, so they are scaled once, not twice)."""
    model = M.initial_model(load_romera().features.astype(np.float32)[:8], rc.QUICK, "linear")
    params = eqx.filter(model, gradient.trainable(model))
    ones = jax.tree_util.tree_map(jnp.ones_like, params)

    def first_step(opt):
        upd, _ = opt.update(ones, opt.init(params), params)
        return upd

    cfg = rc.QUICK
    b = first_step(gradient.optimizer(cfg.grad_lr, cfg.grad_lr_current, cfg.grad_lr_coupling,
                                      cfg.pat_steps))
    situ = first_step(chips_training.in_situ_optimizer(cfg))
    k = cfg.pat_lr_scale
    for get in (lambda m: m.sto.current_ma, lambda m: m.sto.coupling, lambda m: m.enc_scale):
        np.testing.assert_allclose(np.asarray(get(situ)), k * np.asarray(get(b)), rtol=1e-4)
        assert float(jnp.max(jnp.abs(get(b)))) > 0


@pytest.mark.slow
def test_quick_run_spread_costs_accuracy_and_a_refit_wins_it_back(quick_run):
    out, rec, printed = quick_run
    m, lv = rec["metrics"], rec["levels"]["x1"]
    assert (out / "chips.png").stat().st_size > 10_000
    assert m["n_chips_per_level"] == len(rec["chips"]) == 2
    # a 1 % spread of f0 is 3 MHz, of the order of the oscillators' locking half-width (5 MHz)
    assert 2.0 < m["chip_frequency_offset_rms_mhz_x1"] < 6.0
    assert m["test_accuracy_deployed_x1"] < m["test_accuracy_nominal"] - 0.05
    assert m["test_accuracy_refit_x1"] > m["test_accuracy_deployed_x1"] + 0.05
    # in situ starts from the refit, far above the deployed model on the chip's training tokens
    assert lv["in_situ"]["train_mean"] > lv["deployed"]["train_mean"] + 0.05
    assert set(lv) >= {"deployed", "refit", "in_situ", "in_situ_exact", "robust", "robust_refit"}
    for row in rec["chips"]:
        for name in ("in_situ", "in_situ_exact"):
            loss = row["curves"][name]["loss"]
            assert len(loss) == rec["config"]["pat_steps"] and np.all(np.isfinite(loss))
    assert "test_accuracy_in_situ_x1" in printed


@pytest.mark.slow
def test_chips_in_one_solve_are_the_chips_one_by_one():
    """train_robust's loss presents every token to every chip in one solve (fabricate's chips
    axis against the tokens' batch): each chip's observables must be those of that chip alone."""
    x = jnp.asarray(load_romera().features.astype(np.float32)[:8])
    model = M.initial_model(np.asarray(x), rc.QUICK, "linear")
    key = jax.random.key(3)
    spread = chips_training.spreads(rc.QUICK)
    chips = codesign.fabricate(model.sto, key, spread, 3, batch_ndim=1)
    together = measure.present_features(model, x, sto=chips)
    assert together.shape == (3, 8, M.n_features())
    one = codesign.fabricate(model.sto, key, spread, 3)
    for c in range(3):
        chip = {n: getattr(one, n)[c] for n in chips_training.SPREAD}
        alone = measure.present_features(chips_training.on_chip(model, chip), x)
        np.testing.assert_allclose(together[c], alone, rtol=1e-4, atol=1e-5)
    assert not np.allclose(together[0], together[1], atol=1e-3)
