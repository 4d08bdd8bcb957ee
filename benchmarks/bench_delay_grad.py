r"""Benchmark: the delay derivative d x(T)/d tau against an exact reference (order), and its cost.

    python benchmarks/bench_delay_grad.py [--quick]

**Convergence.** The test system (that of ``tests/test_delay_gradient.py``, whose reference this
script imports) is the linear delay equation $x' = a x + b x(t-\tau) + c J(t)$, $a = -0.6$,
$b = 0.45$, $c = 0.8$, history $x = 1$ for $t \le 0$, $T = 3$, either free ($J = 0$) or driven by
a :class:`physnn.Masked` input (4 virtual nodes of $\theta = 0.1$, an input jump every
$\theta$). The reference is exact: the method of steps in closed form (on each interval between
breakpoints $x = P(t) + e^{at}Q(t)$ with polynomials $P$, $Q$), its $\tau$-derivative by a
central difference (step 1e-6, error ~1e-10). physnn's value is ``jax.grad`` of
``simulate(...).ys[-1]`` with respect to the delay, float64, at dt = 0.025, 0.0125, 0.00625
(``--quick``: the first two), for delays strictly inside a step at every dt
($\tau = (46 + 1/3)\,dt_0$, at 1/3, 2/3, 1/3 of a step), on the step grid
($\tau = 46\,dt_0 = 11.5\theta$) and on the node grid ($\tau = 40\,dt_0 = 10\theta$); and the
worst over five positions of the delay in a step at each dt ($\tau = (\mathrm{round}(1.15/dt) +
f)\,dt$, $f = 0, 1/4, 1/3, 1/2, 3/4$). Printed: the relative error of the derivative at each
dt, the observed orders $\log_2(e(dt)/e(dt/2))$ and the largest relative error of $x(T)$.

**Cost.** A traced delay (``jax.jit`` of the solve, and of ``jax.grad`` with respect to the
delay) for a Mackey-Glass reservoir node (N = 50 virtual nodes, theta = 0.2, tau = 51 theta,
a batch of 8 series of 40 samples): the vectorised method of steps (``min_delay`` given) and
the step-by-step scan, dt = theta and theta/4. Medians of 7 runs after a first call, and the
first call (trace + compile + run).

To print the same for another version of physnn (e.g. the integrator before discontinuity
tracking), put that version's package first on the path:
``git archive e5f29b6 physnn | tar -x -C /tmp/old && PYTHONPATH=/tmp/old python
benchmarks/bench_delay_grad.py``. The header names the physnn that was imported.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import physnn as pn  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import test_delay_gradient as ref  # noqa: E402  (the exact reference and the test device)

RESULTS = Path(__file__).resolve().parent / "results" / "bench_delay_grad.json"


def convergence_table(dts):
    cases = [("free", False), ("driven", True)]
    taus = [("(K+1/3) dt0", (ref.K_STEPS + 1 / 3) * ref.DTS[0]),
            ("11.5 theta", ref.K_STEPS * ref.DTS[0]), ("10 theta", 40 * ref.DTS[0])]
    print(f"x' = {ref.A} x + {ref.B} x(t - tau) + {ref.C} J(t), history 1, T = {ref.T_END}; "
          f"driven: Masked, theta = {ref.THETA}")
    head = (f"{'case':7s} {'tau':12s} {'tau/dt0':>8s} "
            + " ".join(f"{'err dt=' + format(d, 'g'):>14s}" for d in dts)
            + "  " + " ".join(f"{'order':>6s}" for _ in dts[1:]) + f"  {'max fwd err':>11s}")
    print(head)
    rows = []
    for case, driven in cases:
        for label, tau in taus:
            fwd, grad, orders = ref.convergence(tau, driven, dts=dts)
            rows.append({"case": case, "tau": label, "tau_over_dt0": tau / ref.DTS[0],
                         "grad_rel_err": grad.tolist(), "orders": orders.tolist(),
                         "max_fwd_rel_err": float(fwd.max())})
            print(f"{case:7s} {label:12s} {tau / ref.DTS[0]:8.3f} "
                  + " ".join(f"{e:14.2e}" for e in grad)
                  + "  " + " ".join(f"{o:6.2f}" for o in orders) + f"  {fwd.max():11.1e}",
                  flush=True)
        worst, orders = ref.worst_position(driven, dts=dts)
        rows.append({"case": case, "tau": "worst position", "grad_rel_err": worst.tolist(),
                     "orders": orders.tolist()})
        print(f"{case:7s} {'worst pos.':12s} {'':8s} " + " ".join(f"{e:14.2e}" for e in worst)
              + "  " + " ".join(f"{o:6.2f}" for o in orders), flush=True)
    return rows


def cost_table(repeats):
    n_nodes, theta = 50, 0.2
    rng = np.random.default_rng(0)
    drive = pn.Masked(jnp.asarray(rng.uniform(0, 0.5, (8, 40))),
                      jnp.asarray(0.1 * rng.choice([-1.0, 1.0], n_nodes)), theta)
    node = pn.MackeyGlassNode(eta=0.7, gamma=0.3, n_nodes=n_nodes, theta=theta, desync=1)
    tau0 = float(node.delay)
    print(f"\nMackeyGlassNode N = {n_nodes}, theta = {theta}, tau = {tau0:g}, batch 8 x 40 samples, "
          "traced delay; ms (median of runs after the first) / first call s")
    print(f"{'path':10s} {'dt':>8s} {'forward':>16s} {'gradient':>16s}")
    rows = []
    for vec, path in ((None, "windowed"), (False, "scan")):
        for n_sub in (1, 4):
            def loss(tau, n_sub=n_sub, vec=vec):
                nd = eqx.tree_at(lambda m: m.delay, node, tau)
                ys = pn.delay.simulate_delay(nd, drive, dt=theta / n_sub, observe=False,
                                             max_delay=1.2 * tau0, min_delay=0.8 * tau0,
                                             vectorise=vec).ys
                return jnp.sum(ys ** 2)

            cells, row = [], {"path": path, "dt": theta / n_sub}
            fns = (jax.jit(loss), jax.jit(jax.grad(loss)))
            for name, fn in zip(("forward", "gradient"), fns, strict=True):
                tau = jnp.asarray(tau0)
                start = time.perf_counter()
                jax.block_until_ready(fn(tau))
                first = time.perf_counter() - start
                times = []
                for _ in range(repeats):
                    start = time.perf_counter()
                    jax.block_until_ready(fn(tau))
                    times.append(time.perf_counter() - start)
                cells.append(f"{1e3 * np.median(times):7.1f} / {first:5.2f}")
                row[name] = {"median_ms": 1e3 * float(np.median(times)), "first_call_s": first}
            rows.append(row)
            print(f"{path:10s} {theta / n_sub:8.3g} {cells[0]:>16s} {cells[1]:>16s}", flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="two step sizes, 3 timing runs")
    parser.add_argument("--json", type=Path, default=RESULTS, help=f"results file ({RESULTS.name})")
    args = parser.parse_args(argv)
    print(f"physnn: {Path(pn.__file__).parent}; jax {jax.__version__}, float64")
    dts = ref.DTS[:2] if args.quick else ref.DTS
    results = {"benchmark": "bench_delay_grad", "physnn": str(Path(pn.__file__).parent),
               "date": time.strftime("%Y-%m-%d %H:%M"), "quick": args.quick, "dts": list(dts),
               "machine": f"{platform.machine()}, {platform.system()}",
               "versions": {"jax": jax.__version__, "numpy": np.__version__},
               "convergence": convergence_table(dts), "cost": cost_table(3 if args.quick else 7)}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1))
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
