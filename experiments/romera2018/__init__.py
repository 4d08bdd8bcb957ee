"""Vowel recognition with four coupled spin-torque oscillators (Romera et al., Nature 563, 230 (2018)).

Protocol, as in the paper where we could establish it:

- Data: Hillenbrand et al. (1995) formants F1, F2 (steady state) of female speakers, seven vowels
  (``physnn.tasks.load_romera``: 37 speakers x 7 vowels; see that module for how the vowel set and
  the 37 speakers were reconstructed). Every figure is measured on speaker-independent k-fold
  splits: no speaker is in both the training and the test set of a fold.
- Encoding: (F1, F2) are mapped linearly onto two RF tones (fA, fB) inside the oscillators' band;
  the map is fitted on the training speakers of each fold (their min/max to the band edges).
- Device: four vortex-like STOs (``STONetwork``, rotating frame), all reached by both tones and
  electrically coupled to each other. The DC currents set the frequencies.
- Readout (a), the paper's: the class is read from the synchronisation pattern (which oscillator,
  if any, is locked to tone A, and which to tone B: ``is_locked``). An oscillator counts as
  locked to a tone when its phase relative to the tone slips by less than ``lock_slip_cycles`` = 1
  cycle over the measurement window (the second half of the presentation, 250 ns): a beat of
  less than one cycle cannot be resolved in that window, so the two share one bin of its
  spectrum, as a spectrum analyser would see synchronisation. A lookup table maps patterns to
  vowels (majority vote over the training tokens). Only the four DC currents are trained, by a
  measurement-driven rule in the spirit of the paper's real-time learning: a population hill climb
  (``train_pattern_rule``). It measures a population of current layouts (random ones, and one
  that puts the oscillators at the centres of ideal locking windows of the device's width fitted
  to the training tokens, kept 0.2 of the band apart: ``rule_window_init``, chosen on held-out
  training speakers by ``probes/window_init_probe.py``), keeps the best, then at every
  iteration measures +-step on every current and a few random moves (one batched
  solve each), keeps the best if it improves the training recognition, and shrinks the step when
  none does. No gradients are used, so the rule would run on hardware. The rule scores the
  training tokens together with one copy of each, both formants scaled as by another speaker
  (``rule_augment``, the augmentation readout (b) uses; chosen on held-out training speakers by
  ``probes/rule_probe.py``).
- Readout (b), physnn's: end-to-end gradient training through the physics with optax: the currents,
  the coupling matrix and the input map (scale, offset and amplitude of each tone) are trained
  together with a linear softmax readout of physical observables (per oscillator: power,
  frequency, and the soft locking measure to each tone, Hann-weighted time averages over the
  second half of the presentation). The readout is first fitted on the untrained device's
  observables, so that the gradient steps start from a working classifier. At every step the
  training formants are augmented as by another speaker (``vtl_augment``; vocal-tract length
  perturbation, Jaitly & Hinton 2013): both formants of a token are scaled by one factor
  exp(s z), z standard normal, with s the spread of the speakers' formant scale estimated from
  the training speakers of the fold (:func:`formant_scale_spread`).
- Baselines on the same folds: a digital ceiling (quadratic discriminant analysis and a small MLP on
  the same (F1, F2)), and an ablation of (a) and (b) without coupling.
- Cost: the DC power of the four junctions times the presentation time gives the energy per
  classification; the presentation time is the latency.

Differences from the paper: simulated, not measured, devices (parameters in ``DEVICE``); the
learning rule is our measurement-driven version (the paper's rule shifts frequencies towards or away
from the inputs); the pattern-to-vowel table is learned from the training data.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import numpy as np
from tqdm.auto import tqdm

import physnn as pn
from physnn.tasks import ROMERA_VOWELS

from .checkpoints import CHECKPOINT_DIR, RunCheckpoints, load_model, predict, save_model
from .crossval import Scores, run_fold
from .data import formant_scale_spread, load_folds
from .figures import figures
from .gradient import train_gradient
from .model import initial_model

NAME = "romera2018"
DESCRIPTION = "Vowel recognition with four coupled STOs (Romera et al., Nature 2018)"
# `physnn run` presents the CPU's cores as devices, and the current rule of (a) measures its
# candidate layouts split over them (the same patterns as on one device, bit for bit); the
# gradient training of (b) stays on one device, so its float32 sums keep their order
SPLITS_OVER_DEVICES = True

__all__ = ["NAME", "DESCRIPTION", "Config", "QUICK", "FULL", "PAPER", "run", "finished",
           "load_model", "predict", "save_model"]


@dataclasses.dataclass(frozen=True)
class Config:
    """Data: ``n_folds`` speaker-independent folds drawn with ``seed``. Presentation: ``t1_ns``
    long, solved at ``dt_ns`` (ns), tones of ``rf_amp_ma`` (mA), all-to-all ``coupling`` (1/ns),
    thermal noise at ``temperature_k`` (K); an oscillator is locked when its phase slips by less
    than ``lock_slip_cycles`` over the second half; ``taper``: the window of (b)'s time averages.

    Readout (a)'s rule: ``rule_iters`` iterations of ``rule_candidates`` candidates, moves of
    ``rule_step_ma`` (mA) shrunk by ``rule_shrink``; ``rule_augment``: score speaker-scaled copies
    too; ``rule_window_init``: start from ideal windows of half-width ``rule_window_halfwidth``
    (units of the band) at least ``rule_window_min_separation`` apart, with the input map fitted
    with them when ``rule_window_fit_map``.

    Readout (b): ``grad_steps`` Adam steps at ``grad_lr`` (times ``grad_lr_current`` for the
    currents and ``grad_lr_coupling`` for the coupling); its readout first fitted with L2
    ``readout_l2`` for ``readout_steps`` steps; ``vtl_augment``: speaker-scale augmentation.
    Baselines: ``mlp_steps`` steps of the MLP. Report: a ``map_points`` x ``map_points`` map;
    ``final_model``: save (b) trained on every speaker (else fold 0's)."""

    n_folds: int = 5
    t1_ns: float = 500.0
    dt_ns: float = 1.0
    rf_amp_ma: float = 2.0
    coupling: float = 0.001
    temperature_k: float = 0.0
    rule_iters: int = 30
    rule_step_ma: float = 0.5
    rule_candidates: int = 16
    rule_shrink: float = 0.6
    lock_slip_cycles: float = 1.0
    grad_steps: int = 100
    grad_lr: float = 0.01
    grad_lr_current: float = 1.0
    grad_lr_coupling: float = 0.01
    readout_l2: float = 1e-3
    readout_steps: int = 500
    taper: Literal["hann", "none"] = "hann"
    mlp_steps: int = 3000
    map_points: int = 61
    seed: int = 0
    vtl_augment: bool = True
    rule_augment: bool = True
    final_model: bool = True
    rule_window_init: bool = True
    rule_window_halfwidth: float = 0.135
    rule_window_min_separation: float = 0.2
    rule_window_fit_map: bool = True


QUICK = Config(n_folds=2, t1_ns=400.0, rule_iters=5, rule_candidates=8, grad_steps=20,
               mlp_steps=300, map_points=17, final_model=False)
FULL = Config()

PAPER = {"train_accuracy_a": 0.89, "test_accuracy_a": 0.88}


def run(config: Config, out_dir) -> dict:
    """The protocol: the folds; on each, readouts (a) and (b) on the coupled and the uncoupled
    network and the digital baselines; the scores and the cost; the figures; the saved model."""
    out_dir = Path(out_dir)
    x, y, speakers, folds, n_pad = load_folds(config)  # one padded shape for every fold
    ckpt = RunCheckpoints(out_dir / CHECKPOINT_DIR, config, x, y, speakers, folds)
    bar = tqdm(total=len(folds) * 2 * (config.rule_iters + config.grad_steps),
               desc="romera2018: training", leave=False)
    scores, models, vtl_sigmas = Scores(), [], []
    for f, (tr, te) in enumerate(folds):
        ma, mb, sigma = run_fold(f, tr, te, x, y, speakers, config, n_pad, ckpt, bar, scores)
        models.append((ma, mb))
        vtl_sigmas.append(sigma)
    bar.close()

    ma, mb = models[0]
    metrics = scores.metrics()
    metrics["energy_per_classification_nj"] = energy_nj(ma, config)
    metrics["latency_ns"] = float(config.t1_ns)
    metrics["vtl_sigma_mean"] = float(np.mean(vtl_sigmas))
    vowels = list(ROMERA_VOWELS)
    figures(out_dir, x, y, vowels, ma, mb, scores.confusion, scores.curves, config)
    save_model(final_model(x, y, speakers, config, ckpt) if config.final_model else mb,
               out_dir, config)
    notes = [
        "speaker-independent %d-fold CV on %d women x 7 vowels (%d tokens); the paper's split "
        "may differ" % (len(folds), len(np.unique(speakers)), len(y)),
        "vowel set and speaker selection reconstructed (physnn.tasks.vowels docstring)",
        "simulated devices; energy = DC power of the four junctions x presentation time",
    ]
    if ckpt.resumed:
        notes.append("resumed from the checkpoints of an interrupted run (%s); wall_s counts only "
                     "this part" % ", ".join(ckpt.resumed))
    return {"metrics": metrics, "reference": {**PAPER, "test_accuracy_b": 0.90},
            "per_fold": scores.acc, "confusion_test_b": scores.confusion.tolist(), "notes": notes,
            "vowels": vowels, "resumed": ckpt.resumed}


def energy_nj(model, config) -> float:
    """Energy per classification (nJ): the DC power of the four junctions (W) times the
    presentation time (ns)."""
    return float(model.sto.power(0.0, model.sto.init_state(), None)) * config.t1_ns


def final_model(x, y, speakers, config, ckpt):
    """Readout (b) trained on every speaker: the model a user classifies formants with."""
    sigma = formant_scale_spread(x, y, speakers) if config.vtl_augment else 0.0
    model, _ = train_gradient(initial_model(x, config, "linear"), x, y, config, vtl_sigma=sigma,
                              checkpoint=ckpt.path("final_b_progress"))
    return model


#: ``physnn run`` calls it once ``results.json`` is written: a new run in the folder starts afresh.
finished = pn.checkpoint.remove_run_checkpoints
