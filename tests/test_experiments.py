"""End-to-end: the CLI runs the quick experiments and they reach their numbers."""

import json

import pytest

from physnn import cli


def test_list_names_every_experiment(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in cli.EXPERIMENTS:
        assert name in out


def test_sto_locking_quick(tmp_path, capsys):
    assert cli.main(["run", "sto-locking", "--quick", "--out", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert "locking_half_width_per_ma_mhz" in table and "reference" in table
    rec = json.loads((tmp_path / "results.json").read_text())
    for key in ("experiment", "quick", "metrics", "reference", "config", "wall_s", "versions"):
        assert key in rec
    assert rec["experiment"] == "sto-locking" and rec["quick"] is True
    assert {"physnn", "jax", "jaxlib", "numpy", "cpu"} <= set(rec["versions"])
    assert (tmp_path / "arnold_tongue.png").stat().st_size > 10_000
    m = rec["metrics"]
    # The measured band may only be wider than theory by the window bias (see the notes),
    # never narrower by more than the edge resolution.
    assert m["measured_over_theory_weak_forcing_min"] > 0.98
    assert m["measured_over_theory_weak_forcing_max"] < 1.1
    # amplitude-phase coupling widens the tongue ~sqrt(1 + nu^2) = 5.3 times beyond Adler's
    assert m["widening_over_adler"] == pytest.approx(rec["reference"]["widening_over_adler"], rel=0.05)


def test_unknown_experiment_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown experiment 'nope'"):
        cli.load_experiment("nope")


@pytest.mark.parametrize("message,code", [("received SIGTERM", 143), ("", 130)])
def test_an_interrupted_run_says_how_to_resume(tmp_path, capsys, monkeypatch, message, code):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt(message)

    monkeypatch.setattr(cli, "run_experiment", interrupted)
    argv = ["run", "sto-locking", "--out", str(tmp_path)]
    assert cli.main(argv) == code
    err = capsys.readouterr().err
    assert "sto-locking interrupted" in err and "no checkpoint was written" in err
    (tmp_path / "checkpoints").mkdir()
    assert cli.main(argv) == code
    assert f"the same command resumes from the checkpoints in {tmp_path / 'checkpoints'}" in (
        capsys.readouterr().err)
