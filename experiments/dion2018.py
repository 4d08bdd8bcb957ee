"""One Duffing resonator with delayed feedback as a reservoir: Dion, Mejaouri & Sylvestre,
J. Appl. Phys. 124, 152132 (2018).

The paper time-multiplexes a single silicon MEMS beam (a Duffing resonator) into virtual nodes with
an electronic delay loop, and reports bit error rates below 0.1 % on the parity benchmarks of order
1 to 3 and (78 +- 2) % accuracy on TI-46 spoken words. Protocol here:

- **Device.** ``physnn.devices.DuffingDelayNode``: the rotating-frame slow flow of the vibration
  amplitude A of one resonator (defaults: the NEMS resonator of ``DuffingNetwork``, 2.2 MHz, Q = 4000,
  ring-down time T = 2Q/omega0 = 579 us), driven at omega_d with amplitude
  F(t) = F0 [1 + gamma J(t)] + eta (m omega0^2/Q) |A(t - tau)|: the masked input J modulates the drive
  and the delayed envelope is fed back (eta = loop gain at resonance). Thermal force at 300 K
  (``thermal_drive``). Integrated by the delay integrator ``physnn.simulate`` (RK4, method of steps),
  N virtual nodes spaced theta = ``theta_over_t`` T, tau = (N + 1) theta (desynchronised by one node).
- **Parity.** A random bit stream u(k) in {0, 1} enters as J = m_i (2u - 1) (binary-sign mask with
  random magnitudes), one bit per delay period; the features of bit k are the two quadratures of A
  at the end of each of its N node intervals (what a lock-in referenced to the drive reads); a ridge
  readout (float64) per order n = 1, 2, 3 is thresholded at 0.5. Alpha and the operating point are
  chosen on validation bits inside the training stream (the last quarter), then the readout is refitted
  on all training bits and scored on fresh test bits (a different stream and thermal noise). The
  point without feedback (eta = 0) that is compared is chosen the same way, among the eta = 0 points.
- **Operating-point maps.** The P3 test error over (input gain gamma, feedback gain eta) at each
  detuning, one batched solve, and over (theta/T, eta) at the chosen gamma and detuning.
- **Spoken digits.** FSDD (6 speakers, open) stands in for TI-46 (LDC licence, not freely available):
  13 MFCCs per frame, resampled to ``n_frames`` frames, standardised on the training set, each frame
  held one delay period through a (N, 13) mask (the larger2017 front end and winner-take-all ridge
  readout, official split: test repetitions 0-4, validation 5-9). All utterances and operating points
  are one batched solve, each starting from the resonator's idle (driven, input-free) state.
- **Energy and latency.** Energy per inference = dissipated mechanical power (damping, from the
  simulated amplitude) x the time the input occupies the resonator: one delay period per parity bit,
  ``n_frames`` delay periods per word. Electronics (delay line, lock-in, readout) are not counted.
- **Co-design.** Input gain, feedback gain, detuning and the mask are trained by gradient through
  the delay integrator (optax Adam), on the validation MSE of a differentiable ridge readout
  (``ridge_solve``) for P3, from the default operating point; before/after test errors and energies
  are reported.
- **Resume.** An interrupted run (Ctrl-C, SIGTERM, a killed job) resumes when the same command is
  run again with the same ``--out``: the maps, the spoken digits and the scores around the
  co-design are stages kept in ``DIR/checkpoints`` (``physnn.checkpoint.Stages``), and the co-design
  checkpoints its parameters every 5 steps and on Ctrl-C or SIGTERM (``physnn.train.train_loop``).
  The folder is removed once ``results.json`` is written.
"""

from __future__ import annotations

import itertools
import math
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax
from tqdm.auto import tqdm

import physnn as pn
from physnn.cli import load_experiment
from physnn.devices import DuffingDelayNode, thermal_drive
from physnn.readout import ridge_solve
from physnn.tasks import parity_targets, parity_task

QUICK = {
    "n_nodes": 30, "theta_over_t": 0.2, "dt_over_t": 0.1, "temperature_k": 300.0, "seed": 0,
    "drive_force_pn": 1.0, "parity_train": 400, "parity_test": 500, "washout": 40,
    "map_gammas": [0.5, 2.0], "map_etas": [0.0, 0.5, 0.9], "map_detunings_lw": [0.0, 1.0],
    "theta_scan": [], "theta_scan_bits": [400, 500], "rel_alphas": [1e-6, 1e-4, 1e-2],
    "fsdd_n_frames": 8, "fsdd_max_rep": 15, "fsdd_gammas": [2.0], "fsdd_etas": [0.9],
    "fsdd_rel_alphas": [1e-4, 1e-2, 1.0], "fsdd_idle_frames": 10,
    "fsdd_dt_over_t": 0.05,
    "codesign_start": {"gamma": 0.5, "eta": 0.5, "detuning_lw": 0.0}, "codesign_bits": 240,
    "codesign_steps": 3, "codesign_lr": 0.05,
}
FULL = {
    "n_nodes": 50, "theta_over_t": 0.2, "dt_over_t": 0.1, "temperature_k": 300.0, "seed": 0,
    "drive_force_pn": 1.0, "parity_train": 2000, "parity_test": 5000, "washout": 50,
    "map_gammas": [0.25, 0.5, 1.0, 1.5, 2.0, 3.0], "map_etas": [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5],
    "map_detunings_lw": [-1.0, 0.0, 1.0, 2.0],
    "theta_scan": [0.05, 0.1, 0.2, 0.4, 0.8], "theta_scan_bits": [1000, 2000],
    "rel_alphas": [1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2],
    "fsdd_n_frames": 20, "fsdd_max_rep": 50, "fsdd_gammas": [0.5, 1.0, 2.0],
    "fsdd_etas": [0.3, 0.9, 1.2], "fsdd_rel_alphas": [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0],
    "fsdd_idle_frames": 10, "fsdd_dt_over_t": 0.05,
    "codesign_start": {"gamma": 0.5, "eta": 0.5, "detuning_lw": 0.0}, "codesign_bits": 800,
    "codesign_steps": 30, "codesign_lr": 0.05,
}

F0_MHZ, Q, K3 = 2.2, 4000.0, 3e11  # the DuffingDelayNode (and DuffingNetwork) defaults
RINGDOWN_US = 2 * Q / (2 * np.pi * F0_MHZ)  # T = 2Q/omega0

REFERENCE = {
    "parity_error_orders_1_to_3": "below 0.1 % (Dion 2018, experiment, MEMS beam)",
    "spoken_words_accuracy": "(78 +- 2) % on TI-46 spoken words (Dion 2018); here FSDD digits",
}


# --------------------------------------------------------------------------------------------
# Device and simulation
# --------------------------------------------------------------------------------------------


def make_node(config, gamma, eta, detuning_lw, theta_over_t=None, q_scale=1.0,
              k3_scale=1.0) -> DuffingDelayNode:
    """The resonator at an operating point (arrays broadcast into an ensemble); detuning of the
    drive in linewidths f0/Q above the resonance (nominal Q). ``q_scale`` and ``k3_scale``
    multiply the quality factor and the cubic stiffness (co-design)."""
    theta = (theta_over_t or config["theta_over_t"]) * RINGDOWN_US
    return DuffingDelayNode(
        f0_mhz=F0_MHZ, q=Q * q_scale, k3_n_per_m3=K3 * k3_scale,
        drive_force_pn=config["drive_force_pn"],
        drive_mhz=F0_MHZ * (1.0 + jnp.asarray(detuning_lw) / Q),
        input_gain=gamma, feedback_gain=eta, temperature_k=config["temperature_k"],
        n_nodes=config["n_nodes"], theta=theta, desync=1)


def device_scales(p) -> tuple:
    """Co-designed Q and k3 as factors of the nominal values, bounded to the range a fabrication
    run could target: Q x [e^-0.5, e^0.5] (0.61-1.65), k3 x [e^-1, e^1] (0.37-2.7). The bound
    also keeps the fixed-step solve inside RK4's stability region."""
    return jnp.exp(0.5 * jnp.tanh(p["log_q"])), jnp.exp(jnp.tanh(p["log_k3"]))


def _dt(node, config, dt_over_t=None):
    return min(float(node.theta) / 2, (dt_over_t or config["dt_over_t"]) * RINGDOWN_US)


def simulate_nodes(node, inputs, mask, config, key, y0=None, dt_over_t=None):
    """Quadratures (Re A, Im A) at the end of every node interval, shape
    ``batch + (n_samples, n_nodes, 2)``; thermal noise from ``key``."""
    theta = float(node.theta)
    drive = pn.Masked(jnp.asarray(inputs), jnp.asarray(mask), theta=theta)
    if config["temperature_k"] > 0:
        drive = thermal_drive(drive, key, node)
    traj = pn.simulate(node, drive, dt=_dt(node, config, dt_over_t), saveat="holds", observe=False, y0=y0,
                       history=y0)
    ys = jnp.moveaxis(traj.ys, 0, -2)  # batch + (n_seg, 2)
    n = node.n_nodes
    return ys.reshape(ys.shape[:-2] + (ys.shape[-2] // n, n, 2))


def mean_power_w(node, states) -> np.ndarray:
    """Cycle-averaged damping power, averaged over the saved states (batch shape)."""
    p = node.power(0.0, jnp.moveaxis(states.reshape(states.shape[:-3] + (-1, 2)), -2, 0), None)
    return np.asarray(jnp.mean(p, axis=0))


# --------------------------------------------------------------------------------------------
# Parity
# --------------------------------------------------------------------------------------------


def make_mask(config, n_channels=None):
    rng = np.random.default_rng(config["seed"] + 11)
    n = config["n_nodes"]
    if n_channels is None:
        return (rng.choice([-1.0, 1.0], n) * rng.uniform(0.5, 1.0, n)).astype(np.float32)
    return (rng.uniform(-1, 1, (n, n_channels)) / np.sqrt(n_channels)).astype(np.float32)


def _ridge_path(x, y, rel_alphas):
    """Ridge weights for every relative alpha (float64, one eigendecomposition)."""
    xm, ym = x.mean(0), y.mean(0)
    xc = x - xm
    s, v = np.linalg.eigh(xc.T @ xc)
    s = np.clip(s, 0.0, None)
    proj = v.T @ (xc.T @ (y - ym))
    scale = max(s.mean(), 1e-300)
    return [((v / (s + ra * scale)) @ proj, xm, ym) for ra in rel_alphas]


def parity_scores(feats, bits, n_tr, config, orders=(1, 2, 3)):
    """Per order: validation error and MSE (best alpha; fit on the first 3/4 of the training bits
    after the washout, validate on the last 1/4), and the test error (bits ``n_tr:``) of the
    readout refitted on all training bits with that alpha."""
    w = config["washout"]
    x = np.asarray(feats, np.float64)
    xtr, xte = x[w:n_tr], x[n_tr:]
    n_fit = (3 * len(xtr)) // 4
    out = {}
    for n in orders:
        y = parity_targets(bits, n)
        ytr, yte = y[w:n_tr].astype(np.float64), y[n_tr:]
        val = []
        for wt, xm, ym in _ridge_path(xtr[:n_fit], ytr[:n_fit], config["rel_alphas"]):
            p = (xtr[n_fit:] - xm) @ wt + ym
            val.append((float(np.mean((p > 0.5) != ytr[n_fit:])),
                        float(np.mean((p - ytr[n_fit:]) ** 2))))
        ai = min(range(len(val)), key=lambda i: (val[i], -i))
        wt, xm, ym = _ridge_path(xtr, ytr, [config["rel_alphas"][ai]])[0]
        test = float(np.mean((((xte - xm) @ wt + ym) > 0.5) != yte))
        out[n] = {"val_error": val[ai][0], "val_mse": val[ai][1], "test_error": test,
                  "rel_alpha": config["rel_alphas"][ai]}
    return out


def error_upper_bound(n_errors: int, n_bits: int, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound on an error rate from ``n_errors`` in ``n_bits``
    (0 errors in n bits: 1 - (1 - confidence)^(1/n), about 3/n)."""
    k, n = int(n_errors), int(n_bits)
    if k >= n:
        return 1.0

    def cdf(p):  # P(X <= k), X ~ Binomial(n, p)
        logs = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
                + i * math.log(p) + (n - i) * math.log1p(-p) for i in range(k + 1)]
        top = max(logs)
        return math.exp(top) * sum(math.exp(v - top) for v in logs)

    lo, hi = k / n, 1.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if cdf(mid) > 1 - confidence else (lo, mid)
    return hi


def parity_data(config):
    bits_tr, _ = parity_task(config["parity_train"], 1, seed=config["seed"])
    bits_te, _ = parity_task(config["parity_test"], 1, seed=config["seed"] + 1)
    return bits_tr, bits_te


def _features(states, kind="quadratures"):
    """Per-sample features from ``(..., n_samples, n_nodes, 2)`` states."""
    if kind == "amplitude":
        return np.hypot(states[..., 0], states[..., 1])
    return np.asarray(states).reshape(states.shape[:-2] + (-1,))


def parity_at(node, config, mask, bits_tr, bits_te):
    """Parity scores of every operating point of an ensemble node (leading batch axis, or none).

    The training and test streams run as one record (test bits after the training bits, so the
    test bits see fresh thermal noise and one solve serves both). Returns the scores (a list over
    the ensemble, or one dict), the mean dissipated power over the test bits (W) and the states."""
    key = jax.random.key(config["seed"] + 3)
    bits = np.concatenate([bits_tr, bits_te])
    states = np.asarray(simulate_nodes(node, 2.0 * bits - 1.0, mask, config, key))
    n_tr = len(bits_tr)
    power = mean_power_w(node, jnp.asarray(states[..., n_tr:, :, :]))
    scores = _scores_from_states(states, bits, n_tr, config)
    return scores, power, states


def _scores_from_states(states, bits, n_tr, config, kind="quadratures"):
    feats = _features(states, kind)
    # many small eigendecompositions: one BLAS thread (spinning threads on a shared machine made
    # them 8x slower, measured)
    with load_experiment("larger2017").blas_threads(1):
        if feats.ndim == 2:
            return parity_scores(feats, bits, n_tr, config)
        return [parity_scores(f, bits, n_tr, config) for f in feats]


def _choose(scores, among=None):
    """Index of the best point (of all, or of the indices ``among``): lowest validation P3 error,
    then the lowest P3 validation MSE. Test errors play no part."""
    among = range(len(scores)) if among is None else among
    return min(among, key=lambda i: (scores[i][3]["val_error"], scores[i][3]["val_mse"]))


def _choose_without_feedback(grid, scores):
    """Index of the map point without feedback (eta = 0) chosen as ``_choose`` chooses, or None
    if the map has no such point."""
    no_fb = [i for i, (_, e, _) in enumerate(grid) if e == 0.0]
    return _choose(scores, no_fb) if no_fb else None


def operating_map(config, mask, bits_tr, bits_te):
    """Parity scores (quadrature and amplitude readouts) and test-bit power over the
    (gamma, eta, detuning) grid: one batched solve over (gamma, eta) per detuning."""
    grid, scores, amp_scores, power = [], [], [], []
    bits = np.concatenate([bits_tr, bits_te])
    ge = list(itertools.product(config["map_gammas"], config["map_etas"]))
    g, e = (np.array(v, np.float32) for v in zip(*ge, strict=True))
    for d in tqdm(config["map_detunings_lw"], desc="dion2018: operating map", leave=False):
        sc, pw, states = parity_at(make_node(config, g, e, np.float32(d)), config, mask, bits_tr,
                                   bits_te)
        grid += [(gi, ei, d) for gi, ei in ge]
        scores += sc
        power += list(pw)
        amp_scores += _scores_from_states(states, bits, len(bits_tr), config, kind="amplitude")
    return grid, scores, amp_scores, np.array(power)


def theta_map(config, mask, bits_tr, bits_te, gamma, detuning):
    """P3 test error over (theta/T, eta) at the chosen gamma and detuning: one solve per theta,
    on the first ``theta_scan_bits`` training and test bits."""
    rows = []
    etas = np.array(config["map_etas"], np.float32)
    n_tr, n_te = config["theta_scan_bits"]
    for r in tqdm(config["theta_scan"], desc="dion2018: theta scan", leave=False):
        node = make_node(config, gamma, etas, detuning, theta_over_t=r)
        scores, _, _ = parity_at(node, config, mask, bits_tr[:n_tr], bits_te[:n_te])
        rows.append([s[3]["test_error"] for s in scores])
    return np.array(rows).reshape(len(rows), len(etas))


# --------------------------------------------------------------------------------------------
# Spoken digits (FSDD stands in for TI-46)
# --------------------------------------------------------------------------------------------


def spoken_digits(config, detuning):
    """WER (official FSDD split) over a small (gamma, eta) grid; the point and alpha are chosen on
    validation repetitions 5-9."""
    lg = load_experiment("larger2017")
    cfg = {"n_frames": config["fsdd_n_frames"], "n_mfcc": 13, "max_rep": config["fsdd_max_rep"],
           "seed": config["seed"], "n_nodes": config["n_nodes"]}
    x, digits, speakers, reps, _ = lg.load_inputs(cfg)
    problems = {"official": lg.splits(speakers, reps)["official"]}
    groups = np.where(reps < 5, 0, np.where(reps < 10, 1, 2))
    mask = make_mask(config, x.shape[-1])
    grid = list(itertools.product(config["fsdd_gammas"], config["fsdd_etas"]))
    g, e = (np.array(v, np.float32)[:, None] for v in zip(*grid, strict=True))
    node = make_node(config, g, e, np.float32(detuning))
    # every word starts from the idle (driven, input-free) resonator: input-free delay periods first
    idle = config["fsdd_idle_frames"]
    x_in = np.concatenate([np.zeros((x.shape[0], idle, x.shape[2]), x.dtype), x], axis=1)
    # speech drives the resonator harder than the +-1 bits (modulation depth up to several times
    # F0): a finer step keeps RK4 well inside its stability region at the larger amplitudes
    states = simulate_nodes(node, x_in, mask, config, jax.random.key(config["seed"] + 5),
                            dt_over_t=config["fsdd_dt_over_t"])
    states = np.asarray(states)[:, :, idle:]  # (P, U, F, N, 2)
    feats = states.reshape(states.shape[:3] + (-1,))
    results = []
    with lg.blas_threads(1):
        for f in feats:
            results.append(lg.evaluate(f, digits, groups, 3, problems, config["fsdd_rel_alphas"]))
    gi, ai = lg.choose(results, "official")
    n_frames = x.shape[1]
    return {"wer": results[gi]["official"]["test"][ai], "val_wer": results[gi]["official"]["val"][ai],
            "gamma": grid[gi][0], "eta": grid[gi][1], "rel_alpha": config["fsdd_rel_alphas"][ai],
            "n_utterances": int(x.shape[0]), "n_frames": n_frames,
            "max_amplitude_nm": float(np.hypot(states[gi, ..., 0], states[gi, ..., 1]).max()),
            "power_w": float(mean_power_w(node, jnp.asarray(states)).reshape(len(grid), -1)[gi].mean()),
            "word_duration_us": n_frames * float(node.delay)}


# --------------------------------------------------------------------------------------------
# Co-design by gradient through the delay integrator
# --------------------------------------------------------------------------------------------


def codesign(config, mask0, checkpoint=None):
    """Train gamma, eta, the detuning, Q, k3 (bounded, see ``device_scales``) and the mask on the
    P3 validation MSE of a differentiable ridge readout, with fixed training bits and thermal
    noise (common random numbers). With ``checkpoint`` (a file) the parameters, the optimiser
    state and the losses are saved every 5 steps and on Ctrl-C or SIGTERM, and a co-design with
    that file present resumes from it, exactly (:func:`physnn.train.train_loop`)."""
    n_bits, w = config["codesign_bits"], config["washout"]
    bits, _ = parity_task(n_bits, 1, seed=config["seed"] + 100)
    y3 = jnp.asarray(parity_targets(bits, 3)[w:], jnp.float32)
    n_fit = (2 * (n_bits - w)) // 3
    u = jnp.asarray(2.0 * bits - 1.0, jnp.float32)
    key = jax.random.key(config["seed"] + 101)
    start = config["codesign_start"]
    params = {"gamma": jnp.float32(start["gamma"]), "eta": jnp.float32(start["eta"]),
              "detuning_lw": jnp.float32(start["detuning_lw"]), "mask": jnp.asarray(mask0),
              "log_q": jnp.float32(0.0), "log_k3": jnp.float32(0.0)}

    base = make_node(config, start["gamma"], start["eta"], start["detuning_lw"])

    def with_params(p):
        q_scale, k3_scale = device_scales(p)
        return eqx.tree_at(lambda m: (m.input_gain, m.feedback_gain, m.drive_mhz, m.q,
                                      m.k3_n_per_m3), base,
                           (p["gamma"], p["eta"], F0_MHZ * (1.0 + p["detuning_lw"] / Q),
                            base.q * q_scale, base.k3_n_per_m3 * k3_scale))

    def loss_fn(p):
        node = with_params(p)
        s = simulate_nodes(node, u, p["mask"], config, key)
        x = s.reshape(s.shape[0], -1)[w:]
        x = x / (jnp.std(x[:n_fit]) + 1e-9)
        wt, b = ridge_solve(x[:n_fit], y3[:n_fit], 1e-4 * x.shape[1])
        return jnp.mean((x[n_fit:] @ wt + b - y3[n_fit:]) ** 2)

    opt = optax.adam(config["codesign_lr"])
    value_and_grad = eqx.filter_jit(eqx.filter_value_and_grad(loss_fn))

    def step(i, state):
        p, opt_state = state
        loss, g = value_and_grad(p)
        upd, opt_state = opt.update(g, opt_state, p)
        return (optax.apply_updates(p, upd), opt_state), {"loss": loss}

    bar = tqdm(total=config["codesign_steps"], desc="dion2018: co-design", leave=False)
    (params, _), history = pn.train.train_loop(step, (params, opt.init(params)),
                                               config["codesign_steps"], checkpoint=checkpoint,
                                               owner="dion2018 co-design", progress=bar)
    bar.close()
    curve = history.get("loss", []) + [float(value_and_grad(params)[0])]
    return params, curve


# --------------------------------------------------------------------------------------------
# Run
# --------------------------------------------------------------------------------------------


def run(config, out_dir) -> dict:
    out_dir = Path(out_dir)
    timings = {}
    t0 = time.perf_counter()
    bits_tr, bits_te = parity_data(config)
    mask = make_mask(config)

    # operating-point map and the chosen point
    # an interrupted run resumes: each phase below is a stage kept in out_dir/checkpoints
    stages = pn.checkpoint.Stages.of_run(out_dir, config, "dion2018")
    grid, scores, amp_map, power = stages("operating_map", operating_map, config, mask, bits_tr,
                                          bits_te)
    best = _choose(scores)
    gamma, eta, det = grid[best]
    chosen = scores[best]
    timings["map_s"] = time.perf_counter() - t0

    t = time.perf_counter()
    theta_rows = stages("theta_map", theta_map, config, mask, bits_tr, bits_te, gamma, det)
    timings["theta_scan_s"] = time.perf_counter() - t

    node = make_node(config, gamma, eta, det)
    amp_scores = amp_map[best]
    tau_us = float(node.delay)
    energy_bit = float(power[best]) * tau_us * 1e-6

    t = time.perf_counter()
    digits = stages("spoken_digits", spoken_digits, config, det)
    timings["fsdd_s"] = time.perf_counter() - t

    t = time.perf_counter()
    start = config["codesign_start"]
    params, curve = codesign(config, mask, checkpoint=stages.path("codesign"))
    point = (start["gamma"], start["eta"], start["detuning_lw"])
    if point in grid:  # a map point: same bits, same noise, already simulated
        before, p_before = scores[grid.index(point)], power[grid.index(point)]
    else:
        before, p_before = stages("codesign_before", lambda: parity_at(
            make_node(config, *point), config, mask, bits_tr, bits_te)[:2])
    q_scale, k3_scale = (float(v) for v in device_scales(params))
    trained = make_node(config, params["gamma"], params["eta"], params["detuning_lw"],
                        q_scale=q_scale, k3_scale=k3_scale)
    after, p_after = stages("codesign_after", lambda: parity_at(
        trained, config, np.asarray(params["mask"]), bits_tr, bits_te)[:2])
    timings["codesign_s"] = time.perf_counter() - t

    # the best point without feedback, chosen on validation as the main point is
    no_fb = _choose_without_feedback(grid, scores)
    # the most frugal point that makes no validation error on any order (chosen without test data)
    clean = [i for i, sc in enumerate(scores) if all(sc[n]["val_error"] == 0 for n in (1, 2, 3))]
    frugal = min(clean, key=lambda i: power[i]) if clean else best
    metrics = {
        "parity1_test_error": chosen[1]["test_error"],
        "parity2_test_error": chosen[2]["test_error"],
        "parity3_test_error": chosen[3]["test_error"],
        "parity_test_error_95_upper_bound": error_upper_bound(
            round(max(chosen[n]["test_error"] for n in (1, 2, 3)) * len(bits_te)), len(bits_te)),
        "parity3_test_error_amplitude_readout": amp_scores[3]["test_error"],
        "parity3_test_error_without_feedback": scores[no_fb][3]["test_error"]
        if no_fb is not None else float("nan"),
        "n_test_bits": len(bits_te),
        "low_energy_point_parity3_test_error": scores[frugal][3]["test_error"],
        "low_energy_point_max_test_error": max(scores[frugal][n]["test_error"] for n in (1, 2, 3)),
        "low_energy_point_energy_per_bit_j": float(power[frugal]) * tau_us * 1e-6,
        "chosen_input_gain": float(gamma), "chosen_feedback_gain": float(eta),
        "chosen_detuning_linewidths": float(det),
        "fsdd_wer_official": digits["wer"], "fsdd_accuracy_official": 1.0 - digits["wer"],
        "energy_per_bit_j": energy_bit, "latency_per_bit_us": tau_us,
        "bits_per_s": 1e6 / tau_us, "mean_power_w": float(power[best]),
        "energy_per_word_j": digits["power_w"] * digits["word_duration_us"] * 1e-6,
        "latency_per_word_us": digits["word_duration_us"],
        "codesign_p3_test_error_before": before[3]["test_error"],
        "codesign_p3_test_error_after": after[3]["test_error"],
        "codesign_p3_val_mse_before": curve[0], "codesign_p3_val_mse_after": curve[-1],
        "codesign_energy_per_bit_before_j": float(p_before) * tau_us * 1e-6,
        "codesign_energy_per_bit_after_j": float(p_after) * tau_us * 1e-6,
    }
    _figures(out_dir, config, grid, scores, theta_rows, curve, metrics)
    ringdown = float(node.ringdown_time_us())
    notes = [
        "device: one Duffing resonator (2.2 MHz, Q = 4000, 1 pg, k3 = 3e11 N/m^3, F0 = "
        f"{config['drive_force_pn']} pN; ring-down T = {ringdown:.4g} us), rotating-frame slow "
        f"flow, N = {config['n_nodes']} virtual nodes, theta = {config['theta_over_t']} T, "
        f"tau = (N+1) theta = {tau_us:.4g} us, thermal force at {config['temperature_k']} K",
        "feedback: F = F0 [1 + gamma J] + eta (m omega0^2/Q) |A(t - tau)| (delayed envelope added "
        "to the drive amplitude, eta = loop gain at resonance); a modelling choice: the paper's exact "
        "feedback law could not be established here, and its device is a MEMS beam, not this NEMS",
        "parity: quadrature readout, alpha and operating point chosen on validation bits (last "
        f"quarter of {config['parity_train']} training bits); test on {len(bits_te)} "
        "fresh bits with fresh thermal noise; an error of 0 means no error in that many bits "
        f"(resolution {1 / len(bits_te):.2g})",
        "without feedback: the eta = 0 map point with the lowest P3 validation error (then MSE), "
        + (f"gamma={grid[no_fb][0]:g}, detuning={grid[no_fb][2]:+g} linewidths" if no_fb is not None
           else "none in the map"),
        "spoken digits: FSDD (6 male speakers, open data) stands in for TI-46 (LDC licence), so the "
        "accuracy is not comparable one-to-one with the paper's (78 +- 2) % on TI-46 spoken words; "
        f"official split (test repetitions 0-4), {digits['n_utterances']} utterances, "
        f"{digits['n_frames']} MFCC frames per word, winner-take-all ridge readout",
        f"low-energy point: among the {len(clean)} map points with no validation error on P1-P3, "
        f"the one with the least dissipated power: gamma={grid[frugal][0]:g}, eta={grid[frugal][1]:g}, "
        f"detuning={grid[frugal][2]:+g} linewidths",
        "energy = damping power of the resonator x input duration (one delay period per bit, "
        "n_frames periods per word); the electronics of the delay loop and readout are not counted",
        f"co-design: gamma, eta, detuning, Q, k3 (bounded: Q x 0.61-1.65, k3 x 0.37-2.7) and mask "
        f"trained by Adam through the delay integrator for "
        f"{config['codesign_steps']} steps on {config['codesign_bits']} bits (P3 validation MSE), "
        f"from gamma={start['gamma']}, eta={start['eta']}, detuning={start['detuning_lw']} linewidths, "
        f"Q={Q:.0f}, k3={K3:.3g} N/m^3; result gamma={float(params['gamma']):.3g}, "
        f"eta={float(params['eta']):.3g}, detuning={float(params['detuning_lw']):.3g} linewidths, "
        f"Q={Q * q_scale:.0f}, k3={K3 * k3_scale:.3g} N/m^3",
    ]
    notes += stages.notes()
    return {
        "metrics": metrics,
        "reference": dict(REFERENCE),
        "dataset": "parity (random bits); FSDD spoken digits as a stand-in for TI-46 (not freely "
                   "available)",
        "chosen": {"parity": {str(k): v for k, v in chosen.items()},
                   "parity_amplitude_readout": {str(k): v for k, v in amp_scores.items()},
                   "fsdd": digits,
                   "codesign": {"gamma": float(params["gamma"]), "eta": float(params["eta"]),
                                "detuning_lw": float(params["detuning_lw"]),
                                "q": Q * q_scale, "k3_n_per_m3": K3 * k3_scale, "curve": curve,
                                "before": {str(k): v for k, v in before.items()},
                                "after": {str(k): v for k, v in after.items()}}},
        "map": {"points": [list(map(float, p)) for p in grid],
                "p3_test_error": [s[3]["test_error"] for s in scores],
                "p2_test_error": [s[2]["test_error"] for s in scores],
                "theta_over_t": config["theta_scan"], "etas": config["map_etas"],
                "theta_p3_test_error": theta_rows.tolist()},
        "low_energy_point": {"gamma": grid[frugal][0], "eta": grid[frugal][1],
                             "detuning_lw": grid[frugal][2], "n_clean_points": len(clean)},
        "timings_s": timings,
        "notes": notes,
        "resumed": stages.resumed,
        "figures": ["parity_map.png", "codesign.png"] + (["theta_map.png"] if len(theta_rows) else []),
    }


#: ``physnn run`` calls it once ``results.json`` is written: a new run in the folder starts afresh.
finished = pn.checkpoint.remove_run_checkpoints


def _figures(out_dir, config, grid, scores, theta_rows, curve, m):
    gammas, etas, dets = config["map_gammas"], config["map_etas"], config["map_detunings_lw"]
    err = np.zeros((len(gammas), len(etas), len(dets)))
    for (g, e, d), sc in zip(grid, scores, strict=True):
        err[gammas.index(g), etas.index(e), dets.index(d)] = sc[3]["test_error"]
    fig, axs = plt.subplots(1, len(dets), figsize=(3.2 * len(dets) + 1, 3.2), constrained_layout=True,
                            squeeze=False)
    for k, d in enumerate(dets):
        ax = axs[0, k]
        im = ax.imshow(100 * err[:, :, k], origin="lower", aspect="auto", vmin=0, vmax=50,
                       cmap="viridis_r")
        ax.set_xticks(range(len(etas)), [f"{e:g}" for e in etas])
        ax.set_yticks(range(len(gammas)), [f"{g:g}" for g in gammas])
        ax.set_xlabel("feedback gain eta")
        ax.set_title(f"detuning {d:+g} linewidths", fontsize=9)
        for i, j in itertools.product(range(len(gammas)), range(len(etas))):
            ax.text(j, i, f"{100 * err[i, j, k]:.1f}", ha="center", va="center", fontsize=6,
                    color="w" if err[i, j, k] > 0.25 else "k")
    axs[0, 0].set_ylabel("input gain gamma")
    fig.colorbar(im, ax=axs[0, -1], label="P3 test error (%)")
    fig.suptitle("Parity-3 error of one Duffing resonator with delayed feedback (300 K)", fontsize=10)
    fig.savefig(Path(out_dir) / "parity_map.png", dpi=120)
    plt.close(fig)

    if len(theta_rows):
        _theta_figure(out_dir, config, theta_rows, m)

    fig, ax = plt.subplots(figsize=(5, 3.4), constrained_layout=True)
    ax.plot(curve, "o-")
    ax.set_xlabel("Adam step (through the delay integrator)")
    ax.set_ylabel("P3 validation MSE")
    ax.set_title(f"co-design: P3 test error {100 * m['codesign_p3_test_error_before']:.2f} % -> "
                 f"{100 * m['codesign_p3_test_error_after']:.2f} %", fontsize=9)
    fig.savefig(Path(out_dir) / "codesign.png", dpi=120)
    plt.close(fig)


def _theta_figure(out_dir, config, theta_rows, m):
    etas = config["map_etas"]
    fig, ax = plt.subplots(figsize=(5, 3.4), constrained_layout=True)
    im = ax.imshow(100 * theta_rows, origin="lower", aspect="auto", vmin=0, vmax=50, cmap="viridis_r")
    ax.set_xticks(range(len(etas)), [f"{e:g}" for e in etas])
    ax.set_yticks(range(len(config["theta_scan"])), [f"{r:g}" for r in config["theta_scan"]])
    ax.set_xlabel("feedback gain eta")
    ax.set_ylabel("node spacing theta / ring-down time")
    ax.set_title(f"P3 test error (%) at gamma={m['chosen_input_gain']:g}, "
                 f"detuning={m['chosen_detuning_linewidths']:+g}", fontsize=9)
    fig.colorbar(im, ax=ax)
    fig.savefig(Path(out_dir) / "theta_map.png", dpi=120)
    plt.close(fig)
