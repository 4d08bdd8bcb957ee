"""The figures of larger2017."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from physnn.experiment import save_figure


def figures(out_dir, m, inputs, states, digit, point, tau_d):
    """wer.png: the WERs of every system on both splits; node_states.png: one test utterance's
    MFCC frames and the chosen Ikeda reservoir's states."""
    systems = ["front_end", "front_end_sequence", "ikeda", "mackey_glass"]
    labels = ["MFCC\n(per-frame WTA)", "MFCC\n(whole sequence)", "Ikeda\nreservoir",
              "Mackey-Glass\nreservoir"]
    fig, ax = plt.subplots(figsize=(6.4, 3.8), constrained_layout=True)
    pos = np.arange(len(systems))
    for off, split, lab in [(-0.2, "official", "official split (reps 0-4 test)"),
                            (0.2, "speaker", "leave-one-speaker-out (mean)")]:
        vals = [100 * m[f"wer_{split}_{s}"] for s in systems]
        bars = ax.bar(pos + off, vals, 0.4, label=lab)
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(pos, labels, fontsize=8)
    ax.set_ylabel("word error rate (%)")
    ax.set_title("FSDD spoken digits (stand-in for TI-46), linear readout")
    ax.legend(fontsize=8)
    save_figure(fig, out_dir, "wer.png")

    fig, axs = plt.subplots(1, 2, figsize=(8.4, 3.4), constrained_layout=True,
                            gridspec_kw={"width_ratios": [1, 3]})
    im = axs[0].imshow(inputs.T, aspect="auto", origin="lower", cmap="coolwarm")
    axs[0].set_xlabel("frame (one delay period each)")
    axs[0].set_ylabel("MFCC coefficient")
    axs[0].set_title(f"input: digit {digit}")
    fig.colorbar(im, ax=axs[0])
    im = axs[1].imshow(states.T, aspect="auto", origin="lower", cmap="viridis")
    axs[1].set_xlabel(f"frame (delay period tau_D = {tau_d:.3g} ns)")
    axs[1].set_ylabel("virtual node")
    axs[1].set_title("Ikeda reservoir state x (beta={beta:g}, rho={rho:g}, phi0={phi0:.3g})".format(**point),
                     fontsize=9)
    fig.colorbar(im, ax=axs[1])
    save_figure(fig, out_dir, "node_states.png")

