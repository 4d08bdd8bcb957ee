"""Co-design of dion2018: the input gain, feedback gain, detuning, Q, k3 and mask trained by
gradient through the delay integrator."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from tqdm.auto import tqdm

import physnn as pn
from physnn.readout import ridge_solve
from physnn.tasks import parity_targets, parity_task

from .device import F0_MHZ, Q, device_scales, make_node, simulate_nodes


def train_codesign(config, mask0, checkpoint=None):
    """Train gamma, eta, the detuning, Q, k3 (bounded, see ``device_scales``) and the mask on the
    P3 validation MSE of a differentiable ridge readout, with fixed training bits and thermal
    noise (common random numbers). With ``checkpoint`` (a file) the parameters, the optimiser
    state and the losses are saved every 5 steps and on Ctrl-C or SIGTERM, and a co-design with
    that file present resumes from it, exactly (:func:`physnn.train.train_loop`)."""
    n_bits, w = config.codesign_bits, config.washout
    bits, _ = parity_task(n_bits, 1, seed=config.seed + 100)
    y3 = jnp.asarray(parity_targets(bits, 3)[w:], jnp.float32)
    n_fit = (2 * (n_bits - w)) // 3
    u = jnp.asarray(2.0 * bits - 1.0, jnp.float32)
    key = jax.random.key(config.seed + 101)
    start = config.codesign_start
    params = {"gamma": jnp.float32(start["gamma"]), "eta": jnp.float32(start["eta"]),
              "detuning_lw": jnp.float32(start["detuning_lw"]), "mask": jnp.asarray(mask0),
              "log_q": jnp.float32(0.0), "log_k3": jnp.float32(0.0)}

    base = make_node(config, start["gamma"], start["eta"], start["detuning_lw"])

    def with_params(p):
        q_scale, k3_scale = device_scales(p)
        return eqx.tree_at(lambda m: (m.input_gain, m.feedback_gain, m.drive_mhz, m.q,
                                      m.k3_n_per_m3), base,
                           (p["gamma"], p["eta"], F0_MHZ * (1.0 + p["detuning_lw"] / Q),
                            base.q * q_scale, base.k3_n_per_m3 * k3_scale))

    def loss_fn(p):
        node = with_params(p)
        s = simulate_nodes(node, u, p["mask"], config, key)
        x = s.reshape(s.shape[0], -1)[w:]
        x = x / (jnp.std(x[:n_fit]) + 1e-9)
        wt, b = ridge_solve(x[:n_fit], y3[:n_fit], 1e-4 * x.shape[1])
        return jnp.mean((x[n_fit:] @ wt + b - y3[n_fit:]) ** 2)

    opt = optax.adam(config.codesign_lr)
    value_and_grad = eqx.filter_jit(eqx.filter_value_and_grad(loss_fn))

    def step(i, state):
        p, opt_state = state
        loss, g = value_and_grad(p)
        upd, opt_state = opt.update(g, opt_state, p)
        return (optax.apply_updates(p, upd), opt_state), {"loss": loss}

    bar = tqdm(total=config.codesign_steps, desc="dion2018: co-design", leave=False)
    (params, _), history = pn.train.train_loop(step, (params, opt.init(params)),
                                               config.codesign_steps, checkpoint=checkpoint,
                                               owner="dion2018 co-design", progress=bar)
    bar.close()
    curve = history.get("loss", []) + [float(value_and_grad(params)[0])]
    return params, curve
