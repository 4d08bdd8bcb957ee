"""The device of coulombe2017: a chain of nanomechanical Duffing resonators (``DuffingNetwork``)
with fabrication disorder and thermal noise, and its response to a bit stream."""

from __future__ import annotations

import jax
import numpy as np

import physnn as pn
from physnn.resonators import simulate_checked


def ring_down_time_us(config) -> float:
    """tau = 2Q/w0: the amplitude memory of one resonator, us."""
    return 2 * config.q / (2 * np.pi * config.f0_mhz)


def reservoir(config, drive_pn, n_inputs=1, gain=None, k3=3e11, temperature_k=None,
              spread=0.0, n_trials=1, key=None):
    """The resonator chain; ``drive_pn`` (and the perturbation trials) become ensemble axes."""
    n, q, f0 = config.n_resonators, config.q, config.f0_mhz
    rng = np.random.default_rng(config.seed)
    detune = rng.uniform(-1, 1, n) * config.spread_linewidths / q
    w_in = rng.uniform(-1, 1, (n, n_inputs)) * (config.input_gain if gain is None else gain)
    drive = np.asarray(drive_pn, dtype=float).reshape(-1, 1) * np.ones(n)  # (n_drive, N)
    params = {"f0_mhz": f0 * (1 + detune), "q": np.full(n, q), "mass_kg": np.full(n, 1e-15),
              "k3_n_per_m3": np.full(n, k3), "coupling": pn.devices.mechanical.coupling_matrix(
                  n, 2e-4, "chain"), "input_gain": w_in}
    if spread:
        keys = jax.random.split(key, len(params))
        for (name, v), k in zip(list(params.items()), keys, strict=True):
            xi = np.asarray(jax.random.normal(k, (n_trials,) + v.shape))
            if name == "coupling":  # a spring is one element: one draw per link
                xi = pn.codesign.per_link(xi)
            params[name] = (v * (1 + spread * xi))[:, None]  # (trials, 1 drive, ...)
    t = config.temperature_k if temperature_k is None else temperature_k
    return pn.DuffingNetwork(
        f0_mhz=params["f0_mhz"], q=params["q"], mass_kg=params["mass_kg"],
        k3_n_per_m3=params["k3_n_per_m3"], coupling_n_per_m=params["coupling"], topology=None,
        drive_force_pn=drive, temperature_k=t, input_gain=params["input_gain"],
        drive_mhz=f0 * (1 + config.drive_detuning_linewidths / q))


def run_stream(dev, bits, period_us, config, key):
    """Simulate the bit stream; return features (batch..., n_bits, samples * 2N) and the mean
    dissipated power (W, batch...)."""
    s = config.samples_per_bit
    hold = period_us / s
    n_sub = max(2, int(np.ceil(hold / config.dt_max_us)))
    drive = pn.SampleAndHold(np.repeat(np.asarray(bits, float), s), hold=hold)
    traj = simulate_checked(dev, drive, dt=hold / n_sub, saveat="holds", key=key)
    ys = np.asarray(traj.ys)  # (n_bits * s, batch..., 2, N)
    power = np.asarray(jax.vmap(dev.power)(traj.ts, traj.ys, traj.us)).mean(axis=0)
    ys = ys.reshape((len(bits), s) + ys.shape[1:])
    ys = np.moveaxis(ys.reshape(ys.shape[:2] + ys.shape[2:-2] + (-1,)), (0, 1), (-3, -2))
    return ys.reshape(ys.shape[:-3] + (len(bits), -1)), power
