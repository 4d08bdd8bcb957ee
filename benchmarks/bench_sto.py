r"""Benchmark: 256 samples x 4 coupled spin-torque oscillators x 1 us, physnn vs scipy.

Workload. Each input sample is a pair of RF tones (two "formants" in the 0.29-0.33 GHz band,
amplitudes 0.5-1 mA, random phases; numpy seed 0) driving a 4-oscillator :class:`physnn.STONetwork`
(currents 6.5-8.5 mA, coupling 0.003/ns between all pairs, rf_coupling 0.002 for every
oscillator/tone pair, T = 0 K so that the dynamics are deterministic) for 1000 ns. The model
(Slavin-Tiberkevich auto-oscillator), written here independently of physnn, in the lab frame:

$$\dot c_j = -i(\omega_0 + N p_j)c_j - \Gamma(1 + Q p_j)c_j
   + \frac{\Gamma}{I_{th}} I_j (1 - p_j) c_j + \sum_{k\neq j} W_{jk} c_k
   + \sum_a F_{ja} A_a e^{-i(2\pi f_a t + \phi_a)},\qquad p_j = |c_j|^2,$$

started at the free-running state $c_j(0) = \sqrt{p_{0,j}}$, $p_0 = (\zeta-1)/(\zeta+Q)$,
$\zeta = I/I_{th}$.

Observables, per sample: the power $p_j$ and the instantaneous lab-frame frequency
$-\mathrm{Im}(\dot c_j c_j^*)/(2\pi p_j)$ of every oscillator at t = 1000 ns, and the power averaged
over the 501 points t = 500, 501, ..., 1000 ns.

Compared, in one process, side by side:

1. ``physnn.simulate`` (rotating frame, fixed steps, default solver Tsit5, the batch of 256 in the
   state), float32 and float64; for each, the largest step from a list such that it and every
   smaller step in the list give final powers within 1e-3 relative of an accurate reference on
   every checked sample ("strict"), or, where no step does (float32), within 1e-3 or no further
   off than scipy RK45 on the samples where RK45 itself misses 1e-3 ("matched"); see choose_dt.
2. ``scipy.integrate.solve_ivp`` RK45 (rtol 1e-6, atol 1e-9), lab frame, the complex state split
   into 8 reals, numpy vector field, one sample at a time; a handful of samples are timed.
   The reference is scipy DOP853 at rtol 1e-11, atol 1e-13 (float64).
3. The reverse-mode gradient of a softmax cross-entropy loss on the time-averaged powers with
   respect to the currents and the coupling matrix, against the forward time of the same loss
   (physnn's default adjoint, and diffrax's default binomial checkpointing for comparison).
4. Compile time: the first call (trace + compile + one run) of the jitted forward and gradient.

Run: ``python benchmarks/bench_sto.py`` (about two minutes on 2 cores), ``--quick`` for fewer scipy
samples and repeats. Writes ``benchmarks/results/bench_sto.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy
from _timing import best_of  # benchmarks/_timing.py, beside this script
from scipy.integrate import solve_ivp

import physnn

N_SAMPLES, N_OSC, T1 = 256, 4, 1000.0
SAVE_TS = np.linspace(500.0, 1000.0, 501)  # time average over the last 500 ns
MODEL = dict(f0_ghz=0.3, nonlinear_shift_ghz=0.05, damping=0.02, nonlinear_damping=1.5,
             threshold_ma=5.0)
CURRENTS = np.linspace(6.5, 8.5, N_OSC)
COUPLING = 0.003 * (1.0 - np.eye(N_OSC))
RF_COUPLING = np.full((N_OSC, 2), 0.002)
DT_CANDIDATES = (5.0, 4.0, 3.125, 2.5, 2.0, 1.6, 1.25, 1.0, 0.5)  # all divide 1000 ns
TOL = 1e-3
LOGIT_SCALE = 20.0
RESULTS = Path(__file__).resolve().parent / "results" / "bench_sto.json"


def make_inputs(seed=0):
    rng = np.random.default_rng(seed)
    freqs = rng.uniform(0.29, 0.33, (N_SAMPLES, 2))
    amps = rng.uniform(0.5, 1.0, (N_SAMPLES, 2))
    phases = rng.uniform(0.0, 2 * np.pi, (N_SAMPLES, 2))
    labels = rng.integers(0, N_OSC, N_SAMPLES)
    return freqs, amps, phases, labels


# ------------------------------------------------------------------ scipy, lab frame, by hand
def lab_rhs(t, y, freqs, amps, phases):
    """The model above for one sample: y = (Re c, Im c), shape (8,)."""
    c = y[:N_OSC] + 1j * y[N_OSC:]
    p = c.real**2 + c.imag**2
    omega = 2 * np.pi * (MODEL["f0_ghz"] + MODEL["nonlinear_shift_ghz"] * p)
    gamma = MODEL["damping"]
    dc = (-1j * omega - gamma * (1 + MODEL["nonlinear_damping"] * p)
          + gamma / MODEL["threshold_ma"] * CURRENTS * (1 - p)) * c
    dc += COUPLING @ c
    dc += RF_COUPLING @ (amps * np.exp(-1j * (2 * np.pi * freqs * t + phases)))
    return np.concatenate([dc.real, dc.imag])


def scipy_solve(freqs, amps, phases, method="RK45", rtol=1e-6, atol=1e-9, perturb=0.0):
    """Returns (observables, wall seconds, number of vector-field evaluations). ``perturb`` is
    added to every component of the initial state (to measure the sensitivity of a sample)."""
    zeta = CURRENTS / MODEL["threshold_ma"]
    p0 = np.maximum(zeta - 1, 0) / (zeta + MODEL["nonlinear_damping"])
    y0 = np.concatenate([np.sqrt(p0), np.zeros(N_OSC)]) + perturb
    args = (freqs, amps, phases)
    start = time.perf_counter()
    sol = solve_ivp(lab_rhs, (0.0, T1), y0, method=method, rtol=rtol, atol=atol,
                    t_eval=SAVE_TS, args=args)
    elapsed = time.perf_counter() - start
    assert sol.success, sol.message
    c = sol.y[:N_OSC] + 1j * sol.y[N_OSC:]
    p = np.abs(c) ** 2
    dy = lab_rhs(T1, sol.y[:, -1], *args)
    dc = dy[:N_OSC] + 1j * dy[N_OSC:]
    f = -np.imag(dc * np.conj(c[:, -1])) / (2 * np.pi * p[:, -1])
    obs = {"p_final": p[:, -1], "f_final": f, "p_avg": p.mean(axis=1)}
    return obs, elapsed, sol.nfev


# ------------------------------------------------------------------ physnn
def make_problem(freqs, amps, phases):
    """Device and drive, in the dtype of the current x64 setting."""
    device = physnn.STONetwork(current_ma=CURRENTS, coupling=COUPLING, rf_coupling=RF_COUPLING,
                               temperature_k=0.0, **MODEL)
    return device, physnn.Tones(freqs, amps, phases)


def with_params(device, params):
    return eqx.tree_at(lambda d: (d.current_ma, d.coupling), device, params)


def observables_fn(device, dt, adjoint=None):
    def run(params, drive):
        traj = physnn.simulate(with_params(device, params), drive, dt=dt, t1=T1,
                               saveat=SAVE_TS, adjoint=adjoint)
        p = traj.obs["power"]
        return {"p_final": p[-1], "f_final": traj.obs["frequency_ghz"][-1], "p_avg": p.mean(0)}

    return run


def loss_fn(device, dt, labels, adjoint=None):
    run = observables_fn(device, dt, adjoint)

    def loss(params, drive):
        logits = LOGIT_SCALE * run(params, drive)["p_avg"]
        logp = jax.nn.log_softmax(logits, axis=-1)
        return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=-1))

    return loss


def rel_err(a, b):
    """Max over oscillators of |a - b| / |b|, per sample."""
    return np.max(np.abs(np.asarray(a, float) - b) / np.abs(b), axis=-1)


def errors(obs, ref_list, idx):
    """Per-sample relative errors of physnn observables (batch axis first) against scipy results."""
    out = {}
    for key in ("p_final", "f_final", "p_avg"):
        ref = np.stack([r[key] for r in ref_list])
        out[key] = rel_err(np.asarray(obs[key])[idx], ref)
    return out


def first_call(f, *args):
    jax.clear_caches()
    start = time.perf_counter()
    jax.block_until_ready(f(*args))
    return time.perf_counter() - start




def interleaved(f, g, args, repeats):
    """Best-of times of f and g measured alternately (fair under machine noise), and the median
    of the per-pair ratios g/f."""
    tf, tg = [], []
    for _ in range(repeats):
        for f_, ts in ((f, tf), (g, tg)):
            start = time.perf_counter()
            jax.block_until_ready(f_(*args))
            ts.append(time.perf_counter() - start)
    return min(tf), min(tg), float(np.median(np.array(tg) / np.array(tf)))


def choose_dt(inputs, idx, ref, rk45):
    """Scan DT_CANDIDATES on the accuracy samples and return the largest dt that passes, along
    with every smaller candidate, the criterion met, and the scan.

    "strict": the final powers of every sample within TOL (relative) of the reference.
    "matched" (used only when no dt is strict, e.g. in float32, whose round-off is amplified by the
    dynamics of the sensitive samples): within TOL, or no further off than scipy RK45 on a sample
    where RK45 itself misses TOL."""
    freqs, amps, phases, _ = inputs
    device, drive = make_problem(freqs[idx], amps[idx], phases[idx])
    params = (device.current_ma, device.coupling)
    allowed = np.maximum(TOL, rk45)
    scan = []
    for dt in DT_CANDIDATES:
        obs = eqx.filter_jit(observables_fn(device, dt))(params, drive)
        err = errors(obs, ref, np.arange(len(idx)))
        scan.append({"dt": dt, "p_final_vs_ref": err["p_final"].tolist(),
                     "p_avg_vs_ref_max": float(err["p_avg"].max()),
                     "strict": bool(np.all(err["p_final"] <= TOL)),
                     "matched": bool(np.all(err["p_final"] <= allowed))})

    def largest(criterion):
        chosen = None
        for row in reversed(scan):  # smallest dt first
            if not row[criterion]:
                break
            chosen = row["dt"]
        return chosen

    for criterion in ("strict", "matched"):
        if (dt := largest(criterion)) is not None:
            return dt, criterion, scan
    return None, None, scan


def bench_physnn(precision, inputs, idx, ref, rk45, repeats):
    """``ref``/``rk45``: scipy observables of the samples ``idx`` (reference, RK45)."""
    freqs, amps, phases, labels = inputs
    with jax.enable_x64(precision == "float64"):
        rk45_err = rel_err(np.stack([r["p_final"] for r in rk45]),
                           np.stack([r["p_final"] for r in ref]))
        dt, criterion, scan = choose_dt(inputs, idx, ref, rk45_err)
        if dt is None:
            raise RuntimeError(f"{precision}: no dt in {DT_CANDIDATES} meets the criterion")
        device, drive = make_problem(freqs, amps, phases)
        params = (device.current_ma, device.coupling)
        labels = jnp.asarray(labels)

        fwd = eqx.filter_jit(observables_fn(device, dt))
        compile_fwd = first_call(fwd, params, drive)
        t_fwd = best_of(fwd, params, drive, repeats=repeats)
        obs = fwd(params, drive)
        err_ref = errors(obs, ref, idx)
        err_scipy = errors(obs, rk45, idx)

        grads = {}
        adjoints = (("physnn default (store every step)", None),
                    ("diffrax RecursiveCheckpointAdjoint()", dfx.RecursiveCheckpointAdjoint()))
        for name, adjoint in adjoints:
            loss = eqx.filter_jit(loss_fn(device, dt, labels, adjoint))
            vg = eqx.filter_jit(eqx.filter_value_and_grad(loss_fn(device, dt, labels, adjoint)))
            c_loss = first_call(loss, params, drive)
            c_grad = first_call(vg, params, drive)
            t_loss, t_grad, ratio_median = interleaved(loss, vg, (params, drive), repeats)
            value, g = vg(params, drive)
            grads[name] = {
                "compile_loss_s": c_loss, "compile_grad_s": c_grad,
                "loss_s": t_loss, "grad_s": t_grad, "ratio": t_grad / t_loss,
                "ratio_median_pairs": ratio_median, "loss": float(value),
                "grad_current": np.asarray(g[0]).tolist(),
                "grad_coupling": np.asarray(g[1]).tolist(),
            }
    n_steps = int(np.ceil(T1 / dt - 1e-9))
    return {
        "precision": precision, "dt_ns": dt, "n_steps": n_steps, "dt_criterion": criterion,
        "dt_scan": scan,
        "compile_forward_s": compile_fwd, "forward_s": t_fwd,
        "forward_per_sample_s": t_fwd / N_SAMPLES,
        "err_vs_ref": {k: v.tolist() for k, v in err_ref.items()},
        "err_vs_scipy_rk45": {k: v.tolist() for k, v in err_scipy.items()},
        "gradient": grads,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 scipy samples, fewer repeats")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    n_scipy = 4 if args.quick else 8
    repeats = 3 if args.quick else 15

    inputs = make_inputs(0)
    freqs, amps, phases, _ = inputs
    idx = np.arange(n_scipy)  # the scipy samples: timed, and the accuracy set

    print(f"scipy: {n_scipy} samples, RK45 rtol=1e-6 (timed) and DOP853 rtol=1e-11 (reference)")
    rk45, ref, perturbed, t_scipy, nfev = [], [], [], [], []
    for i in idx:
        o, t, n = scipy_solve(freqs[i], amps[i], phases[i])
        rk45.append(o)
        t_scipy.append(t)
        nfev.append(n)
        ref.append(scipy_solve(freqs[i], amps[i], phases[i], "DOP853", 1e-11, 1e-13)[0])
        perturbed.append(scipy_solve(freqs[i], amps[i], phases[i], "DOP853", 1e-11, 1e-13,
                                     perturb=1e-7)[0])
    rk45_vs_ref = {k: rel_err(np.stack([r[k] for r in rk45]), np.stack([r[k] for r in ref]))
                   for k in ("p_final", "f_final", "p_avg")}
    scipy_per_sample = float(np.mean(t_scipy))

    results = {}
    for precision in ("float32", "float64"):
        print(f"physnn {precision}: dt scan, timing, gradients ...")
        results[precision] = bench_physnn(precision, inputs, idx, ref, rk45, repeats)

    # Gradient precision: float32 against float64 at the float32 step, and float64 at half that
    # step (is the float64 gradient converged in dt?).
    dt32 = results["float32"]["dt_ns"]
    g32 = results["float32"]["gradient"]["physnn default (store every step)"]
    g32 = (np.array(g32["grad_current"]), np.array(g32["grad_coupling"]))
    with jax.enable_x64(True):
        device, drive = make_problem(freqs, amps, phases)
        params = (device.current_ma, device.coupling)
        g64 = {}
        for dt in (dt32, dt32 / 2):
            vg = eqx.filter_value_and_grad(loss_fn(device, dt, jnp.asarray(inputs[3])))
            g64[dt] = jax.tree.map(np.asarray, eqx.filter_jit(vg)(params, drive)[1])

    def grad_diff(a, b):
        return {name: float(np.max(np.abs(x - y)) / np.max(np.abs(y)))
                for name, x, y in zip(("current", "coupling"), a, b, strict=True)}

    grad_checks = {"float32_vs_float64_same_dt": grad_diff(g32, g64[dt32]),
                   "float64_dt_vs_half_dt": grad_diff(g64[dt32], g64[dt32 / 2]), "dt_ns": dt32}

    report = {
        "benchmark": "bench_sto",
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "processor": platform.processor(), "jax_backend": jax.default_backend()},
        "versions": {"jax": jax.__version__, "diffrax": dfx.__version__,
                     "equinox": eqx.__version__, "scipy": scipy.__version__,
                     "numpy": np.__version__, "physnn": physnn.__version__},
        "workload": {"n_samples": N_SAMPLES, "n_oscillators": N_OSC, "t1_ns": T1,
                     "currents_ma": CURRENTS.tolist(), "coupling_per_ns": 0.003,
                     "rf_coupling": 0.002, "tone_band_ghz": [0.29, 0.33],
                     "tone_amp_ma": [0.5, 1.0], "seed": 0, "model": MODEL,
                     "solver": "Tsit5 (physnn default)", "frame": "rotating"},
        "quick": args.quick,
        "scipy": {"method": "RK45", "rtol": 1e-6, "atol": 1e-9, "samples": idx.tolist(),
                  "per_sample_s": t_scipy, "mean_per_sample_s": scipy_per_sample,
                  "nfev": nfev, "reference": "DOP853 rtol=1e-11 atol=1e-13",
                  "err_vs_ref": {k: v.tolist() for k, v in rk45_vs_ref.items()},
                  "sensitivity_p_final_after_1e-7_initial_perturbation": rel_err(
                      np.stack([r["p_final"] for r in perturbed]),
                      np.stack([r["p_final"] for r in ref])).tolist()},
        "physnn": results,
        "gradient_checks": grad_checks,
        "targets": {"speedup_min": 1000, "grad_ratio_max": 4, "compile_max_s": 10},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print_table(report)
    print(f"wrote {args.out}")


def print_table(r):
    sc = r["scipy"]
    print()
    print(f"{N_SAMPLES} samples x {N_OSC} STOs x {T1:g} ns; {r['machine']['cpu_count']} CPU cores; "
          f"jax {r['versions']['jax']}, diffrax {r['versions']['diffrax']}")
    head = (f"{'':45s} {'per sample':>11s} {'speedup':>8s} {'grad/fwd':>9s} "
            f"{'compile fwd/grad':>17s}")
    print(head)
    print("-" * len(head))
    print(f"{'scipy RK45 rtol 1e-6, lab frame':45s} {sc['mean_per_sample_s']:>9.3f} s "
          f"{1:>7d}x {'-':>9s} {'-':>17s}")
    for prec, res in r["physnn"].items():
        g = res["gradient"]["physnn default (store every step)"]
        name = f"physnn {prec}, Tsit5 dt={res['dt_ns']:g} ns ({res['dt_criterion']})"
        speed = sc["mean_per_sample_s"] / res["forward_per_sample_s"]
        print(f"{name:45s} {res['forward_per_sample_s'] * 1e3:>8.3f} ms {speed:>7.0f}x "
              f"{g['ratio']:>8.2f}x {res['compile_forward_s']:>7.1f} / {g['compile_grad_s']:.1f} s")
    print()
    print("gradient (softmax cross-entropy of time-averaged powers, w.r.t. currents and coupling)")
    for prec, res in r["physnn"].items():
        for name, g in res["gradient"].items():
            print(f"  {prec} {name:38s} loss {g['loss_s'] * 1e3:6.1f} ms  "
                  f"grad {g['grad_s'] * 1e3:6.1f} ms  ratio {g['ratio']:.2f} "
                  f"(median of pairs {g['ratio_median_pairs']:.2f})")
    gc = r["gradient_checks"]
    for name, label in (("float32_vs_float64_same_dt", "float32 vs float64"),
                        ("float64_dt_vs_half_dt", "float64 dt vs dt/2")):
        print(f"  gradient {label} (dt={gc['dt_ns']:g}), max abs diff / max abs: currents "
              f"{gc[name]['current']:.1e}, coupling {gc[name]['coupling']:.1e}")
    print()
    print("accuracy on the scipy samples, max over oscillators, per sample "
          "(reference: DOP853 rtol 1e-11)")
    fmt = lambda v: " ".join(f"{x:.1e}" for x in v)
    sens = sc["sensitivity_p_final_after_1e-7_initial_perturbation"]
    print(f"  ref, y0 + 1e-7      p_final {fmt(sens)}   (sensitivity of each sample)")
    print(f"  scipy RK45 vs ref   p_final {fmt(sc['err_vs_ref']['p_final'])}")
    for prec, res in r["physnn"].items():
        print(f"  {prec} vs ref      p_final {fmt(res['err_vs_ref']['p_final'])}")
        print(f"  {prec} vs RK45     p_final {fmt(res['err_vs_scipy_rk45']['p_final'])}")
    for prec, res in r["physnn"].items():
        mark = lambda row: "s" if row["strict"] else ("m" if row["matched"] else "*")
        scan = ", ".join(f"{row['dt']:g}: {max(row['p_final_vs_ref']):.0e}{mark(row)}"
                         for row in res["dt_scan"])
        print(f"  {prec} dt scan (dt: max p_final vs ref, s strict/m matched/* fails): {scan}")
    print(f"  {'':20s}{'max p_final':>12s}{'max f_final':>12s}{'max p_avg':>12s}")
    rows = [("scipy RK45 vs ref", sc["err_vs_ref"])]
    for prec, res in r["physnn"].items():
        rows += [(f"{prec} vs ref", res["err_vs_ref"]),
                 (f"{prec} vs RK45", res["err_vs_scipy_rk45"])]
    for name, e in rows:
        cols = "".join(f"{max(e[k]):>12.1e}" for k in ("p_final", "f_final", "p_avg"))
        print(f"  {name:20s}{cols}")


if __name__ == "__main__":
    main()
