"""Compare two experiment records (results.json) key by key, leaving out what a rerun of the same
computation changes: wall times (keys starting with ``wall``, and ``timings_s``), ``versions``
and ``commit``.

    python scripts/compare_records.py BEFORE/results.json AFTER/results.json

Prints every difference (path: before -> after) and exits 1 if there is any. The restructuring
of issue 33 used it to show that the quick records are the same before and after the move
(CHANGELOG.md).
"""

from __future__ import annotations

import json
import math
import sys

SKIP = {"wall_s", "timings_s", "versions", "commit"}


def differences(before, after, path: str = "") -> list[str]:
    """Every place where ``after`` differs from ``before`` (NaN equals NaN)."""
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for k in sorted(set(before) | set(after)):
            if k in SKIP or k.startswith("wall"):
                continue
            if k not in before or k not in after:
                out.append(f"{path}/{k}: only in {'after' if k in after else 'before'}")
            else:
                out += differences(before[k], after[k], f"{path}/{k}")
        return out
    if isinstance(before, list) and isinstance(after, list):
        if len(before) != len(after):
            return [f"{path}: length {len(before)} -> {len(after)}"]
        return [d for i, (u, v) in enumerate(zip(before, after, strict=True))
                for d in differences(u, v, f"{path}[{i}]")]
    both_nan = all(isinstance(x, float) and math.isnan(x) for x in (before, after))
    return [] if before == after or both_nan else [f"{path}: {before!r} -> {after!r}"]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    with open(argv[0]) as f, open(argv[1]) as g:
        before, after = json.load(f), json.load(g)
    diffs = differences(before, after)
    name = after.get("experiment", argv[1])
    print(f"{name}: {len(diffs)} differences" + ("" if diffs else " (wall times, versions and "
                                                  "commit left out)"))
    for d in diffs:
        print("  ", d)
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
