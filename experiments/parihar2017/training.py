"""The gradient stage of Parihar 2017's co-design: differentiable surrogates of the colouring
readout, the raw (unconstrained) design parameters, and Adam through the dynamics."""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import physnn as pn

from .network import simulate_graphs
from .readout import node_biases


def edge_correlation(v, adj):
    r"""Differentiable surrogate: mean over edges of the correlation of the two voltage waveforms
    over the window, $\langle \tilde V_i \tilde V_j \rangle_t$ with $\tilde V$ centred and scaled
    to unit variance (1: in phase; lower: neighbours fire apart). v (n_t, B, n)."""
    x = v - v.mean(0)
    x = x / jnp.sqrt((x**2).mean(0) + 1e-6)
    corr = jnp.einsum("tbi,tbj->bij", x, x) / v.shape[0]
    return jnp.sum(corr * adj) / jnp.sum(adj)


def fundamental_phasors(v):
    r"""Unit phasors $e^{i\theta_j(t)}$ of every node's fundamental over the window, v (n_t, B, n).

    The centred voltage is band-passed in the frequency domain to 0.5-1.5 times the network's
    dominant frequency (the strongest bin of the summed spectrum of each graph, held fixed for the
    gradient) and made analytic (Hilbert transform), so the phase is that of the first harmonic:
    relaxation waveforms carry strong harmonics that would make the plain Hilbert phase run
    backwards. Differentiable (FFTs)."""
    x = v - v.mean(0)
    n_t = x.shape[0]
    spec = jnp.fft.rfft(x, axis=0)  # (n_f, B, n)
    k = jnp.arange(spec.shape[0])[:, None]
    power = jax.lax.stop_gradient(jnp.sum(jnp.abs(spec) ** 2, -1)).at[0].set(0.0)  # (n_f, B)
    k0 = jnp.argmax(power, axis=0)[None, :]  # (1, B)
    band = ((k > 0.5 * k0) & (k < 1.5 * k0)).astype(x.dtype)[..., None]
    z = jnp.fft.ifft(2.0 * jnp.concatenate(
        [spec * band, jnp.zeros((n_t - spec.shape[0],) + spec.shape[1:], spec.dtype)]), axis=0)
    return z / (jnp.abs(z) + 1e-6)


def edge_potts(v, adj):
    r"""Differentiable surrogate aimed at three colours: mean over edges of
    $\langle\cos\Delta\theta_{ij} - \cos 3\Delta\theta_{ij}\rangle_t$ for the first-harmonic phases
    (:func:`fundamental_phasors`). It is -1.5 when every edge joins phases 120 degrees apart (a
    proper 3-colouring read as three clusters), 0 for neighbours in phase or in anti-phase (the
    waveform correlation, :func:`edge_correlation`, rewards anti-phase, which two-colours the
    graph's bulk), 0 on average for unlocked neighbours, +1.5 at 60 degrees."""
    u = fundamental_phasors(v)
    c1 = jnp.einsum("tbi,tbj->bij", u, jnp.conj(u)).real
    c3 = jnp.einsum("tbi,tbj->bij", u**3, jnp.conj(u**3)).real
    return jnp.sum((c1 - c3) / v.shape[0] * adj) / jnp.sum(adj)


def to_raw(design) -> dict:
    """Unconstrained trainable parameters: log capacitances, the logit of the trim fraction."""
    e = float(np.clip(design["equalise"], 0.02, 0.98))
    raw = {"log_coupling_pf": np.log(design["coupling_pf"]),
           "log_node_pf": np.log(design["node_pf"]),
           "degree_exponent": design["degree_exponent"], "bias_v": design["bias_v"],
           "equalise_logit": np.log(e / (1 - e))}
    return {k: jnp.asarray(np.float64(v)) for k, v in raw.items()}  # strong dtype: one compile


def from_raw(raw) -> dict:
    return {"coupling_pf": jnp.exp(raw["log_coupling_pf"]), "node_pf": jnp.exp(raw["log_node_pf"]),
            "degree_exponent": raw["degree_exponent"], "bias_v": raw["bias_v"],
            "equalise": jax.nn.sigmoid(raw["equalise_logit"])}


def surrogate_loss(raw, adj, key, config, chip=None):
    """The surrogate ``config.surrogate`` through the dynamics: "correlation" (default; the
    edge correlation of the voltage waveforms, :func:`edge_correlation`) or "potts"
    (:func:`edge_potts`).
    ``chip``: relative per-node bias factors (B, n) of fabricated chips (1 + spread z), or None."""
    design = from_raw(raw)
    if chip is not None:
        design = dict(design, bias_v=design["bias_v"] * chip)
    _, v = simulate_graphs(adj, design, key, config)
    surrogates = {"correlation": edge_correlation, "potts": edge_potts}
    name = config.surrogate
    if name not in surrogates:
        raise ValueError(f"parihar2017: surrogate = {name!r}; expected one of {sorted(surrogates)}")
    return surrogates[name](v, adj)


def codesign(design, train_adj, config, progress=None, spread=0.0, steps=None, seed=10_000,
             callback=None, checkpoint=None):
    """Adam on the raw design parameters; fresh initial conditions at every step. The dynamics
    run for ``train_t1_ns`` (default ``t1_ns``). With ``spread`` > 0 every step also runs on fresh
    chips (node biases ``bias (1 + spread z)``, one chip per training graph shared by its
    restarts), so the steps descend the surrogate averaged over fabrication. ``steps`` defaults
    to ``config.train_steps``; ``seed`` offsets the keys and chips of the steps.
    ``callback(step, design, loss)``, if given, sees the design after every step (1-based).
    With ``checkpoint`` (a file) the raw design, the optimiser state and the losses are saved
    every 5 steps and on Ctrl-C or SIGTERM, and a training with that file present resumes from
    it, exactly (:func:`physnn.train.train_loop`)."""
    raw = to_raw(design)
    opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(config.lr))
    r = config.train_restarts
    adj = jnp.asarray(np.repeat(train_adj, r, 0))
    cfg = dataclasses.replace(config, t1_ns=config.t1_ns if config.train_t1_ns is None
                              else config.train_t1_ns)
    grad_fn = eqx.filter_jit(jax.value_and_grad(
        lambda w, k, chip: surrogate_loss(w, adj, k, cfg, chip)))

    def step(i, state):
        raw_, opt_state = state
        chip = (jnp.asarray(node_biases(1.0, train_adj.shape[0], train_adj.shape[-1], r, spread,
                                        seed + i)) if spread > 0 else None)
        loss, g = grad_fn(raw_, jax.random.key(seed + i), chip)
        upd, opt_state = opt.update(g, opt_state, raw_)
        raw_ = optax.apply_updates(raw_, upd)
        if callback is not None:
            callback(i + 1, {k: float(v) for k, v in from_raw(raw_).items()}, float(loss))
        return (raw_, opt_state), {"loss": loss}

    (raw, _), history = pn.train.train_loop(
        step, (raw, opt.init(raw)), config.train_steps if steps is None else steps,
        checkpoint=checkpoint, owner="parihar2017 co-design", progress=progress)
    return {k: float(v) for k, v in from_raw(raw).items()}, history.get("loss", [])
