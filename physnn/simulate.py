r"""``simulate``: integrate a device under a drive, with diffrax.

$$\mathrm{d}y = f(t, y, u(t))\,\mathrm{d}t + g(t, y, u(t)) \circ \mathrm{d}W_t,\qquad y(t_0) = y_0$$

Design choices (measured, see DESIGN.md):

- **The batch lives inside the state.** Devices write their vector fields for leading batch axes,
  and one ``diffeqsolve`` advances every sample at once.
- **Fixed steps aligned to the drive.** For piecewise-constant drives (``drive.hold``), the solve
  runs one hold interval at a time inside a ``lax.scan``; every interval is an exact number of
  steps, and every solver stage sees the value held on its own interval, so no stage ever
  straddles a jump. The step actually used is ``hold / ceil(hold / dt)`` (never larger than ``dt``).
  Adaptive steps (``adaptive=True``) are an option on both paths.
- **Thermal noise as an SDE** when ``key`` is given and the device has a diffusion: additive or
  diagonal noise, Stratonovich (Heun) by default. The Brownian increments are a deterministic
  function of ``key`` and the step, so the same key gives the same path, and gradients with
  respect to the device parameters flow through the noise amplitude.
- **Errors a user can act on.** A state that turns non-finite, or an adaptive solve that runs out
  of steps, raises :class:`SimulationError` naming the device and the time. Inside ``jit``/``grad``
  the same checks run through ``equinox.error_if`` (the message then names the device and t1).
"""

from __future__ import annotations

from typing import Any

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import jax.tree_util as jtu
import lineax as lx
import numpy as np
from jaxtyping import Array, PyTree

from .contract import check_solve_inputs
from .delay import simulate_delay
from .devices._base import AbstractDelayDevice, AbstractDevice, not_a_device
from .drives import AbstractDrive
from .trajectory import (
    SAVE_MODES,
    SimulationError,
    Trajectory,
    batch_shape,
    check_solution,
    is_traced,
    time_grid,
)

__all__ = ["simulate", "Trajectory", "SimulationError"]


def _drive_value(drive, t):
    return None if drive is None else drive(t)


def _noise_shape(y0):
    return jtu.tree_map(lambda y: jax.ShapeDtypeStruct(y.shape, y.dtype), y0)


class _GridBrownianPath(dfx.AbstractBrownianPath):
    """Brownian increments for fixed steps on a known grid ``t_start + k * dt``.

    The increment over step ``k`` is drawn from ``fold_in(key, k)``, where ``k`` is recovered by
    rounding, so the path is a deterministic function of the key and the step (unlike diffrax's
    ``UnsafeBrownianPath``, which keys on the bit pattern of the times). This makes noisy solves
    reproducible and compatible with checkpointed reverse-mode gradients.
    """

    shape: PyTree[jax.ShapeDtypeStruct] = eqx.field(static=True)
    key: Array
    t_start: float = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    levy_area: type = eqx.field(static=True, default=dfx.BrownianIncrement)

    @property
    def t0(self):
        return -jnp.inf

    @property
    def t1(self):
        return jnp.inf

    def evaluate(self, t0, t1=None, left=True, use_levy=False):
        del left, use_levy
        t0 = jax.lax.stop_gradient(t0)
        t1 = jax.lax.stop_gradient(t1)
        k = jnp.round((t0 - self.t_start) / self.dt).astype(jnp.int32)
        leaves, treedef = jtu.tree_flatten(self.shape)
        keys = jr.split(jr.fold_in(self.key, k), len(leaves))
        scale = jnp.sqrt(jnp.maximum(t1 - t0, 0.0))
        out = [jr.normal(kk, s.shape, s.dtype) * scale.astype(s.dtype)
               for kk, s in zip(keys, leaves, strict=True)]
        return jtu.tree_unflatten(treedef, out)


def _terms(device, key, y0, u_of_t, grid):
    """ODE term, or ODE + diagonal-noise terms when ``key`` is given.

    ``grid = ("fixed", t_start, dt)`` for fixed steps, ``("tree", t0, t1, tol)`` for adaptive
    steps (a virtual Brownian tree)."""

    def f(t, y, args):
        return device.drift(t, y, u_of_t(t, args))

    ode = dfx.ODETerm(f)
    if key is None:
        return ode, False

    def f_noisy(t, y, args):
        u = u_of_t(t, args)
        extra = device.noise_drift(t, y, u)
        dy = device.drift(t, y, u)
        return dy if extra is None else jtu.tree_map(jnp.add, dy, extra)

    ode = dfx.ODETerm(f_noisy)

    def g(t, y, args):
        return lx.DiagonalLinearOperator(device.diffusion(t, y, u_of_t(t, args)))

    if grid[0] == "fixed":
        bm = _GridBrownianPath(shape=_noise_shape(y0), key=key, t_start=grid[1], dt=grid[2])
    else:
        bm = dfx.VirtualBrownianTree(grid[1], grid[2], tol=grid[3], shape=_noise_shape(y0), key=key)
    return dfx.MultiTerm(ode, dfx.ControlTerm(g, bm)), True


def _default_adjoint(n_steps: int, state_bytes: int):
    # Storing every step avoids recomputation (gradient about 2-3x the forward time instead of
    # ~7x with binomial checkpointing); fall back to the default when that would exceed ~2 GiB.
    if n_steps * state_bytes * 8 < 2 * 2**30:
        return dfx.RecursiveCheckpointAdjoint(checkpoints=max(n_steps, 1))
    return dfx.RecursiveCheckpointAdjoint()


def _status(sol) -> Array:
    return sol.result == dfx.RESULTS.successful


# --------------------------------------------------------------------------------------------
# The two integration paths. Both return (ts, ys, us, ok_per_segment, t_reached)
# --------------------------------------------------------------------------------------------


@eqx.filter_jit
def _solve_segmented(device, drive, y0, key, cfg):
    """One hold interval per ``diffeqsolve``, scanned over intervals."""
    (n_seg, n_sub, hold, t0, save, solver, adjoint, adaptive, rtol, atol, max_steps) = cfg
    dt = hold / n_sub
    local_ts = jnp.arange(n_sub + 1, dtype=jnp.result_type(float)) * dt

    def one(y, k):
        t_k = t0 + k * hold
        u_k = drive.segment(k)

        def u_of_t(t, args):
            return u_k

        seg_device = _Shifted(device, t_k)
        seg_key = None if key is None else jr.fold_in(key, k)
        grid = ("tree", 0.0, hold, dt / 8) if adaptive else ("fixed", 0.0, dt)
        terms, _ = _terms(seg_device, seg_key, y, u_of_t, grid)
        if adaptive:
            ctrl = dfx.PIDController(rtol=rtol, atol=atol)
            steps = max_steps
        else:
            ctrl = dfx.StepTo(ts=local_ts)
            steps = n_sub
        dt0 = dt if adaptive else None
        saveat = dfx.SaveAt(steps=True) if save == "steps" else dfx.SaveAt(t1=True)
        sol = dfx.diffeqsolve(
            terms, solver, 0.0, hold, dt0, y, saveat=saveat, stepsize_controller=ctrl,
            max_steps=steps, adjoint=adjoint, throw=False,
        )
        y_next = jtu.tree_map(lambda a: a[-1], sol.ys)
        return y_next, (t_k + sol.ts, sol.ys, u_k, _status(sol))

    _, (ts, ys, us, ok) = jax.lax.scan(one, y0, jnp.arange(n_seg))
    if save == "steps":
        ts = ts.reshape(-1)
        ys = jtu.tree_map(lambda a: a.reshape((-1,) + a.shape[2:]), ys)
        us = jnp.repeat(us, n_sub, axis=0)
    else:
        ts = ts[:, 0]
        ys = jtu.tree_map(lambda a: a[:, 0], ys)
    if save == "final":
        ts, ys, us = ts[-1:], jtu.tree_map(lambda a: a[-1:], ys), us[-1:]
    return ts, ys, us, ok


@eqx.filter_jit
def _solve_continuous(device, drive, y0, key, cfg):
    (t0, t1, dt, n_steps, save_ts, save, solver, adjoint, adaptive, rtol, atol, max_steps) = cfg

    def u_of_t(t, args):
        return _drive_value(drive, t)

    grid = ("tree", t0, t1, dt / 8) if adaptive else ("fixed", t0, dt)
    terms, _ = _terms(device, key, y0, u_of_t, grid)
    if adaptive:
        ctrl = dfx.PIDController(rtol=rtol, atol=atol)
        steps = max_steps
    else:
        grid = t0 + jnp.arange(n_steps + 1, dtype=jnp.result_type(float)) * dt
        grid = grid.at[-1].set(t1)
        ctrl = dfx.StepTo(ts=grid)
        steps = n_steps
    dt0 = dt if adaptive else None
    if save == "steps":
        saveat = dfx.SaveAt(steps=True)
    elif save == "final":
        saveat = dfx.SaveAt(t1=True)
    else:
        saveat = dfx.SaveAt(ts=jnp.asarray(save_ts))
    sol = dfx.diffeqsolve(
        terms, solver, t0, t1, dt0, y0, saveat=saveat, stepsize_controller=ctrl,
        max_steps=steps, adjoint=adjoint, throw=False,
    )
    ts = sol.ts
    us = None if drive is None else jax.vmap(drive)(ts)
    return ts, sol.ys, us, _status(sol)[None]


class _Shifted(eqx.Module):
    """A device seen in the local time of one hold interval (t = t_k + s)."""

    device: Any
    t_k: Any

    def drift(self, s, y, u):
        return self.device.drift(self.t_k + s, y, u)

    def diffusion(self, s, y, u):
        return self.device.diffusion(self.t_k + s, y, u)

    def noise_drift(self, s, y, u):
        return self.device.noise_drift(self.t_k + s, y, u)


# --------------------------------------------------------------------------------------------


def simulate(
    device: AbstractDevice,
    drive: AbstractDrive | None = None,
    *,
    dt: float,
    t1: float | None = None,
    t0: float | None = None,
    y0: PyTree[Array] | None = None,
    saveat: Any = None,
    key: Array | None = None,
    solver: dfx.AbstractSolver | None = None,
    adjoint: dfx.AbstractAdjoint | None = None,
    adaptive: bool = False,
    rtol: float = 1e-6,
    atol: float = 1e-8,
    max_steps: int = 100_000,
    observe: bool = True,
    history: Any = None,
    max_delay: float | None = None,
    min_delay: float | None = None,
) -> Trajectory:
    r"""Integrate ``device`` under ``drive`` from ``t0`` to ``t1``.

    **Arguments:**

    - `device`: an :class:`~physnn.AbstractDevice`.
    - `drive`: a :mod:`physnn.drives` drive, or ``None`` for a free-running device. Its values
      must have, after its batch axes, a trailing shape the device takes
      (``device.input_shapes()``, e.g. ``(2, n_tones)`` for :class:`~physnn.STONetwork`), and its
      batch axes must broadcast with the device's ensemble axes (``device.batch_shape``): that
      broadcast is the batch of the solve.
    - `dt`: the (maximum) step, in the device's time unit. With a piecewise-constant drive the
      step is reduced to ``hold / ceil(hold / dt)`` so that every hold is a whole number of steps.
      With ``adaptive=True`` it is the initial step.
    - `t1`: final time. Defaults to the end of a piecewise-constant drive. With such a drive it
      must be ``t0 + m * hold`` for a whole number ``m`` (the last value is held past the end).
    - `t0`: initial time; defaults to the drive's ``t0`` (or 0).
    - `y0`: initial state; defaults to ``device.init_state(batch_shape)`` where the batch shape
      is broadcast from the drive's and the device's batch axes. A given ``y0`` must have the
      structure and the trailing shapes of ``device.init_state(())`` and carry the whole batch
      in front of them; it may add leading axes of its own (more samples), and nothing else is
      broadcast.
    - `saveat`: what to save. ``None`` (default): the end of every hold for piecewise-constant
      drives, otherwise 1001 evenly spaced times (fewer if there are fewer steps).
      ``"holds"``, ``"steps"`` (every step), ``"final"``, or an array of times (continuous drives).
      A ``diffrax.SaveAt`` is not accepted: physnn needs to know the times to pair them with the
      drive.
    - `key`: a ``jax.random`` key. When given and the device has a diffusion, the thermal noise
      is simulated as an SDE (the same key gives the same path). Inside ``jax.jit`` a device's
      temperature is a traced array, so a device at 0 K cannot be seen to be noise-free: with a
      key it is solved as an SDE (``Heun``, zero noise), not as an ODE (``Tsit5``), and at the
      same step its solution is less accurate. Pass ``key=None`` for a deterministic solve:
      the noise-free model, at any temperature. It integrates ``device.drift`` alone, without
      the drift that belongs to the noise (``device.noise_drift``, e.g. the Stratonovich term of
      :class:`~physnn.STONetwork`), so that it meets the model's noise-free closed forms.
    - `solver`: a diffrax solver. Default ``Tsit5`` for ODEs and ``Heun`` (Stratonovich) for SDEs.
    - `adjoint`: a diffrax adjoint. Default: recursive checkpointing that stores every fixed step
      when that fits in memory (see BENCHMARKS.md for the gradient/forward ratio).
    - `adaptive`, `rtol`, `atol`: adaptive step-size control (PID controller).
    - `max_steps`: step budget of an adaptive solve (per hold interval for held drives).
    - `observe`: also evaluate ``device.observe`` at the saved times.
    - `history`, `max_delay`, `min_delay`: for delay devices only
      (:class:`~physnn.AbstractDelayDevice`), which go through physnn's delay integrator,
      :func:`physnn.delay.simulate_delay`: the state before ``t0`` (a constant or a function of
      one scalar time, either with the shape of ``y0``), and upper and lower bounds on a traced
      delay (the lower one keeps low-pass nodes on the vectorised method of steps while the
      delay is trained).

    **Returns:** a :class:`Trajectory`; every saved leaf has the time axis first, then the batch.

    **Raises:** ``ValueError`` for inconsistent arguments, :class:`SimulationError` when the state
    becomes non-finite or the step budget runs out. The shapes of ``device``, ``drive``, ``y0``
    and ``history`` are checked against one another before anything is traced (the shape
    contract, :mod:`physnn.contract`; it reads shapes only, so it runs the same inside
    ``jax.jit``/``jax.grad``): a mismatch is a ``ValueError`` naming the argument, the shape
    received and the shape expected.
    """
    name = type(device).__name__
    if not isinstance(device, AbstractDevice):
        raise ValueError(not_a_device("simulate", device))
    if drive is not None and not isinstance(drive, AbstractDrive):
        raise ValueError(f"simulate: drive must be a physnn drive or None, got {type(drive)}")
    if isinstance(device, AbstractDelayDevice):
        if key is not None or solver is not None or adjoint is not None or adaptive:
            raise ValueError(
                f"simulate: {name} is a delay device, integrated by physnn's fixed-step delay "
                "integrator (RK4 with a history buffer); key, solver, adjoint and adaptive do not "
                "apply to it"
            )
        # the shape contract before the delay integrator traces anything (t0 as it will use it)
        check_solve_inputs(device, drive, time_grid(device, drive, dt, t0, t1)[1], y0, history)
        return simulate_delay(device, drive, dt=dt, t1=t1, t0=t0, y0=y0, history=history,
                              saveat=saveat, max_delay=max_delay, min_delay=min_delay,
                              observe=observe)
    if history is not None or max_delay is not None or min_delay is not None:
        raise ValueError(f"simulate: history, max_delay and min_delay apply to delay devices only, "
                         f"not {name}")
    if isinstance(saveat, dfx.SaveAt):
        raise ValueError(
            "simulate: saveat=diffrax.SaveAt(...) is not accepted; pass 'holds', 'steps', "
            "'final' or an array of times"
        )
    if isinstance(saveat, str) and saveat not in SAVE_MODES:
        raise ValueError(f"simulate: saveat={saveat!r}; expected one of {SAVE_MODES}, an array or None")
    dt, t0, t1, held, n_seg, n_sub, step = time_grid(device, drive, dt, t0, t1)
    max_steps = int(max_steps)
    if max_steps < 1:
        raise ValueError(f"simulate: max_steps={max_steps} must be a positive integer")

    check_solve_inputs(device, drive, t0, y0)
    shape = batch_shape(device, drive, y0)
    if y0 is None:
        y0 = device.init_state(shape)
    noisy = key is not None and device.diffusion(t0, y0, _drive_value(drive, t0)) is not None
    if not noisy:
        key = None
    if solver is None:
        solver = dfx.Heun() if noisy else dfx.Tsit5()
    state_bytes = sum(np.prod(y.shape) * y.dtype.itemsize for y in jtu.tree_leaves(y0))

    if held:
        save = "holds" if saveat is None else saveat
        if not isinstance(save, str):
            raise ValueError(
                "simulate: with a piecewise-constant drive, saveat must be 'holds', 'steps' or "
                f"'final' (got {type(saveat).__name__})"
            )
        if save == "steps" and adaptive:
            raise ValueError("simulate: saveat='steps' needs fixed steps (adaptive=False)")
        if adjoint is None:
            adjoint = _default_adjoint(max_steps if adaptive else n_sub, state_bytes)
        cfg = (n_seg, n_sub, drive.hold, t0, save, solver, adjoint, adaptive, rtol, atol, max_steps)
        ts, ys, us, ok = _solve_segmented(device, drive, y0, key, cfg)
    else:
        n_steps = n_seg
        if saveat is None:
            save, save_ts = "ts", np.linspace(t0, t1, min(n_steps, 1000) + 1)
        elif isinstance(saveat, str):
            if saveat == "holds":
                raise ValueError("simulate: saveat='holds' needs a piecewise-constant drive")
            if saveat == "steps" and adaptive:
                raise ValueError("simulate: saveat='steps' needs fixed steps (adaptive=False)")
            save, save_ts = saveat, None
        else:
            if is_traced(saveat):
                raise ValueError(
                    "simulate: saveat times must be concrete values (build them with numpy, e.g. "
                    "np.linspace), not traced JAX arrays: they fix the shape of the result"
                )
            try:
                save_ts = np.asarray(saveat, dtype=float)
            except (TypeError, ValueError):
                raise ValueError(f"simulate: saveat={saveat!r} is not an array of times; expected "
                                 "'steps', 'final', None or a 1-D array of times") from None
            if save_ts.ndim != 1 or save_ts.size == 0 or not np.all(np.isfinite(save_ts)) \
                    or np.any(np.diff(save_ts) < 0) or save_ts[0] < t0 or save_ts[-1] > t1:
                got = (f"shape {save_ts.shape}" if save_ts.ndim != 1 or save_ts.size == 0 else
                       f"{save_ts.size} times from {save_ts[0]:.6g} to {save_ts[-1]:.6g}"
                       + (", not all finite" if not np.all(np.isfinite(save_ts)) else
                          ", not increasing" if np.any(np.diff(save_ts) < 0) else ""))
                raise ValueError(
                    f"simulate: saveat has {got}; expected a non-empty increasing 1-D array of "
                    f"finite times inside [t0, t1] = [{t0}, {t1}]"
                )
            save = "ts"
        if adjoint is None:
            adjoint = _default_adjoint(max_steps if adaptive else n_steps, state_bytes)
        cfg = (t0, t1, step, n_steps, None if save_ts is None else tuple(save_ts.tolist()),
               save, solver, adjoint, adaptive, rtol, atol, max_steps)
        ts, ys, us, ok = _solve_continuous(device, drive, y0, key, cfg)

    ys = check_solution(name, device.time_unit, ts, ys, ok, t1, step, adaptive, max_steps)
    obs = None
    if observe:
        obs = jax.vmap(device.observe)(ts, ys, us)
    return Trajectory(ts=ts, ys=ys, obs=obs, us=us)


