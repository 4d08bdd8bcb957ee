"""The spoken-digit evaluation of larger2017: a grid of operating points scored with the
winner-take-all ridge readout on every selection problem (``physnn.tasks.fsdd.wta_evaluate``),
and the check of the exact map against the continuous integrator."""

from __future__ import annotations

import numpy as np

from physnn.readout import group_stats, wta_predict, wta_ridge
from physnn.tasks.fsdd import FSDD_N_DIGITS, wta_scan
from physnn.tasks.metrics import word_error_rate

from .reservoirs import continuous_states, ikeda_node, reservoir_states


def scan(name, points, make_feats, inputs, labels, groups, n_groups, problems, config):
    """:func:`physnn.tasks.fsdd.wta_scan` over ``points`` with the config's penalties."""
    return wta_scan(points, make_feats, inputs, labels, groups, n_groups, problems,
                    config.rel_alphas, desc=f"larger2017: {name} grid")


def continuous_check(config, x, digits, groups, n_groups, problems, mask, point):
    """Train the WTA readout on map states at a small theta/tau_R (the chosen beta, rho, phi0),
    then classify a few test utterances with map states and with continuous-integrator states."""
    pt = dict(point, ratio=config.check_theta_over_tau_r)
    node = ikeda_node(config, **pt)
    states = reservoir_states(node, x, mask)
    _, _, tr, te = problems["official"]
    stats = group_stats(states, digits, groups, n_groups, FSDD_N_DIGITS)
    trv, val = problems["official"][:2]
    fits_v = wta_ridge(stats, sorted(set(groups[trv].tolist())), config.rel_alphas)
    means = states.astype(np.float64).mean(1)
    ai = int(np.argmin([word_error_rate(wta_predict(means[val], w, b), digits[val]) for w, b, _ in fits_v]))
    w, b, _ = wta_ridge(stats, sorted(set(groups[tr].tolist())), config.rel_alphas)[ai]
    n_check = config.check_n_utterances
    idx = np.flatnonzero(te)[:: max(1, te.sum() // n_check)][:n_check]
    cont = continuous_states(node, x[idx], mask, config.check_substeps)
    p_map = wta_predict(states[idx].astype(np.float64).mean(1), w, b)
    p_cont = wta_predict(cont.astype(np.float64).mean(1), w, b)
    return {"n": int(idx.size), "theta_over_tau_r": pt["ratio"],
            "max_abs_diff": float(np.abs(cont - states[idx]).max()),
            "state_scale": float(np.abs(states[idx]).max()),
            "wer_map": word_error_rate(p_map, digits[idx]),
            "wer_continuous": word_error_rate(p_cont, digits[idx]),
            "agreement": float(np.mean(p_map == p_cont))}


