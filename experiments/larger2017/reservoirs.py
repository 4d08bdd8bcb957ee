"""The two delay reservoirs of larger2017 (the Ikeda node of Larger 2017 and the Mackey-Glass
node of Appeltant 2011) and their node states, by the exact-in-theta map for the scans and by the
continuous delay integrator for the check."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

import physnn as pn


def make_mask(config, n_channels: int) -> np.ndarray:
    """The (N, n_channels) input mask, uniform in [-1, 1] / sqrt(n_channels) (seed + 7)."""
    rng = np.random.default_rng(config.seed + 7)
    return (rng.uniform(-1.0, 1.0, (config.n_nodes, n_channels)) / np.sqrt(n_channels)).astype(np.float32)


def ikeda_node(config, beta, rho, phi0, ratio, n_nodes=None) -> pn.IkedaNode:
    """The optoelectronic Ikeda node (ns units) at an operating point; theta = ratio x tau_R."""
    tau_r = config.ikeda_tau_r_ns
    return pn.IkedaNode(beta=beta, rho=rho, phi0=phi0, tau_r=tau_r, theta=ratio * tau_r,
                        n_nodes=n_nodes or config.n_nodes, desync=config.desync,
                        laser_power_w=config.laser_power_w)


def mg_node(config, eta, gamma) -> pn.MackeyGlassNode:
    """The Mackey-Glass node (time in units of its response time) at an operating point."""
    return pn.MackeyGlassNode(eta=eta, gamma=gamma, p=config.mg_p, n_nodes=config.n_nodes,
                              theta=config.mg_theta, desync=config.desync)


def reservoir_states(node, inputs, mask) -> np.ndarray:
    """Node states ``(n_utt, n_frames, n_nodes)`` of all utterances by the exact map, one call."""
    drive = pn.Masked(jnp.asarray(inputs), jnp.asarray(mask), theta=float(node.theta))
    s = pn.delay_map(node, drive)
    return np.asarray(pn.node_states(s, node.n_nodes))


def continuous_states(node, inputs, mask, substeps) -> np.ndarray:
    """The same states by the continuous delay integrator (RK4, ``substeps`` per node interval)."""
    theta = float(node.theta)
    drive = pn.Masked(jnp.asarray(inputs), jnp.asarray(mask), theta=theta)
    # max_delay: a margin of one node interval, because the integrator sizes its history buffer by
    # floor(delay / step), which a float32 delay rounded down (e.g. 0.40399998 for 0.404) undercuts
    traj = pn.simulate(node, drive, dt=theta / substeps, saveat="holds", observe=False,
                       max_delay=float(node.delay) + theta)
    return np.asarray(pn.node_states(jnp.moveaxis(traj.ys, 0, -1), node.n_nodes))
