"""The figures of torrejon2017: the bias/noise map, a reservoir trace beside its input, the
confusion matrix."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from physnn.experiment import save_figure


def figures(out_dir, bias_map, trace_in, trace_out, config, device, pred, truth, fe) -> list[str]:
    """bias_map.png, trace.png, confusion.png; returns their names."""
    acc = 100 * np.asarray(bias_map["accuracy"])
    fig, ax = plt.subplots(figsize=(5.6, 3.8), constrained_layout=True)
    im = ax.imshow(acc, origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(bias_map["temperatures_k"])),
                  [f"{t:g}" for t in bias_map["temperatures_k"]])
    ax.set_yticks(range(len(bias_map["currents_ma"])),
                  [f"{c:g}" for c in bias_map["currents_ma"]])
    for (i, j), v in np.ndenumerate(acc):
        ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=8, color="w")
    ax.set_xlabel("temperature (K)")
    ax.set_ylabel(f"DC current (mA); threshold {config.threshold_ma} mA")
    ax.set_title(f"official-split accuracy (%), {bias_map['nodes']} nodes; front end alone "
                 f"{100 * bias_map['front_end_accuracy']:.1f} %", fontsize=9)
    fig.colorbar(im, ax=ax)
    save_figure(fig, out_dir, "bias_map.png")

    n_show = min(3 * config.n_nodes, trace_in.size)  # three frames
    t_us = np.arange(n_show) * config.theta_ns * 1e-3
    amp = trace_out.reshape(-1)[:n_show]
    current = float(device.current_ma[0]) + float(device.current_input_ma[0]) * trace_in[:n_show]
    fig, axs = plt.subplots(2, 1, figsize=(7.2, 4.0), sharex=True, constrained_layout=True)
    axs[0].step(t_us, current, where="post", lw=0.7)
    axs[0].axhline(config.threshold_ma, color="k", ls=":", lw=0.8, label="threshold")
    axs[0].set_ylabel("current (mA)")
    axs[0].legend(fontsize=8)
    axs[1].plot(t_us, amp, ".", ms=2)
    axs[1].set_ylabel("amplitude sqrt(p)")
    axs[1].set_xlabel(f"time (us); node theta = {config.theta_ns} ns, {config.n_nodes} nodes "
                      "per frame")
    axs[0].set_title(f"one test utterance ({fe} front end): input current and node states",
                     fontsize=9)
    save_figure(fig, out_dir, "trace.png")

    cm = np.zeros((10, 10), int)
    np.add.at(cm, (np.asarray(truth), np.asarray(pred)), 1)
    fig, ax = plt.subplots(figsize=(4.4, 3.8), constrained_layout=True)
    ax.imshow(cm, cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):
        if v:
            ax.text(j, i, str(v), ha="center", va="center", fontsize=7)
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("spoken digit")
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    acc = 100 * cm.diagonal().sum() / cm.sum()
    ax.set_title(f"official test split, oscillator ({fe}): {acc:.1f} %", fontsize=9)
    save_figure(fig, out_dir, "confusion.png")
    return ["bias_map.png", "trace.png", "confusion.png"]
