"""The command line and the experiment plumbing: discovery, typed configurations, records,
errors without tracebacks; and sto-locking's quick run end to end."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from physnn import __version__, cli, experiment
from physnn.checkpoint import config_dict

ROOT = Path(__file__).resolve().parent.parent
NAMES = ["sto-locking", "sto-codesign", "romera2018", "romera2018-chips", "romera2018-glide",
         "romera2018-thermal", "appeltant2011", "larger2017", "kumar2017", "parihar2017",
         "mott-memory", "coulombe2017", "dion2018", "torrejon2017"]


def test_list_names_every_experiment(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert sorted(experiment.discover()) == sorted(NAMES)
    for name, (module, desc) in experiment.discover().items():
        assert f"{name}  " in out and desc in out and module.startswith("experiments.")


def test_one_name_per_experiment_across_package_test_file_and_record_folder():
    """CLI name romera2018-chips <-> module experiments.romera2018.chips <-> tests/
    test_romera2018_chips.py <-> records/romera2018-chips/; no experiment file over 400 lines."""
    for name, (module, _) in experiment.discover().items():
        parts = module.split(".")[1:]
        assert "_".join(parts) == name.replace("-", "_"), (name, module)
        assert (ROOT / "tests" / f"test_{name.replace('-', '_')}.py").is_file(), name
        assert (ROOT / "records" / name / "results.json").is_file(), name
    for f in (ROOT / "experiments").rglob("*.py"):
        n = len(f.read_text().splitlines())
        assert n <= 400, f"{f.relative_to(ROOT)} has {n} lines"


def test_every_experiment_declares_a_typed_configuration():
    for name in experiment.discover():
        module = experiment.load(name)
        assert module.NAME == name
        for config in (module.QUICK, module.FULL):
            assert dataclasses.is_dataclass(config) and type(config).__dataclass_params__.frozen
            # every value has its field's declared type: the configuration read back from its
            # JSON record, field by field through --set's checks, is the configuration itself
            assert experiment.with_overrides(config, config_dict(config)) == config, name


def test_version_and_show_config(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"physnn {__version__}"
    assert cli.main(["run", "sto-locking", "--quick", "--show-config",
                     "--set", "n_detunings=25"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["n_detunings"] == 25 and shown["amplitudes_ma"] == [0.1, 0.2, 0.3, 0.4]
    assert cli.main(["run", "sto-locking", "--show-config"]) == 0
    assert json.loads(capsys.readouterr().out)["n_detunings"] == 161  # FULL


def test_the_installed_package_imports_from_the_clones_parent(tmp_path):
    """A folder named physnn in the working directory (the clone itself, seen from its parent)
    must not shadow the installed package."""
    (tmp_path / "physnn").symlink_to(ROOT, target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = "import physnn, experiments; print(physnn.simulate.__module__, physnn.__file__)"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, env=env)
    assert out.returncode == 0, out.stderr
    module, where = out.stdout.split()
    assert module == "physnn.simulate" and Path(where).resolve() == ROOT / "physnn" / "__init__.py"


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


def test_unknown_experiment_is_a_clear_error(capsys):
    with pytest.raises(ValueError, match="unknown experiment 'nope'"):
        experiment.load("nope")
    with pytest.raises(SystemExit) as e:
        cli.main(["run", "nope", "--quick"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "unknown experiment 'nope'; choose from" in err
    assert "Traceback" not in err


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
    """A notebook's inline backend must survive importing an experiment (the experiments used to
    switch it to Agg on import, and a notebook then showed none of its figures); `physnn run`
    itself writes figures with Agg."""
    code = ("import matplotlib; matplotlib.use('pdf'); from physnn import experiment\n"
            "for name in experiment.discover(): experiment.load(name)\n"
            "print(matplotlib.get_backend())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "pdf"


@pytest.mark.slow
def test_set_replaces_configuration_values_in_the_run(tmp_path, capsys):
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


def test_set_names_bad_keys_and_values_without_a_traceback(tmp_path, capsys):
    """Values are checked against the configuration's field types before anything runs."""
    for bad, words in (("temprature_k=300", ["no configuration key 'temprature_k'", "temperature_k"]),
                       ("amplitudes_ma=0.2", ["expected a JSON list", "[0.1, 0.2, 0.3, 0.4]"]),
                       ("amplitudes_ma=[0.1, \"x\"]", ["expected a JSON list, each item a finite number"]),
                       ("n_detunings=many", ["expected a whole number"]),
                       ("n_detunings=true", ["expected a whole number"]),
                       ("n_detunings", ["expected KEY=VALUE"]),
                       ("temperature_k=NaN", ["NaN and infinities are not accepted"]),
                       ("span=Infinity", ["NaN and infinities are not accepted"]),
                       ("n_detunings=49.5", ["expected a whole number", "default 49"]),
                       ("span=null", ["expected a finite number", "default 1.6"])):
        with pytest.raises(SystemExit):
            cli.main(["run", "sto-locking", "--quick", "--out", str(tmp_path), "--set", bad])
        err = capsys.readouterr().err
        assert "Traceback" not in err and not (tmp_path / "results.json").exists()
        for w in words:
            assert w in err, (bad, err)
    with pytest.raises(ValueError, match="has no key 'nope'"):
        experiment.run_experiment("sto-locking", quick=True, out=tmp_path, overrides={"nope": 1})
    with pytest.raises(ValueError, match="n_detunings=2.5"):
        experiment.run_experiment("sto-locking", quick=True, out=tmp_path,
                                  overrides={"n_detunings": 2.5})


def test_experiments_use_ordinary_imports_and_only_public_names():
    """No sys.path edits, no loading a sibling by name, no private name imported from another
    module (inside a package or across packages) in experiments/ and its probes."""
    import ast

    found = []
    for f in sorted((ROOT / "experiments").rglob("*.py")):
        tree = ast.parse(f.read_text())
        rel = f.relative_to(ROOT)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                found += [f"{rel}: imports {a.name}" for a in node.names
                          if a.name.startswith("_")]
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") \
                    and not node.attr.startswith("__") and isinstance(node.value, ast.Name) \
                    and node.value.id not in ("self", "cls"):
                found.append(f"{rel}: {node.value.id}.{node.attr}")
            if isinstance(node, ast.Attribute) and node.attr == "path" \
                    and isinstance(node.value, ast.Name) and node.value.id == "sys":
                found.append(f"{rel}: sys.path")
            if isinstance(node, ast.Name) and node.id == "load_experiment":
                found.append(f"{rel}: load_experiment")
    assert not found, found
