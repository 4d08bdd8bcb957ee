"""Readout (a)'s learning rule: measurement-driven tuning of the four DC currents.

No gradients: a population hill climb on the training recognition of the synchronisation
patterns, every population measured in one batched solve, so the rule would run on hardware
(in the spirit of the paper's real-time learning; the paper's own rule shifts frequencies
towards or away from the inputs).
"""

from __future__ import annotations

from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import physnn as pn

from .data import check_vtl_sigma, pad_tokens
from .measure import pattern_table, present_patterns
from .model import BAND_GHZ, DEVICE, N_OSC, with_input_map
from .windows import window_start


def loso_table_accuracy(patterns, labels, speakers):
    """Leave-one-speaker-out accuracy of the pattern table: each speaker's tokens are classified
    by the table (:func:`pattern_table`, with its fallbacks) learned from the other speakers'
    tokens. It measures how well a synchronisation map's pattern-to-vowel table carries over to a
    new speaker, where the training accuracy also counts patterns that only one token shows."""
    patterns, labels, speakers = np.asarray(patterns), np.asarray(labels), np.asarray(speakers)
    hits = 0
    for s in np.unique(speakers):
        own = speakers == s
        tab = np.asarray(pattern_table(patterns[~own], labels[~own]))
        hits += int(np.sum(tab[patterns[own]] == labels[own]))
    return hits / len(labels)


def _check_rule(config, x, speakers, rule_objective):
    k_cand = int(config.rule_candidates)
    if k_cand < 2 * N_OSC:
        raise ValueError(f"romera2018: rule_candidates={k_cand}; expected at least {2 * N_OSC} "
                         "(the +-step moves of the four currents)")
    if rule_objective not in ("train", "loso"):
        raise ValueError(f"romera2018: rule_objective={rule_objective!r}; expected 'train' or 'loso'")
    if rule_objective == "loso" and (speakers is None or len(speakers) != len(x)
                                     or len(np.unique(speakers)) < 2):
        raise ValueError(f"romera2018: rule_objective='loso' needs speakers, one id per token "
                         f"and at least 2 speakers; got {None if speakers is None else len(speakers)} "
                         f"ids for {len(x)} tokens")
    if config.rule_window_fit_map and not config.rule_window_init:
        raise ValueError("romera2018: rule_window_fit_map = True with rule_window_init = "
                         f"{config.rule_window_init!r}; the input map is fitted with the "
                         "rule's window start, so set rule_window_init = True (or the map off)")


def train_pattern_rule(model, x, y, config, progress=None, n_pad=None, vtl_sigma=0.0,
                       init_layouts=None, speakers=None, checkpoint=None, rule_objective="train"):
    """Measurement-driven current tuning (no gradients): a population hill climb on the training
    recognition, every population measured in one batched solve.

    0. Measure ``rule_candidates`` (K) current layouts: the model's own (oscillators evenly spread
       over the band) and K - 1 random ones (free-running frequencies uniform over the band
       widened by 10 % on each side). Keep the best.
    1. At every iteration measure K candidates around the kept currents: +-step on each current
       (8 candidates) and K - 8 random moves of all four (Gaussian, standard deviation step). Keep
       the best if it improves the training recognition, else shrink the step by
       ``rule_shrink``.

    The pattern table is re-learned (majority vote) for every candidate. The random layouts and
    moves are drawn from ``seed``; with ``temperature_k > 0`` each iteration sees fresh noise.

    With ``vtl_sigma > 0`` the rule scores the tokens together with one copy of each whose
    formants are both scaled by exp(vtl_sigma z) (z standard normal, drawn once from ``seed``), as
    another speaker's vocal tract would scale them; readout (b) trains with the same
    augmentation. It keeps the rule off configurations that classify the training tokens only
    through the speckled edges of the locking regions (``probes/rule_probe.py``). The copies
    double the cost of every measurement; ``n_pad`` counts the tokens before copying.

    ``init_layouts`` (m, 4), free-running frequencies in GHz, take the places of the first m
    random layouts of step 0 (after the model's own); :func:`window_layout` gives one. Without
    them, ``config.rule_window_init`` (the experiment's setting) puts the layout of
    :func:`window_start` there: ideal windows of the device's half-width fitted to the training
    tokens, their centres kept ``rule_window_min_separation`` apart so that the coupled device
    can realise them (``probes/window_init_probe.py``). With ``config.rule_window_fit_map`` as
    well, the model's input map is replaced by the one fitted with those windows, and the
    returned model keeps it. With ``init_layouts`` given, the model's input map is used as it is.

    With ``rule_objective="loso"`` the rule keeps the candidate whose table carries best to a new
    speaker (:func:`loso_table_accuracy` over ``speakers``, one id per token; the training
    accuracy breaks ties) instead of the one with the best training accuracy (``"train"``, the
    experiment's). The table itself is still learned from all the tokens, and the returned
    history is the training accuracy of the kept currents either way.

    With ``checkpoint`` (a file path) the rule's state (kept currents, table, step, history and
    the random generator) is written there atomically after every iteration, and a rule started
    with that file present resumes from it: interrupted and resumed, it returns exactly what an
    uninterrupted rule returns (same arguments)."""
    _check_rule(config, x, speakers, rule_objective)
    k_cand, step = int(config.rule_candidates), float(config.rule_step_ma)
    speakers = None if speakers is None else np.asarray(speakers)
    rng = np.random.default_rng(config.seed)
    x, y = np.asarray(x), np.asarray(y)
    if init_layouts is None and config.rule_window_init:
        # from the tokens alone, before any copies
        init_layouts, scale, offset = window_start(x, y, config)
        if config.rule_window_fit_map:
            model = with_input_map(model, scale, offset)
    if check_vtl_sigma(vtl_sigma) > 0:  # own generator, same seed: the draws the probe chose on
        z = np.random.default_rng(config.seed).standard_normal((len(x), 1))
        x = np.concatenate([x, x * np.exp(vtl_sigma * z).astype(x.dtype)])
        y = np.concatenate([y, y])
        speakers = None if speakers is None else np.concatenate([speakers, speakers])  # copies stay
        n_pad = None if n_pad is None else 2 * n_pad
    n = len(x)
    xp, _, _ = pad_tokens(x, n=n_pad)
    thr = 1.05 * DEVICE["threshold_ma"]  # stay above threshold
    history = []

    def evaluate(currents, it):  # currents (K, 4) -> patterns (K, n)
        sto = eqx.tree_at(lambda s: s.current_ma, model.sto, jnp.asarray(currents)[:, None, :])
        if len(currents) % pn.parallel.n_devices() == 0:  # each core measures its candidates
            sto = pn.parallel.shard(sto, len(currents))
        key = jax.random.fold_in(jax.random.key(config.seed), it)
        return np.asarray(present_patterns(model, jnp.asarray(xp), key=key, sto=sto))[:, :n]

    def best_of(cands, it):  # -> (objective, training accuracy, table, currents) of the best
        pats = evaluate(np.maximum(cands, thr).astype(np.float32), it)
        scores = []
        for p in pats:
            tab = pattern_table(p, y)
            acc = float(np.mean(np.asarray(tab)[p] == y))
            key = (loso_table_accuracy(p, y, speakers), acc) if rule_objective == "loso" else (acc,)
            scores.append((key, acc, tab))
        k = max(range(len(scores)), key=lambda i: scores[i][0])  # the first of equals, as argmax
        return scores[k][0], scores[k][1], scores[k][2], np.maximum(cands[k], thr)

    cands = _first_population(model, rng, k_cand, init_layouts)
    resumed = _load_rule_state(checkpoint)
    if resumed is None:
        best, best_acc, table, currents = best_of(cands, 0)
        history.append(best_acc)
        done = 0
        _save_rule_state(checkpoint, 0, best, best_acc, table, currents, step, history, rng)
    else:
        done, best, best_acc, table, currents, step, history = resumed["state"]
        rng.bit_generator.state = resumed["rng"]
        if progress is not None:
            progress.update(min(done, config.rule_iters))
    for it in range(done + 1, config.rule_iters + 1):
        cands = np.repeat(currents[None], k_cand, axis=0)
        for j in range(N_OSC):
            cands[2 * j, j] += step
            cands[2 * j + 1, j] -= step
        cands[2 * N_OSC:] += rng.normal(0.0, step, (k_cand - 2 * N_OSC, N_OSC))
        score, acc, tab, cur = best_of(cands, it)
        if score > best:
            best, best_acc, table, currents = score, acc, tab, cur
        else:
            step *= config.rule_shrink
        history.append(best_acc)
        _save_rule_state(checkpoint, it, best, best_acc, table, currents, step, history, rng)
        if progress is not None:
            progress.update(1)
    trained = eqx.tree_at(lambda m: (m.sto.current_ma, m.table), model,
                          (jnp.asarray(currents, dtype=jnp.float32), table))
    return trained, history


def _first_population(model, rng, k_cand, init_layouts):
    """Step 0's K current layouts (mA): the model's own, then ``init_layouts``, then random
    free-running frequencies over the band widened by 10 % on each side."""
    lo, hi = BAND_GHZ
    layouts = rng.uniform(lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo), (k_cand, N_OSC))
    cands = np.asarray(model.sto.current_for_frequency_ma(jnp.asarray(layouts)), np.float64)
    cands[0] = np.asarray(model.sto.current_ma)
    if init_layouts is not None:
        init = np.atleast_2d(np.asarray(init_layouts, np.float64))
        if init.ndim != 2 or init.shape[1] != N_OSC or not 1 <= len(init) < k_cand:
            raise ValueError(f"romera2018: init_layouts has shape {init.shape}; expected (m, {N_OSC}) "
                             f"with 1 <= m < rule_candidates = {k_cand}")
        cands[1:1 + len(init)] = np.asarray(model.sto.current_for_frequency_ma(jnp.asarray(init)))
    return cands


def _save_rule_state(path, it, best, best_acc, table, currents, step, history, rng):
    """The rule's state after iteration ``it``, as JSON (floats round-trip exactly)."""
    if path is None:
        return
    pn.checkpoint.save_checkpoint(path, jnp.asarray(table), header_extra={"romera2018_rule": {
        "iteration": it, "best": [float(v) for v in best], "best_acc": float(best_acc),
        "currents": [float(v) for v in currents], "step": float(step),
        "history": [float(v) for v in history], "rng": rng.bit_generator.state}})


def _load_rule_state(path):
    if path is None or not Path(path).exists():
        return None
    table, header = pn.checkpoint.load_checkpoint(path, jnp.zeros(25, jnp.int32))
    r = header.get("romera2018_rule")
    if r is None:
        raise pn.checkpoint.CheckpointError(f"romera2018: {path} is not a checkpoint of the current rule")
    state = (r["iteration"], tuple(r["best"]), r["best_acc"], table,
             np.asarray(r["currents"], np.float64), r["step"], list(r["history"]))
    return {"state": state, "rng": r["rng"]}
