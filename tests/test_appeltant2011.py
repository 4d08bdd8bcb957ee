"""The Appeltant 2011 delay-reservoir reproduction in quick mode: it runs end to end through the
CLI machinery, and what it reports is consistent (finite, better than predicting the mean, the
co-design actually moved the parameters and the delay)."""

import dataclasses
import json

import numpy as np
import pytest

from experiments.appeltant2011 import QUICK, codesign, reservoir, scans
from physnn.experiment import run_experiment


@pytest.fixture(scope="module")
def quick(tmp_path_factory):  # the quick run: the tests that use it are slow
    out = tmp_path_factory.mktemp("appeltant2011")
    return run_experiment("appeltant2011", quick=True, out=out), out


@pytest.mark.slow
def test_quick_run_writes_results_and_figures(quick):
    record, out = quick
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["experiment"] == "appeltant2011" and on_disk["quick"] is True
    for f in record["figures"]:
        assert (out / f).stat().st_size > 1000
    m = record["metrics"]
    for k in ("narma10_nrmse_best_scan", "narma10_nrmse_best_scan_continuous", "narma10_nrmse_codesign",
              "santafe_nmse_best_scan", "narma10_nrmse_linear_baseline"):
        assert np.isfinite(m[k]) and m[k] > 0
    # a reservoir must beat predicting the mean (NRMSE 1) by a clear margin
    assert m["narma10_nrmse_best_scan"] < 0.6 and m["narma10_nrmse_paper_theta"] < 0.6
    assert m["santafe_nmse_best_scan"] < 0.1
    assert record["reference"]["narma10_nrmse_best_scan"] == 0.12
    assert record["reference"]["narma10_nrmse_paper_theta"] == 0.12


@pytest.mark.slow
def test_codesign_moves_parameters_and_delay(quick):
    record, _ = quick
    cd = record["codesign"]
    assert len(cd["curve"]) == QUICK.codesign_steps
    # the map phase (each step on a fresh series) lowers the loss on the fixed validation split
    assert cd["val_map"] < cd["val_start"]
    assert len(cd["curve_tau"]) == QUICK.tau_steps
    assert all(np.isfinite(g) and g != 0.0 for g in cd["dloss_dtau"])  # a real tau gradient
    assert abs(cd["tau_over_theta"] - round(cd["tau_over_theta"])) > 1e-6  # tau left the grid


@pytest.mark.slow
def test_codesign_resumes_from_its_checkpoints(quick):
    """Run again on the same output folder, the co-design finds its finished checkpoints: no
    step is trained again (the checkpoint files are not rewritten) and the result is the same.
    (appeltant2011's own selection checkpoints, selection.json and best.eqx, beside fit's.)"""
    import jax

    record, out = quick
    ckpts = sorted((out / "checkpoints").rglob("*.eqx"))
    assert len(ckpts) == 4  # training state and best model, for each phase
    stamps = [p.stat().st_mtime_ns for p in ckpts]
    with jax.enable_x64(True):
        again = codesign.train_codesign(QUICK, record["best"], out, progress=False)
    assert [p.stat().st_mtime_ns for p in ckpts] == stamps
    assert again["curve"] == record["codesign"]["curve"]
    assert again["best_step_map"] == record["codesign"]["best_step_map"]
    assert again["test_map"] == pytest.approx(record["codesign"]["test_map"], rel=1e-9)


@pytest.mark.slow
def test_checkpoints_of_another_set_up_are_refused(quick):
    import jax

    record, out = quick
    other = dataclasses.replace(QUICK, codesign_lr=0.01)
    with jax.enable_x64(True), pytest.raises(ValueError, match="codesign_lr"):
        codesign.train_codesign(other, record["best"], out, progress=False)


# --------------------------------------------------------------------------------------------
# The node's pole: a scan point that crosses it is diverged, never chosen; the co-design skips
# or stops (small set-ups, without the quick run)
# --------------------------------------------------------------------------------------------

_SMALL = dataclasses.replace(QUICK, n_nodes=20, theta=0.2, p=1.0, mask_amp=0.1, seed=0)


class _Bar:
    def update(self):
        pass


@pytest.mark.slow  # 6-8 s: a scan and a continuous solve compiled in float64
def test_a_scan_point_across_the_pole_is_diverged_and_not_chosen():
    """gamma = 30 drives z = X + gamma J past -1 (the old formula went through the pole and
    scored the point); the grid marks it NaN and nanargmin picks the valid point."""
    import jax

    from physnn.tasks import narma10

    u, y = narma10(400, seed=0, washout=200)
    fit, val = slice(50, 300), slice(300, 400)
    with jax.enable_x64(True):
        grid = scans.validation_grid(_SMALL, u, y, fit, val, 0.2, [0.5], [0.1, 30.0], 1, _Bar())
        assert np.isfinite(grid[0, 0]) and np.isnan(grid[0, 1])
        assert np.unravel_index(np.nanargmin(grid), grid.shape) == (0, 0)
        node = reservoir.make_node(_SMALL, 0.5, 30.0, 1)
        for continuous in (False, True):  # the continuous solve's SimulationError, the same way
            with pytest.raises(FloatingPointError, match="non-finite"):
                reservoir.node_features(node, u, reservoir.make_mask(_SMALL), 0.2, continuous=continuous)


@pytest.mark.slow  # 6-8 s: a scan and a continuous solve compiled in float64
def test_the_santafe_scan_skips_a_point_across_the_pole():
    import jax

    cfg = dataclasses.replace(_SMALL, santafe_train=300, santafe_test=100, santafe_etas=(0.5,),
                              santafe_gammas=(0.3, 30.0))
    with jax.enable_x64(True):
        sf = scans.santafe(cfg, progress=False)
    assert (sf["eta"], sf["gamma"]) == (0.5, 0.3) and np.isfinite(sf["test_nmse"])


def _small_codesign_problem():
    """A 20-node map reservoir on a 60-sample series, and its readout loss with a finite flag."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    import physnn as pn

    rng = np.random.default_rng(0)
    u, y = jnp.asarray(rng.uniform(0, 0.5, 60)), jnp.asarray(rng.normal(size=60))
    mask = jnp.asarray(np.where(rng.random(20) > 0.5, 0.5, -0.5))

    def node(eta, gamma):
        return pn.MackeyGlassNode(eta=eta, gamma=gamma, n_nodes=20, theta=0.5, desync=1)

    def loss(model, b):
        nd, mk = model
        nd = eqx.tree_at(lambda m: m.delay, nd, 21 * 0.5)  # concrete, for the map
        x = pn.node_states(pn.delay_map(nd, pn.Masked(b[0], mk, 0.5)), 20)
        val = codesign.readout_loss(x[10:40], b[1][10:40], x[40:], b[1][40:])
        return val, jnp.all(jnp.isfinite(x)) & jnp.isfinite(val)

    return jax, jnp, pn, u, y, mask, node, loss


@pytest.mark.slow
def test_the_codesign_loss_skips_a_series_across_the_pole():
    """On a valid series the guarded loss and its gradient are the loss's own, bit for bit; on a
    series whose node crosses the pole the loss is 1, flagged, with a zero (not NaN) gradient."""
    import equinox as eqx

    jax, jnp, pn, u, y, mask, node, loss = _small_codesign_problem()
    guarded = codesign.skip_diverged(loss)
    with jax.enable_x64(True):
        valid = (node(0.5, 0.3), mask)
        plain = eqx.filter_value_and_grad(lambda m: loss(m, (u, y))[0])(valid)
        mine = eqx.filter_value_and_grad(lambda m: guarded(m, (u, y))[0])(valid)
        for a, b in zip(jax.tree_util.tree_leaves(plain), jax.tree_util.tree_leaves(mine), strict=True):
            np.testing.assert_array_equal(a, b)
        assert float(guarded(valid, (u, y))[1]) == 0.0
        crossing = (node(0.9, 4.0), mask)
        assert not np.isfinite(float(loss(crossing, (u, y))[0]))
        value, grads = eqx.filter_value_and_grad(lambda m: guarded(m, (u, y))[0])(crossing)
        assert float(value) == 1.0 and float(guarded(crossing, (u, y))[1]) == 1.0
        assert all(np.all(np.asarray(g) == 0.0) for g in jax.tree_util.tree_leaves(grads))


def test_codesign_training_stops_where_the_integrator_diverges(tmp_path):
    """A step whose continuous solve crosses the pole (simulate's error inside fit) ends the
    training at the last completed chunk; the best state so far is returned, with the history up
    to there, and a second call (resume) gives the same."""
    import optax

    jax, jnp, pn, u, y, mask, node, _ = _small_codesign_problem()

    def loss_ode(model, b, key):
        nd, mk = model
        x = pn.simulate(nd, pn.Masked(b, mk, 0.5), dt=0.25, observe=False).ys
        return jnp.mean(x ** 2)

    def data(step, key):  # from step 3 on, inputs that drive the node across the pole
        return u * (1.0 if step < 3 else 30.0)

    model = (node(0.5, 1.0), mask)
    spec = codesign.trainable(model, ("eta", "gamma"))
    with jax.enable_x64(True):
        args = (model, loss_ode, data, optax.adam(1e-3), 6, 2, jax.random.key(0), tmp_path / "c",
                lambda m: float(m[0].eta), False, spec)
        best, hist, scores, best_step, stopped = codesign.fit_select(*args)
        assert stopped["after_step"] == 2 and "non-finite" in stopped["error"]
        assert [s for s, _ in scores] == [0, 2] and len(hist["loss"]) == 2
        again = codesign.fit_select(*args)
        assert again[4] == stopped and again[1]["loss"] == hist["loss"] and again[2] == scores
