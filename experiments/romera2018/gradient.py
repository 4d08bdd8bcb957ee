"""Readout (b), physnn's: end-to-end gradient training through the physics.

The currents, the coupling matrix and the input map (scale, offset and amplitude of each tone)
are trained together with a linear softmax readout of the oscillators' observables, by Adam on
the cross-entropy with gradients through the diffrax solve. The readout is first fitted on the
untrained device's observables, so that the gradient steps start from a working classifier. At
every step the training formants are augmented as by another speaker (vocal-tract length
perturbation, Jaitly & Hinton 2013).
"""

from __future__ import annotations

import functools
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

import physnn as pn

from .data import check_vtl_sigma, pad_tokens
from .measure import logits, present, present_features
from .model import DEVICE, VowelNetwork

#: Period, in steps, of :func:`train_gradient`'s checkpoints (besides the last step and an
#: interruption). A checkpoint takes about 12 ms, a step about 0.9 s in the full configuration.
GRAD_CHECKPOINT_EVERY = 5


def trainable(model):
    """The filter of what (b) trains: currents, coupling, input map, tone gains, readout."""
    spec = jax.tree_util.tree_map(lambda _: False, model)
    return eqx.tree_at(
        lambda m: (m.sto.current_ma, m.sto.coupling, m.enc_scale, m.enc_offset, m.enc_log_gain,
                   m.weights, m.bias),
        spec, (True,) * 7)


def _param_labels(params):
    """Optimizer group of every trainable leaf: currents (mA) and coupling (1/ns) move at their own
    rates (multiples of ``grad_lr``), everything else at ``grad_lr``."""
    labels = jax.tree_util.tree_map(lambda _: "other", params)
    return eqx.tree_at(lambda m: (m.sto.current_ma, m.sto.coupling), labels,
                       ("current", "coupling"), is_leaf=lambda v: v is None)


@functools.lru_cache(maxsize=8)
def optimizer(lr, lr_current, lr_coupling, steps):
    """Adam with per-group rates, cosine decay, clipping: ``lr`` for everything, times
    ``lr_current`` for the currents and ``lr_coupling`` for the coupling (the configuration's
    ``grad_lr_current`` and ``grad_lr_coupling`` are such multiples). Cached so that every fold
    reuses one optimizer object and hence one compiled step."""
    sched = lambda k: optax.cosine_decay_schedule(lr * k, max(steps, 1), alpha=0.1)  # noqa: E731
    return optax.chain(optax.clip_by_global_norm(10.0), optax.multi_transform(
        {"other": optax.adam(sched(1.0)), "current": optax.adam(sched(lr_current)),
         "coupling": optax.adam(sched(lr_coupling))}, _param_labels))


def weighted_ce(lg, ys, ws):
    """``(cross-entropy, accuracy)`` of logits ``lg`` against labels ``ys``, weighted by ``ws``
    (0 for padding rows)."""
    ce = optax.softmax_cross_entropy_with_integer_labels(lg, ys)
    return jnp.sum(ws * ce) / jnp.sum(ws), jnp.sum(ws * (jnp.argmax(lg, -1) == ys)) / jnp.sum(ws)


@eqx.filter_jit
def _fit_readout(weights, bias, z, ys, ws, l2, steps):
    """Softmax readout on fixed features ``z`` (already standardised): L2-regularised
    cross-entropy, full-batch Adam, ``steps`` iterations in one compiled loop."""
    opt = optax.adam(0.05)

    def loss(p):
        return weighted_ce(z @ p[0] + p[1], ys, ws)[0] + l2 * jnp.sum(p[0] ** 2)

    def body(_, carry):
        p, s = carry
        u, s = opt.update(jax.grad(loss)(p), s)
        return optax.apply_updates(p, u), s

    p = (weights, bias)
    return jax.lax.fori_loop(0, steps, body, (p, opt.init(p)))[0]


def augment(xs, key, vtl_sigma):
    """Vocal-tract length perturbation of a training step: one scale factor exp(vtl_sigma z) per
    token for all its formants."""
    return xs * jnp.exp(vtl_sigma * jax.random.normal(jax.random.fold_in(key, 7), xs.shape[:-1] + (1,)))


def update(params, state, g, opt):
    """Adam's update of a training step, then the floor on the currents (5 % above threshold)."""
    u, state = opt.update(g, state, params)
    params = optax.apply_updates(params, u)
    params = eqx.tree_at(lambda m: m.sto.current_ma, params,
                         jnp.maximum(params.sto.current_ma, 1.05 * DEVICE["threshold_ma"]))
    return params, state


@eqx.filter_jit
def grad_step(params, static, state, xs, ys, ws, coupling_mask, l2, key, opt, vtl_sigma):
    """One step of (b): augmented tokens ``xs``, cross-entropy (weights ``ws``) plus ``l2`` times
    the readout's squared weights, the coupling's gradient times ``coupling_mask`` (0: the
    uncoupled variant), then :func:`update`. Returns ``(params, state, loss, accuracy)``."""
    xs = augment(xs, key, vtl_sigma)

    def loss_fn(p):
        m = eqx.combine(p, static)
        f, _ = present(m, xs, key=key)
        ce, acc = weighted_ce(logits(m, f), ys, ws)
        return ce + l2 * jnp.sum(p.weights ** 2), (ce, acc)

    (_, (ce, acc)), g = eqx.filter_value_and_grad(loss_fn, has_aux=True)(params)
    g = eqx.tree_at(lambda m: m.sto.coupling, g, g.sto.coupling * coupling_mask)
    params, state = update(params, state, g, opt)
    return params, state, ce, acc


def fit_readout(model: VowelNetwork, x, y, config, n_pad=None) -> VowelNetwork:
    """Present ``x``, standardise the observables and fit the softmax readout on them (L2
    ``config.readout_l2``, ``config.readout_steps`` steps, from zero); the physics is left as
    it is."""
    n = len(x)
    xp, yp, wp = pad_tokens(x, y, n=n_pad)
    ws = jnp.asarray(wp)
    feats = present_features(model, jnp.asarray(xp))
    mu = jnp.sum(ws[:, None] * feats, 0) / n
    sd = jnp.sqrt(jnp.sum(ws[:, None] * (feats - mu) ** 2, 0) / n) + 1e-3
    w0, b0 = _fit_readout(jnp.zeros_like(model.weights), jnp.zeros_like(model.bias),
                          (feats - mu) / sd, jnp.asarray(yp), ws,
                          jnp.float32(config.readout_l2), config.readout_steps)
    return eqx.tree_at(lambda m: (m.feat_mean, m.feat_std, m.weights, m.bias), model,
                       (mu, sd, w0, b0))


def train_gradient(model, x, y, config, train_coupling=True, progress=None, n_pad=None,
                   vtl_sigma=0.0, checkpoint=None):
    """End-to-end training through the physics.

    1. Present the training tokens, standardise the 16 observables, and fit the softmax readout
       on them (:func:`fit_readout`): the readout starts where a linear classifier on the
       untrained device's observables would end.
    2. Train the currents, the coupling matrix (unless ``train_coupling=False``: then its
       gradient is masked, so that both variants share one compiled step), the input map (scale,
       offset, tone amplitudes) and the readout together, by Adam on the cross-entropy with
       gradients through the diffrax solve (``grad_steps`` steps, fresh thermal noise at each
       when ``temperature_k > 0``). With ``vtl_sigma`` > 0 each step sees the training formants
       of every token scaled by a fresh factor exp(vtl_sigma z) (``formant_scale_spread``).

    ``n_pad`` pads the training tokens (with weight 0) to a fixed count, so that folds of
    different sizes share one compiled step.

    With ``checkpoint`` (a file path) the model, the optimiser state and the history are written
    there atomically every ``GRAD_CHECKPOINT_EVERY`` steps, at the end, and when the training is
    interrupted (Ctrl-C or SIGTERM: :func:`physnn.train.train_loop`), and a training started
    with that file present resumes from it: interrupted and resumed, it returns exactly what an
    uninterrupted training returns (same arguments; every step's randomness depends only on the
    seed and the step number). A process killed outright (SIGKILL) redoes at most the steps
    since the last periodic checkpoint.
    """
    xp, yp, wp = pad_tokens(x, y, n=n_pad)
    xs, ys, ws = jnp.asarray(xp), jnp.asarray(yp), jnp.asarray(wp)
    l2 = jnp.float32(config.readout_l2)
    opt = optimizer(config.grad_lr, config.grad_lr_current, config.grad_lr_coupling,
                    config.grad_steps)
    mask = jnp.float32(1.0 if train_coupling else 0.0)
    sigma = jnp.float32(check_vtl_sigma(vtl_sigma))
    if checkpoint is None or not Path(checkpoint).exists():
        model = fit_readout(model, x, y, config, n_pad=n_pad)
    # else the fitted model is in the checkpoint, and this one only gives its structure
    params, static = eqx.partition(model, trainable(model))
    fixed, rest = eqx.partition(static, eqx.is_array)  # fitted but not trained: feature scaling
    base = jax.random.key(config.seed)

    def step(i, state):
        p, opt_state, fx = state
        new = grad_step(p, eqx.combine(fx, rest), opt_state, xs, ys, ws, mask, l2,
                         jax.random.fold_in(base, i), opt, sigma)
        return (new[0], new[1], fx), {"loss": new[2], "accuracy": new[3]}

    (params, _, fixed), history = pn.train.train_loop(
        step, (params, opt.init(params), fixed), config.grad_steps, checkpoint=checkpoint,
        every=GRAD_CHECKPOINT_EVERY, owner="romera2018 train_gradient", progress=progress)
    return (eqx.combine(params, fixed, rest),
            {"loss": history.get("loss", []), "accuracy": history.get("accuracy", [])})
