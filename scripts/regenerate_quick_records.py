"""Rerun experiments' quick configurations and rewrite their committed quick records.

    python scripts/regenerate_quick_records.py [NAME ...]    # default: every experiment
    python scripts/regenerate_quick_records.py --into DIR [NAME ...]   # elsewhere, to compare

Each experiment runs as a user runs it (``physnn run NAME --quick``, in a child process, with
the compilation cache off so that nothing of an earlier build is reused) into a temporary
folder; its ``results.json`` (metrics, configuration, commit and versions) becomes
``records/NAME/quick/results.json``. Figures are not kept: the quick record is what the slow
test tier compares (``tests/test_records.py``, against the quick run that the tier makes once
per experiment), and its figures would add binary churn to every change that moves a record.
A change that moves a record must regenerate it in the same change with this script; commit
it from a clean working tree, so that the record's ``commit`` names the code that made it (a
``+dirty`` commit is reported). Extra arguments after ``--`` go to every ``physnn run`` (e.g.
``-- --cpu-devices 1``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    names = argv[:argv.index("--")] if "--" in argv else argv
    into = ROOT / "records"
    if "--into" in names:  # write NAME/quick/results.json under another folder (to compare)
        i = names.index("--into")
        into, names = Path(names[i + 1]), names[:i] + names[i + 2:]
    from physnn.experiment import discover

    known = list(discover())
    unknown = [n for n in names if n not in known]
    if unknown:
        print(f"unknown experiment(s) {unknown}; choose from {known}", file=sys.stderr)
        return 2
    env = {**os.environ, "PHYSNN_COMPILATION_CACHE": "0", "MPLBACKEND": "Agg"}
    for name in names or known:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / name
            cmd = [sys.executable, "-m", "physnn.cli", "run", name, "--quick", "--out", str(out),
                   *extra]
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                print(proc.stdout[-2000:], proc.stderr[-4000:], sep="\n", file=sys.stderr)
                print(f"{name}: the quick run failed (exit {proc.returncode})", file=sys.stderr)
                return 1
            dest = into / name / "quick"
            dest.mkdir(parents=True, exist_ok=True)
            before = (json.loads((dest / "results.json").read_text())["metrics"]
                      if (dest / "results.json").exists() else None)
            shutil.copyfile(out / "results.json", dest / "results.json")
            rec = json.loads((dest / "results.json").read_text())
            now = rec["metrics"]
            moved = ("new" if before is None else
                     f"{sum(before.get(k) != now.get(k) for k in now.keys() | before.keys())} "
                     "changed")
            print(f"{name}: {len(rec['metrics'])} metrics ({moved}), {rec['wall_s']:.1f} s, "
                  f"commit {rec.get('commit')} -> {dest}/results.json")
            if str(rec.get("commit", "")).endswith("+dirty"):
                print(f"{name}: made from a working tree with uncommitted changes; regenerate "
                      "from a clean tree before committing the record", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
