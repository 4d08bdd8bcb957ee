"""The figures of romera2018: the synchronisation map of readout (a), the decision regions of
readout (b), the confusion matrix of (b) on the test speakers, and the training curves."""

from __future__ import annotations

import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from physnn.experiment import save_figure

from .data import pad_tokens
from .measure import predict_formants, present_patterns

FIGURES = ["sync_map.png", "decision_regions.png", "confusion.png", "training_curves.png"]


def formant_grid(x, n):
    """``(f1, f2, grid)``: an n x n grid over the tokens' formant range (widened), and its points
    (n * n, 2) in Hz, float32."""
    f1 = np.linspace(x[:, 0].min() * 0.9, x[:, 0].max() * 1.05, n)
    f2 = np.linspace(x[:, 1].min() * 0.9, x[:, 1].max() * 1.05, n)
    g1, g2 = np.meshgrid(f1, f2, indexing="ij")
    return g1, g2, np.stack([g1.ravel(), g2.ravel()], -1).astype(np.float32)


def sync_map(out_dir, x, y, vowels, ma, n):
    """The synchronisation patterns of (a)'s model ``ma`` over the tone plane, with the tokens."""
    _, _, grid = formant_grid(x, n)
    patterns = present_patterns(ma, jnp.asarray(pad_tokens(grid)[0]))
    patterns = np.asarray(patterns)[: len(grid)]
    tones = ma.tones(jnp.asarray(x))
    fa, fb = np.asarray(tones.freqs[:, 0]) * 1e3, np.asarray(tones.freqs[:, 1]) * 1e3
    ga = np.asarray(ma.tones(jnp.asarray(grid)).freqs) * 1e3
    colors = plt.get_cmap("tab10")
    fig, ax = plt.subplots(figsize=(6, 5), constrained_layout=True)
    _, inv = np.unique(np.asarray(patterns), return_inverse=True)
    ax.pcolormesh(ga[:, 0].reshape(n, n), ga[:, 1].reshape(n, n), inv.reshape(n, n),
                  cmap="Pastel1", shading="auto")
    for c in range(7):
        s = y == c
        ax.scatter(fa[s], fb[s], s=10, color=colors(c), label=vowels[c], edgecolor="k", lw=0.3)
    for fj in np.asarray(ma.sto.free_running_frequency_ghz()) * 1e3:
        ax.axvline(fj, color="gray", lw=0.5)
        ax.axhline(fj, color="gray", lw=0.5)
    ax.set_xlabel("tone A frequency fA (MHz)  [F1]")
    ax.set_ylabel("tone B frequency fB (MHz)  [F2]")
    ax.set_title("Synchronisation map (a), fold 0; lines: oscillator frequencies")
    ax.legend(fontsize=7, ncol=2)
    return save_figure(fig, out_dir, "sync_map.png", dpi=110)


def decision_regions(out_dir, x, y, vowels, mb, n):
    """The classes (b)'s model ``mb`` gives over the formant plane, with the tokens."""
    g1, g2, grid = formant_grid(x, n)
    regions_b = predict_formants(mb, grid).reshape(n, n)
    colors = plt.get_cmap("tab10")
    fig, ax = plt.subplots(figsize=(6, 5), constrained_layout=True)
    ax.pcolormesh(g1, g2, regions_b, cmap="tab10", vmin=-0.5, vmax=9.5, alpha=0.35, shading="auto")
    for c in range(7):
        s = y == c
        ax.scatter(x[s, 0], x[s, 1], s=10, color=colors(c), label=vowels[c], edgecolor="k",
                   lw=0.3)
    ax.set_xlabel("F1 (Hz)")
    ax.set_ylabel("F2 (Hz)")
    ax.set_title("Decision regions of the trained network (b), fold 0")
    ax.legend(fontsize=7, ncol=2)
    return save_figure(fig, out_dir, "decision_regions.png", dpi=110)


def confusion_matrix(out_dir, confusion, vowels):
    fig, ax = plt.subplots(figsize=(4.8, 4.2), constrained_layout=True)
    ax.imshow(confusion, cmap="Blues")
    for i in range(7):
        for j in range(7):
            ax.text(j, i, confusion[i, j], ha="center", va="center", fontsize=8)
    ax.set_xticks(range(7), vowels)
    ax.set_yticks(range(7), vowels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion (b), test tokens of all folds")
    return save_figure(fig, out_dir, "confusion.png", dpi=110)


def training_curves(out_dir, curves):
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), constrained_layout=True)
    for h in curves["a"]:
        axes[0].plot(h, "o-", ms=3)
    axes[0].set_xlabel("rule iteration")
    axes[0].set_ylabel("training recognition")
    axes[0].set_title("(a) current tuning, per fold")
    for h in curves["b"]:
        axes[1].plot(h["accuracy"])
    axes[1].set_xlabel("gradient step")
    axes[1].set_ylabel("training recognition")
    axes[1].set_title("(b) end-to-end gradient training, per fold")
    return save_figure(fig, out_dir, "training_curves.png", dpi=110)


def figures(out_dir, x, y, vowels, ma, mb, confusion, curves, config) -> list[str]:
    """All four figures of a run (fold 0's models ``ma``, ``mb``), on a ``map_points`` grid."""
    return [sync_map(out_dir, x, y, vowels, ma, config.map_points),
            decision_regions(out_dir, x, y, vowels, mb, config.map_points),
            confusion_matrix(out_dir, confusion, vowels),
            training_curves(out_dir, curves)]
