"""The device of dion2018: one Duffing resonator with delayed feedback (``DuffingDelayNode``),
its operating points, its simulation into virtual-node quadratures and its dissipated power."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

import physnn as pn
from physnn.devices import DuffingDelayNode, thermal_drive

F0_MHZ, Q, K3 = 2.2, 4000.0, 3e11  # the DuffingDelayNode (and DuffingNetwork) defaults
RINGDOWN_US = 2 * Q / (2 * np.pi * F0_MHZ)  # T = 2Q/omega0


def make_node(config, gamma, eta, detuning_lw, theta_over_t=None, q_scale=1.0,
              k3_scale=1.0) -> DuffingDelayNode:
    """The resonator at an operating point (arrays broadcast into an ensemble); detuning of the
    drive in linewidths f0/Q above the resonance (nominal Q). ``q_scale`` and ``k3_scale``
    multiply the quality factor and the cubic stiffness (co-design)."""
    theta = (theta_over_t or config.theta_over_t) * RINGDOWN_US
    return DuffingDelayNode(
        f0_mhz=F0_MHZ, q=Q * q_scale, k3_n_per_m3=K3 * k3_scale,
        drive_force_pn=config.drive_force_pn,
        drive_mhz=F0_MHZ * (1.0 + jnp.asarray(detuning_lw) / Q),
        input_gain=gamma, feedback_gain=eta, temperature_k=config.temperature_k,
        n_nodes=config.n_nodes, theta=theta, desync=1)


def device_scales(p) -> tuple:
    """Co-designed Q and k3 as factors of the nominal values, bounded to the range a fabrication
    run could target: Q x [e^-0.5, e^0.5] (0.61-1.65), k3 x [e^-1, e^1] (0.37-2.7). The bound
    also keeps the fixed-step solve inside RK4's stability region."""
    return jnp.exp(0.5 * jnp.tanh(p["log_q"])), jnp.exp(jnp.tanh(p["log_k3"]))


def make_mask(config, n_channels=None):
    rng = np.random.default_rng(config.seed + 11)
    n = config.n_nodes
    if n_channels is None:
        return (rng.choice([-1.0, 1.0], n) * rng.uniform(0.5, 1.0, n)).astype(np.float32)
    return (rng.uniform(-1, 1, (n, n_channels)) / np.sqrt(n_channels)).astype(np.float32)


def step_dt(node, config, dt_over_t=None):
    """The integration step: ``dt_over_t`` ring-down times, at most half a node interval."""
    return min(float(node.theta) / 2, (dt_over_t or config.dt_over_t) * RINGDOWN_US)


def simulate_nodes(node, inputs, mask, config, key, y0=None, dt_over_t=None):
    """Quadratures (Re A, Im A) at the end of every node interval, shape
    ``batch + (n_samples, n_nodes, 2)``; thermal noise from ``key``."""
    theta = float(node.theta)
    drive = pn.Masked(jnp.asarray(inputs), jnp.asarray(mask), theta=theta)
    if config.temperature_k > 0:
        drive = thermal_drive(drive, key, node)
    traj = pn.simulate(node, drive, dt=step_dt(node, config, dt_over_t), saveat="holds", observe=False, y0=y0,
                       history=y0)
    ys = jnp.moveaxis(traj.ys, 0, -2)  # batch + (n_seg, 2)
    n = node.n_nodes
    return ys.reshape(ys.shape[:-2] + (ys.shape[-2] // n, n, 2))


def mean_power_w(node, states) -> np.ndarray:
    """Cycle-averaged damping power, averaged over the saved states (batch shape)."""
    p = node.power(0.0, jnp.moveaxis(states.reshape(states.shape[:-3] + (-1, 2)), -2, 0), None)
    return np.asarray(jnp.mean(p, axis=0))

