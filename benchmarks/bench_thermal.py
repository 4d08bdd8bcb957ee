r"""Benchmark: what thermal noise costs the vowel network, deterministic (0 K) against stochastic
(300 K) solves.

Workload: the four coupled oscillators of ``romera2018`` (full configuration: 500 ns
presentations, 1 ns steps) as ``romera2018-thermal`` uses them:

1. **presentation**: all 259 tokens (padded to 320) presented in one batched solve and measured
   (readout (b)'s 16 observables), what testing a model at a temperature costs per noise draw;
2. **gradient step**: one step of readout (b)'s training (``romera2018``'s ``gradient.grad_step``:
   forward solve, reverse-mode gradient through it, Adam update) on fold 0's training tokens, what
   training through the noise costs per step.

Each at 0 K (an ODE: no diffusion term) and at 300 K (an SDE: the same solver with a Brownian
increment per step, drawn from a key), side by side in one process; each timing is the best of
``repeats`` after one untimed call, and the first call's time (trace, compile, run) is reported
too.

Run: ``python benchmarks/bench_thermal.py`` (about a minute on 2 cores), ``--repeats N``.
Writes ``benchmarks/results/bench_thermal.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from _timing import best_of  # benchmarks/_timing.py, beside this script

import experiments.romera2018 as romera
import experiments.romera2018.thermal as rt
from experiments.romera2018 import data, gradient, measure
from experiments.romera2018 import model as M


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    config = romera.FULL
    x, y, spk, folds, n_pad = data.load_folds(config)
    tr = folds[0][0]
    model = gradient.fit_readout(M.initial_model(x[tr], config, "linear"), x[tr], y[tr], config, n_pad=n_pad)
    xs_all = jnp.asarray(data.pad_tokens(x)[0])
    xp, yp, wp = data.pad_tokens(x[tr], y[tr], n=n_pad)
    xs, ys, ws = jnp.asarray(xp), jnp.asarray(yp), jnp.asarray(wp)
    opt = gradient.optimizer(config.grad_lr, config.grad_lr_current, config.grad_lr_coupling,
                             config.grad_steps)
    sigma = float(data.formant_scale_spread(x[tr], y[tr], spk[tr]))
    present = eqx.filter_jit(measure.present_features)
    rows = {}
    for temp in (0.0, 300.0):
        m = rt.at_temperature(model, temp)
        key = jax.random.key(1)
        params, static = eqx.partition(m, gradient.trainable(m))
        state = opt.init(params)

        def step(params=params, static=static, state=state, key=key):
            return gradient.grad_step(params, static, state, xs, ys, ws, jnp.float32(1.0),
                                      jnp.float32(config.readout_l2), key, opt, jnp.float32(sigma))

        t0 = time.perf_counter()
        jax.block_until_ready(present(m, xs_all, key=key))
        first_present = time.perf_counter() - t0
        t0 = time.perf_counter()
        jax.block_until_ready(step())
        first_step = time.perf_counter() - t0
        rows[f"{temp:g}K"] = {
            "present_s": best_of(lambda m=m, key=key: present(m, xs_all, key=key), repeats=args.repeats),
            "grad_step_s": best_of(step, repeats=args.repeats),
            "present_first_call_s": first_present, "grad_step_first_call_s": first_step,
        }
    cold, hot = rows["0K"], rows["300K"]
    ratio = {k: hot[k] / cold[k] for k in cold}
    print(f"romera2018 network, {len(x)} tokens padded to {xs_all.shape[0]} (presentation), "
          f"{len(tr)} training tokens padded to {n_pad} (gradient step); t1 = {config.t1_ns} ns, "
          f"dt = {config.dt_ns} ns; best of {args.repeats}")
    print(f"{'':<34}{'0 K (ODE)':>12}{'300 K (SDE)':>13}{'ratio':>8}")
    for k, label in (("present_s", "presentation of 320 tokens"), ("grad_step_s", "gradient step"),
                     ("present_first_call_s", "presentation, first call"),
                     ("grad_step_first_call_s", "gradient step, first call")):
        print(f"{label:<34}{cold[k]:>11.3f}s{hot[k]:>12.3f}s{ratio[k]:>7.2f}x")
    out = Path(__file__).resolve().parent / "results" / "bench_thermal.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "ratio_300K_over_0K": ratio, "repeats": args.repeats,
                               "devices": len(jax.devices()), "numpy": np.__version__,
                               "jax": jax.__version__}, indent=2))


if __name__ == "__main__":
    main()
