r"""One spin-torque oscillator as a time-multiplexed reservoir (Torrejon et al. 2017).

Frame $k$ of an utterance (a vector $s_k$ of front-end channels) is spread over $N$ virtual
nodes by a mask $M$ (shape ``(N, channels)``): node $i$ of frame $k$ holds the current

$$I_{k,i} = I_{\mathrm{dc}} + \Delta I\,(M s_k)_i$$

for a time $\theta$ (``physnn.Masked`` with ``STONetwork(input="current")``), and its state is the
oscillation amplitude $\sqrt{p}$ at the end of the node (the rectified voltage the paper
records). With the current constant over a node, the noise-free power obeys the logistic
equation, so a node is one exact step, ``STONetwork.power_after`` (:func:`map_states`); with
thermal noise the device is integrated as an SDE by ``physnn.simulate`` (:func:`noisy_states`).
The two agree in the noise-free limit (:func:`continuous_check`)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

import physnn as pn

#: utterances per solve: bounds the memory of the saved states
CHUNK = 1000


def oscillator(config, current_ma, input_ma, temperature_k=0.0, frame_ghz=None) -> pn.STONetwork:
    """The vortex oscillator of the configuration at the DC current ``current_ma`` (mA), with
    ``input_ma`` (mA) of current per unit of masked input, at ``temperature_k`` (K).

    The rotating frame turns at the free-running frequency at the DC current (or at
    ``frame_ghz``, needed when the current is traced), so that the envelope turns only as fast
    as the nonlinear shift of the power's excursions: an explicit solver of fixed step then
    resolves it (at the frame f0, 0.3 GHz, a 10 ns step already biases the power by 4 %)."""
    if frame_ghz is None:
        z = float(current_ma) / config.threshold_ma
        p0 = max(z - 1.0, 0.0) / (z + config.nonlinear_damping)
        frame_ghz = config.f0_ghz + config.nonlinear_shift_ghz * p0
    return pn.STONetwork(
        input="current", f0_ghz=config.f0_ghz, nonlinear_shift_ghz=config.nonlinear_shift_ghz,
        damping=config.damping, nonlinear_damping=config.nonlinear_damping,
        threshold_ma=config.threshold_ma, current_ma=current_ma, current_input_ma=input_ma,
        temperature_k=temperature_k, mode_energy_j=config.mode_energy_j,
        resistance_ohm=config.resistance_ohm, frame_ghz=frame_ghz)


def make_mask(n_nodes: int, n_channels: int, seed: int) -> np.ndarray:
    """A random binary mask, entries $\\pm 1/\\sqrt{\\text{channels}}$ (so that a standardised
    frame gives node inputs of unit variance), shape ``(n_nodes, n_channels)``."""
    m = pn.drives.binary_mask(jax.random.PRNGKey(seed), n_nodes, n_channels, amplitude=1.0)
    return np.asarray(m, np.float32) / np.sqrt(n_channels)


def node_inputs(x, mask):
    """$J = M s$ for every node of every frame: ``(batch, frames * nodes)``."""
    j = jnp.einsum("bfc,nc->bfn", x, mask)
    return j.reshape(x.shape[0], -1)


def map_trace(device, x, mask, theta_ns):
    """The power at the end of every node, ``(batch, frames * nodes)``, by the exact one-node map
    from the free-running state at $I_\\mathrm{dc}$. Differentiable in the device, the inputs
    and the mask."""
    j = node_inputs(x, mask).T  # (frames * nodes, batch): scanned over time
    p0 = jnp.broadcast_to(device.free_running_power()[0], (x.shape[0],))
    i_dc, di = device.current_ma[0], device.current_input_ma[0]

    def step(p, jt):
        p = device.power_after(p[:, None], (i_dc + di * jt)[:, None], theta_ns)[:, 0]
        return p, p

    _, ps = jax.lax.scan(step, p0, j)
    return ps.T


@functools.partial(jax.jit, static_argnames=("theta_ns",))
def _map_amplitudes(device, x, mask, theta_ns):
    ps = map_trace(device, x, mask, theta_ns)
    return jnp.sqrt(ps).reshape(x.shape[0], x.shape[1], mask.shape[0])


def map_states(device, x, mask, theta_ns: float) -> np.ndarray:
    """Reservoir states (node amplitudes $\\sqrt p$) of the noise-free oscillator,
    ``(n_utt, frames, nodes)`` float32, from inputs ``x`` ``(n_utt, frames, channels)``."""
    out = [np.asarray(_map_amplitudes(device, jnp.asarray(x[i:i + CHUNK]), jnp.asarray(mask),
                                      float(theta_ns))) for i in range(0, len(x), CHUNK)]
    return np.concatenate(out)


@functools.partial(jax.jit, static_argnames=("theta_ns", "substeps"))
def _sde_amplitudes(device, x, mask, theta_ns, substeps, key):
    drive = pn.Masked(x, mask, theta=theta_ns)
    n_holds = x.shape[1] * mask.shape[0]
    tr = pn.simulate(device, drive, t1=n_holds * theta_ns, dt=theta_ns / substeps,
                     saveat="holds", key=key)
    p = tr.obs["power"][..., 0]  # (holds, batch)
    return jnp.sqrt(p).T.reshape(x.shape[0], x.shape[1], mask.shape[0])


def noisy_states(device, x, mask, theta_ns: float, substeps: int, key) -> np.ndarray:
    """Reservoir states with the device's thermal noise: ``physnn.simulate`` of the full
    oscillator (Stratonovich SDE, Heun, ``substeps`` steps per node) driven by
    ``physnn.Masked``; ``key=None`` integrates the noise-free model (the check of the map)."""
    n_chunks = -(-len(x) // CHUNK)
    keys = [None] * n_chunks if key is None else list(jax.random.split(key, n_chunks))
    out = [np.asarray(_sde_amplitudes(device, jnp.asarray(x[i:i + CHUNK]), jnp.asarray(mask),
                                      float(theta_ns), int(substeps), k))
           for i, k in zip(range(0, len(x), CHUNK), keys, strict=True)]
    return np.concatenate(out)


def continuous_check(device, x, mask, theta_ns: float, substeps: int) -> dict:
    """The exact map against ``physnn.simulate`` of the full oscillator (noise-free,
    ``substeps`` solver steps per node) on the utterances ``x``: the largest difference of the
    node amplitudes, beside the amplitude's scale."""
    a = map_states(device, x, mask, theta_ns)
    b = noisy_states(eqx_noiseless(device), x, mask, theta_ns, substeps, None)
    return {"n": int(len(x)), "substeps": int(substeps),
            "max_abs_diff": float(np.abs(a - b).max()), "amplitude_scale": float(np.abs(a).max())}


def eqx_noiseless(device):
    """The device at 0 K (a deterministic solve of it is the same as key=None)."""
    import equinox as eqx

    return eqx.tree_at(lambda d: d.temperature_k, device, jnp.zeros_like(device.temperature_k))


def energy_per_word_j(device, x, mask, theta_ns: float, resistance_ohm: float) -> tuple[float, float]:
    """The energy dissipated in the junction per utterance, $R\\,\\theta\\sum_n I_n^2$ (the
    current is constant over each node), mean over the utterances ``x``, J; and the mean DC
    power, W."""
    i = device.current_ma[0] + device.current_input_ma[0] * node_inputs(jnp.asarray(x),
                                                                      jnp.asarray(mask))
    e = resistance_ohm * float(theta_ns) * 1e-9 * jnp.sum((i * 1e-3) ** 2, axis=-1)
    n_nodes = i.shape[-1]
    return float(jnp.mean(e)), float(jnp.mean(e)) / (n_nodes * float(theta_ns) * 1e-9)
