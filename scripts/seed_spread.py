"""Run an experiment's configuration over several seeds and print the mean and spread of metrics.

    python scripts/seed_spread.py NAME --seeds 0 1 2 [--quick] [--set KEY=VALUE ...]
        [--metrics M ...] [--out DIR] [--seed-field seed] [--json FILE]

Each seed runs as a user runs it, ``physnn run NAME [--quick] --set SEED_FIELD=S --set ...
--out DIR/seedS``, in a child process, one after the other. A folder that already holds a
``results.json`` of the same configuration (the same ``physnn run ... --show-config``) is read
instead of run again, so an interrupted spread resumes and finished runs can be reused (``--out``
defaults to ``runs/NAME-seeds``). Prints each metric per seed, then mean +- sample standard
deviation (ddof = 1), min and max over the seeds, with the record's reference value where it has
one; ``--json`` writes the same figures to a file. The default metrics are those the record's
``reference`` names.

Use it where a result depends on chaotic dynamics or a training that can diverge: one run is one
draw, and a headline figure should be stated as a mean with its spread (issue 34).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path


def physnn(*args: str, capture: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "physnn.cli", *args], env=env, text=True,
                          capture_output=capture)


def config_of(name: str, quick: bool, sets: list[str]) -> dict:
    """The configuration ``physnn run`` would use (``--show-config``)."""
    args = ["run", name, *(["--quick"] if quick else []), *sum((["--set", s] for s in sets), []),
            "--show-config"]
    proc = physnn(*args)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr.strip() or f"physnn {' '.join(args)}: exit {proc.returncode}")
    return json.loads(proc.stdout)


def spread(values: list[float]) -> dict:
    """mean, sample standard deviation (ddof = 1; 0 for one value), min, max, n; NaN values are
    left out and counted."""
    ok = [v for v in values if not (isinstance(v, float) and math.isnan(v))]
    if not ok:
        return {"mean": math.nan, "std": math.nan, "min": math.nan, "max": math.nan, "n": 0,
                "nan": len(values)}
    return {"mean": statistics.fmean(ok), "std": statistics.stdev(ok) if len(ok) > 1 else 0.0,
            "min": min(ok), "max": max(ok), "n": len(ok), "nan": len(values) - len(ok)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="seed_spread.py", description=__doc__.splitlines()[0])
    p.add_argument("name")
    p.add_argument("--seeds", type=int, nargs="+", required=True)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--metrics", nargs="+", default=None)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--seed-field", default="seed")
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    if len(set(a.seeds)) != len(a.seeds):
        p.error(f"--seeds {a.seeds}: each seed once")
    if any(s.split("=", 1)[0] == a.seed_field for s in a.sets):
        p.error(f"--set {a.seed_field}=...: the seeds come from --seeds")
    out = a.out or Path("runs") / f"{a.name}{'-quick' if a.quick else ''}-seeds"
    records = {}
    for seed in a.seeds:
        sets = [*a.sets, f"{a.seed_field}={seed}"]
        folder = out / f"seed{seed}"
        want = config_of(a.name, a.quick, sets)
        path = folder / "results.json"
        if path.exists() and json.loads(path.read_text()).get("config") == want:
            print(f"seed {seed}: {path} (already run with this configuration)", file=sys.stderr)
        else:
            args = ["run", a.name, *(["--quick"] if a.quick else []),
                    *sum((["--set", s] for s in sets), []), "--out", str(folder)]
            print(f"seed {seed}: physnn {' '.join(args)}", file=sys.stderr)
            proc = physnn(*args, capture=False)
            if proc.returncode != 0:
                print(f"seed {seed}: the run failed (exit {proc.returncode})", file=sys.stderr)
                return 1
        records[seed] = json.loads(path.read_text())
    first = records[a.seeds[0]]
    reference = first.get("reference", {})
    metrics = a.metrics or [k for k in reference if k in first["metrics"]]
    missing = [m for m in metrics if any(m not in r["metrics"] for r in records.values())]
    if missing:
        print(f"metrics {missing} are not in every record; the record has "
              f"{sorted(first['metrics'])}", file=sys.stderr)
        return 2
    summary = {}
    width = max(len(m) for m in metrics)
    head = f"{a.name}{' (quick)' if a.quick else ''}, seeds {a.seeds}"
    print(head + (f", --set {' '.join(a.sets)}" if a.sets else ""))
    print(f"{'metric'.ljust(width)}  " + "  ".join(f"{'seed ' + str(s):>9}" for s in a.seeds)
          + "  mean +- std (min, max)  reference")
    for m in metrics:
        values = [float(records[s]["metrics"][m]) for s in a.seeds]
        st = spread(values)
        summary[m] = {**st, "values": dict(zip(map(str, a.seeds), values, strict=True)),
                      "reference": reference.get(m)}
        print(f"{m.ljust(width)}  " + "  ".join(f"{v:9.4g}" for v in values)
              + f"  {st['mean']:.4g} +- {st['std']:.2g} ({st['min']:.4g}, {st['max']:.4g})"
              + (f"  {reference[m]}" if m in reference else ""))
    if a.json:
        a.json.write_text(json.dumps({"experiment": a.name, "quick": a.quick, "sets": a.sets,
                                      "seeds": a.seeds, "metrics": summary,
                                      "commits": {str(s): r.get("commit") for s, r in
                                                  records.items()}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
