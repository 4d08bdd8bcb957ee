"""The figures of appeltant2011."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from physnn.experiment import save_figure


def figures(out_dir, config, scan, sf, cd):
    best_theta = scan["best"]["theta"]
    panels = [(f"theta = {config.theta} (paper)", scan["grid_paper_theta"], config.etas,
               config.gammas),
              (f"theta = {best_theta} (best)", scan["grids_theta"][best_theta], config.etas_theta,
               config.gammas_theta)]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4), constrained_layout=True)
    for ax, (title, g, etas, gammas) in zip(axes[:2], panels, strict=True):
        im = ax.imshow(np.clip(g, 0, 1), origin="lower", aspect="auto", cmap="viridis_r",
                       vmin=0, vmax=1)
        ax.set_xticks(range(len(gammas)), [f"{v:g}" for v in gammas], rotation=45)
        ax.set_yticks(range(len(etas)), [f"{v:g}" for v in etas])
        ax.set_xlabel(r"input scaling $\gamma$")
        ax.set_ylabel(r"feedback $\eta$")
        ax.set_title(f"NARMA10 validation NRMSE, {title}")
        fig.colorbar(im, ax=ax)
    thetas = [config.theta] + list(config.thetas)
    best = [np.nanmin(scan["grid_paper_theta"])] + [np.nanmin(scan["grids_theta"][t])
                                                     for t in config.thetas]
    axes[2].plot(thetas, best, "o-")
    axes[2].axhline(0.12, color="k", ls="--", lw=1, label="Appeltant 2011 (0.12)")
    axes[2].set_xscale("log")
    axes[2].set_xlabel(r"node spacing $\theta$ / response time")
    axes[2].set_ylabel("best validation NRMSE")
    axes[2].legend(fontsize=8)
    save_figure(fig, out_dir, "narma10_map.png", dpi=110)

    fig, axes = plt.subplots(2, 1, figsize=(8, 5), constrained_layout=True)
    k = slice(0, 200)
    axes[0].plot(scan["target"][k], "k-", lw=1, label="NARMA10 target")
    axes[0].plot(scan["pred"][k], "r--", lw=1, label="delay reservoir")
    axes[0].legend(fontsize=8)
    axes[1].plot(sf["target"][k], "k-", lw=1, label="Santa Fe laser (normalised)")
    axes[1].plot(sf["pred"][k], "r--", lw=1, label="one-step prediction")
    axes[1].legend(fontsize=8)
    axes[1].set_xlabel("test step")
    save_figure(fig, out_dir, "predictions.png", dpi=110)

    plot_codesign(out_dir, cd)



def plot_codesign(out_dir, cd):
    """Loss per step on fresh series (log scale), and the validation scores used for selection."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8), constrained_layout=True)
    c1 = np.asarray(cd["curve"])
    ax.plot(c1, lw=0.6, alpha=0.5, label="phase 1: mask, eta, gamma, theta (map), fresh series")
    n1 = len(c1)
    ax.plot(range(n1, n1 + len(cd["curve_tau"])), cd["curve_tau"], ".-", lw=0.8,
            label="phase 2: mask, eta, gamma, tau (integrator), fresh series")
    for key, off, style, lab in (("val_scores_map", 0, "ks", "validation split (map)"),
                                 ("val_scores_tau", n1, "k^", "validation split (integrator)")):
        sc = np.asarray(cd[key], dtype=float)
        ax.plot(sc[:, 0] + off, sc[:, 1], style, ms=4, label=lab)
    ax.axvline(cd["best_step_map"], color="C2", ls="--", lw=1, label="kept (phase 1)")
    ax.axhline(0.08, color="C3", ls=":", lw=1, label="target 0.08")
    ax.set_yscale("log")
    ax.set_xlabel("Adam step")
    ax.set_ylabel("NRMSE")
    ax.legend(fontsize=7)
    save_figure(fig, out_dir, "codesign.png", dpi=110)
