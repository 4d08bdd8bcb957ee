"""The training strategies of romera2018-chips: chips drawn from a trained network, in-situ
(physics-aware) training on one chip, and training across chips (every step's loss averaged over
fresh chips). See :mod:`experiments.romera2018.chips` for the protocol."""

from __future__ import annotations

from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import physnn as pn
from physnn import codesign

from .data import pad_tokens
from .gradient import augment, fit_readout, optimizer, trainable, update, weighted_ce
from .measure import logits, present_features

SPREAD = ("f0_ghz", "nonlinear_shift_ghz", "threshold_ma")
CHECKPOINT_EVERY = 5


def spreads(config, level: float = 1.0) -> dict:
    """``{parameter: relative spread}`` of a chip at spread ``level``."""
    return {n: level * getattr(config, k) for n, k in
            zip(SPREAD, ("spread_f0", "spread_shift", "spread_threshold"), strict=True)}


def draw_chips(sto: pn.STONetwork, config, fold: int, level: float = 1.0) -> list[dict]:
    """``config.chips`` chips of ``sto``: ``{name: values}`` of the fabricated parameters, with
    the spreads of ``config`` times ``level``. Every level draws the same standard normals, so
    the chips of two levels differ only in the size of their deviations."""
    chips = codesign.fabricate(sto, jax.random.key(config.seed + 1000 + fold),
                               spreads(config, level), config.chips)
    return [{n: np.asarray(getattr(chips, n)[c]) for n in SPREAD} for c in range(config.chips)]


def on_chip(model, chip: dict):
    """``model`` with its oscillators replaced by the chip's (the trained currents and coupling
    kept)."""
    sto = eqx.tree_at(lambda d: tuple(getattr(d, n) for n in SPREAD), model.sto,
                      tuple(jnp.asarray(chip[n]) for n in SPREAD))
    return eqx.tree_at(lambda m: m.sto, model, sto)


def _measured(m, xs, *, key, chip):
    return present_features(on_chip(m, chip), xs, key=key)


def _nominal(m, xs, *, key, chip):
    return present_features(m, xs, key=key)


#: The observables of (b) measured on a chip (the keyword ``chip``) and differentiated through
#: the nominal network (False) or through the chip itself (True).
CHIP_FEATURES = {False: codesign.physics_aware(_measured, _nominal),
                 True: codesign.physics_aware(_measured, _measured)}


@eqx.filter_jit
def _in_situ_step(params, static, state, xs, ys, ws, l2, key, opt, vtl_sigma, chip, exact):
    """One step of (b)'s training (``romera2018``'s gradient step: the same augmentation,
    loss, optimiser and current floor) with the observables measured on ``chip``
    (:data:`CHIP_FEATURES`). One compiled step serves every chip."""
    xs = augment(xs, key, vtl_sigma)

    def loss_fn(p):
        m = eqx.combine(p, static)
        ce, acc = weighted_ce(logits(m, CHIP_FEATURES[exact](m, xs, key=key, chip=chip)), ys, ws)
        return ce + l2 * jnp.sum(p.weights ** 2), (ce, acc)

    (_, (ce, acc)), g = eqx.filter_value_and_grad(loss_fn, has_aux=True)(params)
    params, state = update(params, state, g, opt)
    return params, state, ce, acc


def in_situ_optimizer(config):
    """(b)'s optimiser with every learning rate scaled by ``pat_lr_scale``: the currents' and
    the coupling's rates are multiples of ``grad_lr``, so scaling ``grad_lr`` scales them all."""
    return optimizer(config.pat_lr_scale * config.grad_lr, config.grad_lr_current,
                        config.grad_lr_coupling, config.pat_steps)


def train_in_situ(model, chip, x, y, config, n_pad, vtl_sigma, exact, checkpoint=None, progress=None):
    """``pat_steps`` steps of in-situ training of ``model`` (the nominal network: its chip is only
    measured) on ``chip``; resumable from ``checkpoint`` (``physnn.train.train_loop``)."""
    xp, yp, wp = pad_tokens(x, y, n=n_pad)
    xs, ys, ws = jnp.asarray(xp), jnp.asarray(yp), jnp.asarray(wp)
    steps = config.pat_steps
    opt = in_situ_optimizer(config)
    chip = {n: jnp.asarray(v) for n, v in chip.items()}
    params, static = eqx.partition(model, trainable(model))
    l2, sigma = jnp.float32(config.readout_l2), jnp.float32(vtl_sigma)
    base = jax.random.key(config.seed + 7)

    def step(i, state):
        p, s = state
        p, s, ce, acc = _in_situ_step(p, static, s, xs, ys, ws, l2, jax.random.fold_in(base, i), opt,
                                      sigma, chip, exact)
        return (p, s), {"loss": ce, "accuracy": acc}

    (params, _), history = pn.train.train_loop(step, (params, opt.init(params)), steps,
                                               checkpoint=checkpoint, every=CHECKPOINT_EVERY,
                                               owner="romera2018-chips train_in_situ", progress=progress)
    return eqx.combine(params, static), history


@eqx.filter_jit
def _robust_step(params, static, state, xs, ys, ws, l2, key, opt, vtl_sigma, spread, n_chips):
    """One step of (b)'s training (``romera2018``'s gradient step: the same augmentation,
    optimiser and current floor) with the loss averaged over ``n_chips`` fresh chips of the network
    (``codesign.fabricate``, differentiable in the nominal network) instead of the network
    itself."""
    xs = augment(xs, key, vtl_sigma)

    def loss_fn(p):
        m = eqx.combine(p, static)
        chips = codesign.fabricate(m.sto, jax.random.fold_in(key, 11), spread, n_chips, batch_ndim=1)
        lg = logits(m, present_features(m, xs, key=key, sto=chips))  # (chips, tokens, classes)
        ce, acc = jax.vmap(lambda g: weighted_ce(g, ys, ws))(lg)
        return jnp.mean(ce) + l2 * jnp.sum(p.weights ** 2), (jnp.mean(ce), jnp.mean(acc))

    (_, (ce, acc)), g = eqx.filter_value_and_grad(loss_fn, has_aux=True)(params)
    params, state = update(params, state, g, opt)
    return params, state, ce, acc


def train_robust(model, x, y, config, n_pad, vtl_sigma, checkpoint=None, progress=None):
    """(b)'s in-silico training (``romera2018.train_gradient``: readout first fitted on the
    nominal network, then ``grad_steps`` Adam steps at (b)'s rates) with every step's loss
    averaged over ``robust_chips`` fresh chips at spread level 1: a design for the spread, not
    for one chip. Resumable from ``checkpoint``."""
    xp, yp, wp = pad_tokens(x, y, n=n_pad)
    xs, ys, ws = jnp.asarray(xp), jnp.asarray(yp), jnp.asarray(wp)
    opt = optimizer(config.grad_lr, config.grad_lr_current, config.grad_lr_coupling,
                       config.grad_steps)
    if checkpoint is None or not Path(checkpoint).exists():
        model = fit_readout(model, x, y, config, n_pad=n_pad)
    params, static = eqx.partition(model, trainable(model))
    fixed, rest = eqx.partition(static, eqx.is_array)
    l2, sigma = jnp.float32(config.readout_l2), jnp.float32(vtl_sigma)
    spread = {n: jnp.float32(v) for n, v in spreads(config).items()}
    base = jax.random.key(config.seed + 13)

    def step(i, state):
        p, s, fx = state
        p, s, ce, acc = _robust_step(p, eqx.combine(fx, rest), s, xs, ys, ws, l2,
                                     jax.random.fold_in(base, i), opt, sigma, spread,
                                     config.robust_chips)
        return (p, s, fx), {"loss": ce, "accuracy": acc}

    (params, _, fixed), history = pn.train.train_loop(
        step, (params, opt.init(params), fixed), config.grad_steps, checkpoint=checkpoint,
        every=CHECKPOINT_EVERY, owner="romera2018-chips train_robust", progress=progress)
    return eqx.combine(params, fixed, rest), history
