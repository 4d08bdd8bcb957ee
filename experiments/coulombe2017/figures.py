"""The figures of coulombe2017."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from physnn.experiment import save_figure

from .parity import ORDERS


def figures(out_dir, periods_tau, drives, probs, chosen, spreads, pre, post):
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), constrained_layout=True)
    for k, ax in enumerate(axes):
        mesh = ax.pcolormesh(np.arange(len(drives) + 1), np.arange(len(periods_tau) + 1), probs[k],
                             vmin=0.5, vmax=1.0, cmap="viridis")
        ax.set_xticks(np.arange(len(drives)) + 0.5, [f"{d:g}" for d in drives])
        ax.set_yticks(np.arange(len(periods_tau)) + 0.5, [f"{t:g}" for t in periods_tau])
        ax.set_xlabel("drive amplitude F0 (pN)")
        ax.set_ylabel("bit period T (units of 2Q/w0)")
        ax.plot(chosen[1] + 0.5, chosen[0] + 0.5, "x", color="w", ms=10, mew=2)
        ax.set_title(f"P{ORDERS[k]} test success (x: chosen on validation)", fontsize=9)
    fig.colorbar(mesh, ax=axes, shrink=0.9)
    save_figure(fig, out_dir, "parity_maps.png", dpi=110)

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), constrained_layout=True, sharey=True)
    x = np.where(spreads > 0, spreads, spreads[spreads > 0].min() / 3)
    for ax, vals, title in ((axes[0], pre, "before training (readout refitted)"),
                            (axes[1], post, "after training (readout kept)")):
        for k, c in zip(range(len(ORDERS)), ("tab:blue", "tab:green", "tab:red"), strict=True):
            m = vals[:, :, k].mean(1)
            e = vals[:, :, k].std(1)
            ax.errorbar(x, m, yerr=e, color=c, marker="o", capsize=3, label=f"P{ORDERS[k]}")
        ax.set_xscale("log")
        ax.set_xlabel("relative parameter spread sigma (leftmost: 0)")
        ax.set_title(title)
    axes[0].set_ylabel("success probability")
    axes[0].legend()
    save_figure(fig, out_dir, "robustness.png", dpi=110)
