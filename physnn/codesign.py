r"""Co-design helpers: fabrication spread and energy accounting.

**Fabrication spread.** No two fabricated devices are alike: a nanopillar's diameter, a beam's
thickness or a film's transition temperature vary from chip to chip. :func:`fabricate` turns one
nominal device into an ensemble of ``n`` chips whose parameters scatter around the nominal values
by a relative spread $\sigma$ per parameter,

$$p^{(c)} = p\,(1 + \sigma\,\xi^{(c)})\quad\text{("normal")}\qquad\text{or}\qquad
p^{(c)} = p\,e^{\sigma\xi^{(c)} - \sigma^2/2}\quad\text{("lognormal")},$$

with $\xi^{(c)}$ standard normal, independent for every chip $c$ and every element of the
parameter (each oscillator of a network, each entry of a coupling matrix). The chips are a leading
ensemble axis of the device, so one :func:`physnn.simulate` runs them all, and the result is
differentiable in the nominal parameters: averaging a loss over the chips and following its
gradient co-designs a device that works across the spread, not only at its nominal point.

**Energy.** :func:`energy` integrates a device's dissipated power (``device.power``) along a
simulated trajectory, in joules.
"""

from __future__ import annotations

from collections.abc import Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from . import _validate as V
from .devices._base import AbstractDelayDevice, AbstractDevice, parameter_axes

__all__ = ["fabricate", "energy", "parameter_names", "SECONDS_PER_UNIT"]

#: seconds per unit of a device's ``time_unit``; "tau" (normalised time) has none.
SECONDS_PER_UNIT = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}

_DISTRIBUTIONS = ("normal", "lognormal")
# the integration grid of a delay device is built from these, so they cannot vary between chips
_GRID_FIELDS = ("delay", "theta")


def parameter_names(device: AbstractDevice) -> list[str]:
    """The names of ``device``'s array parameters that :func:`fabricate` can spread."""
    grid = _GRID_FIELDS if isinstance(device, AbstractDelayDevice) else ()
    return [name for name in parameter_axes(device) if name not in grid]


def fabricate(device: AbstractDevice, key, spread: Mapping[str, float], n: int, *,
              distribution: str = "normal", batch_ndim: int = 0,
              symmetric: tuple[str, ...] = ()) -> AbstractDevice:
    r"""``n`` fabricated copies of ``device``, with parameters spread around the nominal ones.

    **Arguments:**

    - `device`: the nominal device (a :class:`~physnn.STONetwork`, :class:`~physnn.MottNetwork`,
      :class:`~physnn.DuffingNetwork` or :class:`~physnn.DuffingDelayNode`; any device whose
      parameters may carry leading ensemble axes). Its parameters may be traced: the chips are
      differentiable in the nominal values.
    - `key`: a ``jax.random`` key; the same key gives the same chips.
    - `spread`: ``{parameter name: relative spread sigma}``, e.g. ``{"f0_ghz": 0.01}`` for a 1 %
      spread of the oscillators' frequencies. Parameters not named keep their nominal value on
      every chip. A parameter that is zero stays zero (a missing coupling stays missing).
    - `n`: the number of chips, the new leading axis.
    - `distribution`: ``"normal"`` (factor $1 + \sigma\xi$; a factor $\le 0$ is an error, as it
      would flip the parameter's sign) or ``"lognormal"`` (factor $e^{\sigma\xi-\sigma^2/2}$,
      positive, mean 1).
    - `batch_ndim`: the number of singleton axes put after the chips axis, so that the chips
      broadcast against a batch of inputs: with ``batch_ndim=1`` and a drive of batch ``(B,)``,
      a simulation has batch shape ``(n, B)``, every chip seeing every input.
    - `symmetric`: names of matrix parameters (coupling matrices) made symmetric again after the
      draw, $(W + W^\top)/2$, for couplings that are reciprocal by construction.

    **Returns:** the device with batch shape ``(n,) + (1,) * batch_ndim + device.batch_shape``.

    A chip draws one factor per element of a parameter's own axes (per oscillator, per entry
    of a matrix). When the nominal device already has ensemble axes (a sweep of drive
    amplitudes, say), every point of the sweep sees the same chips, and the draws do not depend
    on ``batch_ndim`` or on the sweep: the same key gives the same chips.
    """
    own = "fabricate"
    if not isinstance(device, AbstractDevice):
        raise TypeError(f"{own}: device must be a physnn device, got {type(device).__name__}")
    kind = type(device).__name__
    if not hasattr(device, "batch_shape"):
        raise ValueError(
            f"{own}: {kind} takes no ensemble axes, so its chips cannot be simulated together; "
            "build one device per chip instead")
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"{own}: n={n!r} must be a positive integer (the number of chips)")
    if isinstance(batch_ndim, bool) or not isinstance(batch_ndim, int | np.integer) or batch_ndim < 0:
        raise ValueError(f"{own}: batch_ndim={batch_ndim!r} must be an integer >= 0")
    if distribution not in _DISTRIBUTIONS:
        raise ValueError(f"{own}: distribution={distribution!r}; expected one of {_DISTRIBUTIONS}")
    if not isinstance(spread, Mapping) or not spread:
        raise ValueError(f"{own}: spread={spread!r} must be a non-empty mapping "
                         "{parameter name: relative spread}")
    names = parameter_names(device)
    own_axes = parameter_axes(device)
    for name, sigma in spread.items():
        if name not in names:
            why = (" (it sets the delay integrator's grid, which all chips share)"
                   if isinstance(device, AbstractDelayDevice) and name in _GRID_FIELDS else "")
            raise ValueError(f"{own}: {kind} has no parameter {name!r} that can be spread{why}; "
                             f"its parameters are {', '.join(names)}")
        s = V._concrete(sigma)
        if s is not None and (s.ndim != 0 or not np.isfinite(s) or s < 0):
            raise ValueError(f"{own}: spread[{name!r}]={V._show(np.asarray(s))} must be a finite "
                             "number >= 0 (a relative spread, 0.01 for 1 %)")
    for name in symmetric:
        if name not in names or own_axes[name] != 2:
            mats = [m for m in names if own_axes[m] == 2]
            raise ValueError(f"{own}: symmetric names {name!r}, which is not a matrix parameter "
                             f"of {kind}; its matrices are {', '.join(mats)}")
        if getattr(device, name).shape[-1] != getattr(device, name).shape[-2]:
            raise ValueError(f"{own}: symmetric names {name!r}, whose matrices are not square "
                             f"(shape {getattr(device, name).shape})")

    # a chip is one draw per element of a parameter's own (core) axes; the device's ensemble
    # axes (a sweep of operating points) all see the same chip
    pad = (1,) * (batch_ndim + len(device.batch_shape))
    keys = jax.random.split(key, len(spread))
    new = {}
    for (name, sigma), k in zip(spread.items(), keys, strict=True):
        v = getattr(device, name)
        core = v.shape[v.ndim - own_axes[name]:]
        xi = jax.random.normal(k, (n,) + core, dtype=v.dtype).reshape((n,) + pad + core)
        sigma = jnp.asarray(sigma, dtype=v.dtype)
        if distribution == "normal":
            factor = 1.0 + sigma * xi
            f = V._concrete(factor)
            if f is not None and np.any(f <= 0):
                chip = int(np.argwhere(f <= 0)[0][0])
                raise ValueError(
                    f"{own}: spread[{name!r}]={float(sigma)} drew a factor {float(f.min()):.3g} "
                    f"<= 0 (chip {chip}), which would flip the parameter's sign; use a smaller "
                    "spread or distribution='lognormal'")
        else:
            factor = jnp.exp(sigma * xi - 0.5 * sigma**2)
        value = v * factor
        if name in symmetric:
            value = 0.5 * (value + jnp.swapaxes(value, -1, -2))
        new[name] = value
    return eqx.tree_at(lambda d: [getattr(d, m) for m in new], device, list(new.values()))


def energy(device: AbstractDevice, traj, *, cumulative: bool = False,
           seconds_per_unit: float | None = None) -> jax.Array:
    r"""The energy a device dissipates along a simulated trajectory, J: the trapezoid rule on
    ``device.power(t, y, u)`` over the saved times ``traj.ts`` (with the drive values
    ``traj.us``), times the seconds in one unit of ``device.time_unit``.

    Save the trajectory densely enough for the power to be resolved (``saveat="steps"``, or an
    array of times): the integral runs from the first saved time to the last.

    **Arguments:**

    - `device`: the simulated device.
    - `traj`: the :class:`~physnn.Trajectory` returned by :func:`physnn.simulate`.
    - `cumulative`: if true, return the energy up to every saved time (shape
      ``(n_save,) + batch``, starting at 0), else the total (shape ``batch``).
    - `seconds_per_unit`: the duration of one time unit in seconds; required for devices in
      normalised time (``time_unit = "tau"``), and overrides the device's unit otherwise.
    """
    own = "energy"
    unit = getattr(device, "time_unit", None)
    if seconds_per_unit is None:
        if unit not in SECONDS_PER_UNIT:
            raise ValueError(
                f"{own}: {type(device).__name__} has time_unit={unit!r}, which has no duration in "
                "seconds; pass seconds_per_unit (e.g. the node's response time in seconds)")
        scale = SECONDS_PER_UNIT[unit]
    else:
        scale = float(V.positive("seconds_per_unit", seconds_per_unit, owner=own))
    ts = jnp.asarray(traj.ts)
    if ts.ndim != 1 or ts.shape[0] < 2:
        raise ValueError(
            f"{own}: the trajectory holds {ts.shape[0] if ts.ndim == 1 else ts.shape} saved times; "
            "the energy needs at least two (simulate with saveat='steps' or an array of times)")
    p = jax.vmap(lambda t, y, u: device.power(t, y, u))(ts, traj.ys, traj.us)
    dt = jnp.diff(ts).reshape((-1,) + (1,) * (p.ndim - 1))
    steps = 0.5 * (p[1:] + p[:-1]) * dt * scale
    if cumulative:
        return jnp.concatenate([jnp.zeros_like(p[:1]), jnp.cumsum(steps, axis=0)])
    return jnp.sum(steps, axis=0)
