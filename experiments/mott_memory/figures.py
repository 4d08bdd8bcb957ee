"""The figures of the associative memory: stored letters and weights, recall examples, recall
against corruption and capacity, and the phase traces of one recall."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from physnn.devices.mott import phase_from_spikes


def glyph(ax, x, title):
    ax.imshow(np.nan_to_num(np.asarray(x, float)).reshape(5, 5), cmap="gray_r", vmin=-1, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=8)


def figure_patterns(out_dir, xi, letters, w_hebb, w_tr):
    p = len(xi)
    fig, axes = plt.subplots(1, p + 2, figsize=(2 * (p + 2), 2.4), constrained_layout=True)
    for k in range(p):
        glyph(axes[k], xi[k], f"stored {letters[k]}")
    lim = np.abs(w_hebb).max()
    for ax, w, t in ((axes[p], w_hebb, "Hebbian W"), (axes[p + 1], w_tr, "trained W")):
        im = ax.imshow(w, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(t + "\n(red: resistors same side, blue: cross)", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=axes[p + 1], shrink=0.7)
    fig.savefig(out_dir / "stored_patterns.png", dpi=110)
    plt.close(fig)


def figure_examples(out_dir, cues, rec_h, rec_t, rec_d, targets):
    rows = len(cues)
    fig, axes = plt.subplots(rows, 5, figsize=(7.5, 1.6 * rows), constrained_layout=True)
    for r in range(rows):
        ok = [bool(np.array_equal(x, targets[r])) for x in (rec_h[r], rec_t[r], rec_d[r])]
        glyph(axes[r, 0], cues[r], f"cue ({int((cues[r] != targets[r]).sum())} flipped)")
        glyph(axes[r, 1], rec_h[r], f"Hebbian osc. {'ok' if ok[0] else 'wrong'}")
        glyph(axes[r, 2], rec_t[r], f"trained osc. {'ok' if ok[1] else 'wrong'}")
        glyph(axes[r, 3], rec_d[r], f"digital {'ok' if ok[2] else 'wrong'}")
        glyph(axes[r, 4], targets[r], "stored")
    fig.savefig(out_dir / "recall_examples.png", dpi=110)
    plt.close(fig)


def figure_recall(out_dir, levels, curves, capacity, cap_flips, losses):
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


def figure_traces(out_dir, ts, v, target, recalled):
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
