r"""The result of a solve and the time-grid checks shared by both integrators.

:func:`physnn.simulate` (diffrax, for ODEs and SDEs) and :func:`physnn.delay.simulate_delay`
(physnn's method of steps, for delay equations) take the same time arguments and return the
same :class:`Trajectory`. Both read them here, so that neither integrator imports the other's
internals:

- :func:`time_grid` turns ``(dt, t0, t1)`` and the drive into the grid actually solved on: for a
  piecewise-constant drive of hold $h$, ``n_seg`` holds of ``n_sub`` steps of $h/n_{sub}$ with
  $n_{sub} = \lceil h/\mathrm{dt}\rceil$ (no step straddles an input jump); otherwise
  ``n_seg`` equal steps $\le$ ``dt`` from ``t0`` to ``t1``.
- :func:`batch_shape` broadcasts the device's ensemble axes with the drive's batch axes.
- :func:`check_solution` raises :class:`SimulationError` for a failed solve (eagerly), or
  attaches an ``equinox.error_if`` under ``jit``/``grad``.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np
from jaxtyping import Array, PyTree

__all__ = ["Trajectory", "SimulationError", "SAVE_MODES", "time_grid", "batch_shape", "is_traced",
           "check_solution"]

#: what ``saveat`` may name: the end of every hold, every step, or the final state only.
SAVE_MODES = ("holds", "steps", "final")


class SimulationError(RuntimeError):
    """A solve failed: the state became non-finite or the step budget ran out."""


class Trajectory(eqx.Module):
    """The result of :func:`physnn.simulate`.

    - `ts`: saved times, shape ``(n_save,)``, in the device's ``time_unit``.
    - `ys`: saved states; every leaf has shape ``(n_save,) + batch + state``.
    - `obs`: ``device.observe`` at the saved times (same leading axes), or ``None``.
    - `us`: the drive value at the saved times (the value *in force* on the interval that ends
      there, for piecewise-constant drives), or ``None`` without a drive.
    """

    ts: Array
    ys: PyTree[Array]
    obs: PyTree[Array] | None
    us: PyTree[Array] | None

    @property
    def y_final(self) -> PyTree[Array]:
        """The last saved state (every leaf without its time axis)."""
        return jtu.tree_map(lambda y: y[-1], self.ys)


def batch_shape(device, drive, y0=None) -> tuple[int, ...] | None:
    """The batch shape of a solve: the device's ensemble axes (``device.batch_shape``, ``()``
    without) broadcast with the drive's batch axes (``drive.batch_shape``), or ``None`` when an
    initial state ``y0`` is given (its own leading axes are the batch)."""
    if y0 is not None:
        return None
    from .contract import solve_batch_shape  # contract imports nothing of physnn's

    return solve_batch_shape(device, drive)


def is_traced(x) -> bool:
    """Whether any leaf of ``x`` is a JAX tracer (inside ``jit``/``grad``/``vmap``)."""
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jtu.tree_leaves(x))


def time_grid(device, drive, dt, t0, t1):
    r"""Validate the time arguments of a solve and return its grid.

    **Arguments:**

    - `device`: the device (its ``time_unit`` names the unit in messages).
    - `drive`: a :mod:`physnn.drives` drive or ``None``.
    - `dt`: the largest step, in ``time_unit``; finite and > 0.
    - `t0`: the start; ``None`` for the drive's ``t0`` (or 0 without a drive).
    - `t1`: the end; ``None`` for the end of a piecewise-constant drive. With such a drive,
      $(t_1 - t_0)/h$ must be a whole number.

    **Returns:** ``(dt, t0, t1, held, n_seg, n_sub, step)`` (Python numbers): for a
    piecewise-constant drive (``held``), ``n_seg`` holds of ``n_sub`` steps of
    ``step = hold / n_sub``; otherwise ``n_seg`` steps of ``step = (t1 - t0) / n_seg`` and
    ``n_sub = 1``.

    **Raises:** ``ValueError`` naming the argument, its value and what is expected.
    """
    unit = device.time_unit
    dt = float(dt)
    if not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"simulate: dt={dt!r} must be a finite step > 0 ({unit})")
    held = drive is not None and drive.hold is not None
    t0 = float(drive.t0 if (t0 is None and drive is not None) else (0.0 if t0 is None else t0))
    if t1 is None:
        if not held:
            raise ValueError(f"simulate: t1 is required for {type(drive).__name__ if drive else 'no drive'}")
        t1 = drive.t0 + drive.duration
    t1 = float(t1)
    if not t1 > t0:
        raise ValueError(f"simulate: t1={t1!r} must be greater than t0={t0!r}")
    if not held:
        n_steps = max(1, math.ceil((t1 - t0) / dt - 1e-9))
        return dt, t0, t1, False, n_steps, 1, (t1 - t0) / n_steps
    if abs(drive.t0 - t0) > 1e-9 * max(1.0, abs(t0)):
        raise ValueError(f"simulate: t0={t0} must equal the drive's start t0={drive.t0}")
    m = (t1 - t0) / drive.hold
    n_seg = int(round(m))
    if n_seg < 1 or abs(m - n_seg) > 1e-6 * max(1.0, m):
        raise ValueError(
            f"simulate: t1={t1} is not aligned with the drive: (t1 - t0)/hold = {m:.6g} must "
            f"be a whole number (hold = {drive.hold} {unit})"
        )
    n_sub = max(1, math.ceil(drive.hold / dt - 1e-9))
    return dt, t0, t1, True, n_seg, n_sub, drive.hold / n_sub


def check_solution(name, unit, ts, ys, ok, t1, step, adaptive, max_steps):
    """Raise :class:`SimulationError` (eagerly) or attach an ``equinox.error_if`` (under
    tracing) when a solve failed: a state that is not finite, or (``adaptive``) a step budget
    ``max_steps`` that ran out (``ok`` False for some solve segment). ``name`` is the device's
    class name, ``unit`` its time unit, ``step`` the step used. Returns ``ys``."""
    leaves = jtu.tree_leaves(ys)
    finite_t = jnp.stack([jnp.all(jnp.isfinite(y.reshape(y.shape[0], -1)), axis=1) for y in leaves])
    finite_t = jnp.all(finite_t, axis=0)
    all_ok = jnp.all(ok)
    all_finite = jnp.all(finite_t)
    if is_traced((all_ok, all_finite)):
        budget = (
            f"simulate: {name}: the adaptive step budget max_steps={max_steps} ran out before "
            f"t1={t1} {unit}; raise max_steps, loosen rtol/atol, or use fixed steps"
        )
        nonfinite = (
            f"simulate: {name}: the state became non-finite (NaN/inf) before t1={t1} {unit} "
            f"(step {step:.4g} {unit}); reduce dt or check the parameters and the drive"
        )
        ys = eqx.error_if(ys, ~all_ok & adaptive, budget)
        ys = eqx.error_if(ys, ~all_finite, nonfinite)
        return ys
    if adaptive and not bool(all_ok):
        k = int(np.argmin(np.asarray(ok)))
        raise SimulationError(
            f"simulate: {name}: the adaptive step budget max_steps={max_steps} ran out "
            f"(in the solve ending at t={float(np.asarray(ts)[min(k, len(ts) - 1)]):.6g} {unit}, "
            f"before t1={t1} {unit}); raise max_steps, loosen rtol/atol, or use fixed steps"
        )
    if not bool(all_finite):
        idx = int(np.argmin(np.asarray(finite_t)))
        t_bad = float(np.asarray(ts)[idx])
        t_prev = float(np.asarray(ts)[idx - 1]) if idx > 0 else None
        window = f"between t={t_prev:.6g} and t={t_bad:.6g}" if t_prev is not None else \
            f"by t={t_bad:.6g}"
        bad_leaf = next(y for y in leaves if not np.all(np.isfinite(np.asarray(y[idx]))))
        where = np.argwhere(~np.isfinite(np.asarray(bad_leaf[idx])))[0]
        raise SimulationError(
            f"simulate: {name}: the state became non-finite (NaN/inf) {window} {unit} "
            f"(first at state index {tuple(int(i) for i in where)}; step {step:.4g} {unit}); "
            "reduce dt or check the parameters and the drive"
        )
    return ys
