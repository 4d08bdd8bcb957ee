"""Parity with coulombe2017's chain: success on test and validation bits, the choice of the
operating point, the maps over (bit period, drive), the controls and the robustness to spread."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

import physnn as pn
from physnn.readout import ridge_fit
from physnn.tasks.parity import parity_targets

from .chain import reservoir, ring_down_time_us, run_stream

ORDERS = (3, 4, 5)
"""The parity orders of the paper's Fig 4."""


def success(features, bits, config, readouts=None):
    """Success probabilities for P3, P4, P5 on the test bits; fits readouts unless given."""
    w, n_tr = config.n_washout, config.n_train
    fitted, probs = [], []
    for i, n in enumerate(ORDERS):
        y = parity_targets(bits, n).astype(float)
        ro = ridge_fit(features[w:n_tr], y[w:n_tr]) if readouts is None else readouts[i]
        pred = np.asarray(ro(features[n_tr:])).reshape(-1)
        probs.append(float(np.mean((pred > 0.5) == (y[n_tr:] > 0.5))))
        fitted.append(ro)
    return np.array(probs), fitted



def validation_success(features, bits, config):
    """Success probabilities for P3, P4, P5 on the validation bits, without the test bits: the
    readouts are fitted on the first 3/4 of the training bits after the washout and scored on the
    last 1/4 (the convention of dion2018's ``parity_scores``)."""
    w, n_tr = config.n_washout, config.n_train
    n_fit = w + (3 * (n_tr - w)) // 4
    probs = []
    for n in ORDERS:
        y = parity_targets(bits[:n_tr], n).astype(float)
        ro = ridge_fit(features[w:n_fit], y[w:n_fit])
        pred = np.asarray(ro(features[n_fit:n_tr])).reshape(-1)
        probs.append(float(np.mean((pred > 0.5) == (y[n_fit:] > 0.5))))
    return np.array(probs)



def choose_point(val_probs):
    """The operating point ``(i, j)`` (bit period, drive) of a map of validation success
    probabilities ``(orders, periods, drives)``: the highest P3, ties broken by the highest
    P4 + P5, then by the first point in the map. Test success plays no part."""
    val = np.asarray(val_probs)
    order = np.lexsort((-val[1:].sum(axis=0).ravel(), -val[0].ravel()))  # stable: first wins
    return np.unravel_index(order[0], val[0].shape)



def parity_maps(config, bits, key):
    """Test and validation success probabilities over (bit period, drive amplitude) for P3..P5
    (``(orders, periods, drives)`` each); energy per bit."""
    tau = ring_down_time_us(config)
    periods = np.asarray(config.bit_periods_tau) * tau
    drives = np.asarray(config.drive_pn)
    dev = reservoir(config, drives)
    probs = np.zeros((len(ORDERS), len(periods), len(drives)))
    val = np.zeros_like(probs)
    energy = np.zeros((len(periods), len(drives)))
    features = []
    for i, t in enumerate(tqdm(periods, desc="coulombe2017: bit periods", leave=False)):
        feats, power = run_stream(dev, bits, t, config, jax.random.fold_in(key, i))
        for j in range(len(drives)):
            probs[:, i, j] = success(feats[j], bits, config)[0]
            val[:, i, j] = validation_success(feats[j], bits, config)
        energy[i] = power * t * 1e-6
        features.append(feats)
    return periods, drives, probs, val, energy, features



def controls(config, bits, period, drive, key):
    """At the chosen point, in one batched solve: the linear chain (k3 = 0, with thermal noise) and
    the noise-free Duffing chain."""
    dev = reservoir(config, [drive])
    n = config.n_resonators
    dev = eqx.tree_at(lambda d: (d.k3_n_per_m3, d.temperature_k), dev, (
        jnp.asarray([[0.0] * n, [3e11] * n]), jnp.asarray([[config.temperature_k] * n, [0.0] * n])))
    feats, _ = run_stream(dev, bits, period, config, key)
    return {"linear_k3_0": success(feats[0], bits, config)[0],
            "noise_free": success(feats[1], bits, config)[0]}



def robustness(config, bits, period, drive, nominal, key):
    """Success vs relative parameter spread sigma, retrained (pre) and not retrained (post);
    ``nominal``: the features of the unperturbed chain at this point (from the map)."""
    nominal = nominal[None]
    _, readouts = success(nominal[0], bits, config)
    spreads = np.asarray(config.spreads)
    pre = np.zeros((len(spreads), config.n_trials, len(ORDERS)))
    post = np.zeros_like(pre)
    unstable = 0
    for i, s in enumerate(tqdm(spreads, desc="coulombe2017: spreads", leave=False)):
        if s == 0:
            pre[i], post[i] = success(nominal[0], bits, config)[0], success(
                nominal[0], bits, config, readouts)[0]
            continue
        dev = reservoir(config, [drive], spread=s, n_trials=config.n_trials,
                        key=jax.random.fold_in(key, 1000 + i))
        try:
            feats, _ = run_stream(dev, bits, period, config, key)  # (trials, 1, bits, F)
        except pn.SimulationError:
            # a resonator pushed onto a high branch outran the explicit step: not a result
            pre[i], post[i] = np.nan, np.nan
            unstable += config.n_trials
            continue
        for k in range(config.n_trials):
            pre[i, k] = success(feats[k, 0], bits, config)[0]
            post[i, k] = success(feats[k, 0], bits, config, readouts)[0]
    return spreads, pre, post, unstable
