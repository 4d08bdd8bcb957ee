"""Graph vertex colouring with capacitively coupled VO2 oscillators (Parihar et al., Sci. Rep. 7,
911 (2017)), and its co-design by gradients through the dynamics.

Protocol:

- Graphs (``physnn.tasks.graphs``): cycles C4..C11 (odd and even), the Petersen graph, wheels
  (rim 4..9), and random graphs with a planted 3-colouring (10-30 nodes, chromatic number exactly
  3), split into a training set and a held-out test set by seed.
- Device: one VO2 electro-thermal oscillator per node (``MottNetwork("VO2")``: C = 145 pF,
  R_s = 5 kOhm; the bias sets the oscillation); a coupling capacitor C_c on every edge. Capacitive
  coupling makes neighbours repel in phase (the anti-phase lock of a pair, tests/test_mott.py).
  Degree-aware design (trainable): C_c,ij = C_c / sqrt(d_i d_j)^alpha for node degrees d.
- Dynamics: all graphs x restarts of one family are simulated in one batched solve (graphs padded
  to a common size with uncoupled nodes that are ignored by the readout). Each restart starts from
  random node voltages (uniform in [0.8, 2.5] V, T = 330 K), Tsit5 with fixed steps.
- Readout (Parihar's post-processing, extended): the phase of every oscillator at the end of the
  run (from its threshold crossings), the nodes sorted by phase around the circle, then the
  colouring with fewer colours of two along that order: first fit (Parihar's) and the fewest
  independent arcs of the circle, one colour per arc (``graphs.phase_colouring``; the arcs read a
  state of three phase clusters as three colours where first fit can open a fourth). The result
  is always a proper colouring; the figure of merit is the number of colours used against the
  chromatic number. A graph counts as solved with k colours when the best of its R restarts uses
  k colours (a colouring is checked in polynomial time, so keeping the best restart is fair); the
  per-restart rate is reported as well.
- Two-stage readout (:func:`second_stage`), reported beside the one-run readout for the
  co-designed design and for the robust design on chips with a spread: a restart whose readout
  misses chi colours runs a second time. Each of its ``cluster_candidates`` (3) largest distinct
  phase clusters (``graphs.phase_clusters``, 60 degrees) is taken in turn as one colour class,
  its coupling capacitors are switched off, and the network runs again from fresh voltages on
  the subgraph left, read the same way; the restart counts the best of its colourings (at most
  4 solves). It reads the failure of the one-run readout: one class in a tight cluster, the
  other two overlapping in anti-phase to it, which the second run, without the first class,
  separates. It was adopted by a rule fixed beforehand on the training graphs (best of 4
  two-stage restarts against best of 8 one-run restarts, the same solves at most: 0.917 against
  0.875; ``scripts/parihar_two_stage_probe.py``), first with the tightest cluster only; three
  candidates were adopted later by another such rule (``... candidates``), because the tightest
  cluster is often a mix of two planted classes while a smaller one is a whole class.
- Baselines: first-fit greedy in node order and in largest-first (Welsh-Powell) order, the same
  two-way readout along R random orders (best of R: the same number of tries as the oscillators,
  without the physics), and the exact chromatic number (backtracking).
- Co-design, on the training graphs only, in two stages:
  1. a design search: every point of the grid ``search`` (bias x coupling capacitance x trim) is
     run on the training graphs, ``search_restarts`` runs each, ranked by the colours used on
     average (:func:`design_search`); the ``rerank`` best are re-scored with the two-stage
     readout from the same runs, and the best of them is kept (:func:`rerank`);
  2. gradient steps from there: the coupling capacitance, its degree exponent alpha, the node
     capacitance, the bias and the trim are trained with optax (Adam) by gradient through the
     dynamics (diffrax, recursive checkpointing, ``train_t1_ns`` per step) of a differentiable
     surrogate, the mean over edges of the correlation of the two voltage waveforms over the late
     window (low when neighbours fire apart). The steps are kept only if they do not raise the
     mean colours on the training graphs, measured with the two-stage readout.
  Before, searched and after figures are measured on the held-out graphs with the same fresh
  initial conditions.
- Fabrication spread (``spread``, default 1 %): every graph then runs on its own chip, whose node
  biases are ``bias (1 + spread z)`` with z standard normal per node (one chip per graph, shared
  by its restarts; :func:`node_biases`), standing for the spread of the bias or of the switching
  threshold. The co-designed design and the grid ``robust_search`` (its other entries from the
  co-designed design) are scored on training chips, and the best is the robust design. The
  co-designed and the robust designs are then measured on held-out chips (the robust one
  with both readouts). ``codesign(..., spread=)`` takes gradient steps on fresh chips at every
  step; ``run`` does not use it, because from the robust design such steps raised the mean
  colours on the training chips (README).

Findings (``physnn run parihar2017 --out records/parihar2017``, 770 s on 2 cores): cycles C4-C11,
the Petersen graph and wheels W4-W9 are all coloured with chi colours (best of 4 restarts) after
co-design. On the 40 held-out planted 3-colourable graphs (10-30 nodes, 150 us runs):

- the hand design (6 V, 30 pF, half trim) 3-colours 40 % (per restart 20 %);
- the searched design (3.8 V, 10 pF, full trim) 70 % (53 %);
- after 25 gradient steps (3.94 V, 6.3 pF, degree exponent 0.68) 72.5 % (59 %) with the one-run
  readout, and 92.5 % (79 %) with the two-stage readout: 37 of 40, above the 90 % target. The
  same readouts on random phases give 47.5 % one-run and 52.5 % two-stage, greedy in node order
  17.5 % (README, with the one-run readout at the same number of solves).

With a 1 % spread of the node biases the co-designed design collapses: 42.5 % of the held-out
graphs (28 % per restart, one-run readout), and it loses the Petersen graph. The robust search
on the training chips picks 4 V and 30 pF per edge (five times the co-designed coupling, which
locks the network despite the spread): 52.5 % under the spread (75 % two-stage), with cycles,
Petersen and wheels all optimal.

What changed the result is the bias. At 6 V the networks never settle: their frequencies stay
about 5 % apart, and the final phase order is little better than a random order. Just above the
onset of oscillation (3.7-4 V; the period grows to about 2.6 us) they converge towards one
frequency (coefficient of variation 0.04 % at 3.8 V and 10 pF after 150 us) with neighbours apart
in phase: only 6 % of the edges join nodes less than 60 degrees apart, against 26 % at 6 V and
33 % for random phases (``python scripts/parihar_bias_probe.py 3.8 10 150000``). The gradient
from the hand design at 6 V points the wrong way (the loss is rough there), which is why the
search comes first. The cells are the anhysteretic VO2 model. Parihar's piecewise-linear
analysis of the phase order rests on the hysteresis, which ``MottNetwork(..., hysteretic=True)``
provides; an exploratory probe with hysteretic cells at 16 V found no locking (README).

Resume: an interrupted run (Ctrl-C, SIGTERM, a killed job) resumes when the same command is run
again with the same ``--out``. Every measurement of the run (baselines, grid searches,
evaluations, two-stage readouts) is a stage kept in ``DIR/checkpoints`` (``physnn.checkpoint.Stages``),
and the gradient steps checkpoint their state every 5 steps and on Ctrl-C or SIGTERM
(``physnn.train.train_loop``). The folder is removed once ``results.json`` is written.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax
from tqdm.auto import tqdm

import physnn as pn
from physnn.devices._base import AbstractDevice
from physnn.devices.mott import phase_from_spikes
from physnn.tasks import graphs as G

# The hand design before co-design: the VO2 defaults (C = 145 pF) at a 6 V bias (a 1.5 V relaxation
# oscillation, period 0.95 us uncoupled), 30 pF per edge, half the trim towards equal loading.
DESIGN0 = {"coupling_pf": 30.0, "degree_exponent": 0.0, "node_pf": 145.0, "bias_v": 6.0,
           "equalise": 0.5}
# ``search``: the grid of the design search on the training graphs (the other design entries stay
# those of ``design``); ``train_t1_ns``: the horizon of the gradient steps (shorter than ``t1_ns``,
# the run that is read out, to keep the backward pass affordable); ``spread``: the relative
# standard deviation of the per-node bias of a fabricated chip (fabrication spread of the bias or
# of the switching threshold), and ``robust_search`` the grid searched under it (see ``run``).
QUICK = {
    "cycles": [5, 6, 7, 8], "wheels": [5, 6], "n_train": 4, "n_test": 8, "nodes": [10, 16],
    "edge_p": 0.3, "restarts": 3, "t1_ns": 40000.0, "window_ns": 8000.0, "dt_ns": 20.0,
    "search": {"bias_v": [4.0, 6.0], "coupling_pf": [10.0, 30.0]}, "search_restarts": 2,
    "rerank": 2, "cluster_candidates": 3, "train_t1_ns": 20000.0, "train_steps": 3,
    "train_restarts": 1, "lr": 0.05, "seed": 0,
    "design": DESIGN0, "spread": 0.01, "robust_search": {"coupling_pf": [10.0, 30.0]},
}
# The FULL grid spans 3.7-4 V. In the record before the two-stage readout (818 s) it also held
# 4.5 and 6 V, whose 12 points ranked 10th at best of 30 in the search; they were dropped to keep
# the run, with its second stages, under 15 minutes.
FULL = {
    "cycles": [4, 5, 6, 7, 8, 9, 10, 11], "wheels": [4, 5, 6, 7, 8, 9], "n_train": 24,
    "n_test": 40, "nodes": [10, 30], "edge_p": 0.3, "restarts": 4, "t1_ns": 150000.0,
    "window_ns": 12000.0, "dt_ns": 20.0,
    "search": {"bias_v": [3.7, 3.8, 4.0], "coupling_pf": [3.0, 10.0, 30.0],
               "equalise": [0.5, 0.98]},
    "search_restarts": 4, "rerank": 3, "cluster_candidates": 3, "train_t1_ns": 60000.0,
    "train_steps": 25,
    "train_restarts": 2,
    "lr": 0.05, "seed": 0,
    "design": DESIGN0, "spread": 0.01,
    "robust_search": {"bias_v": [3.8, 4.0], "coupling_pf": [10.0, 30.0]},
}
V0_RANGE = (0.8, 2.5)  # V, random initial node voltages
T0_K = 330.0


# ------------------------------------------------------------------------------------ graphs
def benchmark_graphs(config) -> dict[str, list[tuple[str, np.ndarray]]]:
    """The fixed families: cycles, Petersen, wheels."""
    return {
        "cycles": [(f"C{n}", G.cycle_graph(n)) for n in config["cycles"]],
        "petersen": [("Petersen", G.petersen_graph())],
        "wheels": [(f"W{n}", G.wheel_graph(n)) for n in config["wheels"]],
    }


def random_graphs(config, split: str) -> list[tuple[str, np.ndarray]]:
    """Planted 3-colourable graphs; train and test use disjoint seed ranges."""
    n_lo, n_hi = config["nodes"]
    count = config["n_train"] if split == "train" else config["n_test"]
    base = 1000 * config["seed"] + (0 if split == "train" else 500)
    rng = np.random.default_rng(base)
    sizes = rng.integers(n_lo, n_hi + 1, size=count)
    return [(f"{split}{k}-n{n}", G.planted_3_colourable(int(n), config["edge_p"], base + k)[0])
            for k, n in enumerate(sizes)]


def pad(adjs) -> tuple[np.ndarray, np.ndarray]:
    """Stack adjacency matrices padded with isolated nodes; returns (adj (B, n, n), mask (B, n))."""
    n = max(a.shape[0] for a in adjs)
    out = np.zeros((len(adjs), n, n))
    mask = np.zeros((len(adjs), n), bool)
    for b, a in enumerate(adjs):
        out[b, : a.shape[0], : a.shape[0]] = G.check_adjacency(a, name=f"adjacency[{b}]")
        mask[b, : a.shape[0]] = True
    return out, mask


# ------------------------------------------------------------------------------------ device
class GraphOscillators(AbstractDevice):
    r"""VO2 oscillators on the nodes of a graph, a capacitor on every edge.

    The node equations are those of :class:`physnn.MottNetwork` with capacitive coupling,
    $\mathcal{C}\,\dot V = I_{\mathrm{net}}(V, T)$, $\mathcal{C} = \mathrm{diag}(C_j + \sum_k
    C^c_{jk}) - C^c$. The coupling is constant, so instead of solving with $\mathcal{C}$ at every
    stage (what ``MottNetwork.drift`` does) the uncoupled cells give $I_{\mathrm{net},j}/C_j$ and
    ``mix`` $= \mathcal{C}^{-1}\mathrm{diag}(C)$, factored once, maps it to $\dot V$: the same
    equations, one batched matrix product per stage.
    """

    cells: pn.MottNetwork  # uncoupled oscillators (V, T dynamics, observables, power)
    mix: jax.Array  # (B, n, n)

    def init_state(self, batch_shape=(), voltage=0.0, temperature=None):
        return self.cells.init_state(batch_shape, voltage=voltage, temperature=temperature)

    def drift(self, t, y, u):
        d = self.cells.drift(t, y, u)
        dv = jnp.einsum("...jk,...k->...j", self.mix, d[..., 0, :])
        return d.at[..., 0, :].set(dv)  # T (and phi with hysteretic cells) as the cells give them

    def diffusion(self, t, y, u):
        return self.cells.diffusion(t, y, u)  # temperature noise of the cells (None without)

    def observe(self, t, y, u):
        return self.cells.observe(t, y, u)

    def power(self, t, y, u):
        return self.cells.power(t, y, u)  # ideal capacitors dissipate nothing


def coupling_matrix(adj, design):
    """C^c_ij = C_c A_ij / sqrt(d_i d_j)^alpha, F."""
    deg = jnp.maximum(adj.sum(-1), 1.0)
    norm = (deg[..., :, None] * deg[..., None, :]) ** (0.5 * design["degree_exponent"])
    return design["coupling_pf"] * 1e-12 * adj / norm


def build_network(adj, design, **cell_kwargs) -> GraphOscillators:
    """The oscillator network for a batch of graphs ``adj`` (B, n, n) under a design dict.
    ``cell_kwargs`` go to the ``MottNetwork("VO2", ...)`` cells (e.g. ``hysteretic=True``)."""
    if not isinstance(adj, jax.core.Tracer):  # capacitors couple both ways: symmetric graphs only
        for k, a in enumerate(np.asarray(adj).reshape((-1,) + np.shape(adj)[-2:])):
            G.check_adjacency(a, name=f"adj[{k}]")
    b, n = adj.shape[0], adj.shape[-1]
    cc = coupling_matrix(jnp.asarray(adj, float), design)
    load = cc.sum(-1)
    # trim capacitors: raise every node towards the most loaded one of its graph, so that the
    # diagonal of the capacitance matrix (and the free-running period) is the same everywhere
    trim = design["equalise"] * (load.max(-1, keepdims=True) - load)
    c_node = design["node_pf"] * 1e-12 + trim
    cells = pn.MottNetwork("VO2", capacitance_f=c_node,
                           source_voltage_v=jnp.broadcast_to(design["bias_v"], (b, n)),
                           **cell_kwargs)
    cmat = jnp.eye(n) * (c_node + cc.sum(-1))[..., None] - cc
    mix = jnp.linalg.solve(cmat, jnp.eye(n) * c_node[..., None, :])
    return GraphOscillators(cells, mix)


def simulate_graphs(adj, design, key, config):
    """Simulate every graph of ``adj`` (B, n, n) from random initial voltages.

    Returns (ts, v) over the late window: ts (n_save,), v (n_save, B, n) in V."""
    net = build_network(adj, design)
    v0 = jax.random.uniform(key, adj.shape[:2], minval=V0_RANGE[0], maxval=V0_RANGE[1])
    y0 = net.init_state(adj.shape[:1], voltage=v0, temperature=T0_K)
    t1, dt = config["t1_ns"], config["dt_ns"]
    ts = np.arange(t1 - config["window_ns"], t1 + 0.5 * dt, dt)
    tr = pn.simulate(net, None, t1=t1, dt=dt, y0=y0, saveat=ts)
    return ts, tr.obs["voltage"]


# ------------------------------------------------------------------------------------ readout
def final_phases(ts, v) -> np.ndarray:
    """Phase (rad, in [0, 2 pi)) of every oscillator at the last time all of them have crossed
    their mid-level upwards at least twice; v (n_t, B, n) -> (B, n). NaN for a silent oscillator."""
    v = np.asarray(v, float)
    thr = 0.5 * (v.max(0) + v.min(0))
    out = np.full(v.shape[1:], np.nan)
    for b in range(v.shape[1]):
        ph = np.stack([phase_from_spikes(ts, v[:, b, j], thr[b, j]) for j in range(v.shape[2])], 1)
        ok = np.nonzero(~np.isnan(ph).any(1))[0]
        if ok.size:
            out[b] = np.mod(ph[ok[-1]], 2 * np.pi)
    return out


def frequency_cvs(ts, v, adjs) -> np.ndarray:
    """Coefficient of variation of the node frequencies of every network (0 when it is locked),
    each node's frequency from its upward mid-level crossings (``phase_from_spikes``) over the
    window; v (n_t, B, n), ``adjs`` the B graphs (their sizes select the real nodes)."""
    v = np.asarray(v, float)
    mid = 0.5 * (v.max(0) + v.min(0))
    out = []
    for b, a in enumerate(adjs):
        f = []
        for j in range(a.shape[0]):
            ph = phase_from_spikes(ts, v[:, b, j], mid[b, j])
            ok = np.nonzero(~np.isnan(ph))[0]
            f.append((ph[ok[-1]] - ph[ok[0]]) / (ts[ok[-1]] - ts[ok[0]]) if ok.size > 1 else np.nan)
        out.append(np.nanstd(f) / np.nanmean(f))
    return np.asarray(out)


def colour_counts(adjs, phases) -> np.ndarray:
    """Colours used by the phase-order readout for each graph; NaN where an oscillator was silent
    (no phase: the readout fails)."""
    out = []
    for a, ph in zip(adjs, phases, strict=True):
        ph = ph[: a.shape[0]]
        out.append(np.nan if np.isnan(ph).any() else G.n_colours(G.phase_colouring(a, ph)))
    return np.asarray(out, float)


def edge_correlation(v, adj):
    r"""Differentiable surrogate: mean over edges of the correlation of the two voltage waveforms
    over the window, $\langle \tilde V_i \tilde V_j \rangle_t$ with $\tilde V$ centred and scaled
    to unit variance (1: in phase; lower: neighbours fire apart). v (n_t, B, n)."""
    x = v - v.mean(0)
    x = x / jnp.sqrt((x**2).mean(0) + 1e-6)
    corr = jnp.einsum("tbi,tbj->bij", x, x) / v.shape[0]
    return jnp.sum(corr * adj) / jnp.sum(adj)


def fundamental_phasors(v):
    r"""Unit phasors $e^{i\theta_j(t)}$ of every node's fundamental over the window, v (n_t, B, n).

    The centred voltage is band-passed in the frequency domain to 0.5-1.5 times the network's
    dominant frequency (the strongest bin of the summed spectrum of each graph, held fixed for the
    gradient) and made analytic (Hilbert transform), so the phase is that of the first harmonic:
    relaxation waveforms carry strong harmonics that would make the plain Hilbert phase run
    backwards. Differentiable (FFTs)."""
    x = v - v.mean(0)
    n_t = x.shape[0]
    spec = jnp.fft.rfft(x, axis=0)  # (n_f, B, n)
    k = jnp.arange(spec.shape[0])[:, None]
    power = jax.lax.stop_gradient(jnp.sum(jnp.abs(spec) ** 2, -1)).at[0].set(0.0)  # (n_f, B)
    k0 = jnp.argmax(power, axis=0)[None, :]  # (1, B)
    band = ((k > 0.5 * k0) & (k < 1.5 * k0)).astype(x.dtype)[..., None]
    z = jnp.fft.ifft(2.0 * jnp.concatenate(
        [spec * band, jnp.zeros((n_t - spec.shape[0],) + spec.shape[1:], spec.dtype)]), axis=0)
    return z / (jnp.abs(z) + 1e-6)


def edge_potts(v, adj):
    r"""Differentiable surrogate aimed at three colours: mean over edges of
    $\langle\cos\Delta\theta_{ij} - \cos 3\Delta\theta_{ij}\rangle_t$ for the first-harmonic phases
    (:func:`fundamental_phasors`). It is -1.5 when every edge joins phases 120 degrees apart (a
    proper 3-colouring read as three clusters), 0 for neighbours in phase or in anti-phase (the
    waveform correlation, :func:`edge_correlation`, rewards anti-phase, which two-colours the
    graph's bulk), 0 on average for unlocked neighbours, +1.5 at 60 degrees."""
    u = fundamental_phasors(v)
    c1 = jnp.einsum("tbi,tbj->bij", u, jnp.conj(u)).real
    c3 = jnp.einsum("tbi,tbj->bij", u**3, jnp.conj(u**3)).real
    return jnp.sum((c1 - c3) / v.shape[0] * adj) / jnp.sum(adj)


# ------------------------------------------------------------------------------------ co-design
def to_raw(design) -> dict:
    """Unconstrained trainable parameters: log capacitances, the logit of the trim fraction."""
    e = float(np.clip(design["equalise"], 0.02, 0.98))
    raw = {"log_coupling_pf": np.log(design["coupling_pf"]),
           "log_node_pf": np.log(design["node_pf"]),
           "degree_exponent": design["degree_exponent"], "bias_v": design["bias_v"],
           "equalise_logit": np.log(e / (1 - e))}
    return {k: jnp.asarray(np.float64(v)) for k, v in raw.items()}  # strong dtype: one compile


def from_raw(raw) -> dict:
    return {"coupling_pf": jnp.exp(raw["log_coupling_pf"]), "node_pf": jnp.exp(raw["log_node_pf"]),
            "degree_exponent": raw["degree_exponent"], "bias_v": raw["bias_v"],
            "equalise": jax.nn.sigmoid(raw["equalise_logit"])}


def surrogate_loss(raw, adj, key, config, chip=None):
    """The surrogate ``config["surrogate"]`` through the dynamics: "correlation" (default; the
    edge correlation of the voltage waveforms, :func:`edge_correlation`) or "potts"
    (:func:`edge_potts`).
    ``chip``: relative per-node bias factors (B, n) of fabricated chips (1 + spread z), or None."""
    design = from_raw(raw)
    if chip is not None:
        design = dict(design, bias_v=design["bias_v"] * chip)
    _, v = simulate_graphs(adj, design, key, config)
    surrogates = {"correlation": edge_correlation, "potts": edge_potts}
    name = config.get("surrogate", "correlation")
    if name not in surrogates:
        raise ValueError(f"parihar2017: surrogate = {name!r}; expected one of {sorted(surrogates)}")
    return surrogates[name](v, adj)


def first_stage(graphs, design, key, config, spread=0.0, spread_seed=0):
    """(colours (n_graphs, R), phases (n_graphs R, n)) of one :func:`evaluate`."""
    cols, (_, _, phases) = evaluate(graphs, design, key, config, spread, spread_seed)
    return cols, phases


def training_score(graphs, design, config, key, spread=0.0, spread_seed=0, two_stage=False,
                   first=None) -> tuple[float, float]:
    """How well ``design`` colours the training graphs, over graphs x ``search_restarts`` runs:
    (mean colours used, a silent run counted as n + 1 colours; fraction of runs coloured with
    the chromatic number). Lower first, then higher second, is better. The mean colours rank
    first because they count how far a run misses, not only whether it does: on a few dozen runs
    they separate designs with less noise, and a design at the edge of silence pays for every
    run that stops oscillating. ``spread``: run on chips with spread biases (:func:`evaluate`).
    ``two_stage``: score the two-stage readout (:func:`second_stage`, its second runs from
    ``fold_in(key, 2)``); ``first``: the (colours, phases) of :func:`evaluate` for these runs, if
    already measured (:func:`design_search` keeps them)."""
    cfg = dict(config, restarts=config["search_restarts"])
    cols, phases = first if first is not None else first_stage(graphs, design, key, cfg, spread,
                                                                spread_seed)
    chi = np.asarray([G.chromatic_number(a) for _, a in graphs], float)[:, None]
    if two_stage:
        cols, _ = second_stage(graphs, design, cols, phases, chi[:, 0], jax.random.fold_in(key, 2),
                               cfg, spread, spread_seed)
    n = np.asarray([a.shape[0] for _, a in graphs], float)[:, None]
    cols = np.where(np.isnan(cols), n + 1, cols)
    return float(np.mean(cols)), float(np.mean(cols == chi))


def design_search(design, graphs, config, key, progress=None, grid="search", spread=0.0,
                  spread_seed=0, first_stages=None):
    """Measure every design of the grid ``config[grid]`` (the other entries from ``design``)
    on the training graphs, ``search_restarts`` runs each from the initial conditions of ``key``
    (on chips with a bias ``spread``, if given), and keep the best by :func:`training_score`.
    Returns (best design, its score, table of (grid point, score)). ``first_stages``, a list if
    given, receives (design, (colours, phases)) of every grid point, for :func:`rerank`."""
    names = list(config[grid])
    table = []
    cfg = dict(config, restarts=config["search_restarts"])
    for values in itertools.product(*(config[grid][k] for k in names)):
        d = dict(design, **dict(zip(names, values, strict=True)))
        first = first_stage(graphs, d, key, cfg, spread, spread_seed)
        table.append((d, training_score(graphs, d, config, key, spread, spread_seed, first=first),
                      first))
        if progress is not None:
            progress.update(1)
    best, score, _ = min(table, key=lambda row: (row[1][0], -row[1][1]))
    if first_stages is not None:
        first_stages.extend((d, first) for d, _, first in table)
    return best, score, [({k: d[k] for k in names}, sc) for d, sc, _ in table]


def rerank(graphs, config, key, first_stages, table, progress=None):
    """Re-score the ``config["rerank"]`` best grid points of :func:`design_search` (by its one-run
    ``table``) with the two-stage readout, from the same first runs, and keep the best by
    :func:`training_score`. Returns (design, its two-stage score, table of (grid point, score))."""
    names = list(table[0][0])
    order = sorted(range(len(table)), key=lambda i: (table[i][1][0], -table[i][1][1]))
    rows = []
    for i in order[: config["rerank"]]:
        d, first = first_stages[i]
        rows.append((d, training_score(graphs, d, config, key, two_stage=True, first=first)))
        if progress is not None:
            progress.update(1)
    best, score = min(rows, key=lambda row: (row[1][0], -row[1][1]))
    return best, score, [({k: d[k] for k in names}, sc) for d, sc in rows]


def codesign(design, train_adj, config, progress=None, spread=0.0, steps=None, seed=10_000,
             callback=None, checkpoint=None):
    """Adam on the raw design parameters; fresh initial conditions at every step. The dynamics
    run for ``train_t1_ns`` (default ``t1_ns``). With ``spread`` > 0 every step also runs on fresh
    chips (node biases ``bias (1 + spread z)``, one chip per training graph shared by its
    restarts), so the steps descend the surrogate averaged over fabrication. ``steps`` defaults
    to ``config["train_steps"]``; ``seed`` offsets the keys and chips of the steps.
    ``callback(step, design, loss)``, if given, sees the design after every step (1-based).
    With ``checkpoint`` (a file) the raw design, the optimiser state and the losses are saved
    every 5 steps and on Ctrl-C or SIGTERM, and a training with that file present resumes from
    it, exactly (:func:`physnn.train.train_loop`)."""
    raw = to_raw(design)
    opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(config["lr"]))
    r = config["train_restarts"]
    adj = jnp.asarray(np.repeat(train_adj, r, 0))
    cfg = dict(config, t1_ns=config.get("train_t1_ns", config["t1_ns"]))
    grad_fn = eqx.filter_jit(jax.value_and_grad(
        lambda w, k, chip: surrogate_loss(w, adj, k, cfg, chip)))

    def step(i, state):
        raw_, opt_state = state
        chip = (jnp.asarray(node_biases(1.0, train_adj.shape[0], train_adj.shape[-1], r, spread,
                                        seed + i)) if spread > 0 else None)
        loss, g = grad_fn(raw_, jax.random.key(seed + i), chip)
        upd, opt_state = opt.update(g, opt_state, raw_)
        raw_ = optax.apply_updates(raw_, upd)
        if callback is not None:
            callback(i + 1, {k: float(v) for k, v in from_raw(raw_).items()}, float(loss))
        return (raw_, opt_state), {"loss": loss}

    (raw, _), history = pn.train.train_loop(
        step, (raw, opt.init(raw)), config["train_steps"] if steps is None else steps,
        checkpoint=checkpoint, owner="parihar2017 co-design", progress=progress)
    return {k: float(v) for k, v in from_raw(raw).items()}, history.get("loss", [])


# ------------------------------------------------------------------------------------ evaluation
def node_biases(bias_v, n_graphs, n, restarts, spread, seed) -> np.ndarray:
    """Per-node biases (n_graphs * restarts, n) of chips with a fabrication spread: node j of graph
    b gets ``bias_v (1 + spread z_bj)``, z standard normal from ``seed``. One chip per graph, so
    its restarts share the spread."""
    if not (np.isfinite(spread) and spread >= 0):
        raise ValueError(f"parihar2017: spread = {spread!r}; expected a relative standard deviation "
                         ">= 0 (e.g. 0.01 for 1 %)")
    z = np.random.default_rng(seed).standard_normal((n_graphs, n))
    return np.repeat(bias_v * (1.0 + spread * z), restarts, 0)


def evaluate(graphs, design, key, config, spread=0.0, spread_seed=0):
    """Every graph x restart in one batched solve. Returns colours used (n_graphs, R) (NaN: a
    silent oscillator), and the run's (ts, v, phases) for the figures. With ``spread`` > 0 every
    graph runs on a chip whose node biases are spread (:func:`node_biases`)."""
    r = config["restarts"]
    adjs = [a for _, a in graphs]
    adj, _ = pad(adjs)
    if spread != 0:  # node_biases rejects a negative or non-finite spread
        design = dict(design, bias_v=jnp.asarray(node_biases(
            float(design["bias_v"]), len(adjs), adj.shape[-1], r, spread, spread_seed)))
    ts, v = simulate_graphs(np.repeat(adj, r, 0), design, key, config)
    phases = final_phases(ts, v)
    cols = colour_counts([a for a in adjs for _ in range(r)], phases).reshape(len(adjs), r)
    return cols, (ts, np.asarray(v), phases)


def second_stage(graphs, design, cols, phases, target, key, config, spread=0.0, spread_seed=0):
    """The two-stage readout: every restart whose phase readout used more colours than
    ``target`` (per graph) runs a second time on what is left of its graph.

    From the restart's final phases, :func:`physnn.tasks.graphs.phase_clusters` takes the
    ``config["cluster_candidates"]`` (default 1) largest distinct phase clusters
    (``cluster_width_deg``, default 60 degrees; ``cluster_maximal``, default False, extends them
    to maximal independent sets). For each, as one colour class S, the coupling capacitors of S
    are switched off and the network runs again, from fresh random voltages (``key``), on the
    subgraph induced by the other nodes, read with the same readout (an edgeless rest is one
    colour without a run); all candidates of all restarts run in one batch. The restart then
    counts min(its colours, 1 + the fewest colours of a rest); all are proper colourings, checked
    in polynomial time. A restart costs at most 1 + ``cluster_candidates`` solves. ``cols`` (n_graphs, R)
    and ``phases`` (n_graphs R, n) are those of :func:`evaluate` for the same ``design`` and
    ``spread``; on a chip with spread biases the rest keeps its nodes' biases.
    Returns (colours (n_graphs, R), number of second runs)."""
    r = config["restarts"]
    adjs = [a for _, a in graphs]
    n_pad = max(a.shape[0] for a in adjs)
    cols, phases, target = np.asarray(cols, float), np.asarray(phases, float), np.asarray(target)
    if cols.shape != (len(adjs), r):
        raise ValueError(f"second_stage: cols has shape {cols.shape}; expected ({len(adjs)}, {r}) "
                         "(graphs x restarts, from evaluate with the same config)")
    if phases.ndim != 2 or phases.shape[0] != len(adjs) * r or phases.shape[1] < n_pad:
        raise ValueError(f"second_stage: phases has shape {phases.shape}; expected "
                         f"({len(adjs) * r}, >= {n_pad}) (graphs x restarts, nodes)")
    if target.shape != (len(adjs),):
        raise ValueError(f"second_stage: target has shape {target.shape}; expected ({len(adjs)},), "
                         "the colours wanted for each graph")
    width = np.deg2rad(config.get("cluster_width_deg", 60.0))
    if not (np.isfinite(width) and 0 < width <= np.pi):
        raise ValueError(f"second_stage: cluster_width_deg = {config.get('cluster_width_deg')!r}; "
                         "expected a phase half-width in (0, 180] degrees")
    n_cand = config.get("cluster_candidates", 1)
    if isinstance(n_cand, bool) or not isinstance(n_cand, (int, np.integer)) or n_cand < 1:
        raise ValueError(f"second_stage: cluster_candidates = {n_cand!r}; expected an integer >= 1, "
                         "the phase clusters tried per restart")
    biases = (node_biases(float(design["bias_v"]), len(adjs), n_pad, r, spread, spread_seed)
              if spread != 0 else None)
    out = np.array(cols, float)
    subs, where, rows = [], [], []
    for g, a in enumerate(adjs):
        n = a.shape[0]
        for k in range(r):
            ph = phases[g * r + k, :n]
            if not out[g, k] > target[g] or np.isnan(ph).any():
                continue
            for c, cluster in enumerate(G.phase_clusters(a, ph, width, n_cand,
                                                         config.get("cluster_maximal", False))):
                rest = np.setdiff1d(np.arange(n), cluster)
                sub = a[np.ix_(rest, rest)]
                if not sub.any():  # nothing left to separate: the rest is one colour (or empty)
                    out[g, k] = min(out[g, k], 1 + (rest.size > 0))
                    continue
                subs.append((f"{g}.{k}.{c}", sub))
                where.append((g, k))
                if biases is not None:
                    rows.append(biases[g * r + k, rest])
    if not subs:
        return out, 0
    design2 = design
    if biases is not None:
        b2 = np.full((len(subs), max(s.shape[0] for _, s in subs)), float(design["bias_v"]))
        for i, row in enumerate(rows):
            b2[i, : row.size] = row
        design2 = dict(design, bias_v=jnp.asarray(b2))
    cols2, _ = evaluate(subs, design2, key, dict(config, restarts=1))
    for (g, k), c in zip(where, cols2[:, 0], strict=True):
        if np.isfinite(c):
            out[g, k] = min(out[g, k], 1 + c)
    return out, len(subs)


def baselines(graphs, restarts, seed, candidates=1):
    """chi, greedy (node order), largest first, and the oscillators' readout
    (``graphs.order_colouring``) along random orders (best of ``restarts``, and the success rate
    of one random order estimated from 200), and the two-stage readout with random phases in
    both runs (``candidates`` clusters per try; best of ``restarts``, and the rate of one try
    from 100)."""
    rng = np.random.default_rng(seed)
    out = {"chi": [], "greedy": [], "largest_first": [], "random_best": [], "random_rate": [],
           "random_two_stage_best": [], "random_two_stage_rate": []}
    for _, a in graphs:
        chi = G.chromatic_number(a)
        rand = np.array([G.n_colours(G.order_colouring(a, rng.permutation(a.shape[0])))
                         for _ in range(200)])
        two = np.array([_random_two_stage(a, chi, rng, candidates=candidates) for _ in range(100)])
        out["chi"].append(chi)
        out["greedy"].append(G.n_colours(G.greedy_colouring(a)))
        out["largest_first"].append(G.n_colours(G.greedy_colouring(a, G.largest_first_order(a))))
        out["random_best"].append(rand[:restarts].min())
        out["random_rate"].append(np.mean(rand == chi))
        out["random_two_stage_best"].append(two[:restarts].min())
        out["random_two_stage_rate"].append(np.mean(two == chi))
    return {k: np.asarray(v, float) for k, v in out.items()}


def _random_two_stage(a, chi, rng, width=np.pi / 3, candidates=1) -> int:
    """The two-stage readout (:func:`second_stage`, ``candidates`` clusters) with random phases in
    place of every run: colours used."""
    ph = rng.uniform(0, 2 * np.pi, a.shape[0])
    cols = G.n_colours(G.phase_colouring(a, ph))
    if cols <= chi:
        return cols
    for cluster in G.phase_clusters(a, ph, width, candidates):
        rest = np.setdiff1d(np.arange(a.shape[0]), cluster)
        sub = a[np.ix_(rest, rest)]
        second = (int(rest.size > 0) if not sub.any()
                  else G.n_colours(G.phase_colouring(sub, rng.uniform(0, 2 * np.pi, rest.size))))
        cols = min(cols, 1 + second)
    return cols


def summarise(cols, base) -> dict:
    """Per family: fraction solved with chi colours (best of R restarts), per-restart rate, mean
    colours used, for the oscillators and the baselines."""
    chi = base["chi"]
    best = np.where(np.isnan(cols).all(1), np.inf, np.nanmin(np.nan_to_num(cols, nan=np.inf), 1))
    return {
        "optimal_fraction": float(np.mean(best == chi)),
        "optimal_per_restart": float(np.mean(cols == chi[:, None])),
        "mean_colours": float(np.mean(best)),
        "silent_restarts": int(np.isnan(cols).sum()),
    }


def run(config, out_dir) -> dict:
    out_dir = Path(out_dir)
    families = benchmark_graphs(config)
    families["random_test"] = random_graphs(config, "test")
    train = random_graphs(config, "train")
    everything = [g for gs in families.values() for g in gs]
    owner = np.concatenate([[f] * len(gs) for f, gs in families.items()])
    # an interrupted run resumes: each measurement below is a stage kept in out_dir/checkpoints,
    # and the gradient steps checkpoint their state
    stages = pn.checkpoint.Stages.of_run(out_dir, config, "parihar2017")
    base = stages("baselines", baselines, everything, config["restarts"], config["seed"],
                  config.get("cluster_candidates", 1))
    design0 = dict(config["design"])
    key = jax.random.key(config["seed"])  # same initial conditions before and after co-design

    n_grid = int(np.prod([len(v) for v in config["search"].values()]))
    n_robust = int(np.prod([len(v) for v in config["robust_search"].values()]))
    n_rerank = config.get("rerank", 0)
    bar = tqdm(total=n_grid + n_rerank + n_robust + config["train_steps"] + 9, desc="parihar2017",
               leave=False)

    def stage(name, ticks, fn, *args, **kwargs):
        """A stage that advances the bar by ``ticks`` (by itself, when computed)."""
        value = stages(name, fn, *args, **kwargs)
        if name in stages.resumed:
            bar.update(ticks)
        return value

    def evaluate_stage(name, design, *spread_args, keep=None):
        """evaluate()'s colours, and with ``keep`` "run" its (ts, v, phases), with "phases" its
        phases, too."""
        def fn():
            cols, run = evaluate(everything, design, key, config, *spread_args)
            return {None: cols, "run": (cols, run), "phases": (cols, run[2])}[keep]
        value = stage(name, 0, fn)
        bar.update(1)
        return value

    cols0 = evaluate_stage("eval_before", design0)
    # co-design, stage 1: the design grid measured on the training graphs (their own initial
    # conditions, not those of the test runs)
    key_train = jax.random.key(config["seed"] + 1)

    def search():
        first_stages = []
        found = design_search(design0, train, config, key_train, progress=bar,
                              first_stages=first_stages)
        return (*found, first_stages)

    searched, score_s, search_table, first_stages = stage("design_search", n_grid, search)
    # with ``rerank`` > 0, the best grid points by that one-run score are re-scored with the
    # two-stage readout that the experiment reports, and the best of them is the searched design;
    # the gradient steps are then judged by the two-stage score too
    two_stage_selection = n_rerank > 0
    rerank_table = []
    if two_stage_selection:
        searched, score_s, rerank_table = stage("rerank", n_rerank, rerank, train, config,
                                                key_train, first_stages, search_table,
                                                progress=bar)
    cols_s = evaluate_stage("eval_searched", searched)
    # stage 2: gradient steps through the dynamics from the searched design. They are kept only
    # if they do not raise the mean colours on the training graphs (measured as in the search), a
    # selection on the training graphs alone
    train_adj, _ = pad([a for _, a in train])
    stepped, losses = codesign(searched, train_adj, config, progress=bar,
                               checkpoint=stages.path("codesign"))
    score_g = stage("score_gradient", 0, training_score, train, stepped, config, key_train,
                    two_stage=two_stage_selection)
    bar.update(1)
    gradient_kept = score_g[0] <= score_s[0]
    design1 = stepped if gradient_kept else searched
    cols1, (ts, v, phases) = evaluate_stage("eval_after", design1, keep="run")
    # fabrication spread: every graph runs on a chip whose node biases are spread by
    # ``config["spread"]`` (training and held-out graphs on their own chips). The co-designed
    # design and the grid ``robust_search`` (its other entries from the co-designed design) are
    # scored on the training chips; the best by training_score is the robust design (the
    # co-designed one unless a grid point beats it)
    spread, chips_train, chips_test = config["spread"], config["seed"] + 11, config["seed"] + 12
    score_1s = stage("score_after_spread", 0, training_score, train, design1, config, key_train,
                     spread, chips_train)
    bar.update(1)
    robust_g, score_rs, robust_table = stage(
        "robust_search", n_robust, design_search, design1, train, config, key_train, progress=bar,
        grid="robust_search", spread=spread, spread_seed=chips_train)
    robust_changed = (score_rs[0], -score_rs[1]) < (score_1s[0], -score_1s[1])
    robust = robust_g if robust_changed else design1
    score_r = score_rs if robust_changed else score_1s
    cols1_sp = evaluate_stage("eval_after_spread", design1, spread, chips_test)
    cols_r_sp, phases_r_sp = evaluate_stage("eval_robust_spread", robust, spread, chips_test,
                                            keep="phases")
    # the two-stage readout (second_stage) of the co-designed design and of the robust design
    # on held-out chips: a second run on the graph left after the tightest phase cluster, for
    # the restarts the first run does not colour with chi colours
    key2 = jax.random.fold_in(key, 2)
    cols1_2, n_second = stage("second_stage_after", 0, second_stage, everything, design1, cols1,
                              phases, base["chi"], key2, config)
    bar.update(1)
    cols_r_sp2, n_second_r = stage("second_stage_robust", 0, second_stage, everything, robust,
                                   cols_r_sp, phases_r_sp, base["chi"], key2, config, spread,
                                   chips_test)
    bar.update(1)
    bar.close()

    metrics, per_family = {}, {}
    for fam in families:
        sel = owner == fam
        b = {k: x[sel] for k, x in base.items()}
        before, after = summarise(cols0[sel], b), summarise(cols1[sel], b)
        mid = summarise(cols_s[sel], b)
        after_sp, rob_sp = (summarise(c[sel], b) for c in (cols1_sp, cols_r_sp))
        after2, rob_sp2 = summarise(cols1_2[sel], b), summarise(cols_r_sp2[sel], b)
        per_family[fam] = {
            "graphs": [n for n, _ in families[fam]], "chromatic_number": b["chi"].tolist(),
            "greedy_colours": b["greedy"].tolist(),
            "largest_first_colours": b["largest_first"].tolist(),
            "random_order_best_colours": b["random_best"].tolist(),
            "oscillator_colours_before": cols0[sel].tolist(),
            "oscillator_colours_searched": cols_s[sel].tolist(),
            "oscillator_colours_after": cols1[sel].tolist(),
            "oscillator_colours_after_spread": cols1_sp[sel].tolist(),
            "oscillator_colours_robust_spread": cols_r_sp[sel].tolist(),
            "oscillator_colours_after_two_stage": cols1_2[sel].tolist(),
            "oscillator_colours_robust_spread_two_stage": cols_r_sp2[sel].tolist(),
            "before": before, "searched": mid, "after": after, "after_spread": after_sp,
            "robust_spread": rob_sp, "after_two_stage": after2,
            "robust_spread_two_stage": rob_sp2,
        }
        for tag, sm in (("after_spread", after_sp), ("robust_spread", rob_sp),
                        ("after_two_stage", after2), ("robust_spread_two_stage", rob_sp2)):
            metrics[f"{fam}_optimal_fraction_{tag}"] = sm["optimal_fraction"]
            metrics[f"{fam}_optimal_per_restart_{tag}"] = sm["optimal_per_restart"]
        metrics[f"{fam}_optimal_fraction_before"] = before["optimal_fraction"]
        metrics[f"{fam}_optimal_fraction_searched"] = mid["optimal_fraction"]
        metrics[f"{fam}_optimal_per_restart_searched"] = mid["optimal_per_restart"]
        metrics[f"{fam}_optimal_fraction_after"] = after["optimal_fraction"]
        metrics[f"{fam}_optimal_per_restart_before"] = before["optimal_per_restart"]
        metrics[f"{fam}_optimal_per_restart_after"] = after["optimal_per_restart"]
        metrics[f"{fam}_mean_colours_after"] = after["mean_colours"]
        metrics[f"{fam}_mean_colours_greedy"] = float(b["greedy"].mean())
        metrics[f"{fam}_mean_colours_largest_first"] = float(b["largest_first"].mean())
        metrics[f"{fam}_mean_colours_random_order_best"] = float(b["random_best"].mean())
        metrics[f"{fam}_chromatic_number_mean"] = float(b["chi"].mean())
        metrics[f"{fam}_greedy_optimal_fraction"] = float(np.mean(b["greedy"] == b["chi"]))
        metrics[f"{fam}_random_order_best_optimal_fraction"] = float(
            np.mean(b["random_best"] == b["chi"]))
        metrics[f"{fam}_random_order_per_try_rate"] = float(np.mean(b["random_rate"]))
        metrics[f"{fam}_random_two_stage_best_optimal_fraction"] = float(
            np.mean(b["random_two_stage_best"] == b["chi"]))
        metrics[f"{fam}_random_two_stage_per_try_rate"] = float(np.mean(b["random_two_stage_rate"]))
    metrics["random_test_codesign_gain"] = (metrics["random_test_optimal_fraction_after"]
                                            - metrics["random_test_optimal_fraction_before"])
    metrics["train_loss_first"], metrics["train_loss_last"] = losses[0], losses[-1]
    metrics["train_mean_colours_searched"] = score_s[0]
    metrics["train_mean_colours_gradient"] = score_g[0]
    metrics["gradient_steps_kept"] = bool(gradient_kept)
    metrics["selection_two_stage"] = bool(two_stage_selection)
    metrics["spread"] = spread
    metrics["train_mean_colours_after_spread"] = score_1s[0]
    metrics["train_fraction_optimal_after_spread"] = score_1s[1]
    metrics["train_mean_colours_robust_spread"] = score_r[0]
    metrics["robust_design_changed"] = bool(robust_changed)
    metrics["second_stage_runs_after"] = n_second
    metrics["second_stage_runs_robust_spread"] = n_second_r
    reference = {
        "random_test_optimal_fraction_after_two_stage": "target >= 0.9 (issue 5)",
        "random_test_optimal_fraction_after": "target >= 0.9 (issue 5); Parihar's one-run readout",
        "cycles_optimal_fraction_after": 1.0, "petersen_optimal_fraction_after": 1.0,
        "random_test_chromatic_number_mean": 3.0,
        "paper": "Parihar et al. 2017: approximate colourings of random graphs; optimal on small "
                 "cycles, wheels and the Petersen graph (measured VO2 networks and simulation)",
    }
    k_pet = int(np.nonzero(owner == "petersen")[0][0])
    _figure_petersen(out_dir, ts, v, phases, k_pet, config)
    _figure_results(out_dir, metrics, list(families), losses)
    notes = [
        f"protocol: {config['restarts']} restarts per graph from random node voltages; a graph is "
        "solved when the best restart uses chi colours (the phase-order readout); the "
        "per-restart rate and the same readout along as many random orders are reported beside it",
        "design search on the training graphs (mean colours, fraction of runs 3-coloured): "
        + "; ".join(", ".join(f"{k}={x:.4g}" for k, x in d.items()) + f": {sc[0]:.3f}, {sc[1]:.3f}"
                    for d, sc in search_table),
        ("re-ranked with the two-stage readout (mean colours, fraction of runs 3-coloured): "
         + "; ".join(", ".join(f"{k}={x:.4g}" for k, x in d.items()) + f": {sc[0]:.3f}, {sc[1]:.3f}"
                     for d, sc in rerank_table) if two_stage_selection
         else "no re-ranking: the one-run readout selects"),
        "searched: " + ", ".join(f"{k}={x:.4g}" for k, x in searched.items()),
        f"gradient steps {'kept' if gradient_kept else 'discarded'}: mean colours on the training "
        f"graphs {score_g[0]:.3f} after them against {score_s[0]:.3f} before",
        "co-designed: " + ", ".join(f"{k}={x:.4g}" for k, x in design1.items()),
        f"fabrication spread {spread:.1%} of the node biases: co-designed design on the training "
        f"chips {score_1s[0]:.3f} mean colours, {score_1s[1]:.3f} of runs 3-coloured; robust grid: "
        + "; ".join(", ".join(f"{k}={x:.4g}" for k, x in d.items()) + f": {sc[0]:.3f}, {sc[1]:.3f}"
                    for d, sc in robust_table),
        "two-stage readout (second_stage): a restart not coloured with chi colours runs again on "
        f"the subgraph left after each of its {config.get('cluster_candidates', 1)} largest "
        "distinct phase clusters (one colour class; coupling capacitors of the cluster switched "
        f"off), at most {1 + config.get('cluster_candidates', 1)} solves per restart; second runs: "
        f"{n_second} (co-designed, ideal chips), {n_second_r} (robust design, held-out chips)",
        "robust design ("
        + ("a grid point" if robust_changed else "the co-designed design, no grid point beat it")
        + "): " + ", ".join(f"{k}={x:.4g}" for k, x in robust.items()),
        "surrogate loss (mean edge correlation of voltage waveforms) "
        f"{losses[0]:.4f} -> {losses[-1]:.4f} over {len(losses)} Adam steps on "
        f"{len(train)} training graphs",
    ]
    notes += stages.notes()
    return {"metrics": metrics, "reference": reference, "per_family": per_family, "notes": notes,
            "design_before": design0, "design_searched": searched, "design_after": design1,
            "design_robust": robust,
            "robust_search": [{"design": d, "train_mean_colours_spread": sc[0],
                               "train_fraction_optimal_spread": sc[1]} for d, sc in robust_table],
            "design_rerank": [{"design": d, "train_mean_colours_two_stage": sc[0],
                               "train_fraction_optimal_two_stage": sc[1]} for d, sc in rerank_table],
            "design_search": [{"design": d, "train_mean_colours": sc[0], "train_fraction_optimal": sc[1]}
                              for d, sc in search_table],
            "train_losses": losses, "resumed": stages.resumed,
            "figures": ["petersen_phases.png", "colouring_results.png"]}


#: ``physnn run`` calls it once ``results.json`` is written: a new run in the folder starts afresh.
finished = pn.checkpoint.remove_run_checkpoints


# ------------------------------------------------------------------------------------ figures
def _figure_petersen(out_dir, ts, v, phases, k, config):
    r = config["restarts"]
    a = G.petersen_graph()
    ph = phases[k * r, :10]
    colours = G.phase_colouring(a, ph)
    fig = plt.figure(figsize=(10, 4.2), constrained_layout=True)
    ax = fig.add_subplot(1, 2, 1)
    last = ts > ts[-1] - 6000.0
    palette = plt.get_cmap("tab10")
    for j in G.phase_order(ph):
        ax.plot(ts[last] / 1e3, v[last, k * r, j] + 2.2 * list(G.phase_order(ph)).index(j),
                color=palette(colours[j]), lw=1)
    ax.set_xlabel("time (us)")
    ax.set_ylabel("node voltage, offset by phase rank (V)")
    ax.set_title("Petersen graph: VO2 node voltages (colour = assigned colour)")
    ax2 = fig.add_subplot(1, 2, 2, projection="polar")
    for i, j in zip(*np.nonzero(np.triu(a)), strict=True):
        ax2.plot([ph[i], ph[j]], [1, 1], color="0.8", lw=0.6)
    ax2.scatter(ph, np.ones(10), c=[palette(c) for c in colours], s=90, zorder=3)
    for j in range(10):
        ax2.annotate(str(j), (ph[j], 1.12), ha="center", fontsize=8)
    ax2.set_yticks([])
    ax2.set_title(f"final phases: {G.n_colours(colours)} colours (phase-order readout)")
    fig.savefig(Path(out_dir) / "petersen_phases.png", dpi=110)
    plt.close(fig)


def _figure_results(out_dir, m, families, losses):
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 5.0), constrained_layout=True,
                                  gridspec_kw={"width_ratios": [3, 1]})
    bars = [("greedy (node order)", "{}_greedy_optimal_fraction"),
            ("the same readout, best of R random orders", "{}_random_order_best_optimal_fraction"),
            ("two-stage readout, random phases", "{}_random_two_stage_best_optimal_fraction"),
            ("oscillators, before co-design", "{}_optimal_fraction_before"),
            ("oscillators, after co-design", "{}_optimal_fraction_after"),
            ("after co-design, two-stage readout", "{}_optimal_fraction_after_two_stage"),
            ("after co-design, chips with a bias spread", "{}_optimal_fraction_after_spread"),
            ("robust design, chips with a bias spread", "{}_optimal_fraction_robust_spread"),
            ("robust design, spread chips, two-stage", "{}_optimal_fraction_robust_spread_two_stage")]
    x = np.arange(len(families))
    w = 0.84 / len(bars)
    for i, (label, key) in enumerate(bars):
        vals = [m[key.format(f)] for f in families]
        ax.bar(x + (i - (len(bars) - 1) / 2) * w, vals, w, label=label)
    ax.set_xticks(x, [f"{f}\n(chi mean {m[f + '_chromatic_number_mean']:.2g})" for f in families])
    ax.set_ylabel("fraction coloured with chi colours")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3)
    ax.set_title("Graph colouring: oscillators vs greedy (held-out random graphs: random_test)")
    ax2.plot(np.arange(1, len(losses) + 1), losses, "o-")
    ax2.set_xlabel("Adam step")
    ax2.set_ylabel("mean edge correlation (training)")
    ax2.set_title("co-design")
    fig.savefig(Path(out_dir) / "colouring_results.png", dpi=110)
    plt.close(fig)
