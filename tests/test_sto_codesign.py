"""physnn run sto-codesign: a design trained across fabricated chips, through the solve, lands on
the closed-form optimum of the expected figure of merit, and beats the design trained on the
nominal device alone on chips neither has seen."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import experiments.sto_codesign as sc
from physnn import codesign

EXPERIMENT = "sto-codesign"  # for the quick_run fixture (conftest.py)


@pytest.mark.slow  # an experiment's internals, 6-11 s of compilation
def test_the_objective_through_the_solve_is_the_closed_form_on_the_same_chips():
    config, weight, key = sc.QUICK, 0.3, jax.random.key(3)
    dev = sc.device()
    j, (f, watts) = sc.objective(dev, key, 16, weight, config)
    chips = codesign.fabricate(dev, key, {"current_ma": config.spread}, 16, distribution="lognormal")
    f_closed = chips.free_running_frequency_ghz()[:, 0]
    np.testing.assert_allclose(np.asarray(f), np.asarray(f_closed), rtol=0, atol=1e-6)  # 1 kHz
    p_closed = chips.current_ma[:, 0] ** 2 * 50.0 * 1e-6
    np.testing.assert_allclose(np.asarray(watts), np.asarray(p_closed), rtol=1e-5)
    j_closed = jnp.mean(((f_closed - 0.308) * 1e3) ** 2) + weight * jnp.mean(p_closed) * 1e3
    assert float(j) == pytest.approx(float(j_closed), rel=1e-3)
    # the expectation by quadrature against the mean over many chips drawn by fabricate
    many = codesign.fabricate(dev, key, {"current_ma": config.spread}, 20000, distribution="lognormal")
    fm = many.free_running_frequency_ghz()[:, 0]
    err2 = ((fm - 0.308) * 1e3) ** 2
    _, e_err2, e_power = sc.expected_objective(7.5, 0.05, weight, config)
    assert float(e_err2) == pytest.approx(float(err2.mean()), abs=5 * float(err2.std()) / np.sqrt(20000))
    pm = many.current_ma[:, 0] ** 2 * 50.0 * 1e-3
    assert float(e_power) == pytest.approx(float(pm.mean()), abs=5 * float(pm.std()) / np.sqrt(20000))


@pytest.mark.slow
def test_quick_run_finds_the_closed_form_optimum_and_beats_the_nominal_design(quick_run):
    out, rec, printed = quick_run
    config = sc.QUICK
    assert rec["config"]["weights"] == list(config.weights)
    assert "excess_over_optimum_max" in printed
    assert (out / "codesign_pareto.png").stat().st_size > 10_000
    for row in rec["weights"]:
        w, best = row["weight"], row["closed_form"]["J"]
        robust, nominal = row["across_chips"], row["nominal"]
        start = float(sc.expected_objective(7.5, 0.05, w, config)[0]) / best - 1
        excess = robust["J_expected"] / best - 1
        # trained across chips, within 5 % of the optimum's J and 3 times closer than the start
        assert -1e-3 < excess < min(0.05, start / 3), (w, excess, start)
        # trained on the nominal device: a lower current, toward the bound, and worse across chips
        assert 6.5 <= nominal["current_ma"] < robust["current_ma"]
        assert nominal["J_expected"] > robust["J_expected"]
        assert nominal["J_heldout"] > robust["J_heldout"]
    # dearer power, less current at the optimum
    assert np.all(np.diff([r["closed_form"]["current_ma"] for r in rec["weights"]]) < 0)
    assert rec["metrics"]["heldout_J_nominal_over_across_chips_min"] > 1
