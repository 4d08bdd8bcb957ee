r"""Benchmark: a robust co-design objective over n fabricated chips, as one solve with the chips in
the state (``physnn.codesign.fabricate``) against ``jax.vmap`` over per-chip solves and a Python
loop over them.

Workload: the objective of ``notebooks/getting_started.ipynb``, section 6, and of
``tests/test_codesign.py``'s robust design. One spin-torque oscillator (``physnn.STONetwork``
defaults, T = 0 K) whose design variables, the DC current in [6.5, 15] mA and the tunability N/2pi
in [5, 200] MHz, are held by ``codesign.constrain``; n chips with a 5 % lognormal spread of the
current (``fabricate``, key 5); each relaxes from p = 0.16 for 1500 ns at dt = 1 ns (rotating
frame, Tsit5); J = mean over chips of (f_c - 308 MHz)^2 / MHz^2 + 0.3 P_c / mW, with the frequency
at the end and the DC power averaged over the last 100 ns (``codesign.energy``).

Compared, in one process, for n = 32 and 256 chips:

1. **one solve**: ``fabricate`` puts the chips on a leading ensemble axis of the device, and one
   ``physnn.simulate`` advances them all (the batch inside the state, as DESIGN.md recommends);
2. **vmap**: ``jax.vmap`` over the chips of a function that builds one chip's device and
   simulates it;
3. **loop**: a Python loop over the chips of one jitted single-chip solve (the gradient: one
   jitted single-chip gradient per chip, summed).

Timed: the jitted objective (forward) and its gradient with respect to the design variables
(``eqx.filter_value_and_grad``), the best of ``--repeats`` runs after one warm-up call. Also
printed: the largest difference of J and of the gradient from the one-solve values (relative).

Run: ``python benchmarks/bench_codesign.py`` (about a minute on 2 cores); writes
``benchmarks/results/bench_codesign.json``.
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

RESULTS = Path(__file__).resolve().parent / "results" / "bench_codesign.json"
F_TARGET, LAM, T1 = 0.308, 0.3, 1500.0
SAVE = np.array([T1 - 100.0, T1])


def design():
    sto = pn.STONetwork(temperature_k=0.0)
    return codesign.constrain(sto, {"current_ma": (6.5, 15.0), "nonlinear_shift_ghz": (0.005, 0.2)})


def chip_currents(d, n):
    return codesign.fabricate(d.device, jax.random.key(5), {"current_ma": 0.05}, n,
                              distribution="lognormal").current_ma


def terms(dev, batch):
    """(f - f*)^2/MHz^2 + 0.3 P/mW per chip of ``dev`` (batch shape ``batch``)."""
    y0 = jnp.broadcast_to(jnp.array([[0.4], [0.0]]), batch + (2, 1))
    tr = pn.simulate(dev, None, t1=T1, dt=1.0, y0=y0, saveat=SAVE)
    f = tr.obs["frequency_ghz"][-1, ..., 0]
    watts = codesign.energy(dev, tr) / 100e-9
    return ((f - F_TARGET) * 1e3) ** 2 + LAM * watts * 1e3


def one_solve(d, n):
    chips = eqx.tree_at(lambda m: m.current_ma, d.device, chip_currents(d, n))
    return jnp.mean(terms(chips, (n,)))


def vmapped(d, n):
    dev = d.device
    per_chip = jax.vmap(lambda i: terms(eqx.tree_at(lambda m: m.current_ma, dev, i), ()))
    return jnp.mean(per_chip(chip_currents(d, n)))


def single(d, factor):
    """One chip: the design's current times the chip's factor (fabricate's lognormal factor
    does not depend on the nominal value, so this is the chip ``fabricate`` draws)."""
    dev = d.device
    return terms(eqx.tree_at(lambda m: m.current_ma, dev, dev.current_ma * factor), ())


def measure(ns, repeats: int) -> dict:
    d = design()

    def best(f, *args):
        return best_of(f, *args, repeats=repeats, warmup=True)

    single_f = eqx.filter_jit(single)
    single_g = eqx.filter_jit(eqx.filter_value_and_grad(single))
    rows = []
    for n in ns:
        fwd = {"one solve": eqx.filter_jit(lambda d, n=n: one_solve(d, n)),
               "vmap": eqx.filter_jit(lambda d, n=n: vmapped(d, n))}
        grd = {k: eqx.filter_jit(eqx.filter_value_and_grad(f)) for k, f in
               (("one solve", lambda d, n=n: one_solve(d, n)), ("vmap", lambda d, n=n: vmapped(d, n)))}
        factors = chip_currents(d, n) / d.device.current_ma

        def loop_forward(d, factors=factors):
            return sum(single_f(d, c) for c in factors) / len(factors)

        def loop_grad(d, factors=factors):
            out = [single_g(d, c) for c in factors]
            value = sum(v for v, _ in out) / len(out)
            grads = jax.tree_util.tree_map(lambda *g: sum(g) / len(g), *[g for _, g in out])
            return value, grads

        fwd["loop"], grd["loop"] = loop_forward, loop_grad
        ref_j, ref_g = grd["one solve"](d)
        ref_raw = np.concatenate([np.ravel(x) for x in jax.tree_util.tree_leaves(ref_g.raw)])
        row = {"chips": n}
        for name in ("one solve", "vmap", "loop"):
            j, g = grd[name](d)
            raw = np.concatenate([np.ravel(x) for x in jax.tree_util.tree_leaves(g.raw)])
            row[name] = {"forward_s": best(fwd[name], d), "gradient_s": best(grd[name], d),
                         "objective_rel_difference": abs(float(j) / float(ref_j) - 1),
                         "gradient_rel_difference": float(np.max(np.abs(raw - ref_raw))
                                                          / np.max(np.abs(ref_raw)))}
        for name in ("vmap", "loop"):
            row[name]["forward_ratio"] = row[name]["forward_s"] / row["one solve"]["forward_s"]
            row[name]["gradient_ratio"] = row[name]["gradient_s"] / row["one solve"]["gradient_s"]
        rows.append(row)
    return {"rows": rows, "repeats": repeats, "jax": jax.__version__,
            "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "command": "python benchmarks/bench_codesign.py"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chips", type=int, nargs="+", default=[32, 256])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    report = measure(args.chips, args.repeats)
    ms = lambda x: f"{x * 1e3:8.1f} ms"  # noqa: E731
    print(f"{'chips':>5} {'layout':>9} | {'forward':>11} {'x one solve':>11} | {'gradient':>11} "
          f"{'x one solve':>11} | difference of J, gradient")
    for r in report["rows"]:
        for name in ("one solve", "vmap", "loop"):
            c = r[name]
            fr = f"{c['forward_ratio']:11.2f}" if "forward_ratio" in c else f"{'1':>11}"
            gr = f"{c['gradient_ratio']:11.2f}" if "gradient_ratio" in c else f"{'1':>11}"
            print(f"{r['chips']:>5} {name:>9} | {ms(c['forward_s']):>11} {fr} | "
                  f"{ms(c['gradient_s']):>11} {gr} | {c['objective_rel_difference']:.1g}, "
                  f"{c['gradient_rel_difference']:.1g}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
