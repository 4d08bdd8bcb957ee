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


def test_bench_lists_the_benchmarks_and_runs_one_with_its_arguments(tmp_path, monkeypatch, capsys):
    assert cli.main(["bench"]) == 0
    out = capsys.readouterr().out
    shipped = sorted(p.stem.removeprefix("bench_") for p in
                     (cli.Path(cli.__file__).resolve().parent.parent / "benchmarks").glob("bench_*.py"))
    assert {"sto", "delay", "parallel", "romera"} <= set(shipped)
    for name in shipped:
        assert f"\n{name} " in "\n" + out
    assert "physnn vs scipy" in out  # the docstring's first paragraph, read without importing
    # a benchmark runs in a child Python, from the folder above benchmarks/, with the remaining
    # arguments, and its exit status is the command's
    folder = tmp_path / "benchmarks"
    folder.mkdir()
    (folder / "bench_echo.py").write_text(
        '"""Benchmark: echo its arguments."""\n'
        "import os, sys, json\n"
        "open('seen.json', 'w').write(json.dumps([sys.argv[1:], os.getcwd()]))\n"
        "sys.exit(3)\n")
    monkeypatch.setenv("PHYSNN_BENCHMARKS", str(folder))
    assert cli.main(["bench"]) == 0
    assert "echo  echo its arguments." in capsys.readouterr().out  # padded to the longest name
    assert cli.main(["bench", "echo", "--quick", "--repeats", "2"]) == 3
    args, cwd = json.loads((tmp_path / "seen.json").read_text())
    assert args == ["--quick", "--repeats", "2"] and cli.Path(cwd) == tmp_path
    with pytest.raises(SystemExit):
        cli.main(["bench", "nope"])
    assert "unknown benchmark 'nope'; choose from echo" in capsys.readouterr().err
    # without a benchmarks/ folder (an installed package, elsewhere): a message, not a traceback
    monkeypatch.setenv("PHYSNN_BENCHMARKS", str(tmp_path / "missing"))
    monkeypatch.setattr(cli, "__file__", str(tmp_path / "pkg" / "physnn" / "cli.py"))
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    with pytest.raises(SystemExit):
        cli.main(["bench"])
    assert "cannot find the benchmarks/ folder" in capsys.readouterr().err


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


def test_loading_an_experiment_leaves_the_matplotlib_backend_alone():
    """A notebook's inline backend must survive cli.load_experiment (the experiments used to
    switch it to Agg on import, and a notebook then showed none of its figures); `physnn run`
    itself writes figures with Agg."""
    import subprocess
    import sys

    code = ("import matplotlib; matplotlib.use('pdf'); from physnn import cli\n"
            "for name in cli.EXPERIMENTS: cli.load_experiment(name)\n"
            "print(matplotlib.get_backend())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "pdf"


def test_set_replaces_configuration_values_and_names_bad_ones(tmp_path, capsys):
    """``physnn run NAME --set KEY=VALUE``: JSON values of the default's kind; the record holds
    the values used and the replaced ones; unknown keys, values of another kind and a missing
    ``=`` are errors that name them."""
    argv = ["run", "sto-locking", "--quick", "--out", str(tmp_path),
            "--set", "amplitudes_ma=[0.1, 0.3]", "--set", "n_detunings=25"]
    assert cli.main(argv) == 0
    rec = json.loads((tmp_path / "results.json").read_text())
    assert rec["config"]["amplitudes_ma"] == [0.1, 0.3] and rec["config"]["n_detunings"] == 25
    assert rec["overrides"] == {"amplitudes_ma": [0.1, 0.3], "n_detunings": 25}
    assert rec["config"]["span"] == 1.6  # the rest as in QUICK
    assert sorted(rec["per_amplitude"]) == ["0.1", "0.3"]  # the run used them
    capsys.readouterr()
    for bad, words in (("temprature_k=300", ["no configuration key 'temprature_k'", "temperature_k"]),
                       ("amplitudes_ma=0.2", ["expected a JSON list", "[0.1, 0.2, 0.3, 0.4]"]),
                       ("n_detunings=many", ["expected a number"]),
                       ("n_detunings", ["expected KEY=VALUE"]),
                       ("temperature_k=NaN", ["NaN and infinities are not accepted"]),
                       ("span=Infinity", ["NaN and infinities are not accepted"]),
                       ("n_detunings=49.5", ["expected a whole number", "default 49"]),
                       ("span=null", ["null is accepted only"])):
        with pytest.raises(SystemExit):
            cli.main(["run", "sto-locking", "--quick", "--out", str(tmp_path), "--set", bad])
        err = capsys.readouterr().err
        for w in words:
            assert w in err, (bad, err)
    with pytest.raises(ValueError, match="no configuration key 'nope'"):
        cli.run_experiment("sto-locking", quick=True, out=tmp_path, overrides={"nope": 1})
