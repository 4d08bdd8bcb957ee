"""The reservoir of appeltant2011: the Mackey-Glass node (p = 1) with its binary input mask, its
virtual-node states by the exact map or the continuous integrator, and the ridge readout."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

import physnn as pn
from physnn.readout import nrmse, ridge_fit


def make_mask(config, n_channels=None):
    """The binary input mask, +-mask_amp on the N virtual nodes (seed + 1)."""
    rng = np.random.default_rng(config.seed + 1)
    return config.mask_amp * rng.choice([-1.0, 1.0], config.n_nodes)



def make_node(config, eta, gamma, desync, theta=None):
    """The Mackey-Glass node at (eta, gamma), theta (default: config.theta), tau = (N + desync) theta."""
    return pn.MackeyGlassNode(eta=eta, gamma=gamma, p=config.p, n_nodes=config.n_nodes,
                              theta=config.theta if theta is None else theta, desync=desync)



def node_features(node, u, mask, theta, *, continuous=False, dt=None):
    """(n_samples, n_nodes) node states for the input sequence ``u`` (float64)."""
    drive = pn.Masked(jnp.asarray(u), jnp.asarray(mask), theta)
    if continuous:
        try:
            x = pn.simulate(node, drive, dt=theta if dt is None else dt, observe=False).ys
        except pn.SimulationError as e:  # one exception for a diverged node, whichever the solver
            raise FloatingPointError(f"appeltant2011: {e}") from e
    else:
        x = pn.delay_map(node, drive)
    x = pn.node_states(x, node.n_nodes)
    if not bool(jnp.all(jnp.isfinite(x))):
        # the node returns NaN past its pole at X(t - tau) + gamma J = -1 (p = 1)
        raise FloatingPointError("appeltant2011: non-finite node states (the p = 1 node crossed its "
                                 "pole at X(t - tau) + gamma J = -1)")
    return np.asarray(x, dtype=np.float64)



def fit_eval(x, y, fit, evaluate, metric=nrmse):
    """Ridge readout (alpha by CV) fitted on rows ``fit`` and scored by ``metric`` on rows
    ``evaluate``: ``(score, predictions)``."""
    r = ridge_fit(x[fit], y[fit])
    pred = np.asarray(r(x[evaluate])).reshape(-1)
    return float(metric(pred, y[evaluate])), pred



def continuous_dt(theta, dt_max):
    """RK4 step for the continuous solve: at most ``dt_max`` response times (RK4 is stable up to
    about 2.8), a whole fraction of theta."""
    return theta / max(1, int(np.ceil(theta / dt_max - 1e-9)))
