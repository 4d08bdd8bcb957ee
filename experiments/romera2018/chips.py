r"""The vowel network of ``romera2018`` on fabricated chips: what fabrication spread costs readout
(b), and how much a refitted readout and in-situ (physics-aware) training win back.

Protocol. The folds, data and in-silico training of readout (b) are those of
``physnn run romera2018`` (speaker-independent folds of 37 women x 7 vowels; currents, coupling,
input map and softmax readout trained through the solve of the *nominal* network, with the
speaker-scale augmentation). For every fold, ``chips`` chips are then drawn with
``codesign.fabricate`` from the trained network: each oscillator's linear frequency f0 scatters by
``spread_f0`` (1 %, i.e. 3 MHz, 7.5 % of the 40 MHz band the tones span), its tunability N/2pi
and its threshold current by ``spread_shift`` and ``spread_threshold`` (5 %), normal and
independent, all times a spread level (``levels``: 0.5, 1 and 2; the same draws at every
level). The currents, coupling and input map stay what the training set (the bias source and
the RF generator are not fabricated). The held-out speakers are classified on every chip by

1. *deployed*: the in-silico model as it is;
2. *readout refit*: the standardisation and softmax readout refitted on the chip's measured
   observables of the training tokens (``fit_readout``), the physics left as it is;
3. *in situ*: from 2, ``pat_steps`` Adam steps of everything (b) trains, on the training tokens
   with the same augmentation and optimiser as (b) but its learning rates scaled by
   ``pat_lr_scale`` = 0.1 (with (b)'s own rates, made to train from scratch, the chip's training
   loss rose over the first steps of a first full run; scales of 0.3, 0.1 and 0.03 gave similar
   training losses on fold 0's first chip), each forward pass measuring the chip and each
   backward pass borrowing the nominal network's Jacobian (``codesign.physics_aware``; Wright et
   al., Nature 601, 549 (2022)): what a laboratory can do with a chip and a model of it;
4. *in situ, exact gradient*: the same with the chip's own Jacobian, as if the model matched the
   chip: the reference for 3, which no laboratory has;
5. *trained across chips*: a design for the spread instead of a calibration: (b)'s in-silico
   training again, from the same start with the same steps and rates, but every step's loss
   averaged over ``robust_chips`` (4) fresh chips at spread level 1 (``codesign.fabricate``
   inside the loss, as in ``sto-codesign``), then deployed on each chip as it is;
6. *trained across chips, readout refit*: 5 with its readout refitted on the chip, as in 2.

The reference for all of them is the in-silico model on the nominal device, an ideal chip. The
paper (Romera et al., Nature 2018) trained its four oscillators in situ with a rule of its own on
one sample; it reports no spread study, so this is physnn's, with no paper figure beside it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from tqdm.auto import tqdm

import physnn as pn
from physnn.experiment import save_figure

from . import FULL as VOWELS_FULL
from . import QUICK as VOWELS_QUICK
from .chips_training import draw_chips, on_chip, train_in_situ, train_robust
from .data import formant_scale_spread, load_folds
from .gradient import fit_readout, train_gradient
from .measure import predict_formants
from .model import initial_model
from .variants import ReadoutBConfig, b_fields

NAME = "romera2018-chips"
DESCRIPTION = "The vowel network on fabricated chips: readout refit and in-situ training"



@dataclasses.dataclass(frozen=True)
class Config(ReadoutBConfig):
    """romera2018's fields that readout (b) depends on (:class:`ReadoutBConfig`), and: ``chips``
    per fold and spread level; relative spreads at level 1 of f0 (``spread_f0``), of N/2pi
    (``spread_shift``) and of the threshold (``spread_threshold``); the spread ``levels``;
    ``pat_steps`` in-situ steps at ``pat_lr_scale`` times (b)'s learning rates;
    ``robust_chips`` fresh chips averaged in every step of the training across chips."""

    chips: int = 3
    spread_f0: float = 0.01
    spread_shift: float = 0.05
    spread_threshold: float = 0.05
    levels: tuple[float, ...] = (0.5, 1.0, 2.0)
    pat_steps: int = 30
    pat_lr_scale: float = 0.1
    robust_chips: int = 4



QUICK = Config(**b_fields(VOWELS_QUICK), chips=1, levels=(1.0,), pat_steps=5, robust_chips=2)
FULL = Config(**b_fields(VOWELS_FULL))

STRATEGIES = ("deployed", "refit", "in_situ", "in_situ_exact", "robust", "robust_refit")
LABELS = {"deployed": "deployed", "refit": "readout refit", "in_situ": "in situ (model's gradient)",
          "in_situ_exact": "in situ (chip's gradient)", "robust": "trained across chips, deployed",
          "robust_refit": "trained across chips, readout refit"}
def _leaves(model) -> list:
    return [np.asarray(v) for v in jax.tree_util.tree_leaves(model)]


def _rebuild(template, leaves):
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(template),
                                        [jnp.asarray(v) for v in leaves])


def _accuracies(model, x, y, tr, te) -> dict:
    pred = predict_formants(model, x)
    return {"train": float(np.mean(pred[tr] == y[tr])), "test": float(np.mean(pred[te] == y[te]))}


def judge_chip(mb, mr, chip, x, y, tr, te, config, n_pad, vtl_sigma, stages, tag, bar):
    """The strategies on one chip (``mb``: the model trained on the nominal network, ``mr``:
    the one trained across chips): their train and test accuracies, the in-situ training curves,
    and the chip's frequency offsets at ``mb``'s currents (MHz)."""
    out = {"deployed": _accuracies(on_chip(mb, chip), x, y, tr, te)}
    refit = fit_readout(on_chip(mb, chip), x[tr], y[tr], config, n_pad=n_pad)
    out["refit"] = _accuracies(refit, x, y, tr, te)
    # in situ from the refitted readout; the model keeps the nominal oscillators
    start = eqx.tree_at(lambda m: (m.feat_mean, m.feat_std, m.weights, m.bias), mb,
                        (refit.feat_mean, refit.feat_std, refit.weights, refit.bias))
    curves = {}
    for name, exact in (("in_situ", False), ("in_situ_exact", True)):
        m, hist = train_in_situ(start, chip, x[tr], y[tr], config, n_pad, vtl_sigma, exact,
                                checkpoint=stages.path(f"{tag}_{name}"), progress=bar)
        out[name] = _accuracies(on_chip(m, chip), x, y, tr, te)
        curves[name] = hist
    out["robust"] = _accuracies(on_chip(mr, chip), x, y, tr, te)
    refit_r = fit_readout(on_chip(mr, chip), x[tr], y[tr], config, n_pad=n_pad)
    out["robust_refit"] = _accuracies(refit_r, x, y, tr, te)
    offsets = (on_chip(mb, chip).sto.free_running_frequency_ghz()
               - mb.sto.free_running_frequency_ghz()) * 1e3
    return {"accuracy": out, "curves": curves, "offsets_mhz": np.asarray(offsets).tolist()}


def run(config: Config, out_dir) -> dict:
    out_dir = Path(out_dir)
    # an interrupted run resumes: every fold's in-silico model and every chip's results are
    # stages in out_dir/checkpoints, and every training loop checkpoints its steps
    stages = pn.checkpoint.Stages.of_run(out_dir, config, "romera2018-chips")
    x, y, spk, folds, n_pad = load_folds(config)
    levels = [float(v) for v in config.levels]
    total = len(folds) * (2 * config.grad_steps + 2 * len(levels) * config.chips * config.pat_steps)
    bar = tqdm(total=total, desc="romera2018-chips: training", leave=False)
    nominal, robust_nominal, rows = [], [], []
    for f, (tr, te) in enumerate(folds):
        sigma = formant_scale_spread(x[tr], y[tr], spk[tr]) if config.vtl_augment else 0.0
        mb0 = initial_model(x[tr], config, "linear")

        def in_silico(tr=tr, mb0=mb0, sigma=sigma, f=f):
            m, _ = train_gradient(mb0, x[tr], y[tr], config, n_pad=n_pad, vtl_sigma=sigma,
                                    checkpoint=stages.path(f"fold{f}_in_silico_loop"), progress=bar)
            return _leaves(m)

        def across_chips(tr=tr, mb0=mb0, sigma=sigma, f=f):
            m, _ = train_robust(mb0, x[tr], y[tr], config, n_pad, sigma,
                                checkpoint=stages.path(f"fold{f}_robust_loop"), progress=bar)
            return _leaves(m)

        mb = _rebuild(mb0, stages(f"fold{f}_in_silico", in_silico))
        mr = _rebuild(mb0, stages(f"fold{f}_robust", across_chips))
        nominal.append(_accuracies(mb, x, y, tr, te))
        robust_nominal.append(_accuracies(mr, x, y, tr, te))
        for level in levels:
            for c, chip in enumerate(draw_chips(mb.sto, config, f, level)):
                tag = f"fold{f}_x{level:g}_chip{c}"
                row = stages(tag, judge_chip, mb, mr, chip, x, y, tr, te, config, n_pad, sigma,
                             stages, tag, bar)
                rows.append({"fold": f, "level": level, "chip": c, **row})
    bar.close()

    metrics = {"test_accuracy_nominal": float(np.mean([a["test"] for a in nominal])),
               "train_accuracy_nominal": float(np.mean([a["train"] for a in nominal])),
               "test_accuracy_robust_on_nominal": float(np.mean([a["test"] for a in robust_nominal]))}
    summary = {}
    for level in levels:
        at = [r for r in rows if r["level"] == level]
        tag = f"x{level:g}"
        summary[tag] = {s: {"test_mean": float(np.mean([r["accuracy"][s]["test"] for r in at])),
                            "test_std": float(np.std([r["accuracy"][s]["test"] for r in at])),
                            "train_mean": float(np.mean([r["accuracy"][s]["train"] for r in at]))}
                        for s in STRATEGIES}
        metrics[f"chip_frequency_offset_rms_mhz_{tag}"] = float(np.sqrt(np.mean(
            np.square([r["offsets_mhz"] for r in at]))))
        for s in STRATEGIES:
            metrics[f"test_accuracy_{s}_{tag}"] = summary[tag][s]["test_mean"]
        # paired differences over the same chips: what each step wins back
        for a, b in (("refit", "deployed"), ("in_situ", "refit"), ("in_situ_exact", "in_situ"),
                     ("robust", "deployed"), ("robust_refit", "refit")):
            d = np.asarray([r["accuracy"][a]["test"] - r["accuracy"][b]["test"] for r in at])
            metrics[f"gain_{a}_over_{b}_points_{tag}"] = float(100 * np.mean(d))
            summary[tag][f"{a}_over_{b}"] = {"points": float(100 * np.mean(d)),
                                             "chips_better": int(np.sum(d > 0)),
                                             "chips_worse": int(np.sum(d < 0))}
    metrics["n_chips_per_level"] = len(folds) * config.chips
    reference = {
        "test_accuracy_nominal": "the in-silico model on its own nominal device: an ideal chip",
        **{f"test_accuracy_in_situ_x{v:g}": "Wright et al. 2022: in-situ (physics-aware) training "
           "recovers what a model's mismatch costs; no figure for this task" for v in levels},
    }
    notes = [
        f"{len(folds)}-fold speaker-independent CV as romera2018 (its readout (b), trained in silico "
        f"for {config.grad_steps} steps); {config.chips} chips per fold and spread level; at "
        f"level 1: f0 {100 * config.spread_f0:g} %, N/2pi {100 * config.spread_shift:g} %, "
        f"threshold {100 * config.spread_threshold:g} % (normal, per oscillator; level k: k times "
        f"these, the same draws); in situ: {config.pat_steps} Adam steps from the refitted readout "
        f"at {config.pat_lr_scale:g} times (b)'s learning rates; trained across chips: (b)'s "
        f"training with every step's loss averaged over {config.robust_chips} fresh chips at "
        "level 1",
        "accuracies are means over chips x folds (one test token of a fold is about 2 points); "
        "gains are paired over the same chips",
        *stages.notes(),
    ]
    _figure(out_dir, rows, summary, metrics, levels)
    return {"metrics": metrics, "reference": reference, "levels": summary,
            "nominal_per_fold": nominal, "robust_on_nominal_per_fold": robust_nominal, "chips": rows,
            "notes": notes, "resumed": stages.resumed, "figures": ["chips.png"]}


def _figure(out_dir, rows, summary, metrics, levels):
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    offsets = [metrics[f"chip_frequency_offset_rms_mhz_x{v:g}"] for v in levels]
    for k, s in enumerate(STRATEGIES):
        mean = [100 * summary[f"x{v:g}"][s]["test_mean"] for v in levels]
        std = [100 * summary[f"x{v:g}"][s]["test_std"] for v in levels]
        ax.errorbar(np.asarray(offsets) * (1 + 0.012 * (k - 2.5)), mean, yerr=std, fmt="-o",
                    capsize=3, label=LABELS[s])
    ax.axhline(100 * metrics["test_accuracy_nominal"], color="k", ls="--",
               label="in silico, nominal device")
    ax.set_xlabel("rms offset of the chips' free-running frequencies (MHz; band 40 MHz)")
    ax.set_ylabel("test accuracy on held-out speakers (%)")
    ax.set_title(f"{metrics['n_chips_per_level']} chips per spread level (mean ± std)")
    ax.legend(fontsize=8)
    for name, color in (("in_situ", "C2"), ("in_situ_exact", "C3")):
        for i, r in enumerate(rows):
            bx.plot(r["curves"][name]["loss"], color=color, alpha=0.4,
                    label=LABELS[name] if i == 0 else None)
    bx.set_yscale("log")
    bx.set_xlabel("in-situ step")
    bx.set_ylabel("training cross-entropy on the chip (augmented)")
    bx.legend(fontsize=8)
    save_figure(fig, out_dir, "chips.png")


#: ``physnn run`` calls it once ``results.json`` is written: a new run in the folder starts afresh.
finished = pn.checkpoint.remove_run_checkpoints
