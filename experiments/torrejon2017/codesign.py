r"""Co-design of the oscillator reservoir by gradient: the mask $M$, the DC current
$I_\mathrm{dc}$ and the input scaling $\Delta I$ trained through the exact node map.

The objective is the readout the experiment uses. Each step draws a batch of training
utterances and splits it in two halves A and B; a ridge readout is fitted in closed form on A's
per-frame states (the digit as the target of every frame),

$$W = (S_A^\top S_A + \lambda I)^{-1} S_A^\top Y_A,$$

and the loss is B's squared error of the time-averaged outputs (the vote),
$\lVert \overline{S_B W} - Y_B\rVert^2$. The gradient flows through the ridge solve and the
oscillator into $M$, $I_\mathrm{dc}$ and $\Delta I$ (Adam). Only training utterances of the
problem are used; its validation and test sets are scored afterwards by the experiment's
winner-take-all protocol, like the random mask."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import physnn as pn

from .reservoir import map_trace, oscillator


class Design(eqx.Module):
    """The trainable part: mask (nodes, channels), DC current (mA), input scaling (mA)."""

    mask: jax.Array
    current_ma: jax.Array
    input_ma: jax.Array


def _features(design, x, config, frame_ghz):
    dev = oscillator(config, jnp.maximum(design.current_ma, 0.0), design.input_ma,
                     frame_ghz=frame_ghz)
    ps = map_trace(dev, x, design.mask, config.theta_ns)
    a = jnp.sqrt(ps).reshape(x.shape[0], x.shape[1], design.mask.shape[0])
    return jnp.concatenate([a, jnp.ones(a.shape[:-1] + (1,), a.dtype)], -1)


def _loss(design, xa, ya, xb, yb, config, frame_ghz):
    sa = _features(design, xa, config, frame_ghz)
    sb = _features(design, xb, config, frame_ghz)
    s = sa.reshape(-1, sa.shape[-1])
    targets = jnp.repeat(jax.nn.one_hot(ya, 10), sa.shape[1], axis=0)
    gram = s.T @ s
    lam = config.codesign_rel_alpha * jnp.trace(gram) / gram.shape[0]
    w = jnp.linalg.solve(gram + lam * jnp.eye(gram.shape[0]), s.T @ targets)
    votes = jnp.mean(sb @ w, axis=1)
    return jnp.mean(jnp.sum((votes - jax.nn.one_hot(yb, 10)) ** 2, -1))


def train_design(config, x, labels, train, mask, seed: int = 0, checkpoint=None):
    """Train mask, DC current and input scaling on the utterances ``train`` (a boolean mask
    over ``x``'s utterances) from the random ``mask`` and the configuration's operating point;
    ``checkpoint``: a file for :func:`physnn.train.train_loop` (an interrupted run resumes).

    Returns ``(design, history)``: the trained :class:`Design` and the loss of every step."""
    design = Design(jnp.asarray(mask), jnp.asarray(config.current_ma, jnp.float32),
                    jnp.asarray(config.input_ma, jnp.float32))
    frame = float(oscillator(config, config.current_ma, config.input_ma).frame_ghz)
    opt = optax.multi_transform(
        {"mask": optax.adam(config.codesign_lr_mask), "bias": optax.adam(config.codesign_lr_ma)},
        Design("mask", "bias", "bias"))
    state = opt.init(design)
    idx = np.flatnonzero(train)
    grad = eqx.filter_jit(eqx.filter_value_and_grad(_loss))

    @eqx.filter_jit
    def update(design, state, grads):
        updates, state = opt.update(grads, state, design)
        return eqx.apply_updates(design, updates), state

    def step(i, carry):
        design, state = carry
        # the batch depends on the step only: a resumed loop draws the same batches
        pick = np.random.default_rng([seed, i]).choice(
            idx, size=min(config.codesign_batch, idx.size), replace=False)
        a, b = pick[:pick.size // 2], pick[pick.size // 2:]
        loss, grads = grad(design, jnp.asarray(x[a]), jnp.asarray(labels[a]), jnp.asarray(x[b]),
                           jnp.asarray(labels[b]), config, frame)
        return update(design, state, grads), {"loss": loss}

    (design, _), hist = pn.train.train_loop(step, (design, state), config.codesign_steps,
                                            checkpoint=checkpoint, owner="torrejon2017 co-design")
    return design, hist["loss"]


def designed_oscillator(config, design: Design):
    """The oscillator of a trained design (its DC current and input scaling)."""
    return oscillator(config, float(design.current_ma), float(design.input_ma))
