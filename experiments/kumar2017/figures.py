"""The figures of Kumar 2017: bifurcation diagram, exponents against bias, the onset zoom."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def sweep_figures(out_dir, vins, scales, main, variants, cb, lam_two):
    """bifurcation.png (peaks and troughs against bias, one panel per noise scale) and
    lyapunov.png (the tangent exponent with 3 s.e. bars, one panel per thermal capacitance)."""
    colours = plt.cm.viridis(np.linspace(0.0, 0.85, len(scales)))
    peaks, troughs, quiescent = main["peaks"], main["troughs"], main["quiescent"]
    fig, axes = plt.subplots(len(scales), 1, figsize=(6.4, 1.9 * len(scales) + 0.6), sharex=True,
                             constrained_layout=True, squeeze=False)
    for i, s in enumerate(scales):
        ax = axes[i, 0]
        first_q = True
        for j, v in enumerate(vins):
            p = np.asarray(peaks[i][j])
            if quiescent[i, j]:  # the fixed point
                ax.plot([v], p[:1], "o", mfc="none", ms=3, color="0.4",
                        label="fixed point" if first_q else None)
                first_q = False
                continue
            q = np.asarray(troughs[i][j])
            ax.plot(np.full(p.shape, v), p, ".", ms=1.5, color=colours[i], alpha=0.6)
            ax.plot(np.full(q.shape, v), q, ".", ms=1.5, color="0.6", alpha=0.6)
        ax.set_ylabel("V (V)")
        if i == 0:
            ax.plot([], [], ".", color=colours[0], label="peaks")
            ax.plot([], [], ".", color="0.6", label="troughs")
            ax.legend(fontsize=7, loc="center right")
        label = ("deterministic" if s == 0
                 else f"noise x{s:g} ({s * main['sigma1']:.2g} K/$\\sqrt{{ns}}$)")
        ax.set_title(label, fontsize=9)
    axes[-1, 0].set_xlabel("bias $V_{in}$ (V)")
    fig.suptitle("NbO2 relaxation oscillator: peak (and trough) voltages against bias",
                 fontsize=10)
    fig.savefig(out_dir / "bifurcation.png", dpi=130)
    plt.close(fig)

    runs = [(f"C_th = {main['cth']:.0e} J/K", main)]
    runs += [(f"C_th = {v['thermal_capacitance_j_per_k']:.0e} J/K", r) for v, r in variants]
    fig, axes = plt.subplots(len(runs), 1, figsize=(6.4, 3.6 * len(runs) + 0.4),
                             constrained_layout=True, squeeze=False, sharex=True)
    for n, (title, r) in enumerate(runs):
        ax = axes[n, 0]
        lam, se = r["lam"] * 1e3, r["se"] * 1e3
        colours = plt.cm.viridis(np.linspace(0.0, 0.85, len(r["scales"])))
        for i, s in enumerate(r["scales"]):
            label = "deterministic" if s == 0 else f"noise x{s:g}"
            ax.errorbar(vins, lam[i], yerr=3 * se[i], fmt="-o", ms=2.5, lw=1, color=colours[i],
                        label=label)
            if n == 0:
                ax.plot(cb, lam_two[i], "x", color=colours[i], ms=7,
                        label="two trajectories" if i == 0 else None)
        ax.plot(vins, 1e3 * np.min(r["threshold"], axis=0), "k:", lw=1, label="chaos threshold")
        ax.axhline(0.0, color="k", lw=0.6)
        lo = np.nanpercentile(lam, 5)
        ax.set_ylim(max(lo * 1.2, -60.0), max(5.0, np.nanmax(lam) * 1.3))
        ax.set_ylabel("largest Lyapunov exp. (1/$\\mu$s)")
        ax.set_title(f"{title} (thermal time {r['tau_ns']:.2g} ns): tangent (jvp) exponent, "
                     "3 s.e. bars" + ("; x: two-trajectory check" if n == 0 else ""), fontsize=8)
        ax.legend(fontsize=7, ncol=2)
    axes[-1, 0].set_xlabel("bias $V_{in}$ (V)")
    fig.savefig(out_dir / "lyapunov.png", dpi=130)
    plt.close(fig)


def onset_zoom_figure(out_dir, zooms):
    """onset_zoom.png: the exponent against bias around each edge of the window."""
    if not zooms:
        return
    fig, axes = plt.subplots(1, len(zooms), figsize=(5.2 * len(zooms), 3.8),
                             constrained_layout=True, squeeze=False)
    for ax, zm in zip(axes[0], zooms, strict=True):
        r = zm["r"]
        dv = 1e3 * (zm["vins"] - zm["onset"])
        colours = plt.cm.viridis(np.linspace(0.2, 0.85, len(r["scales"])))
        for i, sc in enumerate(r["scales"]):
            ax.errorbar(dv, 1e3 * r["lam"][i], yerr=3e3 * r["se"][i], fmt="-o", ms=3, lw=1,
                        color=colours[i], label=f"tangent, noise x{sc:g}")
        lam_a, _, lam_b, _ = zm["check"]
        ax.plot(1e3 * (zm["check_v"] - zm["onset"]), 1e3 * lam_b[0], "x", color="C3", ms=8,
                label="two trajectories")
        ax.plot(dv, 1e3 * np.min(r["threshold"], axis=0), "k:", lw=1, label="chaos threshold")
        ax.axhline(0.0, color="k", lw=0.6)
        ax.axvline(0.0, color="0.5", lw=0.6, ls="--")
        for bl in r["bands"].values():
            for a, b in bl:
                ax.axvspan(1e3 * (a - zm["onset"]), 1e3 * (b - zm["onset"]), color="C1",
                           alpha=0.15)
        ax.set_xlabel(f"bias - deterministic edge {zm['onset']:.5f} V (mV)")
        ax.set_ylabel("largest Lyapunov exp. (1/$\\mu$s)")
        ax.set_title(f"{zm['edge']} edge of the window (3 s.e. bars; shaded: chaotic band)",
                     fontsize=8)
        ax.legend(fontsize=7)
    fig.savefig(out_dir / "onset_zoom.png", dpi=130)
    plt.close(fig)
