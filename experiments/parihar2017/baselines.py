"""The baselines of Parihar 2017 (exact chromatic number, greedy, the same readouts on random
phases) and the per-family summary of colours used."""

from __future__ import annotations

import numpy as np

from physnn.tasks import graphs as G


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
        two = np.array([random_two_stage(a, chi, rng, candidates=candidates) for _ in range(100)])
        out["chi"].append(chi)
        out["greedy"].append(G.n_colours(G.greedy_colouring(a)))
        out["largest_first"].append(G.n_colours(G.greedy_colouring(a, G.largest_first_order(a))))
        out["random_best"].append(rand[:restarts].min())
        out["random_rate"].append(np.mean(rand == chi))
        out["random_two_stage_best"].append(two[:restarts].min())
        out["random_two_stage_rate"].append(np.mean(two == chi))
    return {k: np.asarray(v, float) for k, v in out.items()}


def random_two_stage(a, chi, rng, width=np.pi / 3, candidates=1) -> int:
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
