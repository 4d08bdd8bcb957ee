"""The ``physnn`` command: list and run the reproductions in ``experiments/``, and the benchmarks.

    physnn list
    physnn run <name> [--quick] [--out DIR]
    physnn bench [<name> [ARGS...]]

Each experiment module exposes ``QUICK`` and ``FULL`` configs and ``run(config, out_dir) -> dict``
with at least ``metrics`` and ``reference``. The command writes ``DIR/results.json`` (schema in
DESIGN.md) next to the experiment's figures and prints what was measured beside the paper's
figure. A module may also expose ``finished(out_dir)``, called once ``results.json`` is written
(romera2018 removes there the checkpoints from which an interrupted run resumes).
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from . import __version__
from .checkpoint import RUN_CHECKPOINTS

# name -> (file in experiments/, one-line description)
EXPERIMENTS = {
    "sto-locking": ("sto_locking.py", "Arnold tongue of one spin-torque oscillator under an RF tone"),
    "sto-codesign": ("sto_codesign.py",
                     "Co-design of an STO across fabrication spread: precision vs DC power"),
    "romera2018": ("romera2018_vowels.py",
                   "Vowel recognition with four coupled STOs (Romera et al., Nature 2018)"),
    "romera2018-chips": ("romera2018_chips.py",
                         "The vowel network on fabricated chips: readout refit and in-situ training"),
    "romera2018-glide": ("romera2018_glide.py",
                         "The vowel network hears the formants glide: swept tones (beyond the paper)"),
    "romera2018-thermal": ("romera2018_thermal.py",
                           "The vowel network with thermal noise: recognition vs linewidth, noisy training"),
    "appeltant2011": ("appeltant2011.py",
                      "Mackey-Glass delay reservoir: NARMA10, Santa Fe, co-design (Appeltant 2011)"),
    "larger2017": ("larger2017.py",
                   "Spoken digits (FSDD) with Ikeda and Mackey-Glass delay reservoirs (Larger 2017)"),
    "kumar2017": ("kumar2017_chaos.py",
                  "NbO2 Mott oscillator: bifurcation diagram and Lyapunov exponent vs bias (Kumar 2017)"),
    "parihar2017": ("parihar2017_coloring.py",
                    "Graph colouring with coupled VO2 oscillators, and its co-design (Parihar 2017)"),
    "mott-memory": ("mott_memory.py",
                    "Associative memory in coupled VO2 oscillators: Hebbian and trained couplings"),
    "coulombe2017": ("coulombe2017.py",
                     "Duffing-resonator chain reservoir: parity and spoken digits (Coulombe 2017)"),
    "dion2018": ("dion2018.py",
                 "One Duffing resonator with delayed feedback as a reservoir (Dion 2018)"),
}


def _source_dir(folder: str, variable: str) -> Path:
    """``folder`` of the source checkout: ``$variable``, beside the package, or in the working
    directory."""
    candidates = []
    if os.environ.get(variable):
        candidates.append(Path(os.environ[variable]))
    candidates.append(Path(__file__).resolve().parent.parent / folder)
    candidates.append(Path.cwd() / folder)
    for c in candidates:
        if c.is_dir():
            return c
    raise FileNotFoundError(
        f"physnn: cannot find the {folder}/ folder (looked in "
        + ", ".join(str(c) for c in candidates)
        + f"); run from a clone of the repository or set {variable}"
    )


def experiments_dir() -> Path:
    """Where the experiment files live: $PHYSNN_EXPERIMENTS, the source checkout, or ./experiments."""
    return _source_dir("experiments", "PHYSNN_EXPERIMENTS")


def benchmarks() -> dict[str, tuple[Path, str]]:
    """``{name: (file, one-line description)}`` of the scripts ``benchmarks/bench_<name>.py``
    ($PHYSNN_BENCHMARKS, the source checkout, or ./benchmarks); read, not imported."""
    found = {}
    for path in sorted(_source_dir("benchmarks", "PHYSNN_BENCHMARKS").glob("bench_*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        first = " ".join(doc.split("\n\n")[0].split()).removeprefix("Benchmark:").strip()
        found[path.stem.removeprefix("bench_")] = (path, first.replace("``", ""))
    return found


def run_benchmark(name: str, args: list[str]) -> int:
    """Run benchmark ``name`` with command-line ``args`` in a child Python (it may set XLA flags
    before JAX starts), from the folder above ``benchmarks/``; return its exit status."""
    found = benchmarks()
    if name not in found:
        raise ValueError(f"physnn: unknown benchmark {name!r}; choose from {sorted(found)}")
    path = found[name][0]
    return subprocess.call([sys.executable, str(path), *args], cwd=path.parent.parent)


def load_experiment(name: str):
    """Import the module of experiment ``name`` (e.g. ``"sto-locking"``)."""
    if name not in EXPERIMENTS:
        raise ValueError(f"physnn: unknown experiment {name!r}; choose from {sorted(EXPERIMENTS)}")
    path = experiments_dir() / EXPERIMENTS[name][0]
    mod_name = f"physnn_experiments.{path.stem}"
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    spec = importlib.util.spec_from_file_location(mod_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    spec.loader.exec_module(module)
    return module


def _versions() -> dict:
    import diffrax
    import equinox
    import jax
    import optax

    return {"physnn": __version__, "jax": jax.__version__, "jaxlib": _dist_version("jaxlib"),
            "equinox": equinox.__version__, "diffrax": diffrax.__version__,
            "optax": optax.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "backend": jax.default_backend(), "cpu": _cpu(),
            "devices": len(jax.devices())}


def _dist_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def _cpu() -> str:
    """The CPU model: XLA compiles for the host's instruction set, so float32 rounding (and a
    training run that amplifies it) can differ between machines with the same versions."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{v:.4g}"
    return str(v)


def format_table(metrics: dict, reference: dict) -> str:
    """Measured values beside the reference (paper or theory) values, one row per metric."""
    names = list(metrics) + [k for k in reference if k not in metrics]
    rows = [("quantity", "measured", "reference")]
    rows += [(n, _fmt(metrics.get(n, "-")), _fmt(reference.get(n, "-"))) for n in names]
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * x for x in w))
    return "\n".join(lines)


def _kind(v) -> str:
    if isinstance(v, bool):
        return "true or false"
    if isinstance(v, (int, float)):
        return "a number"
    if isinstance(v, (list, tuple)):
        return "a JSON list"
    if isinstance(v, dict):
        return "a JSON object"
    return "a string"


class _NonFinite(Exception):
    pass


def _no_constant(name):
    raise _NonFinite(name)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def parse_overrides(items, config: dict, name: str) -> dict:
    """``{key: value}`` from ``KEY=VALUE`` strings (``physnn run NAME --set KEY=VALUE``). VALUE
    is read as JSON (``300``, ``[0, 300]``, ``true``, ``"hann"``), or else taken as a string. The
    key must be one of the configuration's, and the value of the same kind as its default (a
    number for a number, a whole number for a whole number, a list for a list, ...; NaN,
    infinities, and null where the default is not null, are refused); otherwise a ValueError
    names both."""
    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"physnn: --set {item!r}; expected KEY=VALUE, e.g. temperature_k=300")
        if key not in config:
            raise ValueError(f"physnn: --set {key}={text}: {name} has no configuration key {key!r}; "
                             f"its keys are {', '.join(sorted(config))}")
        try:
            value = json.loads(text, parse_constant=_no_constant)
        except _NonFinite:
            raise ValueError(f"physnn: --set {key}={text}: NaN and infinities are not accepted; "
                             "expected a finite number") from None
        except ValueError:
            value = text
        default = config[key]
        if value is None and default is not None:
            raise ValueError(f"physnn: --set {key}={text}: null is accepted only for a key whose "
                             f"default is null; expected {_kind(default)} like the default "
                             f"{json.dumps(default, default=float)}")
        if _kind(value) != _kind(default) and default is not None:
            raise ValueError(f"physnn: --set {key}={text}: expected {_kind(default)} like the "
                             f"default {json.dumps(default, default=float)}")
        if _is_int(default) and not _is_int(value):
            raise ValueError(f"physnn: --set {key}={text}: expected a whole number like the "
                             f"default {default}")
        out[key] = value
    return out


def run_experiment(name: str, quick: bool = False, out: str | os.PathLike | None = None,
                   overrides: dict | None = None) -> dict:
    """Run an experiment, write ``results.json`` and return the results dictionary.
    ``overrides`` replaces configuration values (:func:`parse_overrides` checks them); the
    record's ``config`` holds the values used and ``overrides`` the replaced ones."""
    module = load_experiment(name)
    config = dict(module.QUICK if quick else module.FULL)
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(config))
    if unknown:
        raise ValueError(f"physnn: {name} has no configuration key {unknown[0]!r}; its keys are "
                         f"{', '.join(sorted(config))}")
    config.update(overrides)
    out_dir = Path(out if out is not None else Path("runs") / (name + ("-quick" if quick else "")))
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    result = module.run(config, out_dir)
    wall = time.perf_counter() - start
    record = {
        "experiment": name,
        "quick": quick,
        "metrics": result["metrics"],
        "reference": result.get("reference", {}),
        "config": config,
        "wall_s": wall,
        "versions": _versions(),
    }
    if overrides:
        record["overrides"] = overrides
    for k, v in result.items():
        record.setdefault(k, v)
    tmp = out_dir / "results.json.tmp"
    tmp.write_text(json.dumps(record, indent=2, default=float))
    os.replace(tmp, out_dir / "results.json")
    if hasattr(module, "finished"):  # e.g. remove the checkpoints an interrupted run resumes from
        module.finished(out_dir)
    return record


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="physnn", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the experiments")
    p_run = sub.add_parser("run", help="run an experiment")
    p_run.add_argument("name", choices=sorted(EXPERIMENTS))
    p_run.add_argument("--quick", action="store_true", help="small, fast configuration")
    p_run.add_argument("--out", default=None, help="output folder (default runs/<name>)")
    p_run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                       help="replace a configuration value (JSON: 300, [0, 300], true, \"hann\"); "
                            "repeatable; the record's config holds the values used")
    p_run.add_argument("--cpu-devices", type=int, default=None, metavar="K",
                       help="present the CPU as K devices, over which an experiment that splits "
                            "its batches (SPLITS_OVER_DEVICES, e.g. romera2018) measures them; "
                            "default: the number of cores for those experiments, else 1")
    p_bench = sub.add_parser("bench", help="list the benchmarks, or run one",
                             description="Without a name, list the benchmarks in benchmarks/; "
                                         "with one, run benchmarks/bench_<name>.py, passing it "
                                         "the remaining arguments (e.g. physnn bench sto --quick).")
    p_bench.add_argument("name", nargs="?", default=None)
    p_bench.add_argument("args", nargs=argparse.REMAINDER,
                         help="arguments for the benchmark script (see physnn bench NAME --help)")
    args = parser.parse_args(argv)
    if args.command == "bench":
        try:
            found = benchmarks()
        except FileNotFoundError as e:  # an installed package without the source checkout
            parser.error(str(e).removeprefix("physnn: "))
        if args.name is None:
            width = max(map(len, found), default=0)
            for name, (_, desc) in found.items():
                print(f"{name:{width}s}  {desc}")
            return 0
        if args.name not in found:
            parser.error(f"unknown benchmark {args.name!r}; choose from {', '.join(sorted(found))}")
        return run_benchmark(args.name, args.args)
    if args.command == "run" and args.cpu_devices is not None and args.cpu_devices < 1:
        parser.error(f"--cpu-devices={args.cpu_devices}: expected a positive number of devices")
    if args.command == "run":
        import matplotlib

        from . import parallel

        # the experiments write their figures to files: no window on any machine. Loading an
        # experiment leaves the backend alone, so that its figures show in a notebook.
        matplotlib.use("Agg")

        splits = getattr(load_experiment(args.name), "SPLITS_OVER_DEVICES", False)
        k = args.cpu_devices if args.cpu_devices is not None else (
            parallel.usable_cores() if splits else 1)
        if k > 1:
            parallel.use_host_cores(k)  # before JAX's first computation, or it has no effect
    if args.command == "list":
        width = max(map(len, EXPERIMENTS))
        for name, (_, desc) in EXPERIMENTS.items():
            print(f"{name:{width}s}  {desc}")
        return 0
    out = args.out or Path("runs") / (args.name + ("-quick" if args.quick else ""))
    module = load_experiment(args.name)
    try:
        overrides = parse_overrides(args.overrides, module.QUICK if args.quick else module.FULL,
                                    args.name)
    except ValueError as e:
        parser.error(str(e).removeprefix("physnn: "))
    try:
        record = run_experiment(args.name, quick=args.quick, out=args.out, overrides=overrides)
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM turned into it by physnn.train
        folder = Path(out) / RUN_CHECKPOINTS
        print(f"\nphysnn: {args.name} interrupted ({e or 'Ctrl-C'}); "
              + (f"the same command resumes from the checkpoints in {folder}" if folder.is_dir()
                 else "no checkpoint was written"),
              file=sys.stderr)
        return 143 if "SIGTERM" in str(e) else 130
    print()
    print(f"{args.name}{' (quick)' if args.quick else ''}: {record['wall_s']:.1f} s")
    print(format_table(record["metrics"], record["reference"]))
    for note in record.get("notes", []):
        print(f"note: {note}")
    print(f"\nresults: {Path(out) / 'results.json'}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
