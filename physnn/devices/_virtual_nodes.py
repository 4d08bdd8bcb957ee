"""Helpers shared by the delay-reservoir nodes (photonic and mechanical): the virtual-node count
and the delay with its static bound.

A private module: its names are public within physnn.devices.
"""

from __future__ import annotations

import numpy as np

from .. import _validate as V


def virtual_node_count(n_nodes, owner: str) -> int:
    """``n_nodes`` as an int >= 1 (the virtual nodes of a delay reservoir), or a ValueError
    naming ``owner``."""
    if int(n_nodes) != n_nodes or int(n_nodes) < 1:
        raise ValueError(f"{owner}: n_nodes={n_nodes!r} must be an integer >= 1")
    return int(n_nodes)


def node_delay(n_nodes, theta, delay, desync, delay_bound, owner: str):
    r"""The delay $\tau$ (default $(N + \mathrm{desync})\,\theta$, in the node's time unit) and
    its static upper bound (see :func:`delay_bound_of`)."""
    if delay is None:
        delay = (n_nodes + int(desync)) * theta
    delay = V.positive("delay", delay, owner=owner)
    return delay, delay_bound_of(delay, delay_bound)


def delay_bound_of(delay, delay_bound) -> float:
    """Static upper bound on a (trainable) delay, which sizes the integrator's history buffer
    when the delay is traced: by default twice the initial delay."""
    d = float(np.max(np.asarray(delay)))
    b = 2.0 * d if delay_bound is None else float(delay_bound)
    if not (np.isfinite(b) and b >= d):
        raise ValueError(f"delay_bound={delay_bound!r} must be a finite bound >= delay={d:.6g}")
    return b
