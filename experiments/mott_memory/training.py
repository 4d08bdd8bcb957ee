"""Learning the couplings of the associative memory by gradient through the dynamics: a
differentiable phase readout, the phase-error surrogate, and Adam on the signed weights."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import physnn as pn

from .network import simulate_recall, symmetric


def fourier_phasors(v):
    """Differentiable phases: the Hann-windowed Fourier component of every voltage at the
    strongest non-DC frequency of its sample (the network frequency). v (n_t, B, N) -> unit
    phasors (re, im), each (B, N)."""
    x = v - v.mean(0)
    x = x * jnp.hanning(v.shape[0])[:, None, None]
    spec = jnp.fft.rfft(x, axis=0)
    power = jax.lax.stop_gradient(jnp.sum(jnp.abs(spec) ** 2, axis=-1))  # (n_f, B)
    k = jnp.argmax(power.at[0].set(0.0), axis=0)
    z = jnp.take_along_axis(spec, k[None, :, None], axis=0)[0]
    z = z / jnp.sqrt(jnp.abs(z) ** 2 + 1e-12)
    return jnp.real(z), jnp.imag(z)


def phase_error(v_plus, targets):
    r"""Mean over pixel pairs of $\frac12(1 - \xi_i\xi_j\cos(\phi_i - \phi_j))$: 0 when every pair
    has the stored relation, 1 for the inverse of every relation."""
    re, im = fourier_phasors(v_plus)
    cos = re[:, :, None] * re[:, None, :] + im[:, :, None] * im[:, None, :]
    rel = targets[:, :, None] * targets[:, None, :]
    n = targets.shape[-1]
    off = 1.0 - jnp.eye(n)
    return jnp.sum(0.5 * (1.0 - rel * cos) * off) / (targets.shape[0] * n * (n - 1))


def surrogate_loss(w, cues, targets, design, cycle, config):
    """``phase_error`` of the + cells over the readout window, through the dynamics."""
    t1 = config.t1_ns
    ts = np.arange(t1 - config.window_ns, t1 + 1e-6, config.dt_ns)
    _, tr = simulate_recall(w, cues, design, cycle, config, ts)
    return phase_error(tr.obs["voltage"][..., : cues.shape[-1]], targets)


def train_couplings(w0, cues, targets, design, cycle, config, progress=None, checkpoint=None):
    """Adam on the signed weights (kept symmetric with a zero diagonal). With ``checkpoint`` (a
    file) the weights, the optimiser state and the losses are saved every 5 steps and on Ctrl-C
    or SIGTERM, and a training with that file present resumes from it, exactly
    (:func:`physnn.train.train_loop`). Returns the weights and the loss of every step."""
    w = jnp.asarray(w0)
    opt = optax.adam(config.lr)
    c, tg = jnp.asarray(cues), jnp.asarray(targets)
    grad_fn = eqx.filter_jit(jax.value_and_grad(
        lambda w_: surrogate_loss(w_, c, tg, design, cycle, config)))

    def step(i, state):
        w_, opt_state = state
        loss, g = grad_fn(w_)
        upd, opt_state = opt.update(symmetric(g), opt_state, w_)
        return (symmetric(optax.apply_updates(w_, upd)), opt_state), {"loss": loss}

    (w, _), history = pn.train.train_loop(step, (w, opt.init(w)), config.train_steps,
                                          checkpoint=checkpoint, owner="mott-memory",
                                          progress=progress)
    return np.asarray(w), history.get("loss", [])
