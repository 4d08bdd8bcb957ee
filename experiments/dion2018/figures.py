"""The figures of dion2018."""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import numpy as np

from physnn.experiment import save_figure


def figures(out_dir, config, grid, scores, theta_rows, curve, m):
    gammas, etas, dets = config.map_gammas, config.map_etas, config.map_detunings_lw
    err = np.zeros((len(gammas), len(etas), len(dets)))
    for (g, e, d), sc in zip(grid, scores, strict=True):
        err[gammas.index(g), etas.index(e), dets.index(d)] = sc[3]["test_error"]
    fig, axs = plt.subplots(1, len(dets), figsize=(3.2 * len(dets) + 1, 3.2), constrained_layout=True,
                            squeeze=False)
    for k, d in enumerate(dets):
        ax = axs[0, k]
        im = ax.imshow(100 * err[:, :, k], origin="lower", aspect="auto", vmin=0, vmax=50,
                       cmap="viridis_r")
        ax.set_xticks(range(len(etas)), [f"{e:g}" for e in etas])
        ax.set_yticks(range(len(gammas)), [f"{g:g}" for g in gammas])
        ax.set_xlabel("feedback gain eta")
        ax.set_title(f"detuning {d:+g} linewidths", fontsize=9)
        for i, j in itertools.product(range(len(gammas)), range(len(etas))):
            ax.text(j, i, f"{100 * err[i, j, k]:.1f}", ha="center", va="center", fontsize=6,
                    color="w" if err[i, j, k] > 0.25 else "k")
    axs[0, 0].set_ylabel("input gain gamma")
    fig.colorbar(im, ax=axs[0, -1], label="P3 test error (%)")
    fig.suptitle("Parity-3 error of one Duffing resonator with delayed feedback (300 K)", fontsize=10)
    save_figure(fig, out_dir, "parity_map.png")

    if len(theta_rows):
        theta_figure(out_dir, config, theta_rows, m)

    fig, ax = plt.subplots(figsize=(5, 3.4), constrained_layout=True)
    ax.plot(curve, "o-")
    ax.set_xlabel("Adam step (through the delay integrator)")
    ax.set_ylabel("P3 validation MSE")
    ax.set_title(f"co-design: P3 test error {100 * m['codesign_p3_test_error_before']:.2f} % -> "
                 f"{100 * m['codesign_p3_test_error_after']:.2f} %", fontsize=9)
    save_figure(fig, out_dir, "codesign.png")



def theta_figure(out_dir, config, theta_rows, m):
    etas = config.map_etas
    fig, ax = plt.subplots(figsize=(5, 3.4), constrained_layout=True)
    im = ax.imshow(100 * theta_rows, origin="lower", aspect="auto", vmin=0, vmax=50, cmap="viridis_r")
    ax.set_xticks(range(len(etas)), [f"{e:g}" for e in etas])
    ax.set_yticks(range(len(config.theta_scan)), [f"{r:g}" for r in config.theta_scan])
    ax.set_xlabel("feedback gain eta")
    ax.set_ylabel("node spacing theta / ring-down time")
    ax.set_title(f"P3 test error (%) at gamma={m['chosen_input_gain']:g}, "
                 f"detuning={m['chosen_detuning_linewidths']:+g}", fontsize=9)
    fig.colorbar(im, ax=ax)
    save_figure(fig, out_dir, "theta_map.png")
