"""The device of the associative memory: every pixel a differential pair of VO2 cells, the
signed weights as coupling resistors, the cue written as start phases on the limit cycle."""

from __future__ import annotations

import diffrax as dfx
import jax.numpy as jnp
import numpy as np

import physnn as pn
from physnn.devices.mott import phase_from_spikes
from physnn.phases import GraphOscillators, capacitance_mix


def symmetric(w):
    """Symmetrised, zero diagonal."""
    w = 0.5 * (w + jnp.swapaxes(w, -1, -2))
    return w * (1.0 - jnp.eye(w.shape[-1], dtype=w.dtype))


def coupling_conductances(w, design):
    """(2N, 2N) conductance matrix, S, over cells (1+..N+, 1-..N-): a weight w > 0 joins i+ j+ and
    i- j-, a weight w < 0 joins i+ j- and i- j+, each by a resistor of conductance g_unit |w|."""
    w = symmetric(w)
    g = design["g_unit_us"] * 1e-6
    same, cross = g * jnp.maximum(w, 0.0), g * jnp.maximum(-w, 0.0)
    return jnp.block([[same, cross], [cross, same]])


def build_network(w, design, batch: int):
    """2N VO2 cells, the coupling resistors of ``coupling_conductances`` and a capacitor between
    the two cells of every pixel; :class:`physnn.phases.GraphOscillators` applies the
    (constant) capacitance matrix."""
    n = w.shape[-1]
    pair = jnp.block([[jnp.zeros((n, n)), jnp.eye(n)], [jnp.eye(n), jnp.zeros((n, n))]])
    cc = design["c_pair_pf"] * 1e-12 * pair
    c_node = design["node_pf"] * 1e-12 * jnp.ones(2 * n)
    cells = pn.MottNetwork("VO2", capacitance_f=jnp.broadcast_to(c_node, (batch, 2 * n)),
                           source_voltage_v=jnp.broadcast_to(design["bias_v"], (batch, 2 * n)),
                           coupling_conductance_s=coupling_conductances(w, design))
    return GraphOscillators(cells, capacitance_mix(c_node, cc))  # one (2N, 2N) mix for the batch


def limit_cycle_states(design, config) -> tuple[np.ndarray, float]:
    """States of one uncoupled cell on its limit cycle at phase 0 (an upward mid-level crossing)
    and phase pi (half a period later), interpolated from one solve saved every 5 ns:
    ([[V0, T0], [Vpi, Tpi]], period in ns)."""
    cell = pn.MottNetwork("VO2", capacitance_f=design["node_pf"] * 1e-12,
                          source_voltage_v=design["bias_v"])
    ts = np.arange(0.0, 12000.0 + 1e-6, 5.0)
    tr = pn.simulate(cell, None, t1=float(ts[-1]), dt=5.0, saveat=ts)
    y = np.asarray(tr.ys[:, :, 0], float)  # (n_t, 2): V, T
    late = ts > 4000.0
    ph = phase_from_spikes(ts, y[:, 0], 0.5 * (y[late, 0].max() + y[late, 0].min()))
    ok = late & ~np.isnan(ph)
    period = 2 * np.pi * (ts[ok][-1] - ts[ok][0]) / (ph[ok][-1] - ph[ok][0])
    t_zero = float(np.interp(2 * np.pi * np.ceil(ph[ok][0] / (2 * np.pi)), ph[ok], ts[ok]))
    states = [[np.interp(t, ts, y[:, k]) for k in (0, 1)] for t in (t_zero, t_zero + period / 2)]
    return np.asarray(states), float(period)


def initial_state(net, cues, cycle):
    """Cell i+ starts at phase 0 for a +1 pixel and pi for a -1 pixel; i- the other way."""
    plus = jnp.concatenate([cues, -cues], axis=-1) > 0
    v0 = jnp.where(plus, cycle[0, 0], cycle[1, 0])
    t0 = jnp.where(plus, cycle[0, 1], cycle[1, 1])
    return net.init_state(cues.shape[:1], voltage=v0, temperature=t0)


def simulate_recall(w, cues, design, cycle, config, ts):
    """Let the network settle from the cue; returns (net, trajectory saved at ``ts``)."""
    net = build_network(jnp.asarray(w), design, cues.shape[0])
    y0 = initial_state(net, jnp.asarray(cues), jnp.asarray(cycle))
    tr = pn.simulate(net, None, t1=config.t1_ns, dt=config.dt_ns, y0=y0, saveat=ts,
                     solver=dfx.Bosh3())
    return net, tr
