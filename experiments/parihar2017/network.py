"""The device of Parihar 2017: VO2 oscillators on the nodes of a graph, a capacitor on every
edge (:class:`physnn.phases.GraphOscillators`), with a degree-aware coupling and trim
capacitors, simulated from random initial voltages."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import physnn as pn
from physnn.phases import GraphOscillators, capacitance_mix
from physnn.tasks import graphs as G

V0_RANGE = (0.8, 2.5)  # V, random initial node voltages
T0_K = 330.0


def coupling_matrix(adj, design):
    """C^c_ij = C_c A_ij / sqrt(d_i d_j)^alpha, F."""
    deg = jnp.maximum(adj.sum(-1), 1.0)
    norm = (deg[..., :, None] * deg[..., None, :]) ** (0.5 * design["degree_exponent"])
    return design["coupling_pf"] * 1e-12 * adj / norm


def build_network(adj, design, **cell_kwargs) -> GraphOscillators:
    """The oscillator network for a batch of graphs ``adj`` (B, n, n) under a design dict.
    ``cell_kwargs`` go to the ``MottNetwork("VO2", ...)`` cells (e.g. ``hysteretic=True``)."""
    if not isinstance(adj, jax.core.Tracer):  # capacitors couple both ways: symmetric graphs only
        for k, a in enumerate(np.asarray(adj).reshape((-1,) + np.shape(adj)[-2:])):
            G.check_adjacency(a, name=f"adj[{k}]")
    b, n = adj.shape[0], adj.shape[-1]
    cc = coupling_matrix(jnp.asarray(adj, float), design)
    load = cc.sum(-1)
    # trim capacitors: raise every node towards the most loaded one of its graph, so that the
    # diagonal of the capacitance matrix (and the free-running period) is the same everywhere
    trim = design["equalise"] * (load.max(-1, keepdims=True) - load)
    c_node = design["node_pf"] * 1e-12 + trim
    cells = pn.MottNetwork("VO2", capacitance_f=c_node,
                           source_voltage_v=jnp.broadcast_to(design["bias_v"], (b, n)),
                           **cell_kwargs)
    return GraphOscillators(cells, capacitance_mix(c_node, cc))


def simulate_graphs(adj, design, key, config):
    """Simulate every graph of ``adj`` (B, n, n) from random initial voltages.

    Returns (ts, v) over the late window: ts (n_save,), v (n_save, B, n) in V."""
    net = build_network(adj, design)
    v0 = jax.random.uniform(key, adj.shape[:2], minval=V0_RANGE[0], maxval=V0_RANGE[1])
    y0 = net.init_state(adj.shape[:1], voltage=v0, temperature=T0_K)
    t1, dt = config.t1_ns, config.dt_ns
    ts = np.arange(t1 - config.window_ns, t1 + 0.5 * dt, dt)
    tr = pn.simulate(net, None, t1=t1, dt=dt, y0=y0, saveat=ts)
    return ts, tr.obs["voltage"]
