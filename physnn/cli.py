"""The ``physnn`` command: list and run the reproductions of the ``experiments`` package, and the
benchmarks.

    physnn list
    physnn run NAME [--quick] [--out DIR] [--set KEY=VALUE ...] [--show-config]
    physnn bench [NAME [ARGS...]]
    physnn --version

An experiment is a module of the ``experiments`` package with ``NAME``, ``DESCRIPTION``, typed
``QUICK`` and ``FULL`` configurations and ``run(config, out_dir)`` (see
:mod:`physnn.experiment`). ``physnn run`` writes ``DIR/results.json`` next to the experiment's
figures and prints what was measured beside the paper's figure.

Exit status: 0 on success; 2 for the user's mistake, printed as one line without a traceback (an
unknown name or key, a value of the wrong type or range, an output folder that is a file or not
writable, a corrupted checkpoint or one of another run, a damaged data file: every
:class:`physnn.errors.UserError`; and a ``ValueError`` raised during a run given ``--set``
values, since the default configurations are tested and physnn's checks name the value they
refuse: the line names where it was raised, in case it is a bug after all); 130/143 when
interrupted (the same command resumes); anything else is a bug and keeps its traceback
(``PHYSNN_TRACEBACK=1`` shows it for the errors raised during a run above too). A
``ValueError`` raised during a run without ``--set`` is a bug: the configurations ``QUICK`` and
``FULL`` are tested.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
import traceback
from pathlib import Path

from . import __version__
from .checkpoint import RUN_CHECKPOINTS, config_dict
from .errors import UserError
from .experiment import (
    discover,
    format_table,
    load,
    parse_overrides,
    run_experiment,
    use_compilation_cache,
    with_overrides,
)


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


def _error(parser: argparse.ArgumentParser, message: str):
    parser.error(str(message).removeprefix("physnn: "))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="physnn", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"physnn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the experiments")
    p_run = sub.add_parser("run", help="run an experiment")
    p_run.add_argument("name", help="the experiment (physnn list)")
    p_run.add_argument("--quick", action="store_true", help="small, fast configuration")
    p_run.add_argument("--out", default=None, help="output folder (default runs/<name>)")
    p_run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                       help="replace a configuration value (JSON: 300, [0, 300], true, \"hann\"); "
                            "repeatable; checked against the field's type; the record's config "
                            "holds the values used")
    p_run.add_argument("--show-config", action="store_true",
                       help="print the configuration (with --quick and --set applied) as JSON, "
                            "and run nothing")
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
            _error(parser, e)
        if args.name is None:
            width = max(map(len, found), default=0)
            for name, (_, desc) in found.items():
                print(f"{name:{width}s}  {desc}")
            return 0
        if args.name not in found:
            _error(parser, f"unknown benchmark {args.name!r}; choose from {', '.join(sorted(found))}")
        return run_benchmark(args.name, args.args)
    try:
        experiments = discover()
    except (ModuleNotFoundError, RuntimeError) as e:
        _error(parser, e)
    if args.command == "list":
        width = max(map(len, experiments), default=0)
        for name, (_, desc) in experiments.items():
            print(f"{name:{width}s}  {desc}")
        return 0
    if args.name not in experiments:
        _error(parser, f"unknown experiment {args.name!r}; choose from {', '.join(experiments)}")
    if args.cpu_devices is not None and args.cpu_devices < 1:
        _error(parser, f"--cpu-devices={args.cpu_devices}: expected a positive number of devices")
    import matplotlib

    from . import parallel

    # the experiments write their figures to files: no window on any machine. Importing an
    # experiment leaves the backend alone, so that its figures show in a notebook.
    matplotlib.use("Agg")
    module = load(args.name)
    config = module.QUICK if args.quick else module.FULL
    try:
        overrides = parse_overrides(args.overrides, config, args.name)
        # a configuration checks itself when it is made (a dataclass's __post_init__): a value of
        # the right type but out of range is the user's mistake too, reported before anything runs
        config = with_overrides(config, overrides)
    except ValueError as e:
        _error(parser, e)
    if args.show_config:
        print(json.dumps(config_dict(config), indent=2))
        return 0
    out = Path(args.out) if args.out else Path("runs") / (args.name + ("-quick" if args.quick else ""))
    if out.exists() and not out.is_dir():
        _error(parser, f"--out {out}: is a file; expected a folder (new or existing) for the "
                       "results")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        _error(parser, f"--out {out}: cannot create the output folder ({e.strerror})")
    if not os.access(out, os.W_OK | os.X_OK):
        _error(parser, f"--out {out}: the folder is not writable; choose another output folder")
    splits = getattr(module, "SPLITS_OVER_DEVICES", False)
    k = args.cpu_devices if args.cpu_devices is not None else (
        parallel.usable_cores() if splits else 1)
    if k > 1:
        parallel.use_host_cores(k)  # before JAX's first computation, or it has no effect
    use_compilation_cache()
    try:
        record = run_experiment(args.name, quick=args.quick, out=out, overrides=overrides)
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM turned into it by physnn.checkpoint
        folder = out / RUN_CHECKPOINTS
        print(f"\nphysnn: {args.name} interrupted ({e or 'Ctrl-C'}); "
              + (f"the same command resumes from the checkpoints in {folder}" if folder.is_dir()
                 else "no checkpoint was written"),
              file=sys.stderr)
        return 143 if "SIGTERM" in str(e) else 130
    except UserError as e:  # the user's to fix (a corrupted checkpoint, a bad file): no traceback
        if os.environ.get("PHYSNN_TRACEBACK"):
            raise
        print(f"physnn: error: {e}", file=sys.stderr)
        return 2
    except ValueError as e:
        # physnn's argument checks raise ValueError naming the value. The default configurations
        # are tested, so under --set such an error most likely comes from the values set; without
        # --set it is a bug and keeps its traceback. Under --set it may still be a bug: the line
        # that raised it is named, and PHYSNN_TRACEBACK=1 gives the whole traceback
        if not overrides or os.environ.get("PHYSNN_TRACEBACK"):
            raise
        given = " ".join(f"--set {o}" for o in args.overrides)
        frames = traceback.extract_tb(e.__traceback__)
        where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
        print(f"physnn: error: {args.name} stopped on a value it was given ({given}): {e}\n"
              f"(raised at {where}; if the values are valid, it is a bug: PHYSNN_TRACEBACK=1 "
              "shows the traceback)", file=sys.stderr)
        return 2
    print()
    print(f"{args.name}{' (quick)' if args.quick else ''}: {record['wall_s']:.1f} s")
    print(format_table(record["metrics"], record["reference"]))
    for note in record.get("notes", []):
        print(f"note: {note}")
    print(f"\nresults: {out / 'results.json'}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
