"""Spoken digits with dion2018's resonator: FSDD (a stand-in for TI-46) through the larger2017
front end and the winner-take-all ridge readout of ``physnn.tasks.fsdd``."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from physnn.readout import blas_threads
from physnn.tasks.fsdd import fsdd_groups, fsdd_inputs, fsdd_problems, wta_choose, wta_evaluate

from .device import make_mask, make_node, mean_power_w, simulate_nodes


def spoken_digits(config, detuning):
    """WER (official FSDD split) over a small (gamma, eta) grid; the point and alpha are chosen on
    validation repetitions 5-9."""
    x, digits, speakers, reps, _ = fsdd_inputs(config.fsdd_n_frames, 13, config.fsdd_max_rep)
    problems = {"official": fsdd_problems(speakers, reps)["official"]}
    groups, n_groups = fsdd_groups(speakers, reps, by_speaker=False)
    mask = make_mask(config, x.shape[-1])
    grid = list(itertools.product(config.fsdd_gammas, config.fsdd_etas))
    g, e = (np.array(v, np.float32)[:, None] for v in zip(*grid, strict=True))
    node = make_node(config, g, e, np.float32(detuning))
    # every word starts from the idle (driven, input-free) resonator: input-free delay periods first
    idle = config.fsdd_idle_frames
    x_in = np.concatenate([np.zeros((x.shape[0], idle, x.shape[2]), x.dtype), x], axis=1)
    # speech drives the resonator harder than the +-1 bits (modulation depth up to several times
    # F0): a finer step keeps RK4 well inside its stability region at the larger amplitudes
    states = simulate_nodes(node, x_in, mask, config, jax.random.key(config.seed + 5),
                            dt_over_t=config.fsdd_dt_over_t)
    states = np.asarray(states)[:, :, idle:]  # (P, U, F, N, 2)
    feats = states.reshape(states.shape[:3] + (-1,))
    results = []
    with blas_threads(1):
        for f in feats:
            results.append(wta_evaluate(f, digits, groups, n_groups, problems, config.fsdd_rel_alphas))
    gi, ai = wta_choose(results, "official")
    n_frames = x.shape[1]
    return {"wer": results[gi]["official"]["test"][ai], "val_wer": results[gi]["official"]["val"][ai],
            "gamma": grid[gi][0], "eta": grid[gi][1], "rel_alpha": config.fsdd_rel_alphas[ai],
            "n_utterances": int(x.shape[0]), "n_frames": n_frames,
            "max_amplitude_nm": float(np.hypot(states[gi, ..., 0], states[gi, ..., 1]).max()),
            "power_w": float(mean_power_w(node, jnp.asarray(states)).reshape(len(grid), -1)[gi].mean()),
            "word_duration_us": n_frames * float(node.delay)}
