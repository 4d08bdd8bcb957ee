r"""Benchmark: compile once across folds in ``romera2018`` (readout (b), end-to-end training).

The experiment trains readout (b) once per fold and variant (coupled and uncoupled). The folds of
a speaker-independent split differ in size by a speaker or two, so each would present a new
shape to the batched solve and the jitted gradient step, and compile again (seconds each).
``train_gradient(..., n_pad=N)`` pads every fold to one token count with weight-0 rows, and the
uncoupled variant masks the coupling gradient instead of changing what is trainable, so one
compiled step serves them all.

Compared side by side, each case in its own fresh Python process (so that no case inherits
another's compilation cache), on the quick configuration (2 folds, t1 = 400 ns,
``grad_steps`` = 20):

1. **per-fold shapes**: ``n_pad`` = the fold's own size (what the experiment did before);
2. **one padded shape**: ``n_pad`` = the largest fold (what it does now).

Each case trains (b) on both folds, coupled then uncoupled (4 trainings), and reports the wall
time and the number of traces of the gradient step. Then the whole quick experiment
(``physnn run romera2018 --quick``, cold, in a fresh process) is timed against its 2-minute
target.

Run: ``python benchmarks/bench_romera.py`` (about 3 minutes on 2 cores); writes
``benchmarks/results/bench_romera.json``.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

CASE = r"""
import json, sys, time
import numpy as np
import experiments.romera2018 as romera
from experiments.romera2018 import gradient, model
from physnn.tasks import load_romera, speaker_folds
data = load_romera()
x, y = data.features.astype(np.float32), data.labels
folds = speaker_folds(data.speakers, n_folds=2, seed=0)
config = romera.QUICK
padded = sys.argv[1] == "padded"
n_max = max(len(tr) for tr, _ in folds)
traces = []
logits = gradient.logits
def counting(model, feats):
    traces.append(1)  # called only while the step is traced (train_gradient never calls it eagerly)
    return logits(model, feats)
gradient.logits = counting
t0 = time.perf_counter()
for tr, _ in folds:
    for coupled in (True, False):
        m = model.initial_model(x[tr], config, "linear", coupling=config.coupling if coupled else 0.0)
        gradient.train_gradient(m, x[tr], y[tr], config, train_coupling=coupled,
                                n_pad=n_max if padded else len(tr))
print(json.dumps({"seconds": time.perf_counter() - t0, "traces": len(traces),
                  "fold_sizes": [len(tr) for tr, _ in folds]}))
"""

QUICK_RUN = r"""
import tempfile, time
t0 = time.perf_counter()
from physnn import experiment
experiment.run_experiment("romera2018", quick=True, out=tempfile.mkdtemp())
print(time.perf_counter() - t0)
"""


def _run(code, *args):
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()
    return out[-1]


def main():
    rows = {}
    for case in ("per-fold", "padded"):
        rows[case] = json.loads(_run(CASE, case))
    t0 = time.perf_counter()
    quick = float(_run(QUICK_RUN))
    wall = time.perf_counter() - t0
    a, b = rows["per-fold"], rows["padded"]
    print(f"fold sizes {a['fold_sizes']}; 4 trainings of (b), quick config, fresh process each")
    print(f"{'case':<22}{'seconds':>9}{'step traces':>13}")
    for name, r in (("per-fold shapes", a), ("one padded shape", b)):
        print(f"{name:<22}{r['seconds']:>9.1f}{r['traces']:>13d}")
    print(f"speed-up of padding: {a['seconds'] / b['seconds']:.2f}x")
    print(f"physnn run romera2018 --quick, cold: {quick:.1f} s in the experiment "
          f"({wall:.1f} s with interpreter start); target < 120 s")
    out = Path(__file__).resolve().parent / "results" / "bench_romera.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"per_fold_shapes": a, "one_padded_shape": b,
                               "speedup": a["seconds"] / b["seconds"],
                               "quick_run_seconds": quick, "quick_run_wall_seconds": wall},
                              indent=2))


if __name__ == "__main__":
    main()
