"""The readout of Parihar 2017: colours from the final phases (one run), every graph x restart
in one batched solve, on ideal chips or chips with a bias spread, and the two-stage readout."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from physnn.phases import final_phases
from physnn.tasks import graphs as G

from .graphs import pad
from .network import simulate_graphs


def colour_counts(adjs, phases) -> np.ndarray:
    """Colours used by the phase-order readout for each graph; NaN where an oscillator was silent
    (no phase: the readout fails)."""
    out = []
    for a, ph in zip(adjs, phases, strict=True):
        ph = ph[: a.shape[0]]
        out.append(np.nan if np.isnan(ph).any() else G.n_colours(G.phase_colouring(a, ph)))
    return np.asarray(out, float)


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
    r = config.restarts
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
    ``config.cluster_candidates`` (default 1) largest distinct phase clusters
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
    r = config.restarts
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
    width = np.deg2rad(config.cluster_width_deg)
    if not (np.isfinite(width) and 0 < width <= np.pi):
        raise ValueError(f"second_stage: cluster_width_deg = {config.cluster_width_deg!r}; "
                         "expected a phase half-width in (0, 180] degrees")
    n_cand = config.cluster_candidates
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
                                                         config.cluster_maximal)):
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
    cols2, _ = evaluate(subs, design2, key, dataclasses.replace(config, restarts=1))
    for (g, k), c in zip(where, cols2[:, 0], strict=True):
        if np.isfinite(c):
            out[g, k] = min(out[g, k], 1 + c)
    return out, len(subs)
