"""Spoken-digit recognition with delay reservoirs: Larger et al., Opt. Express 20, 3241 (2012) and
Phys. Rev. X 7, 011015 (2017) (optoelectronic Ikeda node, ns time scale), and Appeltant et al.,
Nat. Commun. 2, 468 (2011) (Mackey-Glass node).

**Data.** The papers use the spoken digits of TI-46 (5 female speakers, LDC licence): TI-46 is not
freely available, so this experiment uses the open Free Spoken Digit Dataset (FSDD, 6 male
speakers x 10 digits x 50 repetitions, 8 kHz) from ``physnn.tasks.fsdd`` as a stand-in. The
numbers are therefore not comparable one-to-one with the papers' TI-46 numbers.

Protocol:

- **Front end.** 13 MFCCs per 25 ms frame every 10 ms (``fsdd_features``), each utterance resampled
  to ``n_frames`` frames (``fixed_frames``; ``physnn.tasks.fsdd.fsdd_frames``), then standardised
  per coefficient with the mean and standard deviation over the training set of each split (26
  label-free constants per split): repetitions 5-49 of all speakers for the official split, all
  utterances of the five training speakers for each leave-one-speaker-out fold, so that the
  held-out speaker never shapes the preprocessing (each fold therefore has its own reservoir
  states). Per-utterance mean normalisation is not used because it would zero the time-averaged
  front-end features that the winner-take-all readout of the front end sees.
- **Time multiplexing.** Each frame (a vector of 13 coefficients) is one input sample, held for
  one delay period and spread over the N virtual nodes by a random (N, 13) mask, uniform in
  [-1, 1] / sqrt(13) (``physnn.Masked``). All utterances are one batch: one ``delay_map`` call per
  operating point, no loop over utterances.
- **Reservoirs.** (1) ``physnn.IkedaNode`` (low-pass, ns units, tau_D = (N + desync) theta), node
  states by the exact-in-theta map ``physnn.delay_map``; checked against the continuous delay
  integrator ``physnn.simulate`` on a few utterances at a small theta / tau_R. (2)
  ``physnn.MackeyGlassNode`` (time in units of its response time) with p = 2 (p = 1 and odd p
  have a pole at X + gamma J = -1 that normalised speech inputs reach).
- **Readout (the papers' protocol).** A linear ridge classifier trained on the per-frame node
  states with the utterance's digit (one-hot) as the target of every frame; an utterance is
  classified by the argmax of its time-averaged outputs (winner-take-all). The ridge is solved
  in float64, exactly as ``physnn.readout.ridge_fit(..., alpha)`` does (checked in the tests),
  from per-group Gram statistics so that every split reuses one pass over the states
  (``physnn.tasks.fsdd.wta_evaluate``, ``physnn.readout.wta_ridge``).
- **Front end alone.** The same classifier on the normalised MFCC frames (Abreu Araujo et al.,
  Sci. Rep. 10, 328 (2020)), and, as a stronger linear baseline, ridge on the whole resampled
  MFCC sequence (n_frames x 13 features per utterance).
- **Selection.** The operating point (beta, rho, phi0, theta/tau_R for Ikeda; eta, gamma for MG)
  and the ridge alpha are chosen on validation data carved from the training data only:
  official split: train on repetitions 10-49, validate on 5-9 (test 0-4 is never used for a
  choice); speaker-independent (leave-one-speaker-out): for each held-out speaker, train on four
  of the remaining speakers and validate on the fifth. Test WERs are then computed with the
  readout refitted on all training data of the split.
- **Throughput.** One word occupies the reservoir for n_frames delay periods: duration
  n_frames tau_D (ns for Ikeda), so words/s = 1 / (n_frames tau_D); energy per word =
  ``power()`` (laser power into the modulator) x duration.
- **Resume.** An interrupted run (Ctrl-C, SIGTERM, a killed job) resumes when the same command is
  run again with the same ``--out``: each scan and the continuous-integrator check are stages
  kept in ``DIR/checkpoints`` (``physnn.checkpoint.Stages``), removed once ``results.json`` is written.

Modules: ``reservoirs`` (the two nodes and their states), ``evaluation`` (the scans and the
continuous check), ``figures``.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from pathlib import Path

import jax.numpy as jnp
import numpy as np

import physnn as pn
from physnn.tasks.fsdd import (
    FSDD_SPEAKERS,
    fsdd_frames,
    fsdd_groups,
    fsdd_problem_inputs,
    fsdd_problems,
    speaker_mean,
)

from .evaluation import continuous_check, scan
from .figures import figures
from .reservoirs import ikeda_node, make_mask, mg_node, reservoir_states

NAME = "larger2017"
DESCRIPTION = "Spoken digits (FSDD) with Ikeda and Mackey-Glass delay reservoirs"


@dataclasses.dataclass(frozen=True)
class Config:
    """n_nodes: virtual nodes N; n_frames, n_mfcc: MFCC frames per utterance and coefficients per
    frame; max_rep: repetitions 0..max_rep-1 of FSDD used; seed: of the mask; desync: tau_D =
    (N + desync) theta. Ikeda: ikeda_tau_r_ns (response time, ns), the grid
    ikeda_theta_over_tau_r x ikeda_betas x ikeda_rhos x ikeda_phi0s (rad), laser_power_w (W).
    Mackey-Glass: mg_theta (response times), mg_p, the grid mg_etas x mg_gammas. rel_alphas:
    ridge penalties relative to the mean eigenvalue. The map-vs-integrator check:
    check_n_utterances test utterances at check_theta_over_tau_r, check_substeps RK4 steps per
    node interval."""

    n_nodes: int
    n_frames: int
    max_rep: int
    ikeda_theta_over_tau_r: tuple[float, ...]
    ikeda_betas: tuple[float, ...]
    ikeda_rhos: tuple[float, ...]
    ikeda_phi0s: tuple[float, ...]
    mg_etas: tuple[float, ...]
    mg_gammas: tuple[float, ...]
    rel_alphas: tuple[float, ...]
    check_n_utterances: int
    n_mfcc: int = 13
    seed: int = 0
    desync: int = 1
    ikeda_tau_r_ns: float = 0.02
    laser_power_w: float = 1e-3
    mg_theta: float = 0.2
    mg_p: float = 2.0
    check_theta_over_tau_r: float = 0.2
    check_substeps: int = 2


QUICK = Config(
    n_nodes=100, n_frames=12, max_rep=15, ikeda_theta_over_tau_r=(2.5,), ikeda_betas=(0.8,),
    ikeda_rhos=(0.5, 1.5), ikeda_phi0s=(-0.7854,), mg_etas=(0.8,), mg_gammas=(0.2, 0.8),
    rel_alphas=(1e-6, 1e-4, 1e-2, 1.0), check_n_utterances=12)
FULL = Config(
    n_nodes=400, n_frames=20, max_rep=50, ikeda_theta_over_tau_r=(0.5, 2.5),
    ikeda_betas=(0.5, 0.9, 1.3), ikeda_rhos=(0.3, 1.0, 2.0), ikeda_phi0s=(-0.7854, -0.3927),
    mg_etas=(0.4, 0.8, 1.2), mg_gammas=(0.1, 0.3, 1.0, 3.0),
    rel_alphas=(1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0), check_n_utterances=20)

REFERENCE = {
    "wer_official_ikeda": "about 0 (Larger 2017 PRX, TI-46 digits; Larger 2012 Opt. Express: about 0.004)",
    "wer_official_mackey_glass": "0.0014 (Appeltant 2011 numerics, TI-46 digits)",
    "words_per_s_ikeda": "about 1e6 (Larger 2017 PRX)",
}


def run(config: Config, out_dir) -> dict:
    """The protocol: FSDD frames and splits, the front end alone, the Ikeda and Mackey-Glass
    grids, the chosen point's throughput and energy, the map-vs-integrator check, the report."""
    out_dir = Path(out_dir)
    t_start = time.perf_counter()
    frames, digits, speakers, reps, _ = fsdd_frames(config.n_frames, config.n_mfcc, config.max_rep)
    n_utt, n_frames, n_ch = frames.shape
    groups, n_groups = fsdd_groups(speakers, reps)  # the unit every split is made of
    problems = fsdd_problems(speakers, reps)
    inputs = fsdd_problem_inputs(frames, problems)  # each problem standardised on its training set
    x = inputs["official"]  # the official split's inputs: the figure and the continuous check
    mask = make_mask(config, n_ch)
    timings = {}
    # an interrupted run resumes: each scan below is a stage kept in out_dir/checkpoints
    stages = pn.checkpoint.Stages.of_run(out_dir, config, NAME)

    def scan_stage(stage, label, points, make_feats):
        return stages(stage, lambda: scan(label, points, make_feats, inputs, digits, groups,
                                          n_groups, problems, config)[0])

    # front end alone: per-frame WTA, and ridge on the whole resampled sequence
    t = time.perf_counter()
    fe_frames = scan_stage("front_end", "front end", [{}], lambda _, xs: xs)
    fe_flat = scan_stage("front_end_sequence", "front end (sequence)", [{}],
                         lambda _, xs: xs.reshape(n_utt, 1, -1))
    timings["front_end_s"] = time.perf_counter() - t

    ik_points = [dict(beta=b, rho=r, phi0=f, ratio=q) for q, b, r, f in itertools.product(
        config.ikeda_theta_over_tau_r, config.ikeda_betas, config.ikeda_rhos, config.ikeda_phi0s)]
    t = time.perf_counter()
    ik_sum = scan_stage("ikeda", "Ikeda", ik_points,
                        lambda pt, xs: reservoir_states(ikeda_node(config, **pt), xs, mask))
    timings["ikeda_grid_s"] = time.perf_counter() - t
    timings["ikeda_per_point_s"] = timings["ikeda_grid_s"] / len(ik_points)

    mg_points = [dict(eta=e, gamma=g) for e, g in itertools.product(config.mg_etas, config.mg_gammas)]
    t = time.perf_counter()
    mg_sum = scan_stage("mackey_glass", "Mackey-Glass", mg_points,
                        lambda pt, xs: reservoir_states(mg_node(config, **pt), xs, mask))
    timings["mg_grid_s"] = time.perf_counter() - t

    # the chosen Ikeda point (official split): states for the figure and the physical figures
    best = ik_sum["official"]["point"]
    node = ikeda_node(config, **best)
    tau_d = float(node.delay)
    duration_ns = n_frames * tau_d
    power_w = float(np.asarray(node.power(0.0, jnp.zeros(()), None)))
    example = int(np.flatnonzero(problems["official"][3])[0])
    ex_states = reservoir_states(node, x[example:example + 1], mask)[0]

    # map vs continuous integrator at a small theta / tau_R, on a few test utterances
    t = time.perf_counter()
    check = stages("continuous_check", continuous_check, config, x, digits, groups, n_groups,
                   problems, mask, best)
    timings["continuous_check_s"] = time.perf_counter() - t

    metrics = {
        "wer_official_front_end": fe_frames["official"]["test_wer"],
        "wer_official_front_end_sequence": fe_flat["official"]["test_wer"],
        "wer_official_ikeda": ik_sum["official"]["test_wer"],
        "wer_official_mackey_glass": mg_sum["official"]["test_wer"],
        "wer_speaker_front_end": speaker_mean(fe_frames),
        "wer_speaker_front_end_sequence": speaker_mean(fe_flat),
        "wer_speaker_ikeda": speaker_mean(ik_sum),
        "wer_speaker_mackey_glass": speaker_mean(mg_sum),
        "gain_official_ikeda_over_front_end":
            fe_frames["official"]["test_wer"] - ik_sum["official"]["test_wer"],
        "gain_speaker_ikeda_over_front_end": speaker_mean(fe_frames) - speaker_mean(ik_sum),
        "words_per_s_ikeda": 1e9 / duration_ns,
        "energy_per_word_j_ikeda": power_w * duration_ns * 1e-9,
        "word_duration_mackey_glass_T":
            n_frames * float(mg_node(config, **mg_sum["official"]["point"]).delay),
        "map_vs_continuous_max_state_diff": check["max_abs_diff"],
        "map_vs_continuous_prediction_agreement": check["agreement"],
    }
    figures(out_dir, metrics, x[example], ex_states, int(digits[example]), best, tau_d)
    notes = _notes(config, check, best, n_frames, n_ch, tau_d, duration_ns, power_w)
    notes += stages.notes()
    return {
        "metrics": metrics,
        "reference": dict(REFERENCE),
        "dataset": "FSDD (Free Spoken Digit Dataset), stand-in for TI-46 (not freely available)",
        "readout": "per-frame ridge on node states, WTA over time-averaged outputs",
        "chosen": {"ikeda": ik_sum, "mackey_glass": mg_sum, "front_end": fe_frames,
                   "front_end_sequence": fe_flat},
        "continuous_check": check,
        "timings_s": timings,
        "n_utterances": int(n_utt),
        "feature_shapes": {"inputs": list(x.shape),
                           "ikeda_states": [int(n_utt), n_frames, config.n_nodes]},
        "notes": notes, "resumed": stages.resumed,
        "figures": ["wer.png", "node_states.png"],
        "wall_inner_s": time.perf_counter() - t_start,
    }


#: ``physnn run`` calls it once ``results.json`` is written: a new run in the folder starts afresh.
finished = pn.checkpoint.remove_run_checkpoints


def _notes(config, check, best, n_frames, n_ch, tau_d, duration_ns, power_w) -> list[str]:
    return [
        "DATA: FSDD (Free Spoken Digit Dataset, 6 male speakers, 8 kHz) is used as an open stand-in "
        "for TI-46 (LDC licence, not freely available); WERs are not comparable one-to-one with the "
        "papers' TI-46 figures",
        "readout: per-frame ridge, digit as target of every frame, utterance = argmax of the "
        "time-averaged outputs (winner-take-all); operating point and alpha chosen on validation "
        "data inside the training data (official: reps 10-49 -> 5-9; speaker: next speaker)",
        f"wer_speaker_*: mean over the {len(FSDD_SPEAKERS)} leave-one-speaker-out folds",
        "MFCC standardisation (per coefficient) from each split's training set only: official, "
        "repetitions 5-49; each speaker fold, the five training speakers (not the held-out one)",
        "front_end: same WTA classifier on the MFCC frames; front_end_sequence: ridge on the whole "
        f"resampled MFCC sequence ({n_frames} x {n_ch} features), a stronger linear baseline",
        f"Ikeda chosen (official): {best}, N={config.n_nodes}, tau_D={tau_d:.4g} ns, "
        f"{n_frames} frames/word -> {duration_ns:.4g} ns per word; energy = laser power "
        f"{power_w:.3g} W x duration only (no detection, electronics or readout)",
        f"map vs continuous integrator at theta/tau_R={config.check_theta_over_tau_r} on "
        f"{check['n']} test utterances: max |state diff| {check['max_abs_diff']:.3g} "
        f"(state scale {check['state_scale']:.3g}); WER map {check['wer_map']:.3g}, "
        f"continuous {check['wer_continuous']:.3g}",
    ]
