"""Spoken-digit recognition with delay reservoirs: Larger et al., Opt. Express 20, 3241 (2012) and
Phys. Rev. X 7, 011015 (2017) (optoelectronic Ikeda node, ns time scale), and Appeltant et al.,
Nat. Commun. 2, 468 (2011) (Mackey-Glass node).

**Data.** The papers use the spoken digits of TI-46 (5 female speakers, LDC licence): TI-46 is not
freely available, so this experiment uses the open Free Spoken Digit Dataset (FSDD, 6 male
speakers x 10 digits x 50 repetitions, 8 kHz) from ``physnn.tasks.fsdd`` as a stand-in. The
numbers are therefore not comparable one-to-one with the papers' TI-46 numbers.

Protocol:

- **Front end.** 13 MFCCs per 25 ms frame every 10 ms (``fsdd_features``), each utterance
  resampled to ``n_frames`` frames (``fixed_frames``), then standardised per coefficient with
  the mean and standard deviation over the training set of each split (26 label-free constants
  per split): repetitions 5-49 of all speakers for the official split, all utterances of the five
  training speakers for each leave-one-speaker-out fold, so that the held-out speaker never
  shapes the preprocessing (each fold therefore has its own reservoir states). Per-utterance mean
  normalisation is not used because it would zero the time-averaged front-end features that the
  winner-take-all readout of the front end sees.
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
  from per-group Gram statistics so that every split reuses one pass over the states.
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
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import re
import time
from pathlib import Path

import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from tqdm.auto import tqdm

import physnn as pn
from physnn.tasks.fsdd import FSDD_SPEAKERS, fsdd_features, load_fsdd
from physnn.tasks.metrics import word_error_rate

QUICK = {
    "n_nodes": 100, "n_frames": 12, "n_mfcc": 13, "max_rep": 15, "seed": 0, "desync": 1,
    "ikeda_tau_r_ns": 0.02, "ikeda_theta_over_tau_r": [2.5], "ikeda_betas": [0.8],
    "ikeda_rhos": [0.5, 1.5], "ikeda_phi0s": [-0.7854], "laser_power_w": 1e-3,
    "mg_theta": 0.2, "mg_p": 2.0, "mg_etas": [0.8], "mg_gammas": [0.2, 0.8],
    "rel_alphas": [1e-6, 1e-4, 1e-2, 1.0],
    "check_n_utterances": 12, "check_theta_over_tau_r": 0.2, "check_substeps": 2,
}
FULL = {
    "n_nodes": 400, "n_frames": 20, "n_mfcc": 13, "max_rep": 50, "seed": 0, "desync": 1,
    "ikeda_tau_r_ns": 0.02, "ikeda_theta_over_tau_r": [0.5, 2.5], "ikeda_betas": [0.5, 0.9, 1.3],
    "ikeda_rhos": [0.3, 1.0, 2.0], "ikeda_phi0s": [-0.7854, -0.3927], "laser_power_w": 1e-3,
    "mg_theta": 0.2, "mg_p": 2.0, "mg_etas": [0.4, 0.8, 1.2], "mg_gammas": [0.1, 0.3, 1.0, 3.0],
    "rel_alphas": [1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0],
    "check_n_utterances": 20, "check_theta_over_tau_r": 0.2, "check_substeps": 2,
}

REFERENCE = {
    "wer_official_ikeda": "about 0 (Larger 2017 PRX, TI-46 digits; Larger 2012 Opt. Express: about 0.004)",
    "wer_official_mackey_glass": "0.0014 (Appeltant 2011 numerics, TI-46 digits)",
    "words_per_s_ikeda": "about 1e6 (Larger 2017 PRX)",
}

N_CLASSES = 10


# --------------------------------------------------------------------------------------------
# Data, splits, features
# --------------------------------------------------------------------------------------------


def load_frames(config):
    """MFCC frames ``(n_utt, n_frames, n_mfcc)`` (float64, not standardised) of the utterances
    used, with their digits, speaker indices, repetition numbers and indices in FSDD."""
    data = load_fsdd()
    keep = np.flatnonzero(np.asarray(data.indices) < config["max_rep"])
    x = fsdd_features("mfcc", n_frames=config["n_frames"], n_mfcc=config["n_mfcc"])[keep]
    reps = np.asarray(data.indices)[keep]
    speakers = np.searchsorted(np.asarray(FSDD_SPEAKERS), np.asarray(data.speakers)[keep])
    return x, np.asarray(data.digits)[keep], speakers, reps, keep


def standardise(frames, train):
    """``frames`` standardised per coefficient (float32) with the mean and standard deviation
    over the frames of the utterances ``train`` only (2 x n_mfcc constants)."""
    return ((frames - frames[train].mean((0, 1))) / frames[train].std((0, 1))).astype(np.float32)


def load_inputs(config):
    """Frames standardised for the official split (statistics of its training set, repetitions
    5-49), with digits, speaker indices, repetition numbers and indices (as :func:`load_frames`)."""
    frames, digits, speakers, reps, keep = load_frames(config)
    return standardise(frames, reps >= 5), digits, speakers, reps, keep


def split_inputs(frames, problems):
    """The input frames of every selection problem, standardised with the statistics of that
    problem's training set (``problems[name][2]``; the official split: repetitions 5-49; a
    speaker fold: the five other speakers), so that no test utterance shapes its preprocessing.
    Problems with the same training set share one array."""
    out, seen = {}, {}
    for name, (_, _, train, _) in problems.items():
        key = np.asarray(train, bool).tobytes()
        if key not in seen:
            seen[key] = standardise(frames, train)
        out[name] = seen[key]
    return out


def splits(speakers, reps):
    """Selection problems ``name -> (train_val, val, train, test)`` as boolean masks: the official
    split (test repetitions 0-4, validation 5-9) and one leave-one-speaker-out fold per speaker
    (validation: the next speaker)."""
    n_speakers = len(FSDD_SPEAKERS)
    out = {"official": (reps >= 10, (reps >= 5) & (reps < 10), reps >= 5, reps < 5)}
    for k in range(n_speakers):
        v = (k + 1) % n_speakers
        out[f"speaker_{FSDD_SPEAKERS[k]}"] = (
            (speakers != k) & (speakers != v), speakers == v, speakers != k, speakers == k)
    return out


def make_mask(config, n_channels):
    rng = np.random.default_rng(config["seed"] + 7)
    return (rng.uniform(-1.0, 1.0, (config["n_nodes"], n_channels)) / np.sqrt(n_channels)).astype(np.float32)


def ikeda_node(config, beta, rho, phi0, ratio, n_nodes=None):
    tau_r = config["ikeda_tau_r_ns"]
    return pn.IkedaNode(beta=beta, rho=rho, phi0=phi0, tau_r=tau_r, theta=ratio * tau_r,
                        n_nodes=n_nodes or config["n_nodes"], desync=config["desync"],
                        laser_power_w=config["laser_power_w"])


def mg_node(config, eta, gamma):
    return pn.MackeyGlassNode(eta=eta, gamma=gamma, p=config["mg_p"], n_nodes=config["n_nodes"],
                              theta=config["mg_theta"], desync=config["desync"])


def reservoir_states(node, inputs, mask) -> np.ndarray:
    """Node states ``(n_utt, n_frames, n_nodes)`` of all utterances by the exact map, one call."""
    drive = pn.Masked(jnp.asarray(inputs), jnp.asarray(mask), theta=float(node.theta))
    s = pn.delay_map(node, drive)
    return np.asarray(pn.node_states(s, node.n_nodes))


def continuous_states(node, inputs, mask, substeps) -> np.ndarray:
    """The same states by the continuous delay integrator (RK4, ``substeps`` per node interval)."""
    theta = float(node.theta)
    drive = pn.Masked(jnp.asarray(inputs), jnp.asarray(mask), theta=theta)
    # max_delay: a margin of one node interval, because the integrator sizes its history buffer by
    # floor(delay / step), which a float32 delay rounded down (e.g. 0.40399998 for 0.404) undercuts
    traj = pn.simulate(node, drive, dt=theta / substeps, saveat="holds", observe=False,
                       max_delay=float(node.delay) + theta)
    return np.asarray(pn.node_states(jnp.moveaxis(traj.ys, 0, -1), node.n_nodes))


# --------------------------------------------------------------------------------------------
# The winner-take-all ridge readout from group statistics
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def blas_threads(n: int = 1):
    """Limit numpy's OpenBLAS to ``n`` threads inside the block (what threadpoolctl does; not a
    dependency here). The ridge solves are many small (p x p) eigendecompositions; on a shared,
    oversubscribed machine OpenBLAS's spinning threads made each 400 x 400 ``eigh`` take 3 s
    instead of 0.04 s (measured). Does nothing if the library cannot be found."""
    libs = []
    try:
        with open("/proc/self/maps") as f:
            paths = sorted(set(re.findall(r"(/\S*openblas\S*\.so\S*)", f.read())))
        for path in paths:
            lib = ctypes.CDLL(path)
            for get, put in [("openblas_get_num_threads", "openblas_set_num_threads"),
                             ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
                             ("openblas_get_num_threads64_", "openblas_set_num_threads64_")]:
                if hasattr(lib, get) and hasattr(lib, put):
                    libs.append((getattr(lib, put), getattr(lib, get)()))
                    getattr(lib, put)(int(n))
                    break
    except OSError:  # pragma: no cover - no /proc or no library: leave the threads alone
        pass
    try:
        yield
    finally:
        for put, old in libs:
            put(old)


def group_stats(feats, labels, groups, n_groups):
    """Per-group sufficient statistics of the per-frame ridge problem (float64): frame count,
    feature sums, Gram matrix, feature-target products and target sums."""
    f = np.asarray(feats, dtype=np.float64)
    n_utt, n_t, p = f.shape
    onehot = np.eye(N_CLASSES)[labels]
    stats = []
    for g in range(n_groups):
        idx = groups == g
        x = f[idx].reshape(-1, p)
        sums = f[idx].sum(1)  # (n_g, p): per-utterance sums over frames
        stats.append((x.shape[0], x.sum(0), x.T @ x, sums.T @ onehot[idx], n_t * onehot[idx].sum(0)))
    return stats


def wta_ridge(stats, train_groups, rel_alphas):
    """Ridge weights ``[(W, b)]`` (one per relative alpha) of the per-frame classifier trained on
    the union of ``train_groups``: W = (X_c'X_c + alpha I)^-1 X_c'Y_c, b = mean(y) - mean(x) W,
    alpha = rel_alpha * trace(X_c'X_c) / p (the scale of ``ridge_fit``'s default grid)."""
    n = sum(stats[g][0] for g in train_groups)
    sx = sum(stats[g][1] for g in train_groups)
    gram = sum(stats[g][2] for g in train_groups)
    xty = sum(stats[g][3] for g in train_groups)
    sy = sum(stats[g][4] for g in train_groups)
    xm, ym = sx / n, sy / n
    gc = gram - n * np.outer(xm, xm)
    xyc = xty - n * np.outer(xm, ym)
    s, v = np.linalg.eigh(gc)
    s = np.clip(s, 0.0, None)
    proj = v.T @ xyc
    scale = max(s.sum() / s.size, 1e-300)
    out = []
    for ra in rel_alphas:
        w = (v / (s + ra * scale)) @ proj
        out.append((w, ym - xm @ w, ra * scale))
    return out


def wta_predict(mean_feats, w, b):
    """Digit of each utterance: argmax of the time-averaged outputs (= outputs of the mean state)."""
    return np.argmax(np.asarray(mean_feats, np.float64) @ w + b, axis=-1)


def _groups_of(groups, sel):
    return sorted(set(groups[sel].tolist()))


def evaluate(feats, labels, groups, n_groups, problems, rel_alphas):
    """Validation WER per alpha and test WER per alpha, for every selection problem."""
    stats = group_stats(feats, labels, groups, n_groups)
    means = np.asarray(feats, np.float64).mean(1)
    res = {}
    for name, (trv, val, tr, te) in problems.items():
        fits_v = wta_ridge(stats, _groups_of(groups, trv), rel_alphas)
        fits_t = wta_ridge(stats, _groups_of(groups, tr), rel_alphas)
        res[name] = {
            "val": [word_error_rate(wta_predict(means[val], w, b), labels[val]) for w, b, _ in fits_v],
            "test": [word_error_rate(wta_predict(means[te], w, b), labels[te]) for w, b, _ in fits_t],
            "alphas": [a for _, _, a in fits_t],
        }
    return res


def choose(grid_results, problem):
    """(grid index, alpha index) with the lowest validation WER for ``problem``; ties go to the
    earlier point and the larger alpha."""
    best = None
    for gi, r in enumerate(grid_results):
        for ai, v in enumerate(r[problem]["val"]):
            key = (v, -ai)
            if best is None or key < best[0]:
                best = (key, gi, ai)
    return best[1], best[2]


# --------------------------------------------------------------------------------------------
# Run
# --------------------------------------------------------------------------------------------


def _scan(name, points, make_feats, inputs, labels, groups, n_groups, problems, config):
    """Validation and test WERs of every point for every problem; ``make_feats(point, x)`` gives
    the features of all utterances from the inputs ``x``, which are ``inputs[problem]`` (each
    problem's own standardisation: the states are computed once per distinct input array)."""
    by_inputs = {}  # id of an input array -> (the array, the problems standardised with it)
    for prob in problems:
        by_inputs.setdefault(id(inputs[prob]), (inputs[prob], {}))[1][prob] = problems[prob]
    results = []
    for pt in tqdm(points, desc=f"larger2017: {name} grid", leave=False):
        res = {}
        for x, probs in by_inputs.values():
            feats = make_feats(pt, x)
            with blas_threads(1):
                res.update(evaluate(feats, labels, groups, n_groups, probs, config["rel_alphas"]))
        results.append(res)
    summary = {}
    for prob in problems:
        gi, ai = choose(results, prob)
        summary[prob] = {"point": points[gi], "rel_alpha": config["rel_alphas"][ai],
                         "val_wer": results[gi][prob]["val"][ai], "test_wer": results[gi][prob]["test"][ai]}
    return summary, results


def _speaker_mean(summary):
    return float(np.mean([v["test_wer"] for k, v in summary.items() if k.startswith("speaker_")]))


def run(config, out_dir) -> dict:
    out_dir = Path(out_dir)
    t_start = time.perf_counter()
    frames, digits, speakers, reps, _ = load_frames(config)
    n_utt, n_frames, n_ch = frames.shape
    rep_block = np.where(reps < 5, 0, np.where(reps < 10, 1, 2))
    groups = speakers * 3 + rep_block  # the unit every split is made of
    n_groups = 3 * len(FSDD_SPEAKERS)
    problems = splits(speakers, reps)
    # each problem standardised with its own training set's statistics
    inputs = split_inputs(frames, problems)
    x = inputs["official"]  # the official split's inputs: the figure and the continuous check
    mask = make_mask(config, n_ch)
    timings = {}
    # an interrupted run resumes: each scan below is a stage kept in out_dir/checkpoints
    stages = pn.checkpoint.Stages.of_run(out_dir, config, "larger2017")

    # front end alone: per-frame WTA, and ridge on the whole resampled sequence
    t = time.perf_counter()
    fe_frames = stages("front_end", lambda: _scan(
        "front end", [{}], lambda _, xs: xs, inputs, digits, groups, n_groups, problems, config)[0])
    fe_flat = stages("front_end_sequence", lambda: _scan(
        "front end (sequence)", [{}], lambda _, xs: xs.reshape(n_utt, 1, -1), inputs, digits, groups,
        n_groups, problems, config)[0])
    timings["front_end_s"] = time.perf_counter() - t

    # Ikeda reservoir
    ik_points = [dict(beta=b, rho=r, phi0=f, ratio=q) for q, b, r, f in itertools.product(
        config["ikeda_theta_over_tau_r"], config["ikeda_betas"], config["ikeda_rhos"], config["ikeda_phi0s"])]
    t = time.perf_counter()
    ik_sum = stages("ikeda", lambda: _scan(
        "Ikeda", ik_points, lambda pt, xs: reservoir_states(ikeda_node(config, **pt), xs, mask),
        inputs, digits, groups, n_groups, problems, config)[0])
    timings["ikeda_grid_s"] = time.perf_counter() - t
    timings["ikeda_per_point_s"] = timings["ikeda_grid_s"] / len(ik_points)

    # Mackey-Glass reservoir
    mg_points = [dict(eta=e, gamma=g) for e, g in itertools.product(config["mg_etas"], config["mg_gammas"])]
    t = time.perf_counter()
    mg_sum = stages("mackey_glass", lambda: _scan(
        "Mackey-Glass", mg_points, lambda pt, xs: reservoir_states(mg_node(config, **pt), xs, mask),
        inputs, digits, groups, n_groups, problems, config)[0])
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
        "wer_speaker_front_end": _speaker_mean(fe_frames),
        "wer_speaker_front_end_sequence": _speaker_mean(fe_flat),
        "wer_speaker_ikeda": _speaker_mean(ik_sum),
        "wer_speaker_mackey_glass": _speaker_mean(mg_sum),
        "gain_official_ikeda_over_front_end":
            fe_frames["official"]["test_wer"] - ik_sum["official"]["test_wer"],
        "gain_speaker_ikeda_over_front_end": _speaker_mean(fe_frames) - _speaker_mean(ik_sum),
        "words_per_s_ikeda": 1e9 / duration_ns,
        "energy_per_word_j_ikeda": power_w * duration_ns * 1e-9,
        "word_duration_mackey_glass_T":
            n_frames * float(mg_node(config, **mg_sum["official"]["point"]).delay),
        "map_vs_continuous_max_state_diff": check["max_abs_diff"],
        "map_vs_continuous_prediction_agreement": check["agreement"],
    }
    _figures(out_dir, metrics, x[example], ex_states, int(digits[example]), best, tau_d)
    notes = [
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
        f"Ikeda chosen (official): {best}, N={config['n_nodes']}, tau_D={tau_d:.4g} ns, "
        f"{n_frames} frames/word -> {duration_ns:.4g} ns per word; energy = laser power "
        f"{power_w:.3g} W x duration only (no detection, electronics or readout)",
        f"map vs continuous integrator at theta/tau_R={config['check_theta_over_tau_r']} on "
        f"{check['n']} test utterances: max |state diff| {check['max_abs_diff']:.3g} "
        f"(state scale {check['state_scale']:.3g}); WER map {check['wer_map']:.3g}, "
        f"continuous {check['wer_continuous']:.3g}",
    ]
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
                           "ikeda_states": [int(n_utt), n_frames, config["n_nodes"]]},
        "notes": notes, "resumed": stages.resumed,
        "figures": ["wer.png", "node_states.png"],
        "wall_inner_s": time.perf_counter() - t_start,
    }


#: ``physnn run`` calls it once ``results.json`` is written: a new run in the folder starts afresh.
finished = pn.checkpoint.remove_run_checkpoints


def continuous_check(config, x, digits, groups, n_groups, problems, mask, point):
    """Train the WTA readout on map states at a small theta/tau_R (the chosen beta, rho, phi0),
    then classify a few test utterances with map states and with continuous-integrator states."""
    pt = dict(point, ratio=config["check_theta_over_tau_r"])
    node = ikeda_node(config, **pt)
    states = reservoir_states(node, x, mask)
    _, _, tr, te = problems["official"]
    stats = group_stats(states, digits, groups, n_groups)
    trv, val = problems["official"][:2]
    fits_v = wta_ridge(stats, _groups_of(groups, trv), config["rel_alphas"])
    means = states.astype(np.float64).mean(1)
    ai = int(np.argmin([word_error_rate(wta_predict(means[val], w, b), digits[val]) for w, b, _ in fits_v]))
    w, b, _ = wta_ridge(stats, _groups_of(groups, tr), config["rel_alphas"])[ai]
    n_check = config["check_n_utterances"]
    idx = np.flatnonzero(te)[:: max(1, te.sum() // n_check)][:n_check]
    cont = continuous_states(node, x[idx], mask, config["check_substeps"])
    p_map = wta_predict(states[idx].astype(np.float64).mean(1), w, b)
    p_cont = wta_predict(cont.astype(np.float64).mean(1), w, b)
    return {"n": int(idx.size), "theta_over_tau_r": pt["ratio"],
            "max_abs_diff": float(np.abs(cont - states[idx]).max()),
            "state_scale": float(np.abs(states[idx]).max()),
            "wer_map": word_error_rate(p_map, digits[idx]),
            "wer_continuous": word_error_rate(p_cont, digits[idx]),
            "agreement": float(np.mean(p_map == p_cont))}


def _figures(out_dir, m, inputs, states, digit, point, tau_d):
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
    fig.savefig(Path(out_dir) / "wer.png", dpi=120)
    plt.close(fig)

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
    fig.savefig(Path(out_dir) / "node_states.png", dpi=120)
    plt.close(fig)

