r"""Benchmark: NARMA10 on a 400-node delay reservoir (physnn) against reservoirpy's echo state network.

Task. NARMA10 from :func:`physnn.tasks.narma10` (seed 0, u ~ U[0, 0.5]): 7200 steps after the
generator's own 200-step washout; the first 200 reservoir states are discarded (reservoir washout),
the next 5000 are the training set and the last 2000 the test set. ``y[k]`` is y(k+1), predicted
from the reservoir state after input ``u[k]``.

Compared, in one process, on the same data, with the same readout:

1. physnn's Mackey-Glass delay reservoir, :class:`physnn.MackeyGlassNode` (p = 1, N = 400 virtual
   nodes, theta = 0.2, tau = (N + 1) theta, ``desync=1``), input through :class:`physnn.Masked` with
   a random binary mask of +-0.1 (numpy seed 1), node states by the exact-in-theta map
   :func:`physnn.delay_map` reshaped by :func:`physnn.node_states`; in float32 and in float64.
2. The same node integrated in continuous time by :func:`physnn.simulate` (RK4 method of steps,
   dt = theta = 0.2), float64, at the (eta, gamma) chosen for the map. (In float32 this call
   stops with "delay left the range the history buffer was sized for": tau = 80.2 rounded to
   float32 exceeds the buffer bound by more than the check's 1e-9 relative tolerance.)
3. reservoirpy 0.4.2's echo state network, ``reservoirpy.nodes.Reservoir(400, sr, input_scaling,
   seed=0)`` with its defaults otherwise (numpy, float64, sparse W with 10 % connectivity, lr 1,
   tanh, no bias), run by ``Reservoir.run`` on the input column.
4. A numpy loop of the same map, written here from the equation
   $x_g = a\,x_{g-1} + (1-a)\,F(x_{g-D}, J_g)$, $a = e^{-\theta}$, $D = N + 1$,
   $F = \eta z/(1+z)$, $z = x_{g-D} + \gamma J_g$: a Python loop over blocks of D nodes (whose
   delayed inputs all lie in the previous block), the linear recurrence inside a block solved
   in closed form with numpy (``cumsum``). It must agree with ``physnn.delay_map`` to 1e-5
   (relative to the largest state); the script checks this and stops otherwise.

Readout, the same for all: :func:`physnn.readout.ridge_fit` on the 5000 x 400 training states
(float64, alpha by 5-fold CV on its default grid); test NRMSE by :func:`physnn.readout.nrmse`.
Hyper-parameters are chosen on a validation split of the training data (fit on the first 4000,
validate on the last 1000), never on the test set: (eta, gamma) of the node on a grid with the
float64 map, spectral radius and input scaling of the ESN on a grid. The chosen model is then
refitted on all 5000 training states and evaluated once on the test set.

Timing: "run" is input to (n_samples, 400) numpy state matrix; "fit" is ``ridge_fit``. Each
repeat runs every method once, in turn (interleaved, fairer under machine noise); the table gives
medians. The JAX rows are timed after a first call; that first full call (trace + compile + one
run, after ``jax.clear_caches()``) is reported separately, and so is the compile time alone,
measured as the first call on a 10-sample input (the compiled program does not depend on the input
length, the run on it takes milliseconds), as is reservoirpy's reservoir initialisation (weight
generation and spectral-radius scaling). "Cold" adds them: first call + fit for physnn,
initialisation + first run + fit for reservoirpy. ``OPENBLAS_NUM_THREADS`` defaults to 1 (set it to
override): on a shared 2-core machine a multi-threaded OpenBLAS made the same ridge fit take 0.7 to
13 s from call to call.

Run: ``python benchmarks/bench_delay.py`` (about 2-3 minutes on 2 cores; the continuous
integrator takes half of it), ``--quick`` for small grids, 2 repeats and no ``simulate`` row.
Needs reservoirpy (``pip install -e .[bench]``). Writes ``benchmarks/results/bench_delay.json``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

try:
    import reservoirpy
    from reservoirpy.nodes import Reservoir
except ImportError:  # pragma: no cover - depends on the environment
    sys.exit("bench_delay.py needs reservoirpy 0.4.2, a benchmark-only dependency: "
             "pip install 'reservoirpy==0.4.2' (or pip install -e '.[bench]')")

import equinox as eqx  # noqa: E402
import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)  # float64 readout weights; float32 rows are cast below

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import physnn  # noqa: E402
from physnn.readout import nrmse, ridge_fit  # noqa: E402
from physnn.tasks import narma10  # noqa: E402

N_NODES, THETA, DESYNC = 400, 0.2, 1
WASHOUT, N_TRAIN, N_TEST, N_VAL = 200, 5000, 2000, 1000
MASK_AMP, MASK_SEED, DATA_SEED, ESN_SEED = 0.1, 1, 0, 0
ETAS = (0.4, 0.6, 0.8, 0.9, 1.1, 1.3)
GAMMAS = (0.05, 0.2, 0.5, 1.0)
SRS = (0.6, 0.8, 0.9, 1.0, 1.2)
INPUT_SCALINGS = (0.1, 0.3, 1.0, 3.0)
AGREE_TOL = 1e-5
N_SHORT = 10  # input samples of the call that measures compile time
RESULTS = Path(__file__).resolve().parent / "results" / "bench_delay.json"

FIT = slice(WASHOUT, WASHOUT + N_TRAIN - N_VAL)
VAL = slice(WASHOUT + N_TRAIN - N_VAL, WASHOUT + N_TRAIN)
TRAIN = slice(WASHOUT, WASHOUT + N_TRAIN)
TEST = slice(WASHOUT + N_TRAIN, WASHOUT + N_TRAIN + N_TEST)


def make_data():
    u, y = narma10(WASHOUT + N_TRAIN + N_TEST, seed=DATA_SEED, washout=200)
    mask = MASK_AMP * np.random.default_rng(MASK_SEED).choice([-1.0, 1.0], N_NODES)
    return u, y, mask


def score(x, y, fit, evaluate):
    """ridge_fit on rows ``fit``, NRMSE on rows ``evaluate``."""
    readout = ridge_fit(x[fit], y[fit])
    return nrmse(np.asarray(readout.predict(x[evaluate])), y[evaluate])


# ------------------------------------------------------------------ the four reservoirs
def to_float32(tree):
    return jax.tree.map(lambda a: a.astype(jnp.float32) if eqx.is_inexact_array(a) else a, tree)


def mg_node(eta, gamma, dtype="float64"):
    node = physnn.MackeyGlassNode(eta, gamma, p=1, n_nodes=N_NODES, theta=THETA, desync=DESYNC)
    return to_float32(node) if dtype == "float32" else node


def physnn_map(node, u, mask):
    """(n_samples, N) states by the exact-in-theta map, as a numpy array."""
    drive = physnn.Masked(u, mask, THETA)
    return np.asarray(physnn.node_states(physnn.delay_map(node, drive), N_NODES))


def physnn_simulate(node, u, mask):
    """(n_samples, N) states by the continuous RK4 delay integrator, dt = theta."""
    drive = physnn.Masked(u, mask, THETA)
    return np.asarray(physnn.node_states(physnn.simulate(node, drive, dt=THETA).ys, N_NODES))


def numpy_map(u, mask, eta, gamma, theta=THETA, n_nodes=N_NODES, desync=DESYNC):
    """The same map in numpy: a loop over blocks of D = N + desync virtual nodes."""
    d = n_nodes + desync
    drive = (u[:, None] * mask[None, :]).reshape(-1)  # J_g, node-major within each sample
    g_total = drive.size
    n_blocks = -(-g_total // d)
    j = np.zeros(n_blocks * d)
    j[:g_total] = drive
    j = j.reshape(n_blocks, d)
    a = np.exp(-theta)
    # x_i = a^i (a x_last + sum_{l <= i} a^-l b_l) inside a block (a^-400 = e^80: fine in float64)
    up = a ** np.arange(d)
    down = a ** -np.arange(d)
    out = np.empty((n_blocks, d))
    prev = np.zeros(d)  # x_{g-D} for the current block: the previous block (history 0)
    for k in range(n_blocks):
        z = prev + gamma * j[k]
        b = (1.0 - a) * eta * z / (1.0 + z)
        prev = up * (a * prev[-1] + np.cumsum(b * down))
        out[k] = prev
    return out.reshape(-1)[:g_total].reshape(-1, n_nodes)


def esn(sr, input_scaling, u):
    """A fresh, initialised reservoirpy reservoir and its initialisation time."""
    reservoir = Reservoir(N_NODES, sr=sr, input_scaling=input_scaling, seed=ESN_SEED)
    start = time.perf_counter()
    reservoir.initialize(u[:, None])
    return reservoir, time.perf_counter() - start


def esn_run(reservoir, u):
    reservoir.reset()
    return reservoir.run(u[:, None])


# ------------------------------------------------------------------ hyper-parameters
def tune(u, y, mask, etas, gammas, srs, scalings):
    """Validation NRMSE grids (fit on FIT, score on VAL) and the best point of each."""
    mg = np.full((len(etas), len(gammas)), np.nan)
    for i, eta in enumerate(etas):
        for k, gamma in enumerate(gammas):
            x = physnn_map(mg_node(eta, gamma), u, mask)
            if np.all(np.isfinite(x)):  # the p = 1 node has a pole at z = -1
                mg[i, k] = score(x, y, FIT, VAL)
    i, k = np.unravel_index(np.nanargmin(mg), mg.shape)
    es = np.full((len(srs), len(scalings)), np.nan)
    for i2, sr in enumerate(srs):
        for k2, sc in enumerate(scalings):
            reservoir, _ = esn(sr, sc, u)
            es[i2, k2] = score(esn_run(reservoir, u), y, FIT, VAL)
    i2, k2 = np.unravel_index(np.nanargmin(es), es.shape)
    return {
        "mackey_glass": {"etas": list(etas), "gammas": list(gammas), "val_nrmse": mg.tolist(),
                         "eta": etas[i], "gamma": gammas[k], "best_val_nrmse": float(mg[i, k])},
        "esn": {"spectral_radii": list(srs), "input_scalings": list(scalings),
                "val_nrmse": es.tolist(), "sr": srs[i2], "input_scaling": scalings[k2],
                "best_val_nrmse": float(es[i2, k2])},
    }


# ------------------------------------------------------------------ timing
def first_call(f):
    jax.clear_caches()
    start = time.perf_counter()
    out = f()
    return out, time.perf_counter() - start


def timed(f):
    start = time.perf_counter()
    out = f()
    return out, time.perf_counter() - start


def run_and_fit(run, y):
    """One repeat: (run seconds, fit seconds, test NRMSE)."""
    x, t_run = timed(run)
    readout, t_fit = timed(lambda: ridge_fit(x[TRAIN], y[TRAIN]))
    return t_run, t_fit, nrmse(np.asarray(readout.predict(x[TEST])), y[TEST])


def summarise(reps):
    runs, fits, errs = (np.array(v) for v in zip(*reps, strict=True))
    return {"run_s": float(np.median(runs)), "fit_s": float(np.median(fits)),
            "run_fit_s": float(np.median(runs + fits)), "run_s_all": runs.tolist(),
            "fit_s_all": fits.tolist(), "test_nrmse": float(errs[0]), "repeats": len(runs)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="2 x 2 grids, 2 repeats, no simulate row (a smoke test)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats (default 7)")
    parser.add_argument("--sim-repeats", type=int, default=1,
                        help="timed repeats of the continuous integrator (about 30 s each)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    repeats = args.repeats or (2 if args.quick else 7)
    t_start = time.perf_counter()
    load_start = os.getloadavg()

    u, y, mask = make_data()
    u32, mask32 = u.astype(np.float32), mask.astype(np.float32)

    grids = ((0.8, 1.1), (0.2, 0.5), (0.8, 0.9), (0.3, 1.0)) if args.quick else \
        (ETAS, GAMMAS, SRS, INPUT_SCALINGS)
    print(f"tuning on the validation split: {len(grids[0]) * len(grids[1])} (eta, gamma) and "
          f"{len(grids[2]) * len(grids[3])} (sr, input_scaling) points ...", flush=True)
    t0 = time.perf_counter()
    tuning = tune(u, y, mask, *grids)
    t_tune = time.perf_counter() - t0
    eta, gamma = tuning["mackey_glass"]["eta"], tuning["mackey_glass"]["gamma"]
    sr, scaling = tuning["esn"]["sr"], tuning["esn"]["input_scaling"]
    print(f"  chosen: eta={eta}, gamma={gamma} (val NRMSE "
          f"{tuning['mackey_glass']['best_val_nrmse']:.3f}); ESN sr={sr}, input_scaling={scaling} "
          f"(val {tuning['esn']['best_val_nrmse']:.3f}); {t_tune:.0f} s", flush=True)

    node64, node32 = mg_node(eta, gamma), mg_node(eta, gamma, "float32")

    # agreement of the numpy loop with physnn.delay_map
    x_np = numpy_map(u, mask, eta, gamma)
    x64 = physnn_map(node64, u, mask)
    x32 = physnn_map(node32, u32, mask32)
    assert x32.dtype == np.float32 and x64.dtype == np.float64, (x32.dtype, x64.dtype)
    scale = float(np.max(np.abs(x_np)))
    agree = {"max_abs_state": scale,
             "numpy_vs_physnn_float64": float(np.max(np.abs(x_np - x64))) / scale,
             "numpy_vs_physnn_float32": float(np.max(np.abs(x_np - x32))) / scale}
    print(f"numpy loop vs physnn.delay_map, max |diff| / max |x| (max |x| = {scale:.3g}): float64 "
          f"{agree['numpy_vs_physnn_float64']:.1e}, float32 {agree['numpy_vs_physnn_float32']:.1e}",
          flush=True)
    if max(agree["numpy_vs_physnn_float64"], agree["numpy_vs_physnn_float32"]) > AGREE_TOL:
        sys.exit(f"numpy loop and physnn.delay_map disagree by more than {AGREE_TOL:g}")

    runs = {
        "physnn delay_map float32": lambda: physnn_map(node32, u32, mask32),
        "physnn delay_map float64": lambda: physnn_map(node64, u, mask),
        "reservoirpy ESN (numpy)": None,  # set below, after the reservoir is built
        "numpy delay-map loop": lambda: numpy_map(u, mask, eta, gamma),
    }
    first, compile_s = {}, {}
    short = {"physnn delay_map float32": lambda: physnn_map(node32, u32[:N_SHORT], mask32),
             "physnn delay_map float64": lambda: physnn_map(node64, u[:N_SHORT], mask)}
    for name in ("physnn delay_map float32", "physnn delay_map float64"):
        _, compile_s[name] = first_call(short[name])
        _, first[name] = first_call(runs[name])
    reservoir, t_init = esn(sr, scaling, u)
    _, first["reservoirpy ESN (numpy)"] = timed(lambda: esn_run(reservoir, u))
    runs["reservoirpy ESN (numpy)"] = lambda: esn_run(reservoir, u)
    _, first["numpy delay-map loop"] = timed(runs["numpy delay-map loop"])
    for name in ("physnn delay_map float32", "physnn delay_map float64"):
        runs[name]()  # warm-up: clear_caches() above evicted the other dtype's executable

    print(f"timing: {repeats} interleaved repeats of run + fit ...", flush=True)
    reps = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            reps[name].append(run_and_fit(run, y))
    rows = {name: summarise(r) for name, r in reps.items()}
    for name in ("physnn delay_map float32", "physnn delay_map float64"):
        rows[name]["first_call_s"] = first[name]
        rows[name]["compile_s"] = compile_s[name]
    rows["reservoirpy ESN (numpy)"]["init_s"] = t_init
    rows["reservoirpy ESN (numpy)"]["first_call_s"] = first["reservoirpy ESN (numpy)"]
    rows["numpy delay-map loop"]["first_call_s"] = first["numpy delay-map loop"]

    if not args.quick:
        name = "physnn simulate RK4 float64"
        print(f"continuous integrator: first call + {args.sim_repeats} timed repeat(s) ...",
              flush=True)
        run = lambda: physnn_simulate(node64, u, mask)
        _, t_compile = first_call(lambda: physnn_simulate(node64, u[:N_SHORT], mask))
        x_sim, t_first = first_call(run)
        agree["simulate_vs_map_float64"] = float(np.max(np.abs(x_sim - x64))) / scale
        rows[name] = summarise([run_and_fit(run, y) for _ in range(args.sim_repeats)])
        rows[name]["first_call_s"] = t_first
        rows[name]["compile_s"] = t_compile

    ref_rpy = rows["reservoirpy ESN (numpy)"]
    ref_np = rows["numpy delay-map loop"]
    for r in rows.values():
        r["speedup_vs_reservoirpy_run_fit"] = ref_rpy["run_fit_s"] / r["run_fit_s"]
        r["speedup_vs_reservoirpy_run"] = ref_rpy["run_s"] / r["run_s"]
        r["speedup_vs_numpy_run_fit"] = ref_np["run_fit_s"] / r["run_fit_s"]
        r["speedup_vs_numpy_run"] = ref_np["run_s"] / r["run_s"]
    # cold: everything a fresh process pays for one model (JAX compile; reservoirpy init)
    cold_rpy = ref_rpy["init_s"] + ref_rpy["first_call_s"] + ref_rpy["fit_s"]
    for name, r in rows.items():
        if name.startswith("physnn"):
            r["cold_run_fit_s"] = r["first_call_s"] + r["fit_s"]
            r["cold_speedup_vs_reservoirpy"] = cold_rpy / r["cold_run_fit_s"]
    ref_rpy["cold_run_fit_s"] = cold_rpy

    report = {
        "benchmark": "bench_delay",
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "processor": platform.processor(), "jax_backend": jax.default_backend(),
                    "load_average_start": load_start, "load_average_end": os.getloadavg(),
                    "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")},
        "versions": {"jax": jax.__version__, "equinox": eqx.__version__,
                     "reservoirpy": reservoirpy.__version__, "numpy": np.__version__,
                     "physnn": physnn.__version__, "python": platform.python_version()},
        "workload": {"task": "NARMA10", "seed": DATA_SEED, "washout": WASHOUT, "n_train": N_TRAIN,
                     "n_test": N_TEST, "n_val": N_VAL, "n_nodes": N_NODES, "theta": THETA,
                     "desync": DESYNC, "p": 1, "mask": f"+-{MASK_AMP}, numpy seed {MASK_SEED}",
                     "esn": f"reservoirpy Reservoir({N_NODES}, sr, input_scaling, seed={ESN_SEED}), "
                            "other arguments default",
                     "readout": "physnn.readout.ridge_fit (float64, alpha by 5-fold CV)"},
        "quick": args.quick,
        "repeats": repeats,
        "tuning": tuning,
        "agreement": agree,
        "rows": rows,
        "targets": {"physnn_delay_reservoir_faster_than_reservoirpy_esn": True},
        "wall_s": time.perf_counter() - t_start,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print_table(report)
    print(f"wrote {args.out} ({report['wall_s']:.0f} s in all)")


def print_table(r):
    t = r["tuning"]
    print()
    print(f"NARMA10, {N_TRAIN} train / {N_TEST} test after {WASHOUT} washout, {N_NODES} nodes/units; "
          f"{r['machine']['cpu_count']} CPU cores, load {r['machine']['load_average_start'][0]:.1f}"
          f"-{r['machine']['load_average_end'][0]:.1f}; jax {r['versions']['jax']}, reservoirpy "
          f"{r['versions']['reservoirpy']}; medians of {r['repeats']} interleaved repeats")
    print(f"Mackey-Glass eta={t['mackey_glass']['eta']}, gamma={t['mackey_glass']['gamma']}; "
          f"ESN sr={t['esn']['sr']}, input_scaling={t['esn']['input_scaling']} "
          "(both chosen on the validation split)")
    head = (f"{'':30s} {'run':>8s} {'fit':>8s} {'run+fit':>8s} {'x rpy':>6s} {'x numpy':>7s} "
            f"{'run x rpy':>9s} {'run x np':>8s} {'1st call':>9s} {'compile':>10s} {'NRMSE':>6s}")
    print(head)
    print("-" * len(head))
    for name, row in r["rows"].items():
        extra = f"{row['compile_s']:>9.2f}s" if "compile_s" in row else \
            (f"{'init':>4s} {row['init_s']:>4.2f}s" if "init_s" in row else f"{'-':>10s}")
        print(f"{name:30s} {row['run_s']:>7.3f}s {row['fit_s']:>7.3f}s {row['run_fit_s']:>7.3f}s "
              f"{row['speedup_vs_reservoirpy_run_fit']:>5.2f}x {row['speedup_vs_numpy_run_fit']:>6.2f}x "
              f"{row['speedup_vs_reservoirpy_run']:>8.2f}x {row['speedup_vs_numpy_run']:>7.2f}x "
              f"{row['first_call_s']:>8.2f}s {extra} "
              f"{row['test_nrmse']:>6.3f}")
    print("x rpy / x numpy: speed-up of run+fit against reservoirpy's ESN / the numpy loop (>1: faster);"
          " run x rpy / run x np: the same for the run alone.")
    print(f"1st call: the first full run after jax.clear_caches(); compile: the first call on a "
          f"{N_SHORT}-sample input (trace + compile + a tiny run); init: reservoirpy's initialize().")
    print("cold (first call incl. JAX compile, or reservoirpy init + first run, plus one fit):")
    rpy = r["rows"]["reservoirpy ESN (numpy)"]
    print(f"  reservoirpy ESN (numpy)        {rpy['cold_run_fit_s']:.3f}s")
    for name, row in r["rows"].items():
        if "cold_run_fit_s" in row and name.startswith("physnn"):
            print(f"  {name:30s} {row['cold_run_fit_s']:.3f}s  ({row['cold_speedup_vs_reservoirpy']:.2f}x "
                  "vs reservoirpy)")
    a = r["agreement"]
    sim = a.get("simulate_vs_map_float64")
    print(f"numpy loop vs delay_map (max |diff| / max |x|): float64 {a['numpy_vs_physnn_float64']:.1e}, "
          f"float32 {a['numpy_vs_physnn_float32']:.1e}"
          + ("" if sim is None else f"; continuous simulate vs map: {sim:.1e}"))


if __name__ == "__main__":
    main()
