"""Benchmark: what JAX's persistent compilation cache saves on a second run of a command.

Each command runs in a fresh Python three ways, side by side: with the cache turned off
(``PHYSNN_COMPILATION_CACHE=0``), with an empty cache folder (the first run, which fills it),
and again with the filled folder (the second run). Wall times in seconds, the median of
``--repeats`` rounds (a fresh, empty folder every round).

    python benchmarks/bench_compile_cache.py [--repeats N] [--quick]

Commands: ``physnn run sto-locking --quick`` and a slice of the fast test tier
(``pytest -n 0 tests/test_sto.py``; with ``--quick``, only the run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd: list[str], cache: str, cwd: Path) -> float:
    env = dict(os.environ, PHYSNN_COMPILATION_CACHE=cache, MPLBACKEND="Agg")
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="the experiment run only")
    args = parser.parse_args()
    commands = {"physnn run sto-locking --quick": [sys.executable, "-m", "physnn.cli", "run",
                                                   "sto-locking", "--quick", "--out", "OUT"]}
    if not args.quick:
        commands["pytest -n 0 tests/test_sto.py"] = [
            sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider",
            str(ROOT / "tests" / "test_sto.py")]
    print(f"{'command':36s} {'cache off':>10s} {'first run':>10s} {'second run':>11s} "
          f"{'saved':>7s}")
    for label, cmd in commands.items():
        off, cold, warm = [], [], []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as tmp:
                run = [c.replace("OUT", str(Path(tmp) / "out")) for c in cmd]
                cache = str(Path(tmp) / "cache")
                off.append(timed(run, "0", Path(tmp)))
                cold.append(timed(run, cache, Path(tmp)))
                warm.append(timed(run, cache, Path(tmp)))
        o, c, w = (statistics.median(x) for x in (off, cold, warm))
        print(f"{label:36s} {o:10.1f} {c:10.1f} {w:11.1f} {100 * (1 - w / o):6.0f}%")


if __name__ == "__main__":
    main()
