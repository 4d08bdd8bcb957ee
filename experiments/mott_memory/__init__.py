r"""Associative memory in coupled VO2 oscillators: phase patterns stored in the couplings by the
Hebbian rule, recalled from corrupted cues, and the couplings then trained by gradient through the
dynamics (oscillatory associative memories: Hoppensteadt & Izhikevich, Phys. Rev. Lett. 82, 2983
(1999); Nikonov et al., IEEE JXCDC 1, 85 (2015); the VO2 oscillatory neural networks of
Todri-Sanial's group, e.g. Delacour et al. 2023).

Protocol:

- Patterns: 5 x 5 letters (``GLYPHS``: E V N K O T, in an order picked for small mutual overlaps),
  pixels $\xi_i = \pm 1$. A pixel is the phase of its oscillator relative to oscillator 0:
  in phase (+1 relative to pixel 0) or in anti-phase.
- Storage (Hebbian): $W = \frac1N \sum_p \xi^p \xi^{p\top}$, zero diagonal.
- Device: every pixel is a **differential pair** of VO2 cells (``MottNetwork("VO2")``, C = 145 pF,
  R_s = 5 kOhm, 6 V bias: a 1.5 V relaxation oscillation of period 0.95 us alone), $i^+$ and
  $i^-$, held in anti-phase by a capacitor $C_{\mathrm{pair}}$ (capacitive coupling repels,
  tests/test_mott.py). A weight $W_{ij} > 0$ is a resistor of conductance $g\,W_{ij}$ between
  $i^+$ and $j^+$ and another between $i^-$ and $j^-$ (resistive coupling pulls in phase); a weight
  $W_{ij} < 0$ is the same pair of resistors between $i^+$ and $j^-$ and between $i^-$ and $j^+$.
  Every element is passive: the complementary cell supplies the sign. In the recalled pattern
  every satisfied coupling resistor joins two cells in phase and carries no current.
  *Why not one cell per pixel with capacitors for negative weights?* We tried it first: with three
  or more stored letters the capacitors' loading and the firing kicks they pass on shift each
  cell's frequency by an amount that depends on its neighbourhood, the phases drift away from
  0 / pi and even uncorrupted patterns are lost (two letters, with no frustrated coupling, were
  fine). Second-harmonic injection on the bias did not repair it.
- Recall: every cell starts on its limit cycle, at phase 0 ($i^+$ of a +1 pixel, $i^-$ of a -1
  pixel) or pi (the others): the cue is written as start times, as in VO2 ONNs that encode inputs
  as phase delays. The network then runs freely for ``t1_ns`` (Bogacki-Shampine 3(2) with fixed
  steps ``dt_ns`` = 20 ns: its readouts agree with Tsit5 at 20 ns on 99.5 % of the cues, at two
  thirds of the cost).
- Readout: the phase of each $i^+$ at the end (:func:`physnn.phases.final_phases`, from threshold
  crossings over the last ``window_ns``), binarised relative to oscillator $0^+$
  ($|\phi_i - \phi_0| < \pi/2$ -> +1). A pattern and its inverse are the same phase configuration;
  the global sign is fixed by agreement with the cue. Exact recall: all 25 pixels equal to the
  stored letter; overlap $m = \frac1N \sum_i r_i \xi_i$.
- Baseline: the ideal digital Hopfield network (asynchronous sign updates until stable) with the
  same $W$, on the same cues.
- Learning: the signed weights $W$ (symmetric, zero diagonal) are trained with optax (Adam) by
  gradient through the dynamics (diffrax, every step stored) on training cues, to lower a
  differentiable surrogate of the readout: the phase error between every two pixels,
  $\frac12(1 - \xi_i\xi_j\cos(\phi_i - \phi_j))$ averaged over pixel pairs, with the phases taken
  from the Fourier component of the voltages at the network frequency over the readout window.
  Before/after figures are measured on held-out cues (other random flips, other seed).
- Cost: the Joule power (``power()``: switches, load resistors, coupling resistors) integrated
  from the start to the settling time gives the energy per recall; the settling time (latency) is
  when the binarised phase pattern last changes.

Resume: an interrupted run (Ctrl-C, SIGTERM, a killed job) resumes when the same command is run
again with the same ``--out``. Every simulation of the run is a stage kept in ``DIR/checkpoints``
(:class:`physnn.checkpoint.Stages`) and the training checkpoints its weights every 5 steps and on Ctrl-C
or SIGTERM (:func:`physnn.train.train_loop`); the figures and record are the same, bit for bit, as
an uninterrupted run's. The folder is removed once ``results.json`` is written.

Departures: a simulated VO2 model (no hysteresis, see physnn/devices/mott.py) instead of measured
devices; identical cells (no device-to-device spread) and no noise.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

import physnn as pn

from .figures import figure_examples, figure_patterns, figure_recall, figure_traces
from .network import limit_cycle_states
from .patterns import GLYPHS, cue_set, hebbian_weights, hopfield_recall, letter_patterns
from .readout import by_level, evaluate, scores
from .training import train_couplings

NAME = "mott-memory"
DESCRIPTION = "Associative memory in coupled VO2 oscillators: Hebbian and trained couplings"

# VO2 cell (C, bias) and coupling: conductance per unit Hebbian weight, pair capacitor.
DESIGN0 = {"node_pf": 145.0, "bias_v": 6.0, "g_unit_us": 100.0, "c_pair_pf": 60.0}


@dataclasses.dataclass(frozen=True)
class Config:
    """letters: the stored letters (of ``GLYPHS``); flips, cues_per_level: held-out cues per letter
    at each number of flipped pixels; capacity_letters, capacity_flips, capacity_cues: the
    capacity scan (the first P letters of ``GLYPHS``); t1_ns, dt_ns, save_ns, window_ns: run
    length, solver step, saving interval and readout window (ns); train_cues, train_flips,
    train_steps, lr: the training cues and Adam steps; batch: cues per solve (padded, one
    compilation); seed: cues and Hopfield update order; design: node_pf (pF), bias_v (V),
    g_unit_us (uS per unit weight), c_pair_pf (pF)."""

    letters: tuple[str, ...]
    flips: tuple[int, ...]
    cues_per_level: int
    capacity_letters: tuple[int, ...]
    capacity_flips: tuple[int, ...]
    capacity_cues: int
    t1_ns: float
    dt_ns: float
    save_ns: float
    window_ns: float
    train_cues: int
    train_flips: tuple[int, ...]
    train_steps: int
    lr: float
    batch: int
    seed: int
    design: dict = dataclasses.field(default_factory=lambda: dict(DESIGN0))


QUICK = Config(
    letters=("E", "V", "N", "K", "O"), flips=(0, 1, 3, 6), cues_per_level=2,
    capacity_letters=(3, 5), capacity_flips=(2, 5), capacity_cues=2,
    t1_ns=30000.0, dt_ns=20.0, save_ns=40.0, window_ns=8000.0,
    train_cues=2, train_flips=(4, 6), train_steps=3, lr=0.004, batch=40,
    seed=0,
)
FULL = dataclasses.replace(QUICK, flips=(0, 1, 2, 3, 4, 5, 6, 7, 8), cues_per_level=8,
                           capacity_letters=(2, 3, 4, 5, 6), capacity_flips=(2, 4, 6),
                           capacity_cues=6, train_cues=4, train_steps=30, batch=120)


def run(config: Config, out_dir) -> dict:
    """The protocol: patterns and cues, recall with the Hebbian couplings, training through the
    dynamics, recall with the trained couplings, the digital baseline, capacity, the record."""
    out_dir = Path(out_dir)
    design, seed = dict(config.design), config.seed
    xi = letter_patterns(config.letters)
    w_hebb = hebbian_weights(xi)
    cycle, period = limit_cycle_states(design, config)
    cues, idx, flips = cue_set(xi, config.flips, config.cues_per_level, 1000 + seed)
    tr_cues, tr_idx, _ = cue_set(xi, config.train_flips, config.train_cues, seed)
    steps = config.train_steps
    bar = tqdm(total=steps + 5 + len(config.capacity_letters), desc="mott-memory", leave=False)

    # an interrupted run resumes: every simulation below is a stage kept in out_dir/checkpoints
    stages = pn.checkpoint.Stages.of_run(out_dir, config, NAME)
    # examples for the figures: the first cue of every pattern at the largest corruption
    keep = [int(np.nonzero((flips == max(config.flips)) & (idx == p))[0][0])
            for p in range(len(xi))]
    ev_h = stages("eval_hebbian", evaluate, w_hebb, cues, design, cycle, config, keep=keep)
    bar.update(1)
    ev_h_train = stages("eval_hebbian_train", evaluate, w_hebb, tr_cues, design, cycle, config)
    bar.update(1)
    w_tr, losses = train_couplings(w_hebb, tr_cues, xi[tr_idx], design, cycle, config, bar,
                                   checkpoint=stages.path("train"))
    ev_t = stages("eval_trained", evaluate, w_tr, cues, design, cycle, config, keep=keep)
    bar.update(1)
    ev_t_train = stages("eval_trained_train", evaluate, w_tr, tr_cues, design, cycle, config)
    bar.update(1)
    rng = np.random.default_rng(seed)
    dig_h = hopfield_recall(w_hebb, cues, rng)
    dig_t = hopfield_recall(w_tr, cues, rng)
    bar.update(1)

    capacity = {}
    names = list(GLYPHS)
    for n_pat in config.capacity_letters:
        xp = letter_patterns(names[:n_pat])
        wp = hebbian_weights(xp)
        c, i, f = cue_set(xp, config.capacity_flips, config.capacity_cues,
                          2000 + seed + n_pat)
        recalled = stages(f"capacity_{n_pat}", lambda w_, c_: evaluate(w_, c_, design, cycle,
                                                                        config)["recalled"], wp, c)
        ex_o, _ = scores(recalled, xp, i)
        ex_d, _ = scores(hopfield_recall(wp, c, rng), xp, i)
        capacity[n_pat] = {"oscillators": by_level(ex_o, f, config.capacity_flips),
                           "digital": by_level(ex_d, f, config.capacity_flips)}
        bar.update(1)
    bar.close()

    levels = list(config.flips)
    curves = {}
    for name, rec in (("hebbian", ev_h["recalled"]), ("trained", ev_t["recalled"]),
                      ("digital", dig_h), ("digital_trained_w", dig_t)):
        ex, ov = scores(rec, xi, idx)
        curves[name] = {"exact": by_level(ex, flips, levels),
                        "overlap": by_level(ov, flips, levels), "exact_all": float(ex.mean()),
                        "exact_corrupted": float(ex[flips > 0].mean())}
    ex_tr_h, _ = scores(ev_h_train["recalled"], xi, tr_idx)
    ex_tr_t, _ = scores(ev_t_train["recalled"], xi, tr_idx)

    metrics = {}
    for name in ("hebbian", "trained", "digital"):
        for k, e, o in zip(levels, curves[name]["exact"], curves[name]["overlap"], strict=True):
            metrics[f"{name}_exact_{k}flips"] = e
            metrics[f"{name}_overlap_{k}flips"] = o
    for name in curves:
        metrics[f"{name}_exact_corrupted_mean"] = curves[name]["exact_corrupted"]
    metrics["heldout_gain_exact"] = (curves["trained"]["exact_corrupted"]
                                     - curves["hebbian"]["exact_corrupted"])
    metrics["train_cues_exact_hebbian"] = float(ex_tr_h.mean())
    metrics["train_cues_exact_trained"] = float(ex_tr_t.mean())
    metrics["train_loss_first"], metrics["train_loss_last"] = losses[0], losses[-1]
    metrics["silent_readouts"] = int(np.isnan(ev_h["recalled"]).any(1).sum()
                                     + np.isnan(ev_t["recalled"]).any(1).sum())
    for name, ev in (("hebbian", ev_h), ("trained", ev_t)):
        metrics[f"{name}_latency_median_us"] = float(np.nanmedian(ev["latency_ns"]) / 1e3)
        metrics[f"{name}_latency_p90_us"] = float(np.nanpercentile(ev["latency_ns"], 90) / 1e3)
        metrics[f"{name}_energy_per_recall_uj"] = float(np.nanmedian(ev["energy_latency_j"]) * 1e6)
    metrics["energy_full_run_uj"] = float(np.mean(ev_h["energy_t1_j"]) * 1e6)
    metrics["mean_power_mw"] = float(np.mean(ev_h["mean_power_w"]) * 1e3)
    metrics["cell_period_ns"] = period
    for n_pat, c in capacity.items():
        for k, eo, ed in zip(config.capacity_flips, c["oscillators"], c["digital"], strict=True):
            metrics[f"capacity_P{n_pat}_{k}flips_hebbian"] = eo
            metrics[f"capacity_P{n_pat}_{k}flips_digital"] = ed
    overlaps = xi @ xi.T / xi.shape[1]
    reference = {
        "digital_exact_corrupted_mean": "ideal Hopfield network, same W and cues (row above)",
        "hebbian_exact_0flips": 1.0,
        "paper": "oscillatory associative memories (Hoppensteadt & Izhikevich 1999; Nikonov et al. "
                 "2015; VO2 ONNs, Delacour et al. 2023): stored patterns are phase-locked states "
                 "recalled from corrupted cues, with a capacity comparable to a Hopfield network",
    }
    figure_patterns(out_dir, xi, config.letters, w_hebb, w_tr)
    figure_examples(out_dir, cues[keep], ev_h["recalled"][keep], ev_t["recalled"][keep],
                     dig_h[keep], xi[idx[keep]])
    figure_recall(out_dir, levels, curves, capacity, config.capacity_flips, losses)
    figure_traces(out_dir, ev_h["ts"], ev_h["traces"][:, -1], xi[idx[keep[-1]]],
                   ev_h["recalled"][keep[-1]])
    notes = [
        f"{len(xi)} letters {''.join(config.letters)}, N = {xi.shape[1]} pixels "
        f"(2N = {2 * xi.shape[1]} VO2 cells); largest overlap between letters "
        f"{np.abs(overlaps - np.eye(len(xi))).max():.2f}",
        f"held-out cues: {config.cues_per_level} per letter and corruption level; training: "
        f"{len(tr_cues)} cues with {list(config.train_flips)} flips, {steps} Adam steps, surrogate "
        f"phase error {losses[0]:.4f} -> {losses[-1]:.4f}",
        "exact recall on corrupted held-out cues: Hebbian oscillators "
        f"{curves['hebbian']['exact_corrupted']:.3f}, "
        f"trained {curves['trained']['exact_corrupted']:.3f}, "
        f"digital Hopfield {curves['digital']['exact_corrupted']:.3f}",
    ]
    notes += stages.notes()
    return {"metrics": metrics, "reference": reference, "notes": notes, "curves": curves,
            "capacity": {str(k): v for k, v in capacity.items()},
            "weights_hebbian": w_hebb.tolist(), "weights_trained": np.asarray(w_tr).tolist(),
            "pattern_overlaps": overlaps.tolist(), "train_losses": losses,
            "resumed": stages.resumed,
            "figures": ["stored_patterns.png", "recall_examples.png", "recall_vs_corruption.png",
                        "phase_traces.png"]}


#: ``physnn run`` calls it once ``results.json`` is written: a new run in the folder starts afresh.
finished = pn.checkpoint.remove_run_checkpoints
