"""The design search of Parihar 2017 on the training graphs: a score per design, the grid search
and the re-ranking of its best points with the two-stage readout."""

from __future__ import annotations

import dataclasses
import itertools

import jax
import numpy as np

from physnn.tasks import graphs as G

from .readout import evaluate, second_stage


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
    cfg = dataclasses.replace(config, restarts=config.search_restarts)
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
    """Measure every design of the grid ``getattr(config, grid)`` (the other entries from ``design``)
    on the training graphs, ``search_restarts`` runs each from the initial conditions of ``key``
    (on chips with a bias ``spread``, if given), and keep the best by :func:`training_score`.
    Returns (best design, its score, table of (grid point, score)). ``first_stages``, a list if
    given, receives (design, (colours, phases)) of every grid point, for :func:`rerank`."""
    names = list(getattr(config, grid))
    table = []
    cfg = dataclasses.replace(config, restarts=config.search_restarts)
    for values in itertools.product(*(getattr(config, grid)[k] for k in names)):
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
    """Re-score the ``config.rerank`` best grid points of :func:`design_search` (by its one-run
    ``table``) with the two-stage readout, from the same first runs, and keep the best by
    :func:`training_score`. Returns (design, its two-stage score, table of (grid point, score))."""
    names = list(table[0][0])
    order = sorted(range(len(table)), key=lambda i: (table[i][1][0], -table[i][1][1]))
    rows = []
    for i in order[: config.rerank]:
        d, first = first_stages[i]
        rows.append((d, training_score(graphs, d, config, key, two_stage=True, first=first)))
        if progress is not None:
            progress.update(1)
    best, score = min(rows, key=lambda row: (row[1][0], -row[1][1]))
    return best, score, [({k: d[k] for k in names}, sc) for d, sc in rows]
