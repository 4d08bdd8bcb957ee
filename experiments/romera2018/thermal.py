r"""The vowel network of ``romera2018`` at finite temperature: what thermal noise costs readouts
(a) and (b), and how much training (b) through the noise wins back.

``romera2018`` trains and tests its network without noise (``temperature_k = 0``), while the
paper's oscillators ran at room temperature. Thermal noise gives a free-running oscillator a
generation linewidth (Kim, Tiberkevich & Slavin, PRL 100, 017207 (2008)),
$\Delta f = (1+\nu^2) D(p_0) / (2\pi p_0)$ with $D(p_0) = \Gamma(1 + Q p_0) k_B T / E_0$
(:meth:`physnn.STONetwork.linewidth_ghz`; the noise follows the positive damping at the
oscillator's power, as the fluctuation-dissipation theorem asks), and the noise makes a locked
oscillator's phase diffuse and slip. The linewidth scales as $T / E_0$; the mode energy $E_0$ of a real vortex
oscillator is not known here, so the experiment sweeps the temperature with physnn's default
$E_0$ (4e-18 J) and reports the linewidth each temperature gives: a device whose $E_0$ is ten
times larger has at 300 K the linewidth of the 30 K row. Vortex oscillators like the paper's
show linewidths of 40 kHz to 1 MHz (Hamadeh et al., arXiv:1310.4913); with our device model
300 K gives about 5 MHz (5.4 MHz for the trained networks of the record), about the locking
half-width of the 2 mA tones.

Protocol, fixed before any run. Data, speakers, folds and the training of both readouts are
those of ``physnn run romera2018`` (its configuration; the coupled network):

1. ``a``: the current rule of readout (a), without noise;
2. ``a_noisy``: the same rule with the oscillators at ``train_temperature_k`` (300 K): every
   iteration measures its candidates with fresh thermal noise;
3. ``b``: the gradient training of readout (b), without noise;
4. ``b_noisy``: readout (b) trained through the noisy physics at ``train_temperature_k``: every
   step of the training, and the presentation that fits its first readout, sees fresh thermal
   noise. Everything else as ``b``.

Each fold's four models then classify the fold's test speakers at every temperature of
``temperatures``, each with ``draws`` independent noise realisations (the same realisations for
every model); accuracies are means over the folds, with the standard deviation over draws.
At 0 K the figures are those of ``romera2018`` on this host (the same computation). The paper
reports no noise study (its 88 % is at room temperature on its own devices), so this is
physnn's, with the paper's figure beside the 300 K row only for orientation.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

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
from .data import formant_scale_spread, load_folds
from .gradient import train_gradient
from .measure import predict_formants
from .model import N_OSC, initial_model
from .rule import train_pattern_rule

NAME = "romera2018-thermal"
DESCRIPTION = "The vowel network with thermal noise: recognition vs linewidth, noisy training"
# the rule of (a) measures its candidates split over the CPU's cores, as in romera2018
SPLITS_OVER_DEVICES = True

_DROP = ("final_model", "mlp_steps", "map_points")  # romera2018 fields this experiment does not use


@dataclasses.dataclass(frozen=True)
class Config:
    """The fields of ``romera2018``'s configuration but ``final_model``, ``mlp_steps`` and
    ``map_points`` (the same meaning and values as there), and: ``temperatures`` (K) at which
    every model is tested, ``draws`` noise realisations at each, and ``train_temperature_k`` (K)
    at which the noise-aware models are trained."""

    n_folds: int
    t1_ns: float
    dt_ns: float
    rf_amp_ma: float
    coupling: float
    temperature_k: float
    rule_iters: int
    rule_step_ma: float
    rule_candidates: int
    rule_shrink: float
    lock_slip_cycles: float
    grad_steps: int
    grad_lr: float
    grad_lr_current: float
    grad_lr_coupling: float
    readout_l2: float
    readout_steps: int
    taper: Literal["hann", "none"]
    seed: int
    vtl_augment: bool
    rule_augment: bool
    rule_window_init: bool
    rule_window_halfwidth: float
    rule_window_min_separation: float
    rule_window_fit_map: bool
    temperatures: tuple[float, ...] = (0.0, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0)
    draws: int = 8
    train_temperature_k: float = 300.0


def _vowel_fields(config) -> dict:
    return {k: v for k, v in dataclasses.asdict(config).items() if k not in _DROP}


QUICK = Config(**_vowel_fields(VOWELS_QUICK), temperatures=(0.0, 300.0), draws=2)
FULL = Config(**_vowel_fields(VOWELS_FULL))

MODELS = ("a", "a_noisy", "b", "b_noisy")
LABELS = {"a": "(a) rule, tuned at 0 K", "a_noisy": "(a) rule, tuned through the noise",
          "b": "(b) gradient, trained at 0 K", "b_noisy": "(b) gradient, trained through the noise"}
PAPER = {"test_accuracy_a_300K": 0.88}


def check_config(config):
    temps = np.asarray(config.temperatures, float)
    if temps.ndim != 1 or temps.size == 0 or not np.all(np.isfinite(temps)) or np.any(temps < 0):
        raise ValueError(f"romera2018-thermal: temperatures={config.temperatures!r}; expected a "
                         "non-empty list of finite temperatures >= 0 (K)")
    if int(config.draws) != config.draws or config.draws < 1:
        raise ValueError(f"romera2018-thermal: draws={config.draws!r}; expected a whole number "
                         ">= 1 of noise realisations per temperature")
    t = config.train_temperature_k
    if not np.isfinite(t) or t <= 0:
        raise ValueError(f"romera2018-thermal: train_temperature_k={t!r}; expected a finite "
                         "temperature > 0 (K) for the noise-aware training")


def at_temperature(model, temperature_k: float):
    """``model`` with its oscillators at ``temperature_k`` (everything trained kept; its solves
    noisy exactly when ``temperature_k > 0``)."""
    sto = eqx.tree_at(lambda d: d.temperature_k, model.sto,
                      jnp.full(N_OSC, float(temperature_k), jnp.float32))
    return dataclasses.replace(eqx.tree_at(lambda m: m.sto, model, sto),
                               noisy=bool(temperature_k > 0))


def predict_at(model, formants_hz, temperature_k: float, key):
    """Class indices of formants ``(n, 2)`` presented at ``temperature_k`` with the noise drawn
    from ``key`` (at 0 K: ``romera2018``'s ``predict_formants``, exactly)."""
    return predict_formants(at_temperature(model, temperature_k), formants_hz, key=key)


def accuracy_at_0k(model, formants_hz, labels) -> float:
    """Recognition of ``formants_hz`` by ``model`` with its oscillators at 0 K, also for a model
    trained through the noise (which keeps its training temperature)."""
    return float(np.mean(predict_at(model, formants_hz, 0.0, None) == labels))


def noise_key(config, fold: int, draw: int):
    """The key of noise realisation ``draw`` on fold ``fold``: the same for every model."""
    return jax.random.fold_in(jax.random.key(config.seed + 3000), 1000 * fold + draw)


def train_model(name, x, y, spk, tr, config, n_pad, checkpoint, bar):
    """Model ``name`` of :data:`MODELS` on the training tokens ``tr``, trained as ``romera2018``
    trains (a) and (b)."""
    sigma = formant_scale_spread(x[tr], y[tr], spk[tr])
    noisy = name.endswith("_noisy")
    config = dataclasses.replace(config, temperature_k=config.train_temperature_k if noisy else 0.0)
    if name.startswith("a"):  # the rule fits its window start and input map itself
        return train_pattern_rule(initial_model(x[tr], config, "pattern"), x[tr], y[tr], config,
                                    progress=bar, n_pad=n_pad,
                                    vtl_sigma=sigma if config.rule_augment else 0.0,
                                    checkpoint=checkpoint)[0]
    return train_gradient(initial_model(x[tr], config, "linear"), x[tr], y[tr], config, progress=bar,
                            n_pad=n_pad, vtl_sigma=sigma if config.vtl_augment else 0.0,
                            checkpoint=checkpoint)[0]


def evaluate(model, x, y, te, temps, draws, config, fold):
    """Test accuracy ``(temperatures, draws)`` of ``model`` on the tokens ``te``: every draw at
    every temperature a fresh noise realisation (0 K, deterministic, is presented once)."""
    acc = np.zeros((len(temps), draws))
    for i, t in enumerate(temps):
        for d in range(draws if t > 0 else 1):
            acc[i, d] = np.mean(predict_at(model, x[te], t, noise_key(config, fold, d)) == y[te])
        if t == 0:
            acc[i, 1:] = acc[i, 0]
    return acc


def run(config: Config, out_dir) -> dict:
    check_config(config)
    out_dir = Path(out_dir)
    stages = pn.checkpoint.Stages.of_run(out_dir, config, "romera2018-thermal")
    x, y, spk, folds, n_pad = load_folds(config)
    temps = [float(t) for t in config.temperatures]
    draws = int(config.draws)
    bar = tqdm(total=len(folds) * 2 * (config.rule_iters + config.grad_steps),
               desc="romera2018-thermal: training", leave=False)
    # per_fold[model][fold, t, draw]: test accuracy
    per_fold = {m: np.zeros((len(folds), len(temps), draws)) for m in MODELS}
    train_acc = {m: [] for m in MODELS}
    lw, lock = [], []
    for f, (tr, te) in enumerate(folds):
        for name in MODELS:
            tag = f"fold{f}_{name}"

            def stage(name=name, tr=tr, te=te, f=f, tag=tag):
                model = train_model(name, x, y, spk, tr, config, n_pad, stages.path(tag + "_loop"), bar)
                return {"acc": evaluate(model, x, y, te, temps, draws, config, f),
                        "train_acc_0K": accuracy_at_0k(model, x[tr], y[tr]),
                        "linewidth_mhz": np.stack([1e3 * np.asarray(at_temperature(model, t)
                                                                    .sto.linewidth_ghz()) for t in temps]),
                        "lock_halfwidth_mhz": 1e3 * np.asarray(
                            model.sto.locking_range_ghz(model.rf_amp_ma * np.exp(model.enc_log_gain[0])))}

            out = stages(tag, stage)
            per_fold[name][f] = np.asarray(out["acc"])
            train_acc[name].append(out["train_acc_0K"])
            if name == "b":
                lw.append(np.asarray(out["linewidth_mhz"]))
                lock.append(np.asarray(out["lock_halfwidth_mhz"]))
    bar.close()

    metrics = {}
    for m in MODELS:
        mean_over_folds = per_fold[m].mean(0)  # (temps, draws)
        for i, t in enumerate(temps):
            metrics[f"test_accuracy_{m}_{t:g}K"] = float(mean_over_folds[i].mean())
            metrics[f"test_accuracy_{m}_{t:g}K_draw_std"] = float(mean_over_folds[i].std())
        metrics[f"train_accuracy_{m}_0K"] = float(np.mean(train_acc[m]))
    lw = np.stack(lw)  # (folds, temps, 4)
    for i, t in enumerate(temps):
        metrics[f"linewidth_mhz_{t:g}K"] = float(lw[:, i].mean())  # over folds and oscillators
    metrics["lock_halfwidth_mhz"] = float(np.mean(lock))
    t_hot = max(temps)
    if t_hot > 0:
        for r in ("a", "b"):  # what tuning through the noise wins at the hottest temperature
            metrics[f"noisy_training_gain_{r}_points"] = 100 * (
                metrics[f"test_accuracy_{r}_noisy_{t_hot:g}K"] - metrics[f"test_accuracy_{r}_{t_hot:g}K"])
    notes = [
        f"speaker-independent {len(folds)}-fold CV on the folds of romera2018 ({len(y)} tokens); "
        "(a) and (b) trained as there; a_noisy, b_noisy: the same with fresh thermal noise at "
        f"{config.train_temperature_k:g} K in every iteration or step",
        f"test accuracies: means over the folds and {draws} noise realisations per temperature "
        "(the same realisations for every model); *_draw_std: standard deviation over the "
        "realisations of the mean over folds",
        "linewidth: free-running FWHM of the trained (b) oscillators at each temperature with "
        "physnn's default mode energy (4e-18 J); it scales as T / E0",
        "the paper's 88 % was measured at room temperature on its own devices, whose mode "
        "energy and linewidth are not modelled here",
        *stages.notes(),
    ]
    _figure(out_dir, temps, metrics, config)
    return {"metrics": metrics, "reference": PAPER, "notes": notes, "temperatures": temps,
            "per_fold": {m: per_fold[m].mean(-1).tolist() for m in MODELS},
            "resumed": stages.resumed, "figures": ["thermal.png"]}


def _figure(out_dir, temps, metrics, config):
    fig, ax = plt.subplots(figsize=(6.5, 4.2), constrained_layout=True)
    lw = np.array([metrics[f"linewidth_mhz_{t:g}K"] for t in temps])
    pos = lw > 0
    xs = np.where(pos, lw, lw[pos].min() / 3 if pos.any() else 1e-3)  # 0 K at the left edge
    for k, m in enumerate(MODELS):
        acc = np.array([metrics[f"test_accuracy_{m}_{t:g}K"] for t in temps])
        err = np.array([metrics[f"test_accuracy_{m}_{t:g}K_draw_std"] for t in temps])
        ax.errorbar(xs, 100 * acc, 100 * err, marker="o", color=f"C{k}", capsize=3, label=LABELS[m])
    ax.axvline(metrics["lock_halfwidth_mhz"], color="grey", ls=":", label="locking half-width")
    ax.axhline(100 / 7, color="k", lw=0.5, ls="--", label="chance")
    ax.set_xscale("log")
    ax.set(xlabel="free-running linewidth (MHz); 0 K at the left edge", ylabel="test accuracy (%)",
           title="the vowel network with thermal noise (default mode energy)")
    if pos.any():  # the linewidth is proportional to T: the temperature on the top axis
        per_k = float(np.mean(lw[pos] / np.asarray(temps)[pos]))
        top = ax.secondary_xaxis("top", functions=(lambda v: v / per_k, lambda v: v * per_k))
        top.set_xlabel("temperature (K)")
    ax.legend(fontsize=7)
    save_figure(fig, out_dir, "thermal.png")


#: ``physnn run`` calls it once ``results.json`` is written: a new run in the folder starts afresh.
finished = pn.checkpoint.remove_run_checkpoints
