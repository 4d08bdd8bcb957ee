"""The CLI's errors: a user's mistake prints one line and exits with status 2; a bug keeps its
traceback. Corrupted and foreign checkpoints name the file and say how to recover."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from physnn import UserError, checkpoint, cli
from physnn.checkpoint import CheckpointError, Stages, bind_checkpoint_dir


def run_cli(argv, capsys):
    """``cli.main(argv)``: (exit status, stderr)."""
    try:
        code = cli.main(argv)
    except SystemExit as e:
        code = e.code
    return code, capsys.readouterr().err


def test_an_out_that_is_a_file_is_a_one_line_error(tmp_path, capsys):
    f = tmp_path / "afile"
    f.write_text("")
    code, err = run_cli(["run", "sto-locking", "--quick", "--out", str(f)], capsys)
    assert code == 2 and f"--out {f}: is a file" in err and "Traceback" not in err


def test_an_out_below_a_file_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "afile").write_text("")
    code, err = run_cli(["run", "sto-locking", "--quick", "--out", str(tmp_path / "afile" / "x")],
                        capsys)
    assert code == 2 and "cannot create the output folder" in err and "Traceback" not in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_out_that_is_not_writable_is_a_one_line_error(tmp_path, capsys):
    out = tmp_path / "ro"
    out.mkdir(mode=0o500)
    code, err = run_cli(["run", "sto-locking", "--quick", "--out", str(out)], capsys)
    assert code == 2 and "not writable" in err


def test_an_out_that_is_not_writable_is_refused_before_the_run(tmp_path, capsys, monkeypatch):
    """As root every folder is writable, so the check is shown with os.access answering no."""
    real = os.access
    monkeypatch.setattr(cli.os, "access",
                        lambda p, mode: False if str(p) == str(tmp_path) else real(p, mode))
    monkeypatch.setattr(cli, "run_experiment", lambda *a, **k: 1 / 0)  # never reached
    code, err = run_cli(["run", "sto-locking", "--quick", "--out", str(tmp_path)], capsys)
    assert code == 2 and f"--out {tmp_path}: the folder is not writable" in err
    assert "Traceback" not in err


def test_run_experiment_refuses_an_out_that_is_a_file(tmp_path):
    from physnn import experiment
    f = tmp_path / "afile"
    f.write_text("")
    with pytest.raises(UserError, match="is a file; expected a folder"):
        experiment.run_experiment("sto-locking", quick=True, out=f)


def test_a_value_out_of_range_is_refused_before_the_run(tmp_path, capsys):
    """kumar2017's configuration checks its ranges when it is made (--set included)."""
    code, err = run_cli(["run", "kumar2017", "--quick", "--out", str(tmp_path),
                         "--set", "bias_v=[3.6, 3.0, 15]"], capsys)
    assert code == 2 and "bias_v" in err and "Traceback" not in err
    assert not (tmp_path / "results.json").exists()


def test_a_field_that_cannot_be_set_is_a_user_error():
    import dataclasses

    from physnn import experiment

    @dataclasses.dataclass(frozen=True)
    class Config:
        n: int = 3
        model: object = None  # e.g. a device: not readable from JSON
        maybe: frozenset | None = None

    for key in ("model", "maybe"):
        with pytest.raises(UserError, match=f"configuration key '{key}'.*cannot be set from the "
                                            "command line"):
            experiment.parse_overrides([f"{key}=[1]"], Config(), "demo")
        with pytest.raises(UserError, match=f"'{key}'.*cannot be set"):
            experiment.with_overrides(Config(), {key: [1]})
    assert experiment.parse_overrides(["n=4"], Config(), "demo") == {"n": 4}


@pytest.mark.parametrize("error", [
    UserError("a corrupted file"),
    CheckpointError("x.stage: payload sha256 mismatch; delete it"),
])
def test_a_user_error_during_a_run_exits_2_without_a_traceback(tmp_path, capsys, monkeypatch,
                                                                 error):
    def failing(*args, **kwargs):
        raise error

    monkeypatch.setattr(cli, "run_experiment", failing)
    code, err = run_cli(["run", "sto-locking", "--quick", "--out", str(tmp_path)], capsys)
    assert code == 2 and err.strip() == f"physnn: error: {error}"


def test_a_value_error_from_a_set_value_exits_2_and_names_the_value(tmp_path, capsys,
                                                                    monkeypatch):
    def failing(*args, **kwargs):
        raise ValueError("simulate: t1=-3.0 must be greater than t0=0.0")

    monkeypatch.setattr(cli, "run_experiment", failing)
    code, err = run_cli(["run", "sto-locking", "--quick", "--out", str(tmp_path),
                         "--set", "t1_ns=-3"], capsys)
    assert code == 2 and "--set t1_ns=-3" in err and "t1=-3.0 must be" in err
    assert "Traceback" not in err
    assert "raised at test_cli.py:" in err  # where, in case it is a bug after all


def test_physnn_traceback_shows_the_traceback_of_a_user_error(tmp_path, monkeypatch):
    def failing(*args, **kwargs):
        raise UserError("a corrupted file")

    monkeypatch.setattr(cli, "run_experiment", failing)
    monkeypatch.setenv("PHYSNN_TRACEBACK", "1")
    with pytest.raises(UserError, match="a corrupted file"):
        cli.main(["run", "sto-locking", "--quick", "--out", str(tmp_path)])


def test_a_bug_keeps_its_traceback(tmp_path, capsys, monkeypatch):
    """Without --set, a ValueError inside a run is not the user's: it propagates (traceback)."""
    def failing(*args, **kwargs):
        raise ValueError("a bug")

    monkeypatch.setattr(cli, "run_experiment", failing)
    with pytest.raises(ValueError, match="a bug"):
        cli.main(["run", "sto-locking", "--quick", "--out", str(tmp_path)])
    monkeypatch.setattr(cli, "run_experiment", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        cli.main(["run", "sto-locking", "--quick", "--out", str(tmp_path), "--set",
                  "n_detunings=5"])


def test_a_corrupted_setup_file_names_the_file_and_the_way_out(tmp_path):
    folder = tmp_path / "checkpoints"
    bind_checkpoint_dir(folder, {"config": {"a": 1}}, "demo")
    (folder / "setup.json").write_text('{"config": {"a": 1')  # cut short by a crash
    with pytest.raises(CheckpointError) as e:
        bind_checkpoint_dir(folder, {"config": {"a": 1}}, "demo")
    msg = str(e.value)
    assert str(folder / "setup.json") in msg and "not valid JSON" in msg
    assert f"delete {folder}" in msg and "--out" in msg
    (folder / "setup.json").write_text("[1, 2]")
    with pytest.raises(CheckpointError, match="not a physnn set-up record"):
        bind_checkpoint_dir(folder, {"config": {"a": 1}}, "demo")


def test_checkpoints_of_another_run_are_refused_by_name(tmp_path):
    folder = tmp_path / "checkpoints"
    bind_checkpoint_dir(folder, {"config": {"a": 1, "b": 2}}, "demo")
    with pytest.raises(CheckpointError, match=r"another run \(config keys that differ: \['b'\]"):
        bind_checkpoint_dir(folder, {"config": {"a": 1, "b": 3}}, "demo")


def test_checkpoints_of_another_experiment_name_it(tmp_path):
    """Even with the same set-up, another owner's folder is refused, both named."""
    folder = tmp_path / "checkpoints"
    bind_checkpoint_dir(folder, {"config": {"a": 1}}, "kumar2017")
    with pytest.raises(CheckpointError) as e:
        bind_checkpoint_dir(folder, {"config": {"a": 1}}, "coulombe2017")
    msg = str(e.value)
    assert "holds the checkpoints of 'kumar2017', not of 'coulombe2017'" in msg
    assert f"delete {folder}" in msg and "--out" in msg
    assert bind_checkpoint_dir(folder, {"config": {"a": 1}}, "kumar2017") == folder


def test_a_setup_file_written_without_an_owner_still_resumes(tmp_path):
    """setup.json of a run interrupted before owners were recorded: compared on the set-up."""
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    (folder / "setup.json").write_text('{"config": {"a": 1}}')
    assert bind_checkpoint_dir(folder, {"config": {"a": 1}}, "demo") == folder
    with pytest.raises(CheckpointError, match="config keys that differ"):
        bind_checkpoint_dir(folder, {"config": {"a": 2}}, "demo")


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_a_damaged_stage_file_names_itself_and_says_delete_it(tmp_path, damage):
    stages = Stages(tmp_path / "checkpoints", {"config": {}}, "demo")
    stages("maps", lambda: {"x": np.arange(5.0)})
    f = tmp_path / "checkpoints" / "maps.stage"
    raw = f.read_bytes()
    f.write_bytes({"truncate": raw[: len(raw) // 2], "flip": raw[:-3] + b"xyz",
                   "garbage": b"\x00\x01 not a stage"}[damage])
    again = Stages(tmp_path / "checkpoints", {"config": {}}, "demo")
    with pytest.raises(CheckpointError) as e:
        again("maps", lambda: None)
    assert str(f) in str(e.value) and "delete it" in str(e.value)


@pytest.mark.parametrize("damage", ["truncate", "header"])
def test_a_damaged_loop_checkpoint_says_how_to_recover(tmp_path, damage):
    path = checkpoint.save_checkpoint(tmp_path / "loop.eqx", {"w": np.ones(3, np.float32)})
    raw = path.read_bytes()
    path.write_bytes(raw[:-4] if damage == "truncate" else b"{oops\n" + raw)
    with pytest.raises(CheckpointError) as e:
        checkpoint.load_checkpoint(path, {"w": np.ones(3, np.float32)})
    assert str(path) in str(e.value) and f"delete {path}" in str(e.value)


def test_a_damaged_data_archive_is_a_user_error(tmp_path):
    from physnn.tasks import fsdd
    bad = tmp_path / "fsdd.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(UserError, match="not a readable FSDD archive"):
        fsdd.load_fsdd(path=bad)


@pytest.mark.slow  # a child Python that imports JAX and the experiment: ~5-12 s on 2 cores
def test_a_corrupted_checkpoint_in_a_real_run_prints_one_line(tmp_path):
    """End to end, in a child process as a user runs it: exit 2, the file named, no traceback.
    (The fast tier runs the same path in this process, through cli.main, below.)"""
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    (out / "checkpoints" / "setup.json").write_text("{broken")
    proc = subprocess.run([sys.executable, "-m", "physnn.cli", "run", "coulombe2017", "--quick",
                           "--out", str(out)], capture_output=True, text=True,
                          env={**os.environ, "PHYSNN_COMPILATION_CACHE": "0"})
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "setup.json is corrupted" in proc.stderr and "--out" in proc.stderr
    assert not (out / "results.json").exists()


def _interrupt_at_the_first_stage(monkeypatch):
    """Stop a run with Ctrl-C at its first stage, once its checkpoint folder is bound."""
    def interrupted(self, name, fn, *args, **kwargs):
        raise KeyboardInterrupt("test: Ctrl-C")

    monkeypatch.setattr(Stages, "__call__", interrupted)


def test_another_experiments_checkpoints_in_a_real_run_print_one_line(tmp_path, capsys,
                                                                     monkeypatch):
    """kumar2017 interrupted, then coulombe2017 (or kumar2017 with another seed) with the same
    --out: exit 2, what differs named, no traceback."""
    with monkeypatch.context() as m:
        _interrupt_at_the_first_stage(m)
        assert run_cli(["run", "kumar2017", "--quick", "--out", str(tmp_path)], capsys)[0] == 130
    code, err = run_cli(["run", "coulombe2017", "--quick", "--out", str(tmp_path)], capsys)
    assert code == 2 and "Traceback" not in err
    assert "checkpoints of 'kumar2017', not of 'coulombe2017'" in err
    assert f"delete {tmp_path / 'checkpoints'}" in err
    # the same experiment with another configuration: the keys that differ are named
    code, err = run_cli(["run", "kumar2017", "--quick", "--out", str(tmp_path), "--set", "seed=1"],
                        capsys)
    assert code == 2 and "Traceback" not in err
    assert "another run (config keys that differ: ['seed']" in err and "--out" in err


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_a_damaged_stage_in_a_real_run_prints_one_line(tmp_path, capsys, monkeypatch, damage):
    """A run interrupted after its set-up, then a stage file damaged: the rerun exits 2 naming
    the file and saying to delete it, and runs nothing."""
    argv = ["run", "coulombe2017", "--quick", "--out", str(tmp_path)]
    with monkeypatch.context() as m:
        _interrupt_at_the_first_stage(m)
        assert run_cli(argv, capsys)[0] == 130
    probe = Stages(tmp_path / "probe", {}, "probe")  # a stage file, as the run writes them
    probe("x", lambda: {"a": np.arange(4.0)})
    raw = (tmp_path / "probe" / "x.stage").read_bytes()
    f = tmp_path / "checkpoints" / "parity_maps.stage"
    f.write_bytes(raw[: len(raw) // 2] if damage == "truncate" else b"\x00garbage")
    code, err = run_cli(argv, capsys)
    assert code == 2 and "Traceback" not in err, err
    assert str(f) in err and "delete it" in err
    assert not (tmp_path / "results.json").exists()


def test_a_missing_data_archive_is_a_user_error_and_a_file_not_found(tmp_path):
    from physnn.tasks import fsdd
    with pytest.raises(UserError, match="FSDD archive not found") as e:
        fsdd.load_fsdd(path=tmp_path / "missing.npz")
    assert isinstance(e.value, FileNotFoundError)
