"""The figures of Parihar 2017: the Petersen graph's voltages and phases, and the results."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from physnn.tasks import graphs as G


def petersen_figure(out_dir, ts, v, phases, k, config):
    r = config.restarts
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


def results_figure(out_dir, m, families, losses):
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
