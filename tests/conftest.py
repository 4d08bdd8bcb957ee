"""Shared test helpers: tiny devices with known analytic solutions."""

import contextlib
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
import pytest

from physnn.devices import AbstractDevice


class Relaxation(AbstractDevice):
    """dy/dt = -(y - u) / tau: a leaky integrator with exact solutions for held inputs."""

    tau: jnp.ndarray
    noise: jnp.ndarray = eqx.field(default_factory=lambda: jnp.asarray(0.0))
    # tau divides a state of shape batch + (1,), so it cannot carry ensemble axes
    ensemble_params: ClassVar[dict[str, int]] = {}

    def init_state(self, batch_shape=()):
        return jnp.zeros(tuple(batch_shape) + (1,))

    def drift(self, t, y, u):
        u = 0.0 if u is None else u
        return -(y - u) / self.tau

    def diffusion(self, t, y, u):
        return jnp.broadcast_to(self.noise, y.shape)

    def observe(self, t, y, u):
        return y

    def power(self, t, y, u):
        return jnp.sum(y**2, axis=-1)


class BlowUp(AbstractDevice):
    """dy/dt = y^2 from y(0) = 1: finite-time blow-up at t = 1."""

    ensemble_params: ClassVar[dict[str, int]] = {}

    def init_state(self, batch_shape=()):
        return jnp.ones(tuple(batch_shape) + (1,))

    def drift(self, t, y, u):
        return y**2

    def observe(self, t, y, u):
        return y

    def power(self, t, y, u):
        return jnp.zeros(y.shape[:-1])


def pytest_configure(config):
    """JAX's persistent compilation cache, as for ``physnn run``: a second run of the suite
    reuses the compiled programs (PHYSNN_COMPILATION_CACHE=0 turns it off)."""
    from physnn.experiment import use_compilation_cache

    use_compilation_cache()


@pytest.fixture
def synthetic_fsdd():
    """``make(seed=0)``: frames, digits, speakers and repetitions shaped like FSDD's (6 speakers,
    repetitions 0-14), for the spoken-digit evaluation's tests."""
    import numpy as np

    def make(seed=0):
        rng = np.random.default_rng(seed)
        speakers, reps = np.meshgrid(np.arange(6), np.arange(15), indexing="ij")
        speakers, reps = speakers.ravel(), reps.ravel()
        frames = rng.normal(2.0, 3.0, (speakers.size, 4, 3)) + speakers[:, None, None]
        return frames, rng.integers(0, 10, speakers.size), speakers, reps

    return make


@pytest.fixture
def relaxation():
    return Relaxation(tau=jnp.asarray(2.0))


@pytest.fixture
def interrupted_run_resumes(tmp_path, monkeypatch):
    """A check for experiments that resume: ``check(name, ref, stop_at, resumed)``
    runs ``physnn run name --quick``, stops it with Ctrl-C at step ``stop_at`` of its
    ``physnn.train.train_loop``, runs the same command again, and asserts that the second run
    ran only the steps from ``stop_at`` on, loaded the stages ``resumed``, removed its
    checkpoints, and wrote the record ``ref`` of an uninterrupted run bit for bit (but for the
    wall times, top-level keys ending in ``_s``, the commit, and the notes' resume line). With ``owner``,
    only the loops of that owner (``train_loop``'s ``owner``) count and are stopped; with
    ``loop_index`` the first run stops in that loop (counted from 0 among them), and only its
    steps count there. Returns the record."""
    import contextlib
    import io
    import json

    import physnn as pn
    from physnn import cli

    def check(name, ref, stop_at, resumed, owner=None, loop_index=0):
        real, steps_run = pn.train.train_loop, []

        def patched(stop):
            calls = []

            def loop(step, *args, **kwargs):
                if owner is not None and kwargs.get("owner") != owner:
                    return real(step, *args, **kwargs)
                calls.append(None)
                if stop is not None and len(calls) - 1 != loop_index:
                    return real(step, *args, **kwargs)  # not the loop to stop: not counted

                def counted(i, state):
                    if i == stop:
                        raise KeyboardInterrupt("test: Ctrl-C")
                    steps_run.append(i)
                    return step(i, state)
                return real(counted, *args, **kwargs)
            return loop

        argv = ["run", name, "--quick", "--out", str(tmp_path)]
        monkeypatch.setattr(pn.train, "train_loop", patched(stop_at))
        with contextlib.redirect_stdout(io.StringIO()):
            assert cli.main(argv) == 130  # Ctrl-C: a message, no traceback
        assert steps_run == list(range(stop_at)) and not (tmp_path / "results.json").exists()
        assert any((tmp_path / "checkpoints").glob("*.eqx"))
        before = len(steps_run)
        monkeypatch.setattr(pn.train, "train_loop", patched(None))
        with contextlib.redirect_stdout(io.StringIO()):
            assert cli.main(argv) == 0
        assert steps_run[before] == stop_at  # the loop went on from the interrupted step
        rec = json.loads((tmp_path / "results.json").read_text())
        assert rec["resumed"] == list(resumed)
        assert "resumed from the checkpoints" in rec["notes"][-1]
        assert rec["notes"][:-1] == ref["notes"]
        for k in ref:
            # *_s: wall times; commit: another commit may land between the two runs
            if not k.endswith("_s") and k not in ("notes", "resumed", "commit", "versions"):
                assert rec[k] == ref[k], k
        # ``ref`` comes from a child process, where ``physnn run`` presents the host's cores to
        # JAX as devices; this process's JAX was set up earlier (one device, or the count an
        # earlier test chose). The figures must not depend on it, so only the count may differ.
        drop = lambda v: {k: x for k, x in v.items() if k != "devices"}  # noqa: E731
        assert drop(rec["versions"]) == drop(ref["versions"])
        assert not (tmp_path / "checkpoints").exists()
        return rec

    return check


def quick_run_folder(tmp_path_factory):
    """Where the quick runs of one test session live: the base temporary folder, which the
    workers of ``pytest -n`` share (each worker's own base folder is a child of it)."""
    import os

    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "quick-runs"


#: ``physnn run ...`` with the run's checkpoints kept (the experiment's ``finished``, which removes
#: them once results.json is written, is skipped), for tests that resume from them
_KEEP_CHECKPOINTS = """
import sys
from physnn import cli, experiment
experiment.load(sys.argv[2]).finished = lambda out_dir: None
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.fixture(scope="session")
def quick_runs(tmp_path_factory):
    """``get(NAME)``: ``physnn run NAME --quick`` once per test session, whichever module asks
    first (``quick_run`` for tests/test_<name>.py, tests/test_records.py for the comparison with
    the committed quick record). It runs in a child process, as a user runs it and as
    scripts/regenerate_quick_records.py makes the records, so that nothing a test did to this
    process (JAX's device count, a configuration flag) reaches the record; its checkpoints are
    kept (``finished`` is skipped), for tests that resume from them. The workers of
    ``pytest -n`` share it: the first to ask runs it under a file lock, the others wait and read
    it. Returns (output folder, record, what it printed); the record is the one the run wrote (a
    copy kept beside the folder), a fresh dict on each call."""
    import json
    import os
    import subprocess
    import sys

    root = quick_run_folder(tmp_path_factory)
    root.mkdir(parents=True, exist_ok=True)

    def get(name):
        out, kept, printed = root / name, root / f"{name}.results.json", root / f"{name}.printed"
        with _locked(root / f"{name}.lock"):
            if not kept.exists():
                args = ["run", name, "--quick", "--out", str(out)]
                proc = subprocess.run([sys.executable, "-c", _KEEP_CHECKPOINTS, *args], text=True,
                                      capture_output=True, env={**os.environ, "MPLBACKEND": "Agg"})
                assert proc.returncode == 0, (
                    f"physnn {' '.join(args)}: exit status {proc.returncode}\n"
                    f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
                printed.write_text(proc.stdout)
                # written last: its presence says that the run finished
                kept.write_text((out / "results.json").read_text())
        return out, json.loads(kept.read_text()), printed.read_text()

    return get


@contextlib.contextmanager
def _locked(path):
    """An exclusive lock on ``path`` (created) across processes; without ``fcntl`` (Windows),
    no lock: each xdist worker then runs its own quick runs."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover
        yield
        return
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@pytest.fixture(scope="module")
def quick_run(request, quick_runs):
    """``physnn run NAME --quick`` for a test module (NAME: the module's ``EXPERIMENT``), from
    ``quick_runs``: once per session, shared with tests/test_records.py. Returns (output folder,
    record, what it printed)."""
    return quick_runs(request.module.EXPERIMENT)
