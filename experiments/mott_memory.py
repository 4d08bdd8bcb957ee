r"""Associative memory in coupled VO2 oscillators: phase patterns stored in the couplings by the
Hebbian rule, recalled from corrupted cues, and the couplings then trained by gradient through the
dynamics (oscillatory associative memories: Hoppensteadt & Izhikevich, Phys. Rev. Lett. 82, 2983
(1999); Nikonov et al., IEEE JXCDC 1, 85 (2015); the VO2 oscillatory neural networks of
Todri-Sanial's group, e.g. Delacour et al. 2023).

Protocol:

- Patterns: 5 x 5 letters (``GLYPHS``: E V N K O T, in an order picked for small mutual overlaps),
  pixels $\xi_i = \pm 1$. A pixel is the phase of its oscillator relative to oscillator 0:
  in phase (+1 relative to pixel 0) or in anti-phase.
- Storage (Hebbian): $W = \frac1N \sum_p \xi^p \xi^{p\top}$, zero diagonal.
- Device: every pixel is a **differential pair** of VO2 cells (``MottNetwork("VO2")``, C = 145 pF,
  R_s = 5 kOhm, 6 V bias: a 1.5 V relaxation oscillation of period 0.95 us alone), $i^+$ and
  $i^-$, held in anti-phase by a capacitor $C_{\mathrm{pair}}$ (capacitive coupling repels,
  tests/test_mott.py). A weight $W_{ij} > 0$ is a resistor of conductance $g\,W_{ij}$ between
  $i^+$ and $j^+$ and another between $i^-$ and $j^-$ (resistive coupling pulls in phase); a weight
  $W_{ij} < 0$ is the same pair of resistors between $i^+$ and $j^-$ and between $i^-$ and $j^+$.
  Every element is passive: the complementary cell supplies the sign. In the recalled pattern
  every satisfied coupling resistor joins two cells in phase and carries no current.
  *Why not one cell per pixel with capacitors for negative weights?* We tried it first: with three
  or more stored letters the capacitors' loading and the firing kicks they pass on shift each
  cell's frequency by an amount that depends on its neighbourhood, the phases drift away from
  0 / pi and even uncorrupted patterns are lost (two letters, with no frustrated coupling, were
  fine). Second-harmonic injection on the bias did not repair it.
- Recall: every cell starts on its limit cycle, at phase 0 ($i^+$ of a +1 pixel, $i^-$ of a -1
  pixel) or pi (the others): the cue is written as start times, as in VO2 ONNs that encode inputs
  as phase delays. The network then runs freely for ``t1_ns`` (Bogacki-Shampine 3(2) with fixed
  steps ``dt_ns`` = 20 ns: its readouts agree with Tsit5 at 20 ns on 99.5 % of the cues, at two
  thirds of the cost).
- Readout: the phase of each $i^+$ at the end (``final_phases`` of parihar2017, from threshold
  crossings over the last ``window_ns``), binarised relative to oscillator $0^+$
  ($|\phi_i - \phi_0| < \pi/2$ -> +1). A pattern and its inverse are the same phase configuration;
  the global sign is fixed by agreement with the cue. Exact recall: all 25 pixels equal to the
  stored letter; overlap $m = \frac1N \sum_i r_i \xi_i$.
- Baseline: the ideal digital Hopfield network (asynchronous sign updates until stable) with the
  same $W$, on the same cues.
- Learning: the signed weights $W$ (symmetric, zero diagonal) are trained with optax (Adam) by
  gradient through the dynamics (diffrax, every step stored) on training cues, to lower a
  differentiable surrogate of the readout: the phase error between every two pixels,
  $\frac12(1 - \xi_i\xi_j\cos(\phi_i - \phi_j))$ averaged over pixel pairs, with the phases taken
  from the Fourier component of the voltages at the network frequency over the readout window.
  Before/after figures are measured on held-out cues (other random flips, other seed).
- Cost: the Joule power (``power()``: switches, load resistors, coupling resistors) integrated
  from the start to the settling time gives the energy per recall; the settling time (latency) is
  when the binarised phase pattern last changes.

Resume: an interrupted run (Ctrl-C, SIGTERM, a killed job) resumes when the same command is run
again with the same ``--out``. Every simulation of the run is a stage kept in ``DIR/checkpoints``
(:class:`physnn.checkpoint.Stages`) and the training checkpoints its weights every 5 steps and on Ctrl-C
or SIGTERM (:func:`physnn.train.train_loop`); the figures and record are the same, bit for bit, as
an uninterrupted run's. The folder is removed once ``results.json`` is written.

Departures: a simulated VO2 model (no hysteresis, see physnn/devices/mott.py) instead of measured
devices; identical cells (no device-to-device spread) and no noise.
"""

from __future__ import annotations

from pathlib import Path

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax
from tqdm.auto import tqdm

import physnn as pn
from physnn import cli
from physnn.devices.mott import phase_from_spikes

# VO2 cell (C, bias) and coupling: conductance per unit Hebbian weight, pair capacitor.
DESIGN0 = {"node_pf": 145.0, "bias_v": 6.0, "g_unit_us": 100.0, "c_pair_pf": 60.0}

GLYPHS = {
    "E": ["#####", "#....", "####.", "#....", "#####"],
    "V": ["#...#", "#...#", ".#.#.", ".#.#.", "..#.."],
    "N": ["#...#", "##..#", "#.#.#", "#..##", "#...#"],
    "K": ["#..#.", "#.#..", "##...", "#.#..", "#..#."],
    "O": [".###.", "#...#", "#...#", "#...#", ".###."],
    "T": ["#####", "..#..", "..#..", "..#..", "..#.."],
}

QUICK = {
    "letters": ["E", "V", "N", "K", "O"], "flips": [0, 1, 3, 6], "cues_per_level": 2,
    "capacity_letters": [3, 5], "capacity_flips": [2, 5], "capacity_cues": 2,
    "t1_ns": 30000.0, "dt_ns": 20.0, "save_ns": 40.0, "window_ns": 8000.0,
    "train_cues": 2, "train_flips": [4, 6], "train_steps": 3, "lr": 0.004, "batch": 40,
    "seed": 0,
    "design": DESIGN0,
}
FULL = dict(QUICK, flips=[0, 1, 2, 3, 4, 5, 6, 7, 8], cues_per_level=8,
            capacity_letters=[2, 3, 4, 5, 6], capacity_flips=[2, 4, 6], capacity_cues=6,
            train_cues=4, train_steps=30, batch=120)


# ------------------------------------------------------------------------------------ patterns
def letter_patterns(letters) -> np.ndarray:
    """The glyphs as +-1 vectors (``#`` = +1), shape (P, 25)."""
    unknown = [s for s in letters if s not in GLYPHS]
    if unknown:
        raise ValueError(f"mott-memory: letters={list(letters)} contains {unknown}; expected "
                         f"letters from {sorted(GLYPHS)}")
    return np.array([[1.0 if c == "#" else -1.0 for row in GLYPHS[s] for c in row]
                     for s in letters])


def check_patterns(patterns, name: str = "patterns") -> np.ndarray:
    """Validate stored patterns: a non-empty (P, N) array of +-1 with N >= 2."""
    a = np.asarray(patterns, dtype=float)
    if a.ndim != 2:
        raise ValueError(f"{name} has shape {a.shape}; expected a (P, N) array of +-1 patterns")
    if a.shape[0] == 0 or a.shape[1] < 2:
        raise ValueError(f"{name} has shape {a.shape}: an empty pattern set; expected at least one "
                         "pattern of at least two pixels")
    bad = ~np.isin(a, (-1.0, 1.0))
    if np.any(bad):
        p, i = (int(x[0]) for x in np.nonzero(bad))
        raise ValueError(f"{name}[{p}, {i}]={a[p, i]:g}; expected every pixel to be +1 or -1 "
                         "(in phase / anti-phase with the reference oscillator)")
    return a


def hebbian_weights(patterns) -> np.ndarray:
    r"""$W = \frac1N\sum_p \xi^p \xi^{p\top}$ with a zero diagonal, shape (N, N)."""
    xi = check_patterns(patterns)
    w = xi.T @ xi / xi.shape[1]
    np.fill_diagonal(w, 0.0)
    return w


def corrupt(patterns, n_flips: int, count: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """``count`` cues per pattern, each with ``n_flips`` distinct pixels flipped.

    Returns (cues (P * count, N), index of the stored pattern (P * count,))."""
    xi = check_patterns(patterns)
    n = xi.shape[1]
    if not 0 <= int(n_flips) <= n // 2:
        raise ValueError(f"mott-memory: n_flips={n_flips}; expected 0 <= n_flips <= N/2 = {n // 2}"
                         " (more flips make the cue closer to the inverse pattern)")
    cues, idx = [], []
    for p, x in enumerate(xi):
        for _ in range(int(count)):
            c = x.copy()
            c[rng.choice(n, int(n_flips), replace=False)] *= -1
            cues.append(c)
            idx.append(p)
    return np.asarray(cues).reshape(-1, n), np.asarray(idx, int)


def cue_set(patterns, flips, count, seed) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cues at every corruption level: (cues (B, N), target index (B,), flips (B,))."""
    rng = np.random.default_rng(seed)
    out = [(*corrupt(patterns, k, count, rng), k) for k in flips]
    return (np.concatenate([c for c, _, _ in out]), np.concatenate([i for _, i, _ in out]),
            np.concatenate([np.full(len(i), k) for _, i, k in out]))


# ------------------------------------------------------------------------------------ device
def symmetric(w):
    """Symmetrised, zero diagonal."""
    w = 0.5 * (w + jnp.swapaxes(w, -1, -2))
    return w * (1.0 - jnp.eye(w.shape[-1], dtype=w.dtype))


def coupling_conductances(w, design):
    """(2N, 2N) conductance matrix, S, over cells (1+..N+, 1-..N-): a weight w > 0 joins i+ j+ and
    i- j-, a weight w < 0 joins i+ j- and i- j+, each by a resistor of conductance g_unit |w|."""
    w = symmetric(w)
    g = design["g_unit_us"] * 1e-6
    same, cross = g * jnp.maximum(w, 0.0), g * jnp.maximum(-w, 0.0)
    return jnp.block([[same, cross], [cross, same]])


def build_network(w, design, batch: int):
    """2N VO2 cells, the coupling resistors of ``coupling_conductances`` and a capacitor between
    the two cells of every pixel; parihar2017's ``GraphOscillators`` applies the (constant)
    capacitance matrix."""
    n = w.shape[-1]
    pair = jnp.block([[jnp.zeros((n, n)), jnp.eye(n)], [jnp.eye(n), jnp.zeros((n, n))]])
    cc = design["c_pair_pf"] * 1e-12 * pair
    c_node = design["node_pf"] * 1e-12 * jnp.ones(2 * n)
    cells = pn.MottNetwork("VO2", capacitance_f=jnp.broadcast_to(c_node, (batch, 2 * n)),
                           source_voltage_v=jnp.broadcast_to(design["bias_v"], (batch, 2 * n)),
                           coupling_conductance_s=coupling_conductances(w, design))
    cmat = jnp.diag(c_node + cc.sum(-1)) - cc
    mix = jnp.linalg.solve(cmat, jnp.diag(c_node))
    return _parihar().GraphOscillators(cells, mix)  # one (2N, 2N) mix for the whole batch


def _parihar():
    return cli.load_experiment("parihar2017")


def limit_cycle_states(design, config) -> tuple[np.ndarray, float]:
    """States of one uncoupled cell on its limit cycle at phase 0 (an upward mid-level crossing)
    and phase pi (half a period later), interpolated from one solve saved every 5 ns:
    ([[V0, T0], [Vpi, Tpi]], period in ns)."""
    cell = pn.MottNetwork("VO2", capacitance_f=design["node_pf"] * 1e-12,
                          source_voltage_v=design["bias_v"])
    ts = np.arange(0.0, 12000.0 + 1e-6, 5.0)
    tr = pn.simulate(cell, None, t1=float(ts[-1]), dt=5.0, saveat=ts)
    y = np.asarray(tr.ys[:, :, 0], float)  # (n_t, 2): V, T
    late = ts > 4000.0
    ph = phase_from_spikes(ts, y[:, 0], 0.5 * (y[late, 0].max() + y[late, 0].min()))
    ok = late & ~np.isnan(ph)
    period = 2 * np.pi * (ts[ok][-1] - ts[ok][0]) / (ph[ok][-1] - ph[ok][0])
    t_zero = float(np.interp(2 * np.pi * np.ceil(ph[ok][0] / (2 * np.pi)), ph[ok], ts[ok]))
    states = [[np.interp(t, ts, y[:, k]) for k in (0, 1)] for t in (t_zero, t_zero + period / 2)]
    return np.asarray(states), float(period)


def initial_state(net, cues, cycle):
    """Cell i+ starts at phase 0 for a +1 pixel and pi for a -1 pixel; i- the other way."""
    plus = jnp.concatenate([cues, -cues], axis=-1) > 0
    v0 = jnp.where(plus, cycle[0, 0], cycle[1, 0])
    t0 = jnp.where(plus, cycle[0, 1], cycle[1, 1])
    return net.init_state(cues.shape[:1], voltage=v0, temperature=t0)


def simulate_recall(w, cues, design, cycle, config, ts):
    """Let the network settle from the cue; returns (net, trajectory saved at ``ts``)."""
    net = build_network(jnp.asarray(w), design, cues.shape[0])
    y0 = initial_state(net, jnp.asarray(cues), jnp.asarray(cycle))
    tr = pn.simulate(net, None, t1=config["t1_ns"], dt=config["dt_ns"], y0=y0, saveat=ts,
                     solver=dfx.Bosh3())
    return net, tr


# ------------------------------------------------------------------------------------ readout
def _sign(x):
    return np.where(x < 0, -1.0, 1.0)


def read_patterns(ts, v_plus, cues, config) -> np.ndarray:
    """Binary pattern from the final phases of the + cells relative to cell 0+ (over the last
    ``window_ns``); global sign by agreement with the cue. v_plus (n_t, B, N). NaN rows: a cell
    was silent."""
    late = ts >= ts[-1] - config["window_ns"]
    ph = _parihar().final_phases(ts[late], np.asarray(v_plus)[late])
    r = _sign(np.cos(ph - ph[:, :1]))
    r = r * _sign(np.sum(r * cues, axis=1, keepdims=True))
    return np.where(np.isnan(ph).any(1, keepdims=True), np.nan, r)


def settling_times(ts, v_plus, recalled) -> np.ndarray:
    """Latency of each recall (ns): the first time after which the binarised phase pattern
    relative to cell 0+ (phases from the threshold crossings over the whole run) always equals
    the final readout. NaN for a failed (silent) readout."""
    v = np.asarray(v_plus)
    late = ts > ts[-1] / 2
    thr = 0.5 * (v[late].max(0) + v[late].min(0))
    out = np.full(v.shape[1], np.nan)
    for b in range(v.shape[1]):
        if np.isnan(recalled[b]).any():
            continue
        ph = np.stack([phase_from_spikes(ts, v[:, b, j], thr[b, j]) for j in range(v.shape[2])], 1)
        ok = np.nonzero(~np.isnan(ph).any(1))[0]
        rel = _sign(np.cos(ph[ok] - ph[ok, :1]))
        wrong = np.nonzero(np.any(rel != recalled[b] * recalled[b, 0], axis=1))[0]
        out[b] = ts[ok[0]] if wrong.size == 0 else ts[ok[min(wrong[-1] + 1, ok.size - 1)]]
    return out


def hopfield_recall(w, cues, rng, max_sweeps: int = 100) -> np.ndarray:
    """The ideal digital Hopfield network: asynchronous updates x_i <- sign(sum_j W_ij x_j) in
    random order until a sweep changes nothing (a zero field keeps the pixel); global sign by
    agreement with the cue, as for the oscillators."""
    w = np.asarray(w, float)
    x = np.array(cues, dtype=float)
    for b in range(x.shape[0]):
        for _ in range(max_sweeps):
            changed = False
            for i in rng.permutation(x.shape[1]):
                h = w[i] @ x[b]
                new = x[b, i] if h == 0 else np.sign(h)
                changed |= bool(new != x[b, i])
                x[b, i] = new
            if not changed:
                break
    return x * _sign(np.sum(x * cues, axis=1, keepdims=True))


# ------------------------------------------------------------------------------------ learning
def fourier_phasors(v):
    """Differentiable phases: the Hann-windowed Fourier component of every voltage at the
    strongest non-DC frequency of its sample (the network frequency). v (n_t, B, N) -> unit
    phasors (re, im), each (B, N)."""
    x = v - v.mean(0)
    x = x * jnp.hanning(v.shape[0])[:, None, None]
    spec = jnp.fft.rfft(x, axis=0)
    power = jax.lax.stop_gradient(jnp.sum(jnp.abs(spec) ** 2, axis=-1))  # (n_f, B)
    k = jnp.argmax(power.at[0].set(0.0), axis=0)
    z = jnp.take_along_axis(spec, k[None, :, None], axis=0)[0]
    z = z / jnp.sqrt(jnp.abs(z) ** 2 + 1e-12)
    return jnp.real(z), jnp.imag(z)


def phase_error(v_plus, targets):
    r"""Mean over pixel pairs of $\frac12(1 - \xi_i\xi_j\cos(\phi_i - \phi_j))$: 0 when every pair
    has the stored relation, 1 for the inverse of every relation."""
    re, im = fourier_phasors(v_plus)
    cos = re[:, :, None] * re[:, None, :] + im[:, :, None] * im[:, None, :]
    rel = targets[:, :, None] * targets[:, None, :]
    n = targets.shape[-1]
    off = 1.0 - jnp.eye(n)
    return jnp.sum(0.5 * (1.0 - rel * cos) * off) / (targets.shape[0] * n * (n - 1))


def surrogate_loss(w, cues, targets, design, cycle, config):
    """``phase_error`` of the + cells over the readout window, through the dynamics."""
    t1 = config["t1_ns"]
    ts = np.arange(t1 - config["window_ns"], t1 + 1e-6, config["dt_ns"])
    _, tr = simulate_recall(w, cues, design, cycle, config, ts)
    return phase_error(tr.obs["voltage"][..., : cues.shape[-1]], targets)


def train_couplings(w0, cues, targets, design, cycle, config, progress=None, checkpoint=None):
    """Adam on the signed weights (kept symmetric with a zero diagonal). With ``checkpoint`` (a
    file) the weights, the optimiser state and the losses are saved every 5 steps and on Ctrl-C
    or SIGTERM, and a training with that file present resumes from it, exactly
    (:func:`physnn.train.train_loop`). Returns the weights and the loss of every step."""
    w = jnp.asarray(w0)
    opt = optax.adam(config["lr"])
    c, tg = jnp.asarray(cues), jnp.asarray(targets)
    grad_fn = eqx.filter_jit(jax.value_and_grad(
        lambda w_: surrogate_loss(w_, c, tg, design, cycle, config)))

    def step(i, state):
        w_, opt_state = state
        loss, g = grad_fn(w_)
        upd, opt_state = opt.update(symmetric(g), opt_state, w_)
        return (symmetric(optax.apply_updates(w_, upd)), opt_state), {"loss": loss}

    (w, _), history = pn.train.train_loop(step, (w, opt.init(w)), config["train_steps"],
                                          checkpoint=checkpoint, owner="mott-memory",
                                          progress=progress)
    return np.asarray(w), history.get("loss", [])


# ------------------------------------------------------------------------------------ evaluation
def evaluate(w, cues, design, cycle, config, keep=()):
    """Recall every cue, in batches of ``config["batch"]`` (padded, so that one compiled solve
    serves every call). Returns the recalled patterns (B, N), latencies (ns), energies to the
    latency and to t1 (J), mean power (W), and the + cell voltages of samples ``keep``."""
    out = [_evaluate_batch(w, cues[k:k + config["batch"]], design, cycle, config)
           for k in range(0, len(cues), config["batch"])]
    res = {key: np.concatenate([o[key] for o in out]) for key in out[0] if key != "traces"}
    res["ts"] = out[0]["ts"]
    res["traces"] = np.concatenate([o["traces"] for o in out], axis=1)[:, list(keep)]
    return res


def _evaluate_batch(w, cues, design, cycle, config):
    n, real = cues.shape[1], len(cues)
    cues = np.concatenate([cues, np.repeat(cues[-1:], config["batch"] - real, 0)])
    ts = np.arange(0.0, config["t1_ns"] + 1e-6, config["save_ns"])
    net, tr = simulate_recall(w, cues, design, cycle, config, ts)
    v = np.asarray(tr.obs["voltage"][..., :n])[:, :real]
    rec = read_patterns(ts, v, cues[:real], config)
    lat = settling_times(ts, v, rec)
    p = np.asarray(jax.lax.map(lambda y: net.power(0.0, y, None), tr.ys))[:, :real]  # W
    energy = np.concatenate([np.zeros((1, real)),
                             np.cumsum(0.5 * (p[1:] + p[:-1]) * np.diff(ts)[:, None] * 1e-9, 0)])
    e_lat = np.array([np.interp(t, ts, energy[:, b]) if np.isfinite(t) else np.nan
                      for b, t in enumerate(lat)])
    return {"recalled": rec, "latency_ns": lat, "energy_latency_j": e_lat,
            "energy_t1_j": energy[-1], "mean_power_w": p.mean(0), "ts": ts, "traces": v}


def scores(recalled, patterns, idx) -> tuple[np.ndarray, np.ndarray]:
    """Exact recall (bool) and overlap m per cue; a silent readout counts as failed, overlap 0."""
    target = patterns[idx]
    exact = np.all(recalled == target, axis=1)
    overlap = np.nan_to_num(np.mean(recalled * target, axis=1), nan=0.0)
    return exact, overlap


def by_level(values, flips, levels) -> list[float]:
    return [float(np.mean(values[flips == k])) for k in levels]


# ------------------------------------------------------------------------------------ protocol
def run(config, out_dir) -> dict:
    out_dir = Path(out_dir)
    design, seed = dict(config["design"]), config["seed"]
    xi = letter_patterns(config["letters"])
    w_hebb = hebbian_weights(xi)
    cycle, period = limit_cycle_states(design, config)
    cues, idx, flips = cue_set(xi, config["flips"], config["cues_per_level"], 1000 + seed)
    tr_cues, tr_idx, _ = cue_set(xi, config["train_flips"], config["train_cues"], seed)
    steps = config["train_steps"]
    bar = tqdm(total=steps + 5 + len(config["capacity_letters"]), desc="mott-memory", leave=False)

    # an interrupted run resumes: every simulation below is a stage kept in out_dir/checkpoints
    stages = pn.checkpoint.Stages.of_run(out_dir, config, "mott-memory")
    # examples for the figures: the first cue of every pattern at the largest corruption
    keep = [int(np.nonzero((flips == max(config["flips"])) & (idx == p))[0][0])
            for p in range(len(xi))]
    ev_h = stages("eval_hebbian", evaluate, w_hebb, cues, design, cycle, config, keep=keep)
    bar.update(1)
    ev_h_train = stages("eval_hebbian_train", evaluate, w_hebb, tr_cues, design, cycle, config)
    bar.update(1)
    w_tr, losses = train_couplings(w_hebb, tr_cues, xi[tr_idx], design, cycle, config, bar,
                                   checkpoint=stages.path("train"))
    ev_t = stages("eval_trained", evaluate, w_tr, cues, design, cycle, config, keep=keep)
    bar.update(1)
    ev_t_train = stages("eval_trained_train", evaluate, w_tr, tr_cues, design, cycle, config)
    bar.update(1)
    rng = np.random.default_rng(seed)
    dig_h = hopfield_recall(w_hebb, cues, rng)
    dig_t = hopfield_recall(w_tr, cues, rng)
    bar.update(1)

    capacity = {}
    names = list(GLYPHS)
    for n_pat in config["capacity_letters"]:
        xp = letter_patterns(names[:n_pat])
        wp = hebbian_weights(xp)
        c, i, f = cue_set(xp, config["capacity_flips"], config["capacity_cues"],
                          2000 + seed + n_pat)
        recalled = stages(f"capacity_{n_pat}", lambda w_, c_: evaluate(w_, c_, design, cycle,
                                                                        config)["recalled"], wp, c)
        ex_o, _ = scores(recalled, xp, i)
        ex_d, _ = scores(hopfield_recall(wp, c, rng), xp, i)
        capacity[n_pat] = {"oscillators": by_level(ex_o, f, config["capacity_flips"]),
                           "digital": by_level(ex_d, f, config["capacity_flips"])}
        bar.update(1)
    bar.close()

    levels = config["flips"]
    curves = {}
    for name, rec in (("hebbian", ev_h["recalled"]), ("trained", ev_t["recalled"]),
                      ("digital", dig_h), ("digital_trained_w", dig_t)):
        ex, ov = scores(rec, xi, idx)
        curves[name] = {"exact": by_level(ex, flips, levels),
                        "overlap": by_level(ov, flips, levels), "exact_all": float(ex.mean()),
                        "exact_corrupted": float(ex[flips > 0].mean())}
    ex_tr_h, _ = scores(ev_h_train["recalled"], xi, tr_idx)
    ex_tr_t, _ = scores(ev_t_train["recalled"], xi, tr_idx)

    metrics = {}
    for name in ("hebbian", "trained", "digital"):
        for k, e, o in zip(levels, curves[name]["exact"], curves[name]["overlap"], strict=True):
            metrics[f"{name}_exact_{k}flips"] = e
            metrics[f"{name}_overlap_{k}flips"] = o
    for name in curves:
        metrics[f"{name}_exact_corrupted_mean"] = curves[name]["exact_corrupted"]
    metrics["heldout_gain_exact"] = (curves["trained"]["exact_corrupted"]
                                     - curves["hebbian"]["exact_corrupted"])
    metrics["train_cues_exact_hebbian"] = float(ex_tr_h.mean())
    metrics["train_cues_exact_trained"] = float(ex_tr_t.mean())
    metrics["train_loss_first"], metrics["train_loss_last"] = losses[0], losses[-1]
    metrics["silent_readouts"] = int(np.isnan(ev_h["recalled"]).any(1).sum()
                                     + np.isnan(ev_t["recalled"]).any(1).sum())
    for name, ev in (("hebbian", ev_h), ("trained", ev_t)):
        metrics[f"{name}_latency_median_us"] = float(np.nanmedian(ev["latency_ns"]) / 1e3)
        metrics[f"{name}_latency_p90_us"] = float(np.nanpercentile(ev["latency_ns"], 90) / 1e3)
        metrics[f"{name}_energy_per_recall_uj"] = float(np.nanmedian(ev["energy_latency_j"]) * 1e6)
    metrics["energy_full_run_uj"] = float(np.mean(ev_h["energy_t1_j"]) * 1e6)
    metrics["mean_power_mw"] = float(np.mean(ev_h["mean_power_w"]) * 1e3)
    metrics["cell_period_ns"] = period
    for n_pat, c in capacity.items():
        for k, eo, ed in zip(config["capacity_flips"], c["oscillators"], c["digital"], strict=True):
            metrics[f"capacity_P{n_pat}_{k}flips_hebbian"] = eo
            metrics[f"capacity_P{n_pat}_{k}flips_digital"] = ed
    overlaps = xi @ xi.T / xi.shape[1]
    reference = {
        "digital_exact_corrupted_mean": "ideal Hopfield network, same W and cues (row above)",
        "hebbian_exact_0flips": 1.0,
        "paper": "oscillatory associative memories (Hoppensteadt & Izhikevich 1999; Nikonov et al. "
                 "2015; VO2 ONNs, Delacour et al. 2023): stored patterns are phase-locked states "
                 "recalled from corrupted cues, with a capacity comparable to a Hopfield network",
    }
    _figure_patterns(out_dir, xi, config["letters"], w_hebb, w_tr)
    _figure_examples(out_dir, cues[keep], ev_h["recalled"][keep], ev_t["recalled"][keep],
                     dig_h[keep], xi[idx[keep]])
    _figure_recall(out_dir, levels, curves, capacity, config["capacity_flips"], losses)
    _figure_traces(out_dir, ev_h["ts"], ev_h["traces"][:, -1], xi[idx[keep[-1]]],
                   ev_h["recalled"][keep[-1]])
    notes = [
        f"{len(xi)} letters {''.join(config['letters'])}, N = {xi.shape[1]} pixels "
        f"(2N = {2 * xi.shape[1]} VO2 cells); largest overlap between letters "
        f"{np.abs(overlaps - np.eye(len(xi))).max():.2f}",
        f"held-out cues: {config['cues_per_level']} per letter and corruption level; training: "
        f"{len(tr_cues)} cues with {config['train_flips']} flips, {steps} Adam steps, surrogate "
        f"phase error {losses[0]:.4f} -> {losses[-1]:.4f}",
        "exact recall on corrupted held-out cues: Hebbian oscillators "
        f"{curves['hebbian']['exact_corrupted']:.3f}, "
        f"trained {curves['trained']['exact_corrupted']:.3f}, "
        f"digital Hopfield {curves['digital']['exact_corrupted']:.3f}",
    ]
    notes += stages.notes()
    return {"metrics": metrics, "reference": reference, "notes": notes, "curves": curves,
            "capacity": {str(k): v for k, v in capacity.items()},
            "weights_hebbian": w_hebb.tolist(), "weights_trained": np.asarray(w_tr).tolist(),
            "pattern_overlaps": overlaps.tolist(), "train_losses": losses,
            "resumed": stages.resumed,
            "figures": ["stored_patterns.png", "recall_examples.png", "recall_vs_corruption.png",
                        "phase_traces.png"]}


#: ``physnn run`` calls it once ``results.json`` is written: a new run in the folder starts afresh.
finished = pn.checkpoint.remove_run_checkpoints


# ------------------------------------------------------------------------------------ figures
def _glyph(ax, x, title):
    ax.imshow(np.nan_to_num(np.asarray(x, float)).reshape(5, 5), cmap="gray_r", vmin=-1, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=8)


def _figure_patterns(out_dir, xi, letters, w_hebb, w_tr):
    p = len(xi)
    fig, axes = plt.subplots(1, p + 2, figsize=(2 * (p + 2), 2.4), constrained_layout=True)
    for k in range(p):
        _glyph(axes[k], xi[k], f"stored {letters[k]}")
    lim = np.abs(w_hebb).max()
    for ax, w, t in ((axes[p], w_hebb, "Hebbian W"), (axes[p + 1], w_tr, "trained W")):
        im = ax.imshow(w, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(t + "\n(red: resistors same side, blue: cross)", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=axes[p + 1], shrink=0.7)
    fig.savefig(out_dir / "stored_patterns.png", dpi=110)
    plt.close(fig)


def _figure_examples(out_dir, cues, rec_h, rec_t, rec_d, targets):
    rows = len(cues)
    fig, axes = plt.subplots(rows, 5, figsize=(7.5, 1.6 * rows), constrained_layout=True)
    for r in range(rows):
        ok = [bool(np.array_equal(x, targets[r])) for x in (rec_h[r], rec_t[r], rec_d[r])]
        _glyph(axes[r, 0], cues[r], f"cue ({int((cues[r] != targets[r]).sum())} flipped)")
        _glyph(axes[r, 1], rec_h[r], f"Hebbian osc. {'ok' if ok[0] else 'wrong'}")
        _glyph(axes[r, 2], rec_t[r], f"trained osc. {'ok' if ok[1] else 'wrong'}")
        _glyph(axes[r, 3], rec_d[r], f"digital {'ok' if ok[2] else 'wrong'}")
        _glyph(axes[r, 4], targets[r], "stored")
    fig.savefig(out_dir / "recall_examples.png", dpi=110)
    plt.close(fig)


def _figure_recall(out_dir, levels, curves, capacity, cap_flips, losses):
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.8), constrained_layout=True)
    style = {"hebbian": ("o-", "oscillators, Hebbian W"),
             "trained": ("s-", "oscillators, trained W"),
             "digital": ("k--", "digital Hopfield, Hebbian W")}
    for name, (fmt, label) in style.items():
        axes[0].plot(levels, curves[name]["exact"], fmt, label=label)
        axes[1].plot(levels, curves[name]["overlap"], fmt, label=label)
    axes[0].set_ylabel("exact recall (held-out cues)")
    axes[1].set_ylabel("overlap m with the stored letter")
    for ax in axes[:2]:
        ax.set_xlabel("flipped pixels in the cue (of 25)")
        ax.set_ylim(-0.05, 1.05)
        ax.legend(fontsize=7)
    ps = sorted(capacity)
    for j, k in enumerate(cap_flips):
        axes[2].plot(ps, [capacity[p]["oscillators"][j] for p in ps], "o-", color=f"C{j}",
                     label=f"oscillators, {k} flips")
        axes[2].plot(ps, [capacity[p]["digital"][j] for p in ps], "x--", color=f"C{j}",
                     label=f"digital, {k} flips")
    axes[2].set_xlabel("stored letters P (Hebbian)")
    axes[2].set_ylabel("exact recall")
    axes[2].set_ylim(-0.05, 1.05)
    axes[2].legend(fontsize=7)
    axes[3].plot(np.arange(1, len(losses) + 1), losses, "o-")
    axes[3].set_xlabel("Adam step")
    axes[3].set_ylabel("phase error on training cues")
    axes[3].set_title("training the couplings through the dynamics", fontsize=9)
    fig.savefig(out_dir / "recall_vs_corruption.png", dpi=110)
    plt.close(fig)


def _figure_traces(out_dir, ts, v, target, recalled):
    """v (n_t, N): + cell voltages of one recall."""
    thr = 0.5 * (v[ts > ts[-1] / 2].max(0) + v[ts > ts[-1] / 2].min(0))
    ph = np.stack([phase_from_spikes(ts, v[:, j], thr[j]) for j in range(v.shape[1])], 1)
    rel = np.mod(ph - ph[:, :1] + np.pi, 2 * np.pi) - np.pi
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(9, 6), constrained_layout=True)
    early = ts < 12000.0
    for j in range(4):
        ax.plot(ts[early] / 1e3, v[early, j] + 2.0 * j, lw=0.8)
    ax.set_ylabel("V of cells 0+..3+ (offset 2 V)")
    ax.set_xlabel("time (us)")
    sign = target * target[0]
    for j in range(1, v.shape[1]):
        ax2.plot(ts / 1e3, rel[:, j] / np.pi, ".", color="C3" if sign[j] > 0 else "C0", ms=1)
    ax2.set_ylabel("phase relative to cell 0+ (pi)")
    ax2.set_xlabel("time (us)")
    ok = bool(np.array_equal(recalled, target))
    ax2.set_title("red: stored in phase with pixel 0, blue: anti-phase; recall "
                  + ("exact" if ok else "not exact"), fontsize=9)
    fig.savefig(out_dir / "phase_traces.png", dpi=110)
    plt.close(fig)
