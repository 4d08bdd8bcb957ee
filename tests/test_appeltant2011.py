"""The Appeltant 2011 delay-reservoir reproduction in quick mode: it runs end to end through the
CLI machinery, and what it reports is consistent (finite, better than predicting the mean, the
co-design actually moved the parameters and the delay)."""

import json

import numpy as np
import pytest

from physnn.cli import load_experiment, run_experiment


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("appeltant2011")
    return run_experiment("appeltant2011", quick=True, out=out), out


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


def test_codesign_moves_parameters_and_delay(quick):
    record, _ = quick
    cd = record["codesign"]
    assert len(cd["curve"]) == load_experiment("appeltant2011").QUICK["codesign_steps"]
    # the map phase (each step on a fresh series) lowers the loss on the fixed validation split
    assert cd["val_map"] < cd["val_start"]
    assert len(cd["curve_tau"]) == load_experiment("appeltant2011").QUICK["tau_steps"]
    assert all(np.isfinite(g) and g != 0.0 for g in cd["dloss_dtau"])  # a real tau gradient
    assert abs(cd["tau_over_theta"] - round(cd["tau_over_theta"])) > 1e-6  # tau left the grid


def test_codesign_resumes_from_its_checkpoints(quick):
    """Run again on the same output folder, the co-design finds its finished checkpoints: no
    step is trained again (the checkpoint files are not rewritten) and the result is the same."""
    import jax

    record, out = quick
    ckpts = sorted((out / "checkpoints").rglob("*.eqx"))
    assert len(ckpts) == 4  # training state and best model, for each phase
    stamps = [p.stat().st_mtime_ns for p in ckpts]
    exp = load_experiment("appeltant2011")
    with jax.enable_x64(True):
        again = exp.codesign(exp.QUICK, record["best"], out, progress=False)
    assert [p.stat().st_mtime_ns for p in ckpts] == stamps
    assert again["curve"] == record["codesign"]["curve"]
    assert again["best_step_map"] == record["codesign"]["best_step_map"]
    assert again["test_map"] == pytest.approx(record["codesign"]["test_map"], rel=1e-9)


def test_checkpoints_of_another_set_up_are_refused(quick):
    import jax

    record, out = quick
    exp = load_experiment("appeltant2011")
    other = dict(exp.QUICK, codesign_lr=0.01)
    with jax.enable_x64(True), pytest.raises(ValueError, match="codesign_lr"):
        exp.codesign(other, record["best"], out, progress=False)


def test_a_rerun_in_the_same_folder_loads_the_scans_and_the_codesign(quick, monkeypatch):
    """The same command again in the folder of a finished run (whose checkpoints are kept):
    the two scans are loaded, not computed, no co-design step is trained, and the record is the
    same, bit for bit."""
    record, out = quick
    exp = load_experiment("appeltant2011")

    def computed_again(*args, **kwargs):
        raise AssertionError("a checkpointed scan was computed again")

    monkeypatch.setattr(exp, "narma_scan", computed_again)
    monkeypatch.setattr(exp, "santafe", computed_again)
    ckpts = sorted((out / "checkpoints").rglob("*.eqx"))
    stamps = [p.stat().st_mtime_ns for p in ckpts]
    again = run_experiment("appeltant2011", quick=True, out=out)
    assert [p.stat().st_mtime_ns for p in ckpts] == stamps
    assert again["resumed"] == ["narma_scan", "santafe"] and record["resumed"] == []
    assert "resumed from the checkpoints" in again["notes"][-1]
    assert again["notes"][:-1] == record["notes"]
    for k in ("narma_grid_paper_theta", "narma_grids_theta", "best", "best_paper_theta"):
        assert again[k] == record[k], k
    assert again["metrics"] == record["metrics"] and again["codesign"] == record["codesign"]
