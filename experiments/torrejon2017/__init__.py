"""Spoken digits with one spin-torque oscillator: Torrejon et al., Nature 547, 428 (2017).

One vortex oscillator is a time-multiplexed reservoir: each front-end frame is multiplied by a
mask and applied as a current, one value per virtual node for a time theta shorter than the
amplitude relaxation time, so neighbouring nodes couple through the oscillator's memory; the
oscillation amplitude at the end of each node is the reservoir state, and a linear readout is
trained offline (``reservoir``). The paper reaches up to 99.6 % on TI-46 digits with a cochlear
(Lyon) front end; Abreu Araujo et al. (Sci. Rep. 10, 328 (2020)) show that the front end does
much of the work and propose the gain over the front end alone as the device's measure.

**Data.** TI-46 (LDC licence) is not freely available: this experiment uses the open Free Spoken
Digit Dataset (FSDD: 6 male speakers x 10 digits x 50 repetitions, 8 kHz) as a stand-in, on its
official split (repetitions 0-4 are the test set) and on unseen speakers (leave one speaker
out). The numbers are not comparable one-to-one with the paper's.

Protocol:

- **Front ends.** Lyon's passive cochlear model (``physnn.tasks.cochlear``, 64 channels at
  8 kHz, 10 ms frames), log-compressed (``log(x + 1e-6)``: the cochleagram spans decades), and
  13 MFCCs, each utterance resampled to ``n_frames`` frames and standardised per channel with
  the training set of each split only (``physnn.tasks.fsdd.fsdd_problem_inputs``).
- **Reservoir.** A binary mask (N, channels), entries +-1/sqrt(channels); node current
  I = I_dc + dI (M s)_i for theta ns; state sqrt(p) at the node's end, by the exact one-node map
  (``STONetwork.power_after``), checked against ``physnn.simulate`` of the full oscillator.
- **Readout and vote.** Ridge on the per-frame states with the digit as the target of every
  frame; an utterance is the argmax of its time-averaged outputs (``physnn.tasks.fsdd.wta_scan``).
  The operating point (I_dc, dI) and the ridge penalty are chosen on validation data inside
  the training data (official: train reps 10-49, validate 5-9; speakers: validate on the next
  speaker); the test set is never used for a choice.
- **Controls.** The front end alone with the same readout and vote (Abreu Araujo's control),
  and the strongest simple digital baseline: ridge on the whole resampled front-end sequence.
- **Spread.** The oscillator at the chosen point with ``seeds`` random masks.
- **Map.** Recognition rate over DC current and temperature (thermal noise: ``simulate`` of the
  full oscillator as a Stratonovich SDE), on a smaller reservoir (``map_nodes`` x ``map_frames``).
- **Co-design.** Mask, I_dc and dI trained by gradient through the oscillator (``codesign``),
  scored like the random mask.
- **Energy and latency.** An utterance occupies the oscillator for frames x N x theta; the
  energy is the junction's dissipation R theta sum I^2 (no source, amplifier or readout).

Modules: ``reservoir``, ``codesign``, ``figures``. An interrupted run resumes (``Stages``).
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from pathlib import Path

import jax
import numpy as np

import physnn as pn
from physnn.tasks.fsdd import (
    fsdd_frames,
    fsdd_groups,
    fsdd_problem_inputs,
    fsdd_problems,
    speaker_mean,
    wta_scan,
)

from . import codesign, reservoir
from .figures import figures

NAME = "torrejon2017"
DESCRIPTION = "Spoken digits (FSDD) with one time-multiplexed spin-torque oscillator"


@dataclasses.dataclass(frozen=True)
class Config:
    """n_nodes N, theta_ns (node duration), n_frames (frames per utterance), max_rep
    (repetitions used); the grid currents_ma x inputs_ma (I_dc, dI, mA) and rel_alphas (ridge
    penalties relative to the mean eigenvalue); seeds (masks) at the chosen point; the map:
    map_currents_ma x map_temperatures_k on map_nodes x map_frames, sde_substeps Heun steps per
    node; wide_nodes: the first front end's official split again at the chosen point with
    this many nodes, for every seed (0: not run); check_n utterances for the map-vs-simulate
    check (check_substeps Tsit5 steps per node); co-design: codesign_problems, steps, batch,
    learning rates, rel_alpha, from (current_ma, input_ma). The oscillator: f0_ghz,
    nonlinear_shift_ghz, damping (1/ns), nonlinear_damping Q, threshold_ma, mode_energy_j,
    resistance_ohm."""

    n_nodes: int
    n_frames: int
    max_rep: int
    currents_ma: tuple[float, ...]
    inputs_ma: tuple[float, ...]
    seeds: tuple[int, ...]
    map_currents_ma: tuple[float, ...]
    map_temperatures_k: tuple[float, ...]
    map_nodes: int
    map_frames: int
    codesign_problems: tuple[str, ...]
    codesign_steps: int
    wide_nodes: int = 0
    front_ends: tuple[str, ...] = ("lyon", "mfcc")
    theta_ns: float = 40.0
    rel_alphas: tuple[float, ...] = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
    sde_substeps: int = 20
    check_n: int = 20
    check_substeps: int = 10
    current_ma: float = 6.0
    input_ma: float = 1.0
    codesign_batch: int = 200
    codesign_lr_mask: float = 0.005
    codesign_lr_ma: float = 0.05
    codesign_rel_alpha: float = 1e-3
    f0_ghz: float = 0.3
    nonlinear_shift_ghz: float = 0.05
    damping: float = 0.02
    nonlinear_damping: float = 1.5
    threshold_ma: float = 5.0
    mode_energy_j: float = 4e-18
    resistance_ohm: float = 50.0


QUICK = Config(n_nodes=100, n_frames=20, max_rep=15, currents_ma=(6.0, 7.5), inputs_ma=(1.0,),
               seeds=(0, 1), map_currents_ma=(5.5, 7.5), map_temperatures_k=(0.0, 3000.0),
               map_nodes=50, map_frames=10, codesign_problems=("official",), codesign_steps=4,
               codesign_batch=100, check_n=5, wide_nodes=200)
FULL = Config(n_nodes=400, n_frames=40, max_rep=50, currents_ma=(5.5, 6.0, 7.5),
              inputs_ma=(0.5, 1.0, 2.0), seeds=(0, 1, 2, 3, 4),
              map_currents_ma=(4.5, 5.25, 6.0, 7.5, 10.0),
              map_temperatures_k=(0.0, 300.0, 1000.0, 3000.0),
              map_nodes=100, map_frames=20,
              codesign_problems=("official",), codesign_steps=30, wide_nodes=1600)

REFERENCE = {
    "accuracy_official_oscillator_lyon": "0.996 (TI-46, cochlear front end; FSDD here)",
    "accuracy_official_front_end_lyon": "not reported in the paper; Abreu Araujo 2020 measures "
                                        "the front end alone",
    "node_duration_ns": "100 (not confirmed from the paper's text here)",
}


def run(config: Config, out_dir) -> dict:
    """Front ends, controls, the oscillator's grid and seeds, the map, co-design, the record."""
    out_dir = Path(out_dir)
    t_start = time.perf_counter()
    stages = pn.checkpoint.Stages.of_run(out_dir, config, NAME)
    metrics, chosen, timings, spreads = {}, {}, {}, {}
    data = {}
    for fe in config.front_ends:
        t = time.perf_counter()
        frames, digits, speakers, reps, _ = fsdd_frames(config.n_frames, 13, config.max_rep,
                                                        front_end=fe)
        if fe == "lyon":
            frames = np.log(frames + 1e-6)  # the cochleagram spans decades
        groups, n_groups = fsdd_groups(speakers, reps)
        problems = fsdd_problems(speakers, reps)
        inputs = fsdd_problem_inputs(frames, problems)
        data[fe] = (inputs, digits, groups, n_groups, problems)
        n_ch = frames.shape[-1]
        masks = {s: reservoir.make_mask(config.n_nodes, n_ch, s) for s in config.seeds}

        def scan(stage, points, make, probs=problems, inputs=inputs, digits=digits,
                 groups=groups, n_groups=n_groups, fe=fe):
            return stages(f"{fe}_{stage}", lambda: wta_scan(
                points, make, inputs, digits, groups, n_groups, probs, config.rel_alphas,
                desc=f"torrejon2017: {fe} {stage}")[0])

        fe_alone = scan("front_end", [{}], lambda _, xs: xs)
        fe_seq = scan("sequence", [{}], lambda _, xs: xs.reshape(xs.shape[0], 1, -1))
        points = [dict(current_ma=i, input_ma=d) for i, d in
                  itertools.product(config.currents_ma, config.inputs_ma)]
        seed0 = config.seeds[0]

        def states(pt, xs, seed=seed0, masks=masks):
            dev = reservoir.oscillator(config, pt["current_ma"], pt["input_ma"])
            return reservoir.map_states(dev, xs, masks[seed], config.theta_ns)

        osc = scan("oscillator", points, states)
        # the spread over masks, at the point chosen on the official split's validation set
        best = osc["official"]["point"]
        per_seed = [osc] + [scan(f"seed{s}", [best], lambda pt, xs, s=s: states(pt, xs, s))
                            for s in config.seeds[1:]]
        off = [1 - r["official"]["test_wer"] for r in per_seed]
        spk = [1 - speaker_mean(r) for r in per_seed]
        spreads[fe] = {"official": off, "speaker": spk}
        metrics.update({
            f"accuracy_official_oscillator_{fe}": off[0],
            f"accuracy_official_oscillator_{fe}_mean": float(np.mean(off)),
            f"accuracy_official_oscillator_{fe}_std": float(np.std(off)),
            f"accuracy_official_front_end_{fe}": 1 - fe_alone["official"]["test_wer"],
            f"accuracy_official_sequence_{fe}": 1 - fe_seq["official"]["test_wer"],
            f"accuracy_speaker_oscillator_{fe}": spk[0],
            f"accuracy_speaker_oscillator_{fe}_mean": float(np.mean(spk)),
            f"accuracy_speaker_oscillator_{fe}_std": float(np.std(spk)),
            f"accuracy_speaker_front_end_{fe}": 1 - speaker_mean(fe_alone),
            f"accuracy_speaker_sequence_{fe}": 1 - speaker_mean(fe_seq),
        })
        metrics[f"gain_official_over_front_end_{fe}"] = (
            metrics[f"accuracy_official_oscillator_{fe}_mean"]
            - metrics[f"accuracy_official_front_end_{fe}"])
        metrics[f"gain_speaker_over_front_end_{fe}"] = (
            metrics[f"accuracy_speaker_oscillator_{fe}_mean"]
            - metrics[f"accuracy_speaker_front_end_{fe}"])
        chosen[fe] = {"oscillator": osc, "front_end": fe_alone, "sequence": fe_seq}
        timings[f"{fe}_s"] = time.perf_counter() - t

    fe = config.front_ends[0]
    inputs, digits, groups, n_groups, problems = data[fe]
    best = chosen[fe]["oscillator"]["official"]["point"]
    n_ch = inputs["official"].shape[-1]
    mask0 = reservoir.make_mask(config.n_nodes, n_ch, config.seeds[0])
    dev = reservoir.oscillator(config, best["current_ma"], best["input_ma"])
    x = inputs["official"]

    # a wider reservoir at the same point, official split (its ridge is the cost: 1600 features
    # over six more standardisations would not fit the run's budget)
    if config.wide_nodes:
        wide = [stages(f"wide_seed{s}", _wide, config, data[fe], best, s) for s in config.seeds]
        metrics[f"accuracy_official_oscillator_{fe}_wide"] = wide[0]
        metrics[f"accuracy_official_oscillator_{fe}_wide_mean"] = float(np.mean(wide))
        metrics[f"accuracy_official_oscillator_{fe}_wide_std"] = float(np.std(wide))
        spreads[f"{fe}_wide"] = {"official": wide}

    # the exact map against simulate of the full oscillator
    test_idx = np.flatnonzero(problems["official"][3])[:config.check_n]
    check = stages("check", reservoir.continuous_check, dev, x[test_idx], mask0,
                   config.theta_ns, config.check_substeps)

    # the map over DC current and temperature, on a smaller reservoir (the SDE is the cost)
    t = time.perf_counter()
    bias_map = stages("map", _bias_map, config, data[fe], best["input_ma"])
    timings["map_s"] = time.perf_counter() - t

    # co-design, per problem, from the configuration's point and the seed-0 mask
    t = time.perf_counter()
    designed = {}
    for prob in config.codesign_problems:
        designed[prob] = stages(f"codesign_{prob}", _codesign, config, inputs, digits, groups,
                                n_groups, problems, prob, mask0,
                                stages.path(f"codesign_{prob}_loop"))
    timings["codesign_s"] = time.perf_counter() - t
    for prob, d in designed.items():
        metrics[f"accuracy_{prob}_codesigned_{fe}"] = d["accuracy"]
        metrics[f"accuracy_{prob}_random_mask_{fe}"] = 1 - chosen[fe]["oscillator"][prob]["test_wer"]

    # energy and latency at the chosen point, on the official test utterances
    latency_s = config.n_frames * config.n_nodes * config.theta_ns * 1e-9
    energy_j, power_w = reservoir.energy_per_word_j(dev, x[test_idx], mask0, config.theta_ns,
                                                    config.resistance_ohm)
    metrics.update({"latency_per_word_s": latency_s, "energy_per_word_j": energy_j,
                    "mean_power_w": power_w, "map_vs_simulate_max_diff": check["max_abs_diff"]})

    example = int(test_idx[0])
    trace_in = np.asarray(reservoir.node_inputs(x[example:example + 1], mask0))[0]
    trace_out = reservoir.map_states(dev, x[example:example + 1], mask0, config.theta_ns)[0]
    pred, truth = _official_predictions(chosen[fe]["oscillator"]["official"], states_fn=lambda xs:
                                        reservoir.map_states(dev, xs, mask0, config.theta_ns),
                                        x=x, digits=digits, groups=groups, n_groups=n_groups,
                                        problem=problems["official"])
    figs = figures(out_dir, bias_map, trace_in, trace_out, config, dev, pred, truth, fe)
    notes = _notes(config, best, check, bias_map, latency_s, energy_j, fe)
    notes += stages.notes()
    return {"metrics": metrics, "reference": dict(REFERENCE),
            "dataset": "FSDD (Free Spoken Digit Dataset), stand-in for TI-46 (not freely available)",
            "readout": "per-frame ridge on node amplitudes, vote over the time-averaged outputs",
            "chosen": chosen, "spread_over_seeds": spreads, "bias_map": bias_map,
            "codesign": designed, "continuous_check": check, "timings_s": timings,
            "notes": notes, "resumed": stages.resumed, "figures": figs,
            "wall_inner_s": time.perf_counter() - t_start}


#: ``physnn run`` calls it once ``results.json`` is written: a new run in the folder starts afresh.
finished = pn.checkpoint.remove_run_checkpoints


def _bias_map(config, fe_data, input_ma):
    """Official-split accuracy over (DC current, temperature) on a map_nodes x map_frames
    reservoir: the noise-free map at 0 K, the SDE otherwise (one noise draw per point)."""
    inputs, digits, groups, n_groups, problems = fe_data
    x = inputs["official"]
    # the map's reservoir reads map_frames of the n_frames (evenly spaced)
    pick = np.round(np.linspace(0, x.shape[1] - 1, config.map_frames)).astype(int)
    xs = x[:, pick]
    mask = reservoir.make_mask(config.map_nodes, x.shape[-1], config.seeds[0])
    probs = {"official": problems["official"]}
    acc = np.zeros((len(config.map_currents_ma), len(config.map_temperatures_k)))
    for (i, cur), (j, temp) in itertools.product(enumerate(config.map_currents_ma),
                                                 enumerate(config.map_temperatures_k)):
        dev = reservoir.oscillator(config, cur, input_ma, temp)
        if temp == 0.0:
            feats = reservoir.map_states(dev, xs, mask, config.theta_ns)
        else:
            key = jax.random.fold_in(jax.random.PRNGKey(config.seeds[0]), i * 1000 + j)
            feats = reservoir.noisy_states(dev, xs, mask, config.theta_ns, config.sde_substeps, key)
        summ, _ = wta_scan([{}], lambda _, __, f=feats: f, {"official": xs}, digits, groups,
                           n_groups, probs, config.rel_alphas, desc="torrejon2017: map point")
        acc[i, j] = 1 - summ["official"]["test_wer"]
    fe_alone, _ = wta_scan([{}], lambda _, v: v, {"official": xs}, digits, groups, n_groups, probs,
                           config.rel_alphas, desc="torrejon2017: map front end")
    return {"currents_ma": list(config.map_currents_ma),
            "temperatures_k": list(config.map_temperatures_k), "accuracy": acc.tolist(),
            "front_end_accuracy": 1 - fe_alone["official"]["test_wer"],
            "nodes": config.map_nodes, "frames": config.map_frames, "input_ma": input_ma}


def _wide(config, fe_data, point, seed):
    """Official-split test accuracy with ``wide_nodes`` nodes at ``point`` (mask ``seed``)."""
    inputs, digits, groups, n_groups, problems = fe_data
    x = inputs["official"]
    mask = reservoir.make_mask(config.wide_nodes, x.shape[-1], seed)
    dev = reservoir.oscillator(config, point["current_ma"], point["input_ma"])
    summ, _ = wta_scan([{}], lambda _, v: reservoir.map_states(dev, v, mask, config.theta_ns),
                       {"official": x}, digits, groups, n_groups, {"official": problems["official"]},
                       config.rel_alphas, desc="torrejon2017: wide reservoir")
    return 1 - summ["official"]["test_wer"]


def _codesign(config, inputs, digits, groups, n_groups, problems, prob, mask, ckpt):
    """Train a design on ``prob``'s training set, then score it like the random mask."""
    x = inputs[prob]
    train = problems[prob][2]
    design, hist = codesign.train_design(config, x, digits, train, mask, seed=config.seeds[0],
                                         checkpoint=ckpt)
    dev = codesign.designed_oscillator(config, design)
    m = np.asarray(design.mask)
    summ, _ = wta_scan([{}], lambda _, xs: reservoir.map_states(dev, xs, m, config.theta_ns),
                       {prob: x}, digits, groups, n_groups, {prob: problems[prob]},
                       config.rel_alphas, desc=f"torrejon2017: co-designed {prob}")
    return {"accuracy": 1 - summ[prob]["test_wer"], "val_wer": summ[prob]["val_wer"],
            "current_ma": float(design.current_ma), "input_ma": float(design.input_ma),
            "mask_change": float(np.linalg.norm(m - mask) / np.linalg.norm(mask)),
            "loss_first_last": [hist[0], hist[-1]]}


def _official_predictions(summary, states_fn, x, digits, groups, n_groups, problem):
    """Test predictions of the chosen readout on the official split (for the confusion matrix)."""
    from physnn.readout import group_stats, wta_predict, wta_ridge

    feats = states_fn(x)
    stats = group_stats(feats, digits, groups, n_groups, 10)
    _, _, train, test = problem
    alphas = (summary["rel_alpha"],)
    w, b, _ = wta_ridge(stats, sorted(set(groups[train].tolist())), alphas)[0]
    pred = wta_predict(feats[test].astype(np.float64).mean(1), w, b)
    return pred, digits[test]


def _notes(config, best, check, bias_map, latency_s, energy_j, fe) -> list[str]:
    return [
        "DATA: FSDD (6 male speakers, 8 kHz) stands in for TI-46 (5 female speakers, LDC "
        "licence); accuracies are not comparable one-to-one with the paper's 99.6 %",
        f"oscillator: f0 {config.f0_ghz} GHz, damping {config.damping}/ns, Q "
        f"{config.nonlinear_damping}, I_th {config.threshold_ma} mA, {config.n_nodes} nodes of "
        f"{config.theta_ns} ns; chosen (official validation, {fe}): I_dc "
        f"{best['current_ma']} mA, dI {best['input_ma']} mA",
        "readout: ridge on per-frame node amplitudes, digit as the target of every frame, vote "
        "= argmax of time-averaged outputs; point and penalty chosen on validation inside the "
        "training data; front end alone: the same readout on the standardised frames; "
        "sequence: ridge on the whole resampled sequence (the strongest simple baseline)",
        f"exact node map vs simulate of the full oscillator ({check['substeps']} Tsit5 steps "
        f"per node, {check['n']} test utterances): max |amplitude diff| "
        f"{check['max_abs_diff']:.2g} (amplitude scale {check['amplitude_scale']:.2g})",
        f"bias map: {bias_map['nodes']} nodes x {bias_map['frames']} frames, official split, "
        "one thermal-noise draw per point (Heun, Stratonovich)",
        f"latency {latency_s * 1e6:.3g} us per word (frames x nodes x theta); energy "
        f"{energy_j:.3g} J per word: junction dissipation only",
    ]
