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


def node_delay(n_nodes, theta, delay, desync, delay_bound, owner: str, *, theta_arg=None):
    r"""The delay $\tau$ (default $(N + \mathrm{desync})\,\theta$, in the node's time unit) and
    its static upper bound (see :func:`delay_bound_of`). ``theta`` is the node's (converted)
    spacing, ``theta_arg`` the value as given: under ``jax.jit`` a Python number stays static
    only there."""
    n = n_nodes + int(desync)
    t = V.concrete(theta if theta_arg is None else theta_arg)
    static_default = None if t is None else n * float(np.max(t))
    raw = delay
    delay = V.positive("delay", n * theta if raw is None else raw, owner=owner)
    if V.concrete(delay) is None:  # traced, or built under jit from static arguments
        static = static_default if raw is None else V.concrete(raw)
    else:
        static = delay
    return delay, delay_bound_of(delay if static is None else static, delay_bound,
                                 default_delay=static_default, owner=owner)


def delay_bound_of(delay, delay_bound, *, default_delay=None, owner: str = "") -> float:
    r"""Static upper bound on a (trainable) delay, which sizes the integrator's history buffer
    when the delay is traced.

    - `delay_bound` given: that bound (a Python number, >= the delay when the delay is
      concrete).
    - Otherwise, a concrete delay: twice the delay.
    - Otherwise, a traced delay (a node built inside ``jax.grad``/``jax.jit``): twice
      ``default_delay`` (the default delay $(N + \mathrm{desync})\theta$) when that is concrete;
      a delay that then grows past the bound stops :func:`physnn.simulate` with an error that
      says to pass ``delay_bound``. When ``default_delay`` is traced too (theta traced), a
      ValueError asks for ``delay_bound``.
    """
    where = f"{owner}: " if owner else ""
    if delay_bound is not None:
        b = V.concrete(delay_bound)
        if b is None or np.size(b) != 1:
            raise ValueError(f"{where}delay_bound must be a Python number (it sizes the integrator's "
                             f"history buffer at trace time), got {delay_bound!r}")
        b = float(np.asarray(b).reshape(()))
    d = V.concrete(delay)
    if d is None:  # traced: no check against the delay's value here (simulate checks it)
        if delay_bound is None:
            base = None if default_delay is None else V.concrete(default_delay)
            if base is None:
                raise ValueError(
                    f"{where}the delay is traced (the node is built inside jax.grad or jax.jit) and "
                    "no static bound on it can be derived (theta is traced too); pass "
                    "delay_bound=<the largest delay the run may reach>")
            b = 2.0 * float(np.max(base))
        if not (np.isfinite(b) and b > 0):
            raise ValueError(f"{where}delay_bound={delay_bound!r} must be a finite bound > 0")
        return b
    d = float(np.max(d))
    if delay_bound is None:
        b = 2.0 * d
    if not (np.isfinite(b) and b >= d):
        raise ValueError(f"{where}delay_bound={delay_bound!r} must be a finite bound >= delay={d:.6g}")
    return b
