r"""The vowel network of ``romera2018`` on fabricated chips: what fabrication spread costs readout
(b), and how much a refitted readout and in-situ (physics-aware) training win back.

Protocol. The folds, data and in-silico training of readout (b) are those of
``physnn run romera2018`` (speaker-independent folds of 37 women x 7 vowels; currents, coupling,
input map and softmax readout trained through the solve of the *nominal* network, with the
speaker-scale augmentation). For every fold, ``chips`` chips are then drawn with
``codesign.fabricate`` from the trained network: each oscillator's linear frequency f0 scatters by
``spread_f0`` (1 %, i.e. 3 MHz, 7.5 % of the 40 MHz band the tones span), its tunability N/2pi
and its threshold current by ``spread_shift`` and ``spread_threshold`` (5 %), normal and
independent. The currents, coupling and input map stay what the training set (the bias source
and the RF generator are not fabricated). The held-out speakers are classified on every chip by

1. *deployed*: the in-silico model as it is;
2. *readout refit*: the standardisation and softmax readout refitted on the chip's measured
   observables of the training tokens (``fit_readout``), the physics left as it is;
3. *in situ*: from 2, ``pat_steps`` Adam steps of everything (b) trains, on the training tokens
   with the same augmentation and optimiser as (b), each forward pass measuring the chip and each
   backward pass borrowing the nominal network's Jacobian (``codesign.physics_aware``; Wright et
   al., Nature 601, 549 (2022)): what a laboratory can do with a chip and a model of it;
4. *in situ, exact gradient*: the same with the chip's own Jacobian, as if the model matched the
   chip: the reference for 3, which no laboratory has.

The reference for all of them is the in-silico model on the nominal device, an ideal chip. The
paper (Romera et al., Nature 2018) trained its four oscillators in situ with a rule of its own on
one sample; it reports no spread study, so this is physnn's, with no paper figure beside it.
"""

from __future__ import annotations

from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

import physnn as pn  # noqa: E402
from physnn import cli, codesign  # noqa: E402
from physnn.tasks import load_romera, speaker_folds  # noqa: E402

R = cli.load_experiment("romera2018")

#: the keys of romera2018's configurations that readout (b) and its folds depend on
B_KEYS = ("n_folds", "t1_ns", "dt_ns", "rf_amp_ma", "coupling", "temperature_k", "grad_steps",
          "grad_lr", "grad_lr_current", "grad_lr_coupling", "readout_l2", "readout_steps", "taper",
          "lock_slip_cycles", "seed", "vtl_augment")
QUICK = {**{k: R.QUICK[k] for k in B_KEYS}, "chips": 1, "spread_f0": 0.01, "spread_shift": 0.05,
         "spread_threshold": 0.05, "pat_steps": 5}
FULL = {**{k: R.FULL[k] for k in B_KEYS}, "chips": 3, "spread_f0": 0.01, "spread_shift": 0.05,
        "spread_threshold": 0.05, "pat_steps": 30}

SPREAD = ("f0_ghz", "nonlinear_shift_ghz", "threshold_ma")
STRATEGIES = ("deployed", "refit", "in_situ", "in_situ_exact")
LABELS = {"deployed": "deployed", "refit": "readout refit", "in_situ": "in situ (model's gradient)",
          "in_situ_exact": "in situ (chip's gradient)"}
CHECKPOINT_EVERY = 5


def draw_chips(sto: pn.STONetwork, config, fold: int) -> list[dict]:
    """``config["chips"]`` chips of ``sto``: ``{name: values}`` of the fabricated parameters."""
    spread = dict(zip(SPREAD, (config["spread_f0"], config["spread_shift"],
                               config["spread_threshold"]), strict=True))
    chips = codesign.fabricate(sto, jax.random.key(config["seed"] + 1000 + fold), spread,
                               config["chips"])
    return [{n: np.asarray(getattr(chips, n)[c]) for n in SPREAD} for c in range(config["chips"])]


def on_chip(model, chip: dict):
    """``model`` with its oscillators replaced by the chip's (the trained currents and coupling
    kept)."""
    sto = eqx.tree_at(lambda d: tuple(getattr(d, n) for n in SPREAD), model.sto,
                      tuple(jnp.asarray(chip[n]) for n in SPREAD))
    return eqx.tree_at(lambda m: m.sto, model, sto)


def _measured(m, xs, *, key, chip):
    return R.present_features(on_chip(m, chip), xs, key=key)


def _nominal(m, xs, *, key, chip):
    return R.present_features(m, xs, key=key)


#: The observables of (b) measured on a chip (the keyword ``chip``) and differentiated through
#: the nominal network (False) or through the chip itself (True).
CHIP_FEATURES = {False: codesign.physics_aware(_measured, _nominal),
                 True: codesign.physics_aware(_measured, _measured)}


@eqx.filter_jit
def _in_situ_step(params, static, state, xs, ys, ws, l2, key, opt, vtl_sigma, chip, exact):
    """One step of (b)'s training (``romera2018._grad_step``: the same augmentation, loss,
    optimiser and current floor) with the observables measured on ``chip``
    (:data:`CHIP_FEATURES`). One compiled step serves every chip."""
    xs = xs * jnp.exp(vtl_sigma * jax.random.normal(jax.random.fold_in(key, 7), xs.shape[:-1] + (1,)))

    def loss_fn(p):
        m = eqx.combine(p, static)
        ce, acc = R._weighted_ce(R.logits(m, CHIP_FEATURES[exact](m, xs, key=key, chip=chip)), ys, ws)
        return ce + l2 * jnp.sum(p.weights ** 2), (ce, acc)

    (_, (ce, acc)), g = eqx.filter_value_and_grad(loss_fn, has_aux=True)(params)
    u, state = opt.update(g, state, params)
    params = optax.apply_updates(params, u)
    params = eqx.tree_at(lambda m: m.sto.current_ma, params,
                         jnp.maximum(params.sto.current_ma, 1.05 * R.DEVICE["threshold_ma"]))
    return params, state, ce, acc


def train_in_situ(model, chip, x, y, config, n_pad, vtl_sigma, exact, checkpoint=None, progress=None):
    """``pat_steps`` steps of in-situ training of ``model`` (the nominal network: its chip is only
    measured) on ``chip``; resumable from ``checkpoint`` (``physnn.train.train_loop``)."""
    xp, yp, wp = R.pad_tokens(x, y, n=n_pad)
    xs, ys, ws = jnp.asarray(xp), jnp.asarray(yp), jnp.asarray(wp)
    steps = config["pat_steps"]
    opt = R._optimizer(config["grad_lr"], config["grad_lr_current"], config["grad_lr_coupling"], steps)
    chip = {n: jnp.asarray(v) for n, v in chip.items()}
    params, static = eqx.partition(model, R._trainable(model))
    l2, sigma = jnp.float32(config["readout_l2"]), jnp.float32(vtl_sigma)
    base = jax.random.key(config["seed"] + 7)

    def step(i, state):
        p, s = state
        p, s, ce, acc = _in_situ_step(p, static, s, xs, ys, ws, l2, jax.random.fold_in(base, i), opt,
                                      sigma, chip, exact)
        return (p, s), {"loss": ce, "accuracy": acc}

    (params, _), history = pn.train.train_loop(step, (params, opt.init(params)), steps,
                                               checkpoint=checkpoint, every=CHECKPOINT_EVERY,
                                               owner="romera2018-chips train_in_situ", progress=progress)
    return eqx.combine(params, static), history


def _leaves(model) -> list:
    return [np.asarray(v) for v in jax.tree_util.tree_leaves(model)]


def _rebuild(template, leaves):
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(template),
                                        [jnp.asarray(v) for v in leaves])


def _accuracies(model, x, y, tr, te) -> dict:
    pred = R.predict_formants(model, x)
    return {"train": float(np.mean(pred[tr] == y[tr])), "test": float(np.mean(pred[te] == y[te]))}


def judge_chip(mb, chip, x, y, tr, te, config, n_pad, vtl_sigma, stages, tag, bar):
    """The four strategies on one chip: their train and test accuracies, the in-situ training
    curves, and the chip's frequency offsets at the trained currents (MHz)."""
    out = {"deployed": _accuracies(on_chip(mb, chip), x, y, tr, te)}
    refit = R.fit_readout(on_chip(mb, chip), x[tr], y[tr], config, n_pad=n_pad)
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
    offsets = (on_chip(mb, chip).sto.free_running_frequency_ghz()
               - mb.sto.free_running_frequency_ghz()) * 1e3
    return {"accuracy": out, "curves": curves, "offsets_mhz": np.asarray(offsets).tolist()}


def run(config, out_dir) -> dict:
    out_dir = Path(out_dir)
    # an interrupted run resumes: every fold's in-silico model and every chip's results are
    # stages in out_dir/checkpoints, and every training loop checkpoints its steps
    stages = pn.train.Stages.of_run(out_dir, config, "romera2018-chips")
    data = load_romera()
    x, y, spk = data.features.astype(np.float32), data.labels, np.asarray(data.speakers)
    folds = speaker_folds(data.speakers, n_folds=config["n_folds"], seed=config["seed"])
    n_pad = max(len(tr) for tr, _ in folds)
    total = len(folds) * (config["grad_steps"] + 2 * config["chips"] * config["pat_steps"])
    bar = tqdm(total=total, desc="romera2018-chips: training", leave=False)
    nominal, rows = [], []
    for f, (tr, te) in enumerate(folds):
        sigma = R.formant_scale_spread(x[tr], y[tr], spk[tr]) if config["vtl_augment"] else 0.0
        mb0 = R.initial_model(x[tr], config, "linear")

        def in_silico(tr=tr, mb0=mb0, sigma=sigma, f=f):
            m, _ = R.train_gradient(mb0, x[tr], y[tr], config, n_pad=n_pad, vtl_sigma=sigma,
                                    checkpoint=stages.path(f"fold{f}_in_silico_loop"), progress=bar)
            return _leaves(m)

        mb = _rebuild(mb0, stages(f"fold{f}_in_silico", in_silico))
        nominal.append(_accuracies(mb, x, y, tr, te))
        for c, chip in enumerate(draw_chips(mb.sto, config, f)):
            tag = f"fold{f}_chip{c}"
            row = stages(tag, judge_chip, mb, chip, x, y, tr, te, config, n_pad, sigma, stages, tag, bar)
            rows.append({"fold": f, "chip": c, **row})
    bar.close()

    metrics = {"test_accuracy_nominal": float(np.mean([a["test"] for a in nominal])),
               "train_accuracy_nominal": float(np.mean([a["train"] for a in nominal]))}
    for s in STRATEGIES:
        test = [r["accuracy"][s]["test"] for r in rows]
        metrics[f"test_accuracy_{s}"] = float(np.mean(test))
        metrics[f"test_accuracy_{s}_std"] = float(np.std(test))
        metrics[f"train_accuracy_{s}"] = float(np.mean([r["accuracy"][s]["train"] for r in rows]))
    # paired differences over the same chips: what each step wins back
    for a, b in (("refit", "deployed"), ("in_situ", "refit"), ("in_situ_exact", "in_situ")):
        d = [r["accuracy"][a]["test"] - r["accuracy"][b]["test"] for r in rows]
        metrics[f"gain_{a}_over_{b}_points"] = float(100 * np.mean(d))
        metrics[f"gain_{a}_over_{b}_chips_better"] = int(np.sum(np.asarray(d) > 0))
        metrics[f"gain_{a}_over_{b}_chips_worse"] = int(np.sum(np.asarray(d) < 0))
    metrics["chip_frequency_offset_rms_mhz"] = float(np.sqrt(np.mean(
        np.square([r["offsets_mhz"] for r in rows]))))
    metrics["n_chips"] = len(rows)
    reference = {
        "test_accuracy_nominal": "the in-silico model on its own nominal device: an ideal chip",
        "test_accuracy_deployed": "below the nominal: the spread detunes the oscillators",
        "test_accuracy_in_situ": "Wright et al. 2022: in-situ (physics-aware) training recovers "
                                 "what the model's mismatch costs; no figure for this task",
        "test_accuracy_in_situ_exact": "the same with the chip's own gradient (no lab has it)",
    }
    notes = [
        f"{len(folds)}-fold speaker-independent CV as romera2018 (its readout (b), trained in silico "
        f"for {config['grad_steps']} steps); {config['chips']} chips per fold: f0 "
        f"{100 * config['spread_f0']:g} %, N/2pi {100 * config['spread_shift']:g} %, threshold "
        f"{100 * config['spread_threshold']:g} % (normal, per oscillator); in situ: "
        f"{config['pat_steps']} Adam steps from the refitted readout",
        "the accuracy figures are means over chips x folds; one test token of a fold is about 2 "
        "points",
        *stages.notes(),
    ]
    _figure(out_dir, rows, nominal, metrics)
    return {"metrics": metrics, "reference": reference, "nominal_per_fold": nominal, "chips": rows,
            "notes": notes, "resumed": stages.resumed, "figures": ["chips.png"]}


def _figure(out_dir, rows, nominal, metrics):
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    xs = np.arange(len(STRATEGIES))
    for r in rows:
        ax.plot(xs, [100 * r["accuracy"][s]["test"] for s in STRATEGIES], "-o", color="gray",
                alpha=0.5, ms=3)
    ax.plot(xs, [100 * metrics[f"test_accuracy_{s}"] for s in STRATEGIES], "-o", color="C0", lw=2,
            label="mean over chips")
    ax.axhline(100 * metrics["test_accuracy_nominal"], color="k", ls="--",
               label="in silico, nominal device")
    ax.set_xticks(xs, [LABELS[s] for s in STRATEGIES], fontsize=8)
    ax.set_ylabel("test accuracy on held-out speakers (%)")
    ax.set_title(f"{metrics['n_chips']} fabricated chips (lines: one chip)")
    ax.legend(fontsize=8)
    for name, color in (("in_situ", "C1"), ("in_situ_exact", "C2")):
        for i, r in enumerate(rows):
            bx.plot(r["curves"][name]["loss"], color=color, alpha=0.6,
                    label=LABELS[name] if i == 0 else None)
    bx.set_xlabel("in-situ step")
    bx.set_ylabel("training cross-entropy on the chip")
    bx.legend(fontsize=8)
    fig.savefig(Path(out_dir) / "chips.png", dpi=120)
    plt.close(fig)


finished = pn.train.remove_run_checkpoints
