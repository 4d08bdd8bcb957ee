"""The NbO2 relaxation oscillator of Kumar 2017 as a stochastic one-step map, its thermal noise,
and the batched solves that give the Lyapunov log-growths of every (noise, bias) lane."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import physnn as pn
from physnn.analysis import advance, heun_step, tangent_logs, two_trajectory_logs

K_B = 1.380649e-23  # J/K
WEIGHTS = (1.0, 0.01)  # norm of a (dV, dT) perturbation: 1 V weighs as much as 100 K


def device(config) -> pn.MottNetwork:
    return pn.MottNetwork("NbO2", thermal_capacitance_j_per_k=config.thermal_capacitance_j_per_k)


def thermal_noise(dev, t_ref):
    """(sigma in K/sqrt(ns), stationary std of T in K) of the fluctuation-dissipation noise of a
    heat capacity C_th coupled through R_th, at temperature ``t_ref``."""
    r_th = float(dev.thermal_resistance_k_per_w[0])
    c_th = float(dev.thermal_capacitance_j_per_k[0])
    sigma = np.sqrt(2 * K_B / r_th) * t_ref / c_th * np.sqrt(1e-9)
    return float(sigma), float(np.sqrt(K_B * t_ref**2 / c_th))


def mott_step(dev, h):
    """``step_for(vin, sigma)``: the stochastic Heun step (``h`` ns) of one oscillator, state
    y = (V, T), at bias ``vin`` (V) with thermal noise ``sigma`` (K/sqrt(ns)) on T."""
    v0 = dev.source_voltage_v[0]

    def field(y, vin):
        return dev.drift(0.0, y.reshape(2, 1), vin - v0).reshape(2)

    def step_for(vin, sigma):
        g = jnp.stack([jnp.zeros_like(sigma), sigma])
        return heun_step(lambda y: field(y, vin), h, g)

    return step_for


def counts(config):
    """(steps per block, block time in ns, transient blocks, measured blocks)."""
    k = config.block_steps
    bt = config.dt_ns * k
    return k, bt, int(round(config.t_transient_ns / bt)), int(round(config.t_measure_ns / bt))


def lanes(dev, vins, sigmas, config, two_trajectory: bool):
    """Every (sigma, V_in) lane in one vmapped solve: transient, then the tangent log-growths
    and block max/min of V, and, with ``two_trajectory``, the two-trajectory log-growths on the
    same noise realisation."""
    k, _, n_tr, n_me = counts(config)
    step_for = mott_step(dev, config.dt_ns)
    key = jax.random.key(config.seed)

    def lane(vin, sigma):
        step = step_for(vin, sigma)
        y = advance(step, jnp.array([0.0, 300.0]), key, n_tr, k, 1)
        a, hi, lo = tangent_logs(step, y, key, n_me, k, 1, WEIGHTS, first_block=n_tr)
        if not two_trajectory:
            return a, hi, lo
        b = two_trajectory_logs(step, y, key, n_me, k, 1, WEIGHTS, config.two_trajectory_d0,
                                first_block=n_tr)
        return a, b, hi, lo

    return jax.jit(jax.vmap(lane))(vins, sigmas)


def sweep(dev, vins, sigmas, config):
    """Tangent log-growths and block max/min of V for every (sigma, V_in) lane."""
    return lanes(dev, vins, sigmas, config, two_trajectory=False)


def check(dev, vins, sigmas, config):
    """Tangent and two-trajectory log-growths on the same noise realisation, and the block
    max/min of V, per lane."""
    return lanes(dev, vins, sigmas, config, two_trajectory=True)
