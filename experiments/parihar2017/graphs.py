"""The graphs of Parihar 2017: the fixed benchmark families, planted 3-colourable random graphs
split into training and held-out sets by seed, and padding to one batch."""

from __future__ import annotations

import numpy as np

from physnn.tasks import graphs as G


def benchmark_graphs(config) -> dict[str, list[tuple[str, np.ndarray]]]:
    """The fixed families: cycles, Petersen, wheels."""
    return {
        "cycles": [(f"C{n}", G.cycle_graph(n)) for n in config.cycles],
        "petersen": [("Petersen", G.petersen_graph())],
        "wheels": [(f"W{n}", G.wheel_graph(n)) for n in config.wheels],
    }


def random_graphs(config, split: str) -> list[tuple[str, np.ndarray]]:
    """Planted 3-colourable graphs; train and test use disjoint seed ranges."""
    n_lo, n_hi = config.nodes
    count = config.n_train if split == "train" else config.n_test
    base = 1000 * config.seed + (0 if split == "train" else 500)
    rng = np.random.default_rng(base)
    sizes = rng.integers(n_lo, n_hi + 1, size=count)
    return [(f"{split}{k}-n{n}", G.planted_3_colourable(int(n), config.edge_p, base + k)[0])
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
