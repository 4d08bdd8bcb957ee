r"""Co-design helpers: physical constraints, fabrication spread, first-order sensitivity,
physics-aware training and energy accounting.

**Constraints.** A device's parameters have physical ranges: a current between its oscillation
threshold and what the junction survives, a coupling that cannot change sign, a capacitance that
lithography can make. :func:`constrain` turns a device into a :class:`Design` whose named
parameters are design variables held inside their bounds by a smooth change of variables,

$$p = \ell + (h - \ell)\,\mathrm{sigmoid}(r),\qquad p = \ell\,(h/\ell)^{\mathrm{sigmoid}(r)},\qquad
p = \ell + e^{r},\qquad p = h - e^{r},$$

for a range $[\ell, h]$, a range spaced logarithmically, a lower bound only, or an upper bound
only. The optimiser moves the unconstrained $r$; every value it can reach is a physical device,
so no step is ever clipped or rejected, and a one-sided bound makes the steps relative
(logarithmic) changes.

**Fabrication spread.** No two fabricated devices are alike: a nanopillar's diameter, a beam's
thickness or a film's transition temperature vary from chip to chip. :func:`fabricate` turns one
nominal device into an ensemble of ``n`` chips whose parameters scatter around the nominal values
by a relative spread $\sigma$ per parameter,

$$p^{(c)} = p\,(1 + \sigma\,\xi^{(c)})\quad\text{("normal")}\qquad\text{or}\qquad
p^{(c)} = p\,e^{\sigma\xi^{(c)} - \sigma^2/2}\quad\text{("lognormal")},$$

with $\xi^{(c)}$ standard normal, independent for every chip $c$ and every element of the
parameter (each oscillator of a network, each entry of a coupling matrix; each link, shared by
$(i, j)$ and $(j, i)$, of a reciprocal one: resistors, capacitors, springs). The chips are a leading
ensemble axis of the device, so one :func:`physnn.simulate` runs them all, and the result is
differentiable in the nominal parameters: averaging a loss over the chips and following its
gradient co-designs a device that works across the spread, not only at its nominal point.

**Sensitivity.** :func:`sensitivity` gives the elasticities $\partial\ln m/\partial\ln p$ of a
figure of merit $m$, and :func:`spread_std` the chip-to-chip spread of $m$ to first order, from
one gradient instead of a Monte Carlo over chips.

**Physics-aware training.** A model trained in silico carries its mismatch with the chip into
the chip. :func:`physics_aware` trains in situ instead: the forward pass measures the physical
system (a fabricated chip, a noisy solve, an instrument behind a callback), and the backward pass
borrows the digital model's Jacobian at the same arguments (Wright et al., Nature 601, 549
(2022)).

**Energy.** :func:`energy` integrates a device's dissipated power (``device.power``) along a
simulated trajectory, in joules.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from . import _validate as V
from .devices._base import AbstractDelayDevice, AbstractDevice, ensemble_params, not_a_device

__all__ = ["constrain", "Design", "fabricate", "sensitivity", "spread_std", "physics_aware", "energy",
           "parameter_names", "per_link", "SECONDS_PER_UNIT"]

#: seconds per unit of a device's ``time_unit``; "tau" (normalised time) has none.
SECONDS_PER_UNIT = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}

_DISTRIBUTIONS = ("normal", "lognormal")
# the integration grid of a delay device is built from these, so they cannot vary between chips
_GRID_FIELDS = ("delay", "theta")


def parameter_names(device: AbstractDevice) -> list[str]:
    """The names of ``device``'s array parameters that :func:`fabricate` can spread: those its
    class declares in ``ensemble_params`` (see :class:`~physnn.AbstractDevice`), less a delay
    device's grid (``delay``, ``theta``). Raises ``ValueError`` for a device that declares
    nothing."""
    grid = _GRID_FIELDS if isinstance(device, AbstractDelayDevice) else ()
    return [name for name in ensemble_params(device, "parameter_names") if name not in grid]


def _variable_names(device: AbstractDevice) -> list[str]:
    """The parameters of one device that a design or a derivative may vary: every floating
    array field, except a delay device's node spacing theta, which the drive's hold sets (its
    delay may vary, within the history buffer the integrator sizes from ``delay_bound``)."""
    fixed = ("theta",) if isinstance(device, AbstractDelayDevice) else ()
    return [f.name for f in dataclasses.fields(device)
            if not f.metadata.get("static", False) and f.name not in fixed
            and eqx.is_inexact_array(getattr(device, f.name))]


def _no_parameter(own: str, device, name: str, names: list[str], verb: str,
                  grid_note: str) -> ValueError:
    """The error for a name that is not one of ``device``'s parameters ``names``."""
    why = (f" (it sets the delay integrator's grid, {grid_note})"
           if isinstance(device, AbstractDelayDevice) and name in _GRID_FIELDS else "")
    return ValueError(f"{own}: {type(device).__name__} has no parameter {name!r} that can be "
                      f"{verb}{why}; its parameters are {', '.join(names)}")


def _check_spread(own: str, device, spread, names: list[str]) -> None:
    """``spread`` must map parameter ``names`` of ``device`` to relative spreads >= 0."""
    if not isinstance(spread, Mapping) or not spread:
        raise ValueError(f"{own}: spread={spread!r} must be a non-empty mapping "
                         "{parameter name: relative spread}")
    for name, sigma in spread.items():
        if name not in names:
            raise _no_parameter(own, device, name, names, "spread", "which all chips share")
        s = V.concrete(sigma)
        if s is not None and (s.ndim != 0 or not np.isfinite(s) or s < 0):
            raise ValueError(f"{own}: spread[{name!r}]={V.show(np.asarray(s))} must be a finite "
                             "number >= 0 (a relative spread, 0.01 for 1 %)")


def _bound(name: str, spec, own: str) -> tuple[float | None, float | None, bool]:
    """``(lo, hi, log)`` from a bounds entry: ``(lo, hi)`` with ``None`` for an open end,
    ``(lo, hi, "log")`` for a range spaced logarithmically, or ``"positive"``."""
    want = ("expected (lo, hi) with None for an open end, (lo, hi, 'log') with 0 < lo < hi, "
            "or 'positive'")
    if isinstance(spec, str):
        if spec != "positive":
            raise ValueError(f"{own}: bounds[{name!r}]={spec!r}; {want}")
        return 0.0, None, False
    log = isinstance(spec, tuple | list) and len(spec) == 3 and spec[2] == "log"
    if not isinstance(spec, tuple | list) or not (len(spec) == 2 or log):
        raise ValueError(f"{own}: bounds[{name!r}]={spec!r}; {want}")
    ends = []
    for end in spec[:2]:
        if end is not None:
            if isinstance(end, bool) or not isinstance(end, int | float | np.integer | np.floating) \
                    or not np.isfinite(end):
                raise ValueError(f"{own}: bounds[{name!r}]={spec!r}; each end must be a finite "
                                 "number or None (open)")
            end = float(end)
        ends.append(end)
    lo, hi = ends
    if lo is not None and hi is not None and not lo < hi:
        raise ValueError(f"{own}: bounds[{name!r}]={spec!r}; the lower end must be below the upper")
    if log and (lo is None or hi is None or lo <= 0):
        raise ValueError(f"{own}: bounds[{name!r}]={spec!r}; a logarithmic range needs two finite "
                         "ends with 0 < lo < hi")
    return lo, hi, log


def _to_physical(r, lo, hi, log=False):
    if log:
        return lo * (hi / lo) ** jax.nn.sigmoid(r)
    if lo is not None and hi is not None:
        return lo + (hi - lo) * jax.nn.sigmoid(r)
    if lo is not None:
        return lo + jnp.exp(r)
    if hi is not None:
        return hi - jnp.exp(r)
    return r


def _to_raw(p, lo, hi, log=False):
    if log:
        x = jnp.log(p / lo) / np.log(hi / lo)
        return jnp.log(x) - jnp.log1p(-x)
    if lo is not None and hi is not None:
        x = (p - lo) / (hi - lo)
        return jnp.log(x) - jnp.log1p(-x)
    if lo is not None:
        return jnp.log(p - lo)
    if hi is not None:
        return jnp.log(hi - p)
    return p


class Design(eqx.Module):
    r"""A device whose named parameters are design variables held inside physical bounds.

    Made by :func:`constrain`. Train it as any model: ``design.device`` is the device to
    simulate, differentiable in the unconstrained variables ``design.raw``, and
    ``filter_spec=design.filter_spec`` tells :func:`physnn.train.fit` (or
    ``eqx.partition``) to train those and nothing else.

    **Attributes:**

    - `template`: the nominal device. Its parameters that are not design variables are held
      fixed: ``design.device`` passes them through ``jax.lax.stop_gradient``.
    - `raw`: ``{name: unconstrained array}``, one per design variable, shaped like the parameter.
    - `active`: ``{name: bool array or None}``, the entries that are free (``None``: all of them);
      the others stay at zero.
    - `bounds`: ``((name, lo, hi, log), ...)``, static; ``None`` is an open end, ``log`` marks a
      range spaced logarithmically.
    """

    template: AbstractDevice
    raw: dict
    active: dict
    bounds: tuple = eqx.field(static=True)

    def value(self, name: str) -> jax.Array:
        """The physical value of design variable ``name``, inside its bounds."""
        for n, lo, hi, log in self.bounds:
            if n == name:
                p = _to_physical(self.raw[name], lo, hi, log)
                mask = self.active[name]
                return p if mask is None else jnp.where(mask, p, jnp.zeros_like(p))
        names = ", ".join(n for n, *_ in self.bounds)
        raise ValueError(f"Design: {name!r} is not a design variable; they are {names}")

    @property
    def device(self) -> AbstractDevice:
        """The device with the design variables' current values (other parameters fixed)."""
        fixed = jax.tree_util.tree_map(
            lambda x: jax.lax.stop_gradient(x) if eqx.is_inexact_array(x) else x, self.template)
        names = [n for n, *_ in self.bounds]
        return eqx.tree_at(lambda d: [getattr(d, n) for n in names], fixed,
                           [self.value(n) for n in names])

    @property
    def filter_spec(self):
        """A PyTree of bools, ``True`` at the design variables only: pass it as ``filter_spec``
        to :func:`physnn.train.fit` so that the optimiser sees nothing else."""
        spec = jax.tree_util.tree_map(lambda _: False, self)
        return eqx.tree_at(lambda d: d.raw, spec, jax.tree_util.tree_map(lambda _: True, self.raw))

    def values(self) -> dict[str, np.ndarray]:
        """``{name: NumPy array}``: the design variables' current physical values."""
        return {n: np.asarray(self.value(n)) for n, *_ in self.bounds}


def constrain(device: AbstractDevice, bounds: Mapping[str, object], *,
              fixed_zeros: bool = True) -> Design:
    r"""Make parameters of ``device`` design variables that training keeps inside physical bounds.

    **Arguments:**

    - `device`: the nominal device; its parameter values are the starting design.
    - `bounds`: ``{parameter name: (lo, hi)}`` with ``None`` for an open end, ``(lo, hi, "log")``
      for a range spaced logarithmically (a quality factor from 100 to 10^4, say), or
      ``"positive"`` for $(0, \infty)$. A closed range maps through a sigmoid (of the logarithm
      for ``"log"``), a one-sided bound through an exponential (steps are then relative
      changes), ``(None, None)`` is the identity. Every nominal value must lie strictly inside
      its bounds, where the map is invertible.
    - A delay device's ``delay`` can be designed within ``(lo, hi)`` with ``hi`` at most the
      device's ``delay_bound`` (the history buffer); its ``theta`` cannot (the drive sets it).
    - `fixed_zeros`: if true (default), entries that are exactly zero in the nominal device stay
      zero (a coupling that is absent stays absent, as in :func:`fabricate`); if false they are
      design variables too, and zero must then lie inside the bounds.

    **Returns:** a :class:`Design` starting at the nominal device: ``constrain(dev, b).device``
    reproduces ``dev`` to rounding.

    Example: train the currents of four oscillators between threshold and 12 mA, and their
    couplings as non-negative rates::

        design = codesign.constrain(sto, {"current_ma": (5.5, 12.0), "coupling": (0.0, None)})
        design, history = pn.train.fit(design, loss, data, optax.adam(0.05), steps=200,
                                       key=key, filter_spec=design.filter_spec)
        design.values()["current_ma"]
    """
    own = "constrain"
    if not isinstance(device, AbstractDevice):
        raise TypeError(not_a_device(own, device))
    if not isinstance(bounds, Mapping) or not bounds:
        raise ValueError(f"{own}: bounds={bounds!r} must be a non-empty mapping "
                         "{parameter name: (lo, hi)}")
    names = _variable_names(device)
    raw, active, spec = {}, {}, []
    for name, entry in bounds.items():
        if name not in names:
            raise _no_parameter(own, device, name, names, "designed",
                                "which the Masked drive's hold fixes")
        lo, hi, log = _bound(name, entry, own)
        cap = getattr(device, "delay_bound", None) if name == "delay" else None
        if cap is not None and (hi is None or hi > cap):
            raise ValueError(
                f"{own}: bounds['delay']={entry!r} reach beyond {type(device).__name__}.delay_bound"
                f"={cap:.6g}, the longest delay the integrator's history buffer holds; give an "
                "upper bound <= delay_bound, or build the device with a larger delay_bound")
        v = getattr(device, name)
        a = V.concrete(v)
        mask = None
        if fixed_zeros and a is not None and np.any(a == 0):
            if np.all(a == 0):
                raise ValueError(
                    f"{own}: {name} is zero everywhere, so with fixed_zeros=True none of it could "
                    "change; start from a nonzero nominal value or pass fixed_zeros=False")
            mask = jnp.asarray(a != 0)
        if a is not None:
            free = a if mask is None else a[a != 0]
            below = np.any(free <= lo) if lo is not None else False
            above = np.any(free >= hi) if hi is not None else False
            if below or above:
                raise ValueError(
                    f"{own}: {name}={V.show(a)} must lie strictly inside its bounds "
                    f"({lo}, {hi}) (None: open), where the change of variables is invertible; "
                    f"widen the bounds or start from another value")
        start = v if mask is None else jnp.where(mask, v, _to_physical(jnp.zeros_like(v), lo, hi, log))
        raw[name] = jax.lax.convert_element_type(_to_raw(start, lo, hi, log), v.dtype)  # not weak
        active[name] = mask
        spec.append((name, lo, hi, log))
    return Design(device, raw, active, tuple(spec))


def per_link(draws):
    r"""Random draws ``(..., N, N)`` for a reciprocal coupling matrix: one per link, the upper
    triangle's draw shared by entries $(i, j)$ and $(j, i)$, so that each link scatters by the
    full spread and the matrix stays symmetric (averaging two draws would give $\sigma/\sqrt 2$).
    NumPy in, NumPy out; JAX in, JAX out."""
    xp = np if isinstance(draws, np.ndarray) else jnp
    n = draws.shape[-1]
    return xp.where(np.triu(np.ones((n, n), dtype=bool)), draws, xp.swapaxes(draws, -1, -2))


def fabricate(device: AbstractDevice, key, spread: Mapping[str, float], n: int, *,
              distribution: str = "normal", batch_ndim: int = 0,
              symmetric: tuple[str, ...] = ()) -> AbstractDevice:
    r"""``n`` fabricated copies of ``device``, with parameters spread around the nominal ones.

    **Arguments:**

    - `device`: the nominal device (a :class:`~physnn.STONetwork`, :class:`~physnn.MottNetwork`,
      :class:`~physnn.DuffingNetwork` or :class:`~physnn.DuffingDelayNode`; any device that
      declares ``ensemble_params`` and has a ``batch_shape``, see
      :class:`~physnn.AbstractDevice`). Its parameters may be traced: the chips are
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
    - `symmetric`: names of matrix parameters (coupling matrices) that stay symmetric, for
      couplings that are reciprocal by construction: one factor is drawn per link and shared by
      entries $(i, j)$ and $(j, i)$ (so each link scatters by $\sigma$), and the result is made
      symmetric, $(W + W^\top)/2$ (a no-op for a symmetric nominal matrix). The matrices that
      a device declares reciprocal (its ``reciprocal`` class variable: the coupling matrices of
      :class:`~physnn.MottNetwork` and the springs of :class:`~physnn.DuffingNetwork`, which
      their constructors require to be symmetric) are always treated so; name others here.

    **Returns:** the device with batch shape ``(n,) + (1,) * batch_ndim + device.batch_shape``.

    A chip draws one factor per element of a parameter's own axes (per oscillator, per entry
    of a matrix, per link of a symmetric one). When the nominal device already has ensemble
    axes (a sweep of drive amplitudes, say), every point of the sweep sees the same chips, and
    the draws do not depend on ``batch_ndim`` or on the sweep: the same key gives the same chips.
    """
    own = "fabricate"
    if not isinstance(device, AbstractDevice):
        raise TypeError(not_a_device(own, device))
    kind = type(device).__name__
    own_axes = ensemble_params(device, own)
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
    names = parameter_names(device)
    _check_spread(own, device, spread, names)
    if isinstance(symmetric, str):
        raise ValueError(f"{own}: symmetric={symmetric!r} must be a tuple of parameter names, "
                         f"e.g. ({symmetric!r},)")
    symmetric = tuple(symmetric) + tuple(sorted(m for m in type(device).reciprocal
                                                if m not in symmetric))
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
        xi = jax.random.normal(k, (n,) + core, dtype=v.dtype)
        if name in symmetric:
            xi = per_link(xi)
        xi = xi.reshape((n,) + pad + core)
        sigma = jnp.asarray(sigma, dtype=v.dtype)
        if distribution == "normal":
            factor = 1.0 + sigma * xi
            f = V.concrete(factor)
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


def _gradient(fn, device: AbstractDevice, names, own: str):
    """``fn(device)``, its gradient with respect to the named parameters, and their values."""
    if not isinstance(device, AbstractDevice):
        raise TypeError(not_a_device(own, device))
    if not callable(fn):
        raise ValueError(f"{own}: fn must be callable as fn(device) -> scalar, got {type(fn).__name__}")
    valid = _variable_names(device)
    names = list(valid if names is None else names)
    for name in names:
        if name not in valid:
            raise _no_parameter(own, device, name, valid, "varied",
                                "which the Masked drive's hold fixes")
    params = {n: getattr(device, n) for n in names}

    def f(ps):
        return fn(eqx.tree_at(lambda d: [getattr(d, n) for n in names], device,
                              [ps[n] for n in names]))

    shape = getattr(jax.eval_shape(f, params), "shape", None)
    if shape != ():
        raise ValueError(f"{own}: fn(device) must return a finite scalar, got shape {shape}")
    value, grads = jax.value_and_grad(f)(params)
    v = V.concrete(value)
    if v is not None and not np.isfinite(v):
        raise ValueError(f"{own}: fn(device) must return a finite scalar, got {V.show(v)}")
    return value, grads, params


def sensitivity(fn, device: AbstractDevice, names=None) -> dict[str, jax.Array]:
    r"""Elasticities of a figure of merit: $\partial \ln m / \partial \ln p$ for every element of
    the named parameters, i.e. the relative change of $m$ per relative change of $p$.

    **Arguments:**

    - `fn`: ``fn(device) -> scalar``, the figure of merit $m$ (through a simulation or a closed
      form); it must be differentiable and nonzero at ``device``.
    - `device`: the nominal device.
    - `names`: the parameters to differentiate; default every floating parameter (for a delay
      device, all but theta, which the drive sets).

    **Returns:** ``{name: array shaped like the parameter}``. An elasticity of 2 means a 1 %
    change of that element changes $m$ by 2 %: the parameters with the largest elasticities are
    those whose fabrication spread matters most (see :func:`spread_std`).
    """
    own = "sensitivity"
    value, grads, params = _gradient(fn, device, names, own)
    v = V.concrete(value)
    if v is not None and v == 0:
        raise ValueError(f"{own}: fn(device) = 0, so relative changes of it are undefined; use "
                         "spread_std, or a figure of merit that is not zero at the device")
    return {n: grads[n] * params[n] / value for n in params}


def spread_std(fn, device: AbstractDevice, spread: Mapping[str, float]) -> jax.Array:
    r"""The chip-to-chip standard deviation of a figure of merit to first order in the spread:

    $$\sigma_m \approx \Big(\sum_{p}\sum_{e} \big(\partial m/\partial p_e\; p_e\, \sigma_p\big)^2
      \Big)^{1/2},$$

    for parameters scattering as :func:`fabricate` draws them (each element $e$ of parameter $p$
    independently, by a relative spread $\sigma_p$; normal and lognormal agree to this order). One
    gradient instead of a Monte Carlo over chips; it holds while $m$ is close to linear over the
    spread (compare with ``fabricate`` for large spreads or near a threshold).

    **Arguments:**

    - `fn`: ``fn(device) -> scalar``, the figure of merit.
    - `device`: the nominal device.
    - `spread`: ``{parameter name: relative spread}``, as for :func:`fabricate`.

    **Returns:** the standard deviation, in the units of ``fn``'s value.
    """
    own = "spread_std"
    if isinstance(device, AbstractDevice):
        _check_spread(own, device, spread, _variable_names(device))
    _, grads, params = _gradient(fn, device, list(spread), own)
    var = sum(jnp.sum((grads[n] * params[n] * spread[n]) ** 2) for n in spread)
    return jnp.sqrt(var)


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
    if not isinstance(device, AbstractDevice):
        raise TypeError(not_a_device(own, device))
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


# ----------------------------------------------------------------------- physics-aware training


def _pytree_spec(tree):
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return treedef, [(tuple(x.shape), jnp.dtype(x.dtype)) for x in leaves]


def physics_aware(physical, model):
    r"""Physics-aware training (Wright et al., Nature 601, 549 (2022)): a function whose value is
    what the *physical* system returns and whose gradient is the *digital model*'s, evaluated at
    the same arguments.

    A fabricated chip never matches its model exactly, and a laboratory measurement (through a
    callback, quantised by an ADC, noisy) cannot be differentiated at all. Training the model
    in silico and then deploying it on the chip carries the mismatch into the result. Training
    in situ with this function instead measures the chip in the forward pass and only borrows
    the model's Jacobian for the backward pass:

    $$y = f_{\mathrm{phys}}(\theta, x),\qquad
    \frac{\partial L}{\partial \theta} \approx
    \Big(\frac{\partial f_{\mathrm{model}}}{\partial \theta}(\theta, x)\Big)^{\!\top}
    \frac{\partial L}{\partial y}\Big|_{y = f_{\mathrm{phys}}(\theta, x)}.$$

    The loss sees the physical output, so where the model's Jacobian has full rank the training
    stops only where the *physical* loss is stationary: a chip's own optimum, not the model's.
    The model only has to get the direction of the gradient roughly right.

    **Arguments:**

    - `physical`: ``physical(*args, **kwargs) -> y``, the system that is measured: a simulation
      of a fabricated chip (`fabricate`), a noisy SDE solve, or a laboratory instrument behind
      ``jax.pure_callback``. It need not be differentiable.
    - `model`: ``model(*args, **kwargs) -> y``, the differentiable digital twin, returning a
      pytree of the same structure, shapes and dtypes.

    **Returns:** ``fn(*args, **kwargs)``, which returns ``physical(*args, **kwargs)`` and
    differentiates, through ``model``, with respect to every floating-point array in the
    positional arguments (the design or its parameters, and the inputs when a physical layer
    feeds another); keyword arguments (a noise key, a configuration) are not differentiated.
    The backward pass evaluates ``model`` forward and backward at the same arguments, so a step
    costs a plain gradient step plus one forward solve (``benchmarks/bench_physics_aware.py``);
    only reverse mode is defined (``grad``, ``vjp``; not ``jvp`` or ``jacfwd``). A physical
    output that is not finite raises an error when it is measured.

    ```python
    chip = codesign.fabricate(nominal, jax.random.key(7), {"f0_ghz": 0.01}, 1)  # unknown to us

    def measure(currents):      # the chip
        return steady_frequency(eqx.tree_at(lambda d: d.current_ma, chip, currents))

    def twin(currents):         # what we believe it to be
        return steady_frequency(eqx.tree_at(lambda d: d.current_ma, nominal, currents))

    frequency = codesign.physics_aware(measure, twin)
    loss = lambda currents: jnp.sum((frequency(currents) - target) ** 2)
    ```
    """
    own = "physics_aware"
    for name, f in (("physical", physical), ("model", model)):
        if not callable(f):
            raise TypeError(f"{own}: {name} must be callable as {name}(*args, **kwargs) -> outputs, "
                            f"got {type(f).__name__}")

    def measure(args, kwargs):
        out = physical(*args, **kwargs)
        leaves = jax.tree_util.tree_leaves(out)
        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves])) if leaves else True
        return eqx.error_if(out, ~finite, f"{own}: the physical system returned non-finite values")

    def check(args, kwargs):
        got = eqx.filter_eval_shape(lambda a: physical(*a, **kwargs), args)
        want = eqx.filter_eval_shape(lambda a: model(*a, **kwargs), args)
        for tree, name in ((got, "physical"), (want, "model")):
            for leaf in jax.tree_util.tree_leaves(tree):
                if not jnp.issubdtype(leaf.dtype, jnp.inexact):
                    raise ValueError(f"{own}: {name} must return floating-point arrays, got a leaf "
                                     f"of dtype {leaf.dtype}")
        if _pytree_spec(got) != _pytree_spec(want):
            (tp, sp), (tm, sm) = _pytree_spec(got), _pytree_spec(want)
            raise ValueError(
                f"{own}: physical and model must return the same structure, shapes and dtypes; "
                f"physical returned {tp} with (shape, dtype) {sp}, model {tm} with {sm}")

    @eqx.filter_custom_vjp
    def apply(args, kwargs):
        return measure(args, kwargs)

    @apply.def_fwd
    def apply_fwd(perturbed, args, kwargs):
        return measure(args, kwargs), None

    @apply.def_bwd
    def apply_bwd(residuals, grad_out, perturbed, args, kwargs):
        out, vjp = eqx.filter_vjp(lambda a: model(*a, **kwargs), args)
        leaves, treedef = jax.tree_util.tree_flatten(out)
        cts = treedef.flatten_up_to(grad_out)
        cts = [jnp.zeros_like(x) if c is None else c for x, c in zip(leaves, cts, strict=True)]
        (grads,) = vjp(jax.tree_util.tree_unflatten(treedef, cts))
        return jax.tree_util.tree_map(lambda g, p: g if p else None, grads, perturbed,
                                      is_leaf=lambda x: x is None)

    def fn(*args, **kwargs):
        check(args, kwargs)
        return apply(args, kwargs)

    return fn
