"""Parity benchmarks of dion2018: bit streams, ridge readouts chosen on validation bits, the
operating-point maps over (input gain, feedback gain, detuning) and over (theta, feedback gain)."""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from physnn.readout import blas_threads
from physnn.tasks import parity_targets, parity_task

from .device import make_node, mean_power_w, simulate_nodes


def ridge_path(x, y, rel_alphas):
    """Ridge weights for every relative alpha (float64, one eigendecomposition)."""
    xm, ym = x.mean(0), y.mean(0)
    xc = x - xm
    s, v = np.linalg.eigh(xc.T @ xc)
    s = np.clip(s, 0.0, None)
    proj = v.T @ (xc.T @ (y - ym))
    scale = max(s.mean(), 1e-300)
    return [((v / (s + ra * scale)) @ proj, xm, ym) for ra in rel_alphas]



def parity_scores(feats, bits, n_tr, config, orders=(1, 2, 3)):
    """Per order: validation error and MSE (best alpha; fit on the first 3/4 of the training bits
    after the washout, validate on the last 1/4), and the test error (bits ``n_tr:``) of the
    readout refitted on all training bits with that alpha."""
    w = config.washout
    x = np.asarray(feats, np.float64)
    xtr, xte = x[w:n_tr], x[n_tr:]
    n_fit = (3 * len(xtr)) // 4
    out = {}
    for n in orders:
        y = parity_targets(bits, n)
        ytr, yte = y[w:n_tr].astype(np.float64), y[n_tr:]
        val = []
        for wt, xm, ym in ridge_path(xtr[:n_fit], ytr[:n_fit], config.rel_alphas):
            p = (xtr[n_fit:] - xm) @ wt + ym
            val.append((float(np.mean((p > 0.5) != ytr[n_fit:])),
                        float(np.mean((p - ytr[n_fit:]) ** 2))))
        ai = min(range(len(val)), key=lambda i: (val[i], -i))
        wt, xm, ym = ridge_path(xtr, ytr, [config.rel_alphas[ai]])[0]
        test = float(np.mean((((xte - xm) @ wt + ym) > 0.5) != yte))
        out[n] = {"val_error": val[ai][0], "val_mse": val[ai][1], "test_error": test,
                  "rel_alpha": config.rel_alphas[ai]}
    return out



def error_upper_bound(n_errors: int, n_bits: int, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound on an error rate from ``n_errors`` in ``n_bits``
    (0 errors in n bits: 1 - (1 - confidence)^(1/n), about 3/n)."""
    k, n = int(n_errors), int(n_bits)
    if k >= n:
        return 1.0

    def cdf(p):  # P(X <= k), X ~ Binomial(n, p)
        logs = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
                + i * math.log(p) + (n - i) * math.log1p(-p) for i in range(k + 1)]
        top = max(logs)
        return math.exp(top) * sum(math.exp(v - top) for v in logs)

    lo, hi = k / n, 1.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if cdf(mid) > 1 - confidence else (lo, mid)
    return hi



def parity_data(config):
    bits_tr, _ = parity_task(config.parity_train, 1, seed=config.seed)
    bits_te, _ = parity_task(config.parity_test, 1, seed=config.seed + 1)
    return bits_tr, bits_te



def features(states, kind="quadratures"):
    """Per-sample features from ``(..., n_samples, n_nodes, 2)`` states."""
    if kind == "amplitude":
        return np.hypot(states[..., 0], states[..., 1])
    return np.asarray(states).reshape(states.shape[:-2] + (-1,))



def parity_at(node, config, mask, bits_tr, bits_te):
    """Parity scores of every operating point of an ensemble node (leading batch axis, or none).

    The training and test streams run as one record (test bits after the training bits, so the
    test bits see fresh thermal noise and one solve serves both). Returns the scores (a list over
    the ensemble, or one dict), the mean dissipated power over the test bits (W) and the states."""
    key = jax.random.key(config.seed + 3)
    bits = np.concatenate([bits_tr, bits_te])
    states = np.asarray(simulate_nodes(node, 2.0 * bits - 1.0, mask, config, key))
    n_tr = len(bits_tr)
    power = mean_power_w(node, jnp.asarray(states[..., n_tr:, :, :]))
    scores = scores_from_states(states, bits, n_tr, config)
    return scores, power, states



def scores_from_states(states, bits, n_tr, config, kind="quadratures"):
    feats = features(states, kind)
    # many small eigendecompositions: one BLAS thread (spinning threads on a shared machine made
    # them 8x slower, measured)
    with blas_threads(1):
        if feats.ndim == 2:
            return parity_scores(feats, bits, n_tr, config)
        return [parity_scores(f, bits, n_tr, config) for f in feats]



def choose(scores, among=None):
    """Index of the best point (of all, or of the indices ``among``): lowest validation P3 error,
    then the lowest P3 validation MSE. Test errors play no part."""
    among = range(len(scores)) if among is None else among
    return min(among, key=lambda i: (scores[i][3]["val_error"], scores[i][3]["val_mse"]))



def choose_without_feedback(grid, scores):
    """Index of the map point without feedback (eta = 0) chosen as ``_choose`` chooses, or None
    if the map has no such point."""
    no_fb = [i for i, (_, e, _) in enumerate(grid) if e == 0.0]
    return choose(scores, no_fb) if no_fb else None



def operating_map(config, mask, bits_tr, bits_te):
    """Parity scores (quadrature and amplitude readouts) and test-bit power over the
    (gamma, eta, detuning) grid: one batched solve over (gamma, eta) per detuning."""
    grid, scores, amp_scores, power = [], [], [], []
    bits = np.concatenate([bits_tr, bits_te])
    ge = list(itertools.product(config.map_gammas, config.map_etas))
    g, e = (np.array(v, np.float32) for v in zip(*ge, strict=True))
    for d in tqdm(config.map_detunings_lw, desc="dion2018: operating map", leave=False):
        sc, pw, states = parity_at(make_node(config, g, e, np.float32(d)), config, mask, bits_tr,
                                   bits_te)
        grid += [(gi, ei, d) for gi, ei in ge]
        scores += sc
        power += list(pw)
        amp_scores += scores_from_states(states, bits, len(bits_tr), config, kind="amplitude")
    return grid, scores, amp_scores, np.array(power)



def theta_map(config, mask, bits_tr, bits_te, gamma, detuning):
    """P3 test error over (theta/T, eta) at the chosen gamma and detuning: one solve per theta,
    on the first ``theta_scan_bits`` training and test bits."""
    rows = []
    etas = np.array(config.map_etas, np.float32)
    n_tr, n_te = config.theta_scan_bits
    for r in tqdm(config.theta_scan, desc="dion2018: theta scan", leave=False):
        node = make_node(config, gamma, etas, detuning, theta_over_t=r)
        scores, _, _ = parity_at(node, config, mask, bits_tr[:n_tr], bits_te[:n_te])
        rows.append([s[3]["test_error"] for s in scores])
    return np.array(rows).reshape(len(rows), len(etas))
