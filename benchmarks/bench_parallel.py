r"""Benchmark: one batched STO solve on one device against the same solve split over k devices
(``physnn.parallel.shard``).

Workload: the STO benchmark's network (4 coupled oscillators, currents 6.5-8.5 mA, coupling
0.003/ns, two RF tones per sample, T = 0 K), 1000 ns at dt = 1 ns (rotating frame, Tsit5), final
powers saved; batches of 256 and 1024 samples. Timed: the jitted forward solve, and the
reverse-mode gradient of the summed final powers with respect to the device (currents, coupling,
...); the best of ``--repeats`` runs after one warm-up call.

On a CPU, XLA runs one device's program on about one core for a solve of this size. The CPU can
be presented as k devices (``XLA_FLAGS=--xla_force_host_platform_device_count=k``, set before jax
starts), so the benchmark runs itself in a child process with k = the number of cores, and times
both layouts in that one process, side by side: every input on the first device, and the batch
split over all k ("split"), and for the gradient also each device differentiating its own
part of the batch (``physnn.parallel.sum_over_shards``, "parts"). It also prints how far the
split results are from the one-device ones (gradients: relative to the gradient's largest entry).

Run: ``python benchmarks/bench_parallel.py`` (under a minute on 2 cores). Writes
``benchmarks/results/bench_parallel.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "bench_parallel.json"
BATCHES = (256, 1024)


def measure(repeats: int) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np
    from _timing import best_of  # benchmarks/_timing.py, beside this script

    import physnn as pn
    from physnn import parallel

    sto = pn.STONetwork(current_ma=jnp.linspace(6.5, 8.5, 4), coupling=0.003 * (1 - jnp.eye(4)),
                        rf_coupling=jnp.full((4, 2), 0.002), temperature_k=0.0)

    def powers(dev, tones):
        return pn.simulate(dev, tones, t1=1000.0, dt=1.0, saveat="final").obs["power"]

    def total(dev, tones):
        return jnp.sum(powers(dev, tones))

    forward = jax.jit(powers)
    grad = jax.jit(jax.grad(total))

    def best(f, *args):
        return best_of(f, *args, repeats=repeats, warmup=True)

    rows = []
    k = len(jax.devices())
    for b in BATCHES:
        rng = np.random.default_rng(0)
        tones = pn.Tones(jnp.asarray(rng.uniform(0.29, 0.33, (b, 2)), jnp.float32),
                         amps=jnp.asarray(rng.uniform(0.5, 1.0, (b, 2)), jnp.float32))
        split = parallel.shard(tones, b)
        same_p = float(np.max(np.abs(np.asarray(forward(sto, tones))
                                     - np.asarray(forward(sto, split)))))
        parts = jax.jit(lambda dev, tones, b=b: parallel.sum_over_shards(
            lambda part: jax.grad(total)(dev, part), tones, b))

        ref = np.asarray(grad(sto, tones).current_ma)

        def rel(g, ref=ref):  # largest difference from the one-device gradient, relative to its scale
            return float(np.max(np.abs(np.asarray(g.current_ma) - ref)) / np.max(np.abs(ref)))

        row = {"batch": b, "devices": k,
               "forward_one_s": best(forward, sto, tones), "forward_split_s": best(forward, sto, split),
               "grad_one_s": best(grad, sto, tones), "grad_split_s": best(grad, sto, split),
               "grad_parts_s": best(parts, sto, tones),
               "max_abs_power_difference": same_p,
               "gradient_difference_split": rel(grad(sto, split)),
               "gradient_difference_parts": rel(parts(sto, tones))}
        row["forward_speedup"] = row["forward_one_s"] / row["forward_split_s"]
        row["grad_speedup"] = row["grad_one_s"] / row["grad_split_s"]
        row["grad_parts_speedup"] = row["grad_one_s"] / row["grad_parts_s"]
        rows.append(row)
    return {"rows": rows, "jax": jax.__version__, "backend": jax.default_backend()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=os.cpu_count() or 1,
                        help="k, the number of CPU devices to split over (default: the cores)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.repeats)))
        return
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} "
                         f"--xla_force_host_platform_device_count={args.devices}".strip())
    child = subprocess.run([sys.executable, __file__, "--child", "--repeats", str(args.repeats)],
                           env=env, capture_output=True, text=True, check=True)
    report = json.loads(child.stdout.strip().splitlines()[-1])
    report.update(cpu=platform.processor() or platform.machine(), cores=os.cpu_count(),
                  command="python benchmarks/bench_parallel.py")
    print(f"{'batch':>6} {'devices':>7} | {'forward: 1 dev':>14} {'split':>9} {'ratio':>5} | "
          f"{'gradient: 1 dev':>15} {'split':>9} {'ratio':>5} {'parts':>9} {'ratio':>5} | "
          "differences")
    for r in report["rows"]:
        ms = lambda x: f"{x * 1e3:6.1f} ms"  # noqa: E731
        print(f"{r['batch']:>6} {r['devices']:>7} | {ms(r['forward_one_s']):>14} "
              f"{ms(r['forward_split_s']):>9} {r['forward_speedup']:5.2f} | "
              f"{ms(r['grad_one_s']):>15} {ms(r['grad_split_s']):>9} {r['grad_speedup']:5.2f} "
              f"{ms(r['grad_parts_s']):>9} {r['grad_parts_speedup']:5.2f} | "
              f"power {r['max_abs_power_difference']:.1g}, gradient split "
              f"{r['gradient_difference_split']:.1g}, parts {r['gradient_difference_parts']:.1g}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
