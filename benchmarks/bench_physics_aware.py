r"""Benchmark: what a step of in-situ (physics-aware) training costs against a plain gradient
step through the same solve.

Workload: four coupled spin-torque oscillators (``physnn.STONetwork``, T = 0 K, coupling
0.003/ns) driven by two RF tones, ``--samples`` input pairs in one batched solve of 500 ns at
dt = 0.5 ns (rotating frame, Tsit5); the loss is the mean oscillation power over the last half.
The "chip" is one ``codesign.fabricate`` draw of that network (frequencies 1 %, thresholds 5 %);
the design variables are the four DC currents.

Compared, in one process, jitted, the best of ``--repeats`` runs after a warm-up:

1. **forward**: the loss on the chip alone (one measurement);
2. **plain gradient**: ``jax.value_and_grad`` through the chip's solve (what a perfect model of
   the chip would give);
3. **physics_aware, nominal model**: ``codesign.physics_aware(chip, nominal)``: the chip's solve
   forward, then the nominal network's solve forward and backward for the Jacobian;
4. **physics_aware(f, f)**: the chip as its own model, which gives the plain gradient (checked)
   through the wrapper: the wrapper's own overhead.

Run: ``python benchmarks/bench_physics_aware.py`` (under a minute on 2 cores); writes
``benchmarks/results/bench_physics_aware.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from _timing import best_of  # benchmarks/_timing.py, beside this script

import physnn as pn
from physnn import codesign

RESULTS = Path(__file__).resolve().parent / "results" / "bench_physics_aware.json"
T1 = 500.0


def setup(samples: int):
    nominal = pn.STONetwork(n_oscillators=4, current_ma=jnp.array([6.5, 7.0, 7.5, 8.0]),
                            coupling=0.003 * (1 - jnp.eye(4)), rf_coupling=jnp.full((4, 2), 0.002),
                            temperature_k=0.0)
    # one chip, its axis broadcast against the inputs' (batch (1, samples)); the loss averages it
    chip = codesign.fabricate(nominal, jax.random.key(7), {"f0_ghz": 0.01, "threshold_ma": 0.05}, 1,
                              batch_ndim=1)
    freqs = 0.29 + 0.04 * jax.random.uniform(jax.random.key(0), (samples, 2))
    return nominal, chip, pn.Tones(freqs, amps=0.5)


def loss_on(dev, tones):
    def f(currents):
        d = eqx.tree_at(lambda m: m.current_ma, dev, currents)
        tr = pn.simulate(d, tones, t1=T1, dt=0.5, saveat=np.linspace(T1 / 2, T1, 26))
        return jnp.mean(tr.obs["power"])
    return f


def measure(samples: int, repeats: int) -> dict:
    nominal, chip, tones = setup(samples)
    on_chip, on_model = loss_on(chip, tones), loss_on(nominal, tones)
    fns = {
        "forward": jax.jit(on_chip),
        "plain gradient": jax.jit(jax.value_and_grad(on_chip)),
        "physics_aware, nominal model": jax.jit(jax.value_and_grad(
            codesign.physics_aware(on_chip, on_model))),
        "physics_aware(f, f)": jax.jit(jax.value_and_grad(codesign.physics_aware(on_chip, on_chip))),
    }
    c = nominal.current_ma
    plain = fns["plain gradient"](c)[1]
    same = fns["physics_aware(f, f)"](c)[1]
    pat = fns["physics_aware, nominal model"](c)[1]
    times = {name: best_of(f, c, repeats=repeats, warmup=True) for name, f in fns.items()}
    base = times["plain gradient"]
    return {
        "samples": samples, "repeats": repeats,
        "seconds": times, "ratio_to_plain_gradient": {k: v / base for k, v in times.items()},
        "ff_gradient_rel_difference": float(jnp.max(jnp.abs(same - plain)) / jnp.max(jnp.abs(plain))),
        "nominal_model_gradient_rel_difference": float(jnp.max(jnp.abs(pat - plain))
                                                       / jnp.max(jnp.abs(plain))),
        "jax": jax.__version__, "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(), "command": "python benchmarks/bench_physics_aware.py",
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, nargs="+", default=[16, 128])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    report = [measure(n, args.repeats) for n in args.samples]
    print(f"{'samples':>7} {'step':>30} | {'time':>10} {'x plain gradient':>16}")
    for r in report:
        for name, t in r["seconds"].items():
            ratio = r["ratio_to_plain_gradient"][name]
            print(f"{r['samples']:>7} {name:>30} | {t * 1e3:7.1f} ms {ratio:16.2f}")
        print(f"{'':>7} gradient differences from the plain one (relative): physics_aware(f, f) "
              f"{r['ff_gradient_rel_difference']:.1g}, nominal model "
              f"{r['nominal_model_gradient_rel_difference']:.2g}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
