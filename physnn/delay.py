r"""The delay integrator: differentiable solves of $\dot x = f(t, x(t), x(t-\tau), u(t))$.

diffrax has no delay-differential support, so physnn integrates :class:`AbstractDelayDevice`
systems itself, by the **method of steps** on a fixed grid:

- **Grid.** The step is ``h = hold / ceil(hold / dt)`` for piecewise-constant drives (for a
  :class:`~physnn.drives.Masked` drive, ``hold`` is the virtual-node spacing $\theta$), so every
  node interval is a whole number of steps and no stage straddles an input jump. With
  $\tau = N\theta$ the delay is then a whole number of steps too.
- **Stepper.** Classical RK4. The delayed state at the stage times $t_n - \tau + c h$
  ($c = 0, 1/2, 1$) is read from a **ring buffer** of the past states and derivatives on the
  grid, by cubic Hermite interpolation, which is fourth-order accurate. Derivatives are stored
  as one-sided limits (left and right of every grid point), so jumps of the input and the
  derivative jump at $t_0$ do not spoil the order. The buffer is carried through a
  ``lax.scan``; nothing loops in Python.
- **Differentiable in the delay.** A fractional delay $\tau/h \notin \mathbb{Z}$ is handled by
  the same interpolation, so ``jax.grad`` with respect to $\tau$ is the derivative of the
  discrete solution (checked against finite differences in the tests). The buffer length is
  fixed at trace time from the concrete delay, or from ``max_delay`` (or the node's
  ``delay_bound``) when the delay is traced (inside ``jit``/``grad``).
- **Discontinuity tracking.** Where $x'$ jumps at a grid point $t_m$ ($t_0$, and every jump of
  a piecewise-constant input), $x(t-\tau)$ has a kink at $t_m + \tau$, which lies inside a step
  when $\tau/h$ is fractional. RK4 across it is second-order accurate locally, with an error
  that oscillates with the kink's position in the step, so the derivative of the discrete
  solution with respect to $\tau$ would converge only at first order (and a delay on the grid
  would get one side of a kink). For a delay off the grid or traced, the step holding each
  such kink is taken as two RK4 substeps meeting there (lengths $p$ and $h - p$,
  $p = \tau - \lfloor\tau/h\rfloor h$, smooth in $\tau$): one split step per input hold. Then
  $\partial x/\partial\tau$ converges at second order at every position of the delay in a
  step, on the grid included (``benchmarks/bench_delay_grad.py`` prints the table, which
  ``BENCHMARKS.md`` keeps; ``tests/test_delay_gradient.py`` checks it against an exact
  solution). A concrete delay on the grid meets no kink inside a step and runs the plain
  steps.
- **History.** A constant (the default: the device's initial state) or a function of time
  ``history(t) -> state`` for $t \le t_0$; its derivative, needed by the interpolation, is taken
  with ``jax.jvp``.

For the reservoir nodes whose drift has the form $\dot x = (-x + F(x(t-\tau), J(t)))/T$ and a
piecewise-constant input, :func:`delay_map` gives the discrete map that reservoir papers use,
exact in $\theta$ when the delayed feedback is held over each node interval:
$x_g = e^{-\theta/T} x_{g-1} + (1 - e^{-\theta/T}) F(x_{g-D}, J_g)$ with $D = \tau/\theta$. It runs
as a ``lax.scan`` over blocks of $D$ virtual nodes and an associative scan inside each block.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np
from jaxtyping import Array, PyTree

from .contract import check_solve_inputs
from .devices._base import AbstractDelayDevice
from .drives import AbstractDrive, Masked
from .trajectory import SAVE_MODES, Trajectory, batch_shape, check_solution, time_grid

__all__ = ["simulate_delay", "delay_map", "node_states"]


def _concrete_float(x) -> float | None:
    if isinstance(x, jax.core.Tracer):
        return None
    try:
        return float(np.asarray(x))
    except Exception:  # pragma: no cover
        return None


def _hermite(fr, xa, fa, xb, fb, h):
    """Cubic Hermite interpolation on one step, ``fr`` in [0, 1]."""
    fr2 = fr * fr
    fr3 = fr2 * fr
    h00 = 2 * fr3 - 3 * fr2 + 1
    h10 = fr3 - 2 * fr2 + fr
    h01 = -2 * fr3 + 3 * fr2
    h11 = fr3 - fr2
    return jtu.tree_map(
        lambda a, da, b, db: h00 * a + (h10 * h) * da + h01 * b + (h11 * h) * db, xa, fa, xb, fb
    )


def _take(buf, i, length):
    return jtu.tree_map(lambda b: jax.lax.dynamic_index_in_dim(b, i % length, 0, keepdims=False), buf)


def _set(buf, i, value, length):
    return jtu.tree_map(
        lambda b, v: jax.lax.dynamic_update_index_in_dim(b, v.astype(b.dtype), i % length, 0),
        buf, value,
    )


def _check_drive_matches(device, drive, func: str, check_theta: bool = True):
    """A Masked drive must match the node's virtual-node count (and spacing)."""
    if not isinstance(drive, Masked):
        return
    name = type(device).__name__
    n = getattr(device, "n_nodes", None)
    if n is not None and drive.n_nodes != n:
        raise ValueError(
            f"{func}: the mask has {drive.n_nodes} entries but {name}.n_nodes={n}; expected a mask "
            f"of length n_nodes (one entry per virtual node)"
        )
    theta = _concrete_float(jnp.asarray(getattr(device, "theta", drive.hold)))
    if check_theta and theta is not None and abs(theta - drive.hold) > 1e-6 * max(theta, drive.hold):
        raise ValueError(
            f"{func}: the drive's node spacing theta={drive.hold:.6g} differs from "
            f"{name}.theta={theta:.6g}; build the Masked drive with the node's theta"
        )


def simulate_delay(
    device: AbstractDelayDevice,
    drive: AbstractDrive | None = None,
    *,
    dt: float,
    t1: float | None = None,
    t0: float | None = None,
    y0: PyTree[Array] | None = None,
    history: PyTree[Array] | Callable | None = None,
    saveat: str | None = None,
    max_delay: float | None = None,
    min_delay: float | None = None,
    observe: bool = True,
    vectorise: bool | None = None,
):
    r"""Integrate a delay device; called by :func:`physnn.simulate` for delay devices.

    **Arguments** (as :func:`physnn.simulate`, plus):

    - `history`: the state for $t \le t_0$: ``None`` (constant, equal to ``y0``), a constant
      PyTree of arrays, or a function ``history(t) -> state``.
    - `max_delay`: an upper bound on the delay, needed only when the delay is traced (e.g. when
      differentiating with respect to it under ``jit``); it sizes the history buffer. Default:
      the device's ``delay_bound`` where it has one.
    - `min_delay`: a lower bound on a traced delay. With it, low-pass nodes keep the vectorised
      method of steps (below) while the delay is trained; without it they fall back to the
      step-by-step scan. A delay below it raises an error at run time.
    - `vectorise`: ``None`` (default) uses the vectorised method of steps wherever it applies,
      ``False`` forces the step-by-step scan (the two agree to rounding).
    - `saveat`: ``"holds"`` (end of every hold; the default with a piecewise-constant drive,
      i.e. one state per virtual node for a :class:`~physnn.drives.Masked` drive), ``"steps"``
      (the default otherwise) or ``"final"``.

    **Returns:** a :class:`~physnn.Trajectory`.

    **Method.** RK4 on a fixed grid of step ``h`` (a whole fraction of the drive's hold), with the
    delayed state read from a history buffer by cubic Hermite interpolation (one-sided
    derivatives on both sides of every grid point, so input jumps keep RK4 order). For nodes of
    the low-pass form $T\dot x = -x + F(x(t-\tau), J(t))$ (those with ``map_form()``, e.g.
    :class:`~physnn.devices.MackeyGlassNode` and the low-pass
    :class:`~physnn.devices.IkedaNode`) under a piecewise-constant drive, the same RK4 steps
    are taken a window at a time, by the method of steps proper: inside a window shorter than
    the delay every delayed value is already known, so each step is the affine map
    $x \mapsto R(h\lambda)\,x + c_n$ and the whole window is one associative scan. That turns
    hundreds of thousands of sequential steps per delay into one vectorised pass (same numbers
    to rounding; ``vectorise=False`` forces the step-by-step scan). A delay off the step grid,
    or traced, has the steps that hold a kink of $x(t-\tau)$ split at the kink (module
    docstring), so that the derivative with respect to $\tau$ converges at second order.
    """
    name = type(device).__name__
    unit = device.time_unit
    _check_drive_matches(device, drive, "simulate")
    dt, t0, t1, held, n_seg, n_sub, h = time_grid(device, drive, dt, t0, t1)
    save = saveat if saveat is not None else ("holds" if held else "steps")
    if save not in SAVE_MODES:
        raise ValueError(
            f"simulate: saveat={saveat!r} for the delay device {name}; expected 'holds', 'steps', "
            "'final' or None"
        )
    if save == "holds" and not held:
        raise ValueError("simulate: saveat='holds' needs a piecewise-constant drive")

    check_solve_inputs(device, drive, t0, y0,
                       None if history is None or callable(history) else history)
    tau_c = _concrete_float(jnp.asarray(device.delay))
    if tau_c is not None:
        if not (math.isfinite(tau_c) and tau_c > 0):
            raise ValueError(f"simulate: {name}.delay={tau_c!r} must be a finite delay > 0 ({unit})")
        if tau_c < h * (1 - 1e-5):
            raise ValueError(
                f"simulate: {name}.delay={tau_c:.6g} {unit} is shorter than the step {h:.6g} {unit}; "
                "reduce dt (the delay must span at least one step)"
            )
        bound = tau_c if max_delay is None else max(float(max_delay), tau_c)
    else:
        if max_delay is None:
            max_delay = getattr(device, "delay_bound", None)
        if max_delay is None:
            raise ValueError(
                f"simulate: {name}.delay is traced (inside jit/grad), so the history buffer cannot "
                "be sized from it; pass max_delay=<an upper bound on the delay>"
            )
        bound = float(max_delay)
    if max_delay is not None and not (math.isfinite(float(max_delay)) and float(max_delay) > 0):
        raise ValueError(f"simulate: max_delay={max_delay!r} must be a finite delay > 0 ({unit})")
    # grid points kept: all that any stage reads, with room for a delay that float32 rounding
    # puts a hair above the bound (cap = (length - 3) h >= bound)
    length = int(math.floor(bound / h * (1 + 1e-5))) + 4

    # ---- initial state and history -------------------------------------------------------
    shape = batch_shape(device, drive, None)
    if callable(history) and not isinstance(history, jax.Array):
        hist_fn = history
    else:
        const = history

        def hist_fn(t):
            base = device.init_state(shape) if const is None and y0 is None else \
                (y0 if const is None else const)
            return jtu.tree_map(lambda a: jnp.asarray(a) + 0.0 * t, base)

    if y0 is None:
        y0 = hist_fn(jnp.asarray(t0))
    y0 = jtu.tree_map(jnp.asarray, y0)
    dtype = jnp.result_type(*jtu.tree_leaves(y0))
    y0 = jtu.tree_map(lambda a: a.astype(dtype), y0)

    # grid point k (time t0 + k h), k = -(length-1) .. 0, in ring slot k % length
    ks = np.arange(-(length - 1), 1)
    t_hist = jnp.asarray(t0 + ks * h, dtype)

    def hist_and_slope(t):
        return jax.jvp(hist_fn, (t,), (jnp.ones_like(t),))

    xh, fh = jax.vmap(hist_and_slope)(t_hist)  # leading axis over grid points
    # a delay off the step grid, or traced (so possibly off it), has the steps that hold a kink
    # of x(t - tau) split there (see _kinks); on the grid the plain steps meet no kink inside
    track = tau_c is None or abs(tau_c / h - round(tau_c / h)) > 1e-6 * max(1.0, tau_c / h)
    w = 0
    if min_delay is not None and not (math.isfinite(float(min_delay)) and float(min_delay) > 0):
        raise ValueError(f"simulate: min_delay={min_delay!r} must be a finite delay > 0 ({unit})")
    if vectorise is None or vectorise:
        tau_lo = tau_c if tau_c is not None else (None if min_delay is None else float(min_delay))
        if isinstance(y0, jax.Array):
            w = _window_steps(device, drive, tau_lo, h, n_sub, held)
    x0_left = jtu.tree_map(lambda a: a[-1], xh)  # the history's value at t0 (may differ from y0)
    if w:  # vectorised method of steps (linear buffer in time order, ending at t0)
        ys = _run_windowed(device, drive, y0, x0_left, xh, fh, (n_seg, n_sub, h, t0, save, length,
                                                                  held, name, unit, w, track))
    else:  # step-by-step scan over a ring buffer: slot (k % length) holds grid point k
        order = np.argsort(ks % length)
        xb = _set(jtu.tree_map(lambda a: a[order], xh), 0, y0, length)
        fb = jtu.tree_map(lambda a: a[order], fh)
        ys = _run(device, drive, y0, x0_left, xb, fb, fb,
                  (n_seg, n_sub, h, t0, save, length, held, name, unit, track))
    if save == "steps":
        ys = jtu.tree_map(lambda a: a.reshape((-1,) + a.shape[2:]), ys)
        ts = t0 + h * jnp.arange(1, n_seg * n_sub + 1, dtype=dtype)
    else:
        ts = t0 + (h * n_sub) * jnp.arange(1, n_seg + 1, dtype=dtype)
    if save == "final":
        ts = ts[-1:]
        ys = jtu.tree_map(lambda a: a[-1:], ys)
    if held:
        seg_idx = (jnp.arange(n_seg * n_sub) // n_sub) if save == "steps" else jnp.arange(n_seg)
        if save == "final":
            seg_idx = seg_idx[-1:]
        us = jax.vmap(drive.segment)(seg_idx)
    else:
        us = None if drive is None else jax.vmap(drive)(ts)
    ys = check_solution(name, unit, ts, ys, jnp.ones((1,), bool), t1, h, False, 0)
    obs = jax.vmap(device.observe)(ts, ys, us) if observe else None
    return Trajectory(ts=ts, ys=ys, obs=obs, us=us)


@eqx.filter_jit
def _run(device, drive, y0, x0_left, xb, fb_minus, fb_plus, cfg):
    """The scanned RK4 solve (jitted; ``cfg`` is static).

    With ``track`` (a delay off the step grid, or traced) the steps that hold a kink of the
    delayed state are split there (see :func:`_kinks`). Where each stage reads the history
    buffer relative to its step (grid interval and Hermite weights) does not change from step
    to step, so those "read plans" are computed once, outside the scan."""
    n_seg, n_sub, h, t0, save, length, held, name, unit, track = cfg
    dtype = jnp.result_type(*jtu.tree_leaves(y0))
    cap = (length - 3) * h

    def u_seg(k):
        return drive.segment(k) if held else None

    def u_at(t, k):
        if drive is None:
            return None
        return drive.segment(k) if held else drive(t)

    tau = jnp.asarray(device.delay, dtype)
    tau = eqx.error_if(
        tau, (tau < h * (1 - 1e-5)) | (tau > cap * (1 + 1e-6)),
        f"simulate: {name}.delay left the range the history buffer was sized for "
        f"[{h:.6g}, {cap:.6g}] {unit}; pass a larger max_delay or delay_bound (or a smaller dt)",
    )
    big_k, p = _kinks(tau, h)
    kk = big_k.astype(jnp.int32)

    def plan(off, piece=None):
        """Where the state at t_n + off - tau (off <= tau) is read, for any step n: the grid
        interval [n + j, n + j + 1] holding that time (with ``track``, a time on the grid is
        read from the interval to its left, the limit of a delay a hair longer, so that the
        delay derivative is one-sided consistently; ``piece = (use, j)`` forces j) and the
        Hermite weights there."""
        s = (off - tau) / h
        j = jnp.minimum(jnp.ceil(s) - 1.0 if track else jnp.floor(s), -1.0)
        if piece is not None:
            j = jnp.where(piece[0], piece[1], j)
        fr = s - j
        fr2 = fr * fr
        fr3 = fr2 * fr
        return j.astype(jnp.int32), (2 * fr3 - 3 * fr2 + 1, (fr3 - 2 * fr2 + fr) * h,
                                     -2 * fr3 + 3 * fr2, (fr3 - fr2) * h)

    def read(n, pl, xb, fm, fp):
        """The delayed state for step n by the read plan ``pl`` (cubic Hermite interpolation
        between one-sided derivatives)."""
        j, (w00, w10, w01, w11) = pl
        a = n + j
        b = a + 1
        xa, fa = _take(xb, a, length), _take(fp, a, length)
        xb_, fb_ = _take(xb, b, length), _take(fm, b, length)
        xb_ = jtu.tree_map(lambda v, w: jnp.where(b == 0, w, v), xb_, x0_left)
        return jtu.tree_map(lambda a_, da, b_, db: w00 * a_ + w10 * da + w01 * b_ + w11 * db,
                            xa, fa, xb_, fb_)

    def f(t, x, xd, u):
        return device.drift(t, x, xd, u)

    def axpy(x, a, k):
        return jtu.tree_map(lambda xx, kk_: xx + a * kk_, x, k)

    pl_start = plan(0.0)  # a step's start (the right derivative after an input jump)
    # right derivative at t0
    f0 = f(jnp.asarray(t0, dtype), y0, read(0, pl_start, xb, fb_minus, fb_plus), u_at(t0, 0))
    fb_plus = _set(fb_plus, 0, f0, length)

    def rk4(t, x, k1, n, span, seg, xb, fm, fp, plans):
        """One RK4 (sub)step over [t, t + span] whose stages read by ``plans`` (middle, end);
        returns the new state and the delayed state at its end."""
        d_half = read(n, plans[0], xb, fm, fp)
        d_end = read(n, plans[1], xb, fm, fp)
        k2 = f(t + span / 2, axpy(x, span / 2, k1), d_half, u_at(t + span / 2, seg))
        k3 = f(t + span / 2, axpy(x, span / 2, k2), d_half, u_at(t + span / 2, seg))
        k4 = f(t + span, axpy(x, span, k3), d_end, u_at(t + span, seg))
        x_end = jtu.tree_map(lambda xx, a, b, c, d: xx + (span / 6) * (a + 2 * b + 2 * c + d),
                             x, k1, k2, k3, k4)
        return x_end, d_end

    def pick(c, a, b):
        """``a`` where ``c`` else ``b`` (pytrees), resolved at trace time for a static ``c``."""
        if isinstance(c, bool):
            return a if c else b
        return jtu.tree_map(lambda u, v: jnp.where(c, u, v), a, b)

    plain = (plan(h / 2), plan(h))
    # the two parts of a step split at p: [t_n, t_n + p] reads the grid interval that ends at
    # the kink's source point t_n + p - tau = t_{n-K}, [t_n + p, t_{n+1}] the one after it
    left, right = (True, -(big_k + 1)), (True, -big_k)
    parts = ((plan(p / 2, left), plan(p, left)), (plan((p + h) / 2, right), plan(h, right)))

    def after_kink(n, d):
        """The delayed state just past the kink, x(t_{n-K}) read from the right: ``d`` (read
        from the left) but y0 at t0 (x jumps there when y0 differs from the history)."""
        return pick(n == kk, y0, d)

    def step(carry, n, last=None):
        """One RK4 step; ``last`` (static) says whether the input jumps at its end (None:
        decide at run time). With ``track`` and no piecewise-constant drive, the one step
        holding the kink (n = K, from t0) is split."""
        x, k1, xb, fm, fp = carry
        seg = n // n_sub
        t = t0 + n.astype(dtype) * h
        if track and not held:
            def split():
                x_mid, d_mid = rk4(t, x, k1, n, p, seg, xb, fm, fp, parts[0])
                k1_mid = f(t + p, x_mid, after_kink(n, d_mid), u_at(t + p, seg))
                return rk4(t + p, x_mid, k1_mid, n, h - p, seg, xb, fm, fp, parts[1])

            x_new, d_one = jax.lax.cond(
                n == kk, split, lambda: rk4(t, x, k1, n, h, seg, xb, fm, fp, plain))
        else:
            x_new, d_one = rk4(t, x, k1, n, h, seg, xb, fm, fp, plain)
        u_end = u_at(t + h, seg)  # the value in force on this step (left limit at t + h)
        # one-sided derivatives at t_{n+1}: left (this step's input), right (the next step's)
        f_left = f(t + h, x_new, d_one, u_end)
        xb = _set(xb, n + 1, x_new, length)
        fm = _set(fm, n + 1, f_left, length)
        seg_next = (n + 1) // n_sub
        if held and last is not False:
            u_next = u_seg(seg_next)
            d_next = read(n + 1, pl_start, xb, fm, fp)
            if last:
                f_right = f(t + h, x_new, d_next, u_next)
            else:
                f_right = jax.lax.cond(
                    seg_next != seg,
                    lambda: f(t + h, x_new, d_next, u_next),
                    lambda: f_left,
                )
        else:
            f_right = f_left
        fp = _set(fp, n + 1, f_right, length)
        return (x_new, f_right, xb, fm, fp), x_new

    # With a piecewise-constant drive and `track`, a hold of n_sub steps is taken as n_sub + 1
    # substeps: the step i* = K mod n_sub, which holds the kink from the hold's start K steps
    # earlier, in two parts (in the holds before the first kink too, where the split is
    # harmless). The substeps' lengths and read plans are the same in every hold: they are
    # set up once, and a hold stays one straight-line block.
    i_star = 0 if n_sub == 1 else kk % n_sub  # static where it can be: fewer selects

    def substep_setup(j):
        """Substep j (0 .. n_sub) of a hold: (first part?, index shift, offset, length,
        plans); static where j and i* are."""
        static = isinstance(j, int) and isinstance(i_star, int)
        first, second = j == i_star, j == i_star + 1
        shift = int(j > i_star) if static else (j > i_star).astype(jnp.int32)
        off = pick(second, p, jnp.zeros_like(p))
        span = pick(first, p, pick(second, h - p, jnp.full_like(p, h)))
        plans = pick(first, parts[0], pick(second, parts[1], plain))
        return first, shift, off, span, plans

    def substep(carry, k, j, setup, last):
        x, k1, xb, fm, fp = carry
        first, shift, off, span, plans = setup
        n = k * n_sub + j - shift
        t = t0 + jnp.asarray(n).astype(dtype) * h + off
        x_end, d_end = rk4(t, x, k1, n, span, k, xb, fm, fp, plans)
        k1_next = f_end = f(t + span, x_end, pick(first, after_kink(n, d_end), d_end), u_seg(k))
        # the first part's end is no grid point: it is written to slot n + 1 and overwritten
        # by the second part (which reads only grid points <= n)
        xb = _set(xb, n + 1, x_end, length)
        fm = _set(fm, n + 1, f_end, length)
        if last is not False:  # the hold ends: the right derivative takes the next hold's input
            def f_right():
                return f(t + span, x_end, read(n + 1, pl_start, xb, fm, fp), u_seg(k + 1))

            k1_next = f_right() if last else jax.lax.cond(j == n_sub, f_right, lambda: k1_next)
        fp = _set(fp, n + 1, k1_next, length)
        return (x_end, k1_next, xb, fm, fp), x_end

    if track and held:
        if n_sub <= 16:
            setups = [substep_setup(j) for j in range(n_sub + 1)]
        else:
            js_all = jnp.arange(n_sub + 1)
            setups = jax.vmap(substep_setup)(js_all)

    def tracked_segment(carry, k):
        if n_sub <= 16:
            xs = []
            for j in range(n_sub + 1):
                carry, x_j = substep(carry, k, j, setups[j], last=(j == n_sub))
                xs.append(x_j)
            xs = jtu.tree_map(lambda *a: jnp.stack(a), *xs)
        else:
            carry, xs = jax.lax.scan(lambda c, js: substep(c, k, js[0], js[1], None), carry,
                                     (js_all, setups))
        if save == "steps":  # the states at the grid points: all but the first part's end
            keep = jnp.arange(n_sub) + (jnp.arange(n_sub) >= i_star)
            return carry, jtu.tree_map(lambda a: a[keep], xs)
        return carry, jtu.tree_map(lambda a: a[-1], xs)

    def segment(carry, k):
        if track and held:
            return tracked_segment(carry, k)
        if n_sub <= 16:  # unrolled: the step that ends the hold is known statically
            xs = []
            for i in range(n_sub):
                carry, x_i = step(carry, k * n_sub + i, last=(i == n_sub - 1))
                xs.append(x_i)
            xs = jtu.tree_map(lambda *a: jnp.stack(a), *xs)
        else:
            ns = k * n_sub + jnp.arange(n_sub)
            carry, xs = jax.lax.scan(step, carry, ns, unroll=4)
        if save == "steps":
            return carry, xs
        return carry, jtu.tree_map(lambda a: a[-1], xs)

    _, ys = jax.lax.scan(segment, (y0, f0, xb, fb_minus, fb_plus), jnp.arange(n_seg))
    return ys


def _kinks(tau, h):
    r"""``(K, p)`` with $\tau = K h + p$, $0 \le p < h$, $K \ge 1$ (K carries no gradient).

    Where $x'$ jumps at a grid point $t_m$ ($t_0$, where the history meets the solution, and
    every jump of a piecewise-constant input), $x(t - \tau)$ has a kink at $t_m + \tau$, inside
    step $m + K$ at $p$ from its start. RK4 across a kink is only second-order accurate locally,
    with an error that depends on $p$, so $\partial x/\partial\tau$ of the discrete solution
    would converge at first order only (a delay on the grid gets one side of a kink). Splitting
    those steps at the kink (discontinuity tracking; the substep lengths $p$, $h - p$ are
    smooth in $\tau$) makes the forward error uniform in $\tau$ and the delay derivative
    converge at second order or better (``benchmarks/bench_delay_grad.py``). Kinks of higher
    derivatives ($t_m + 2\tau$, ...) are left: their local errors are $O(h^3)$ and smaller."""
    big_k = jnp.maximum(jnp.floor(jax.lax.stop_gradient(tau) / h), 1.0)
    return big_k, tau - big_k * h


def _window_steps(device, drive, tau_min, h, n_sub, held):
    """Steps per window of the vectorised method of steps, or 0 when it does not apply.

    It applies to nodes of the low-pass form ``T x' = -x + F(x(t - tau), J)`` (``map_form()``)
    with an array state and a piecewise-constant (or no) drive: then, inside a window shorter
    than the delay, every delayed value is already known, each RK4 step is the affine map
    ``x -> R(hλ) x + c_n`` and a window is one associative scan. Windows hold whole drive
    segments.
    """
    if not hasattr(device, "map_form") or tau_min is None:
        return 0
    if drive is not None and not held:
        return 0
    try:
        device.map_form()
    except ValueError:  # e.g. the band-pass Ikeda node
        return 0
    # step n reads grid points up to n + 2 - tau/h; they must precede the window's start
    max_steps = int(math.floor(tau_min / h * (1 - 1e-6))) - 1
    m = max_steps // n_sub
    return m * n_sub if m >= 1 else 0


@eqx.filter_jit
def _run_windowed(device, drive, y0, x0_left, xh, fh, cfg):
    """The vectorised method of steps (see :func:`simulate_delay`); ``cfg`` is static.

    The buffer holds grid points ``n0 - length + 1 .. n0`` in time order, ``n0`` being the first
    step of the window. Returns the states as :func:`_run` does. With ``track``, the steps that
    hold a kink (see :func:`_kinks`) are the two RK4 substeps of :func:`_run` composed: the
    affine map ``x -> R((h-p)λ) (R(pλ) x + ...) + ...``.
    """
    n_seg, n_sub, h, t0, save, length, held, name, unit, w, track = cfg
    dtype = y0.dtype
    response, nonlin = device.map_form()
    lam = -1.0 / jnp.asarray(response, dtype)

    def weights(span):
        """RK4 over a step ``span`` of x' = λx + g(t) is x -> r x + c0 g(t) + c_half g(t +
        span/2) + c1 g(t + span): r is RK4's stability polynomial."""
        z = span * lam
        r = 1 + z + z ** 2 / 2 + z ** 3 / 6 + z ** 4 / 24
        c0 = (span / 6) * (1 + z + z ** 2 / 2 + z ** 3 / 4)
        c_half = (span / 6) * (4 + 2 * z + z ** 2 / 2)
        return r, c0, c_half, span / 6

    r, c0, c_half, c1 = weights(h)
    cap = (length - 3) * h
    tau = jnp.asarray(device.delay, dtype)
    tau = eqx.error_if(
        tau, (jnp.floor(tau / h) < w + 1) | (tau > cap * (1 + 1e-6)),
        f"simulate: {name}.delay left the range [{(w + 1) * h:.6g}, {cap:.6g}] {unit} that the integrator "
        "was planned for; pass a smaller min_delay or a larger max_delay",
    )
    big_k, p = _kinks(tau, h)
    kk = big_k.astype(jnp.int32)
    m = w // n_sub  # drive segments per window
    n_win = -(-n_seg // m)

    def j_of(seg):
        if drive is None:
            return jnp.zeros(seg.shape + y0.shape, dtype)
        return jax.vmap(drive.segment)(jnp.minimum(seg, n_seg - 1))[..., 0]

    def hermite_at(k, rows, j, fr, xbuf, fm, fp):
        """Delayed states for steps n0 + r from the grid interval [n + j, n + j + 1], for the
        rows r = first + stride * l, l < count, given as ``rows = (first, count, stride)``
        (``first`` may be traced). ``xbuf, fm, fp`` are the window's slabs (see ``window``)."""
        first, count, stride = rows
        start = first + j.astype(jnp.int32) + kk + 1  # slab index of grid n0 + first + j

        def sl(b, i):
            return jax.lax.dynamic_slice_in_dim(b, i, (count - 1) * stride + 1, axis=0)[::stride]

        xa, fa = sl(xbuf, start), sl(fp, start)
        xb, fb = sl(xbuf, start + 1), sl(fm, start + 1)
        # grid point 0 is read from the left there (the history's value at t0)
        at_t0 = k * w + j.astype(jnp.int32) + 1 + first + stride * jnp.arange(count) == 0
        xb = jnp.where(at_t0.reshape((-1,) + (1,) * y0.ndim), x0_left, xb)
        return _hermite(fr, xa, fa, xb, fb, h)

    def read(c, k, count, xbuf, fm, fp):
        """Delayed states for steps n0 .. n0 + count - 1 at t_n - tau + c h (Hermite; with
        ``track`` a time on the grid is read from the interval to its left, as in _run)."""
        s = (c * h - tau) / h
        j = jnp.minimum(jnp.ceil(s) - 1.0 if track else jnp.floor(s), -1.0)
        return hermite_at(k, (0, count, 1), j, s - j, xbuf, fm, fp)

    def split_kink_steps(k, js, g0, g1, b, xbuf, fm, fp):
        """The affine maps ``x -> a x + b`` of the window's steps, with the kink steps (i* + l
        n_sub for a held drive, i* = K mod n_sub, else the step K) taken as two substeps
        [t, t + p], [t + p, t + h]. Slices and selects, not gathers and scatters: a gradient
        stays cheap."""
        n0 = k * w
        if held:  # one kink step per hold: column i* of the (hold, step) grid (strided
            # reads of those rows only: cheaper than every row, in the gradient most). As in
            # _run, the holds before the first kink are split too (harmlessly).
            first = kk % n_sub
            rows = (first, m, n_sub)

            def pick(v):
                return jax.lax.dynamic_index_in_dim(v.reshape((m, n_sub) + v.shape[1:]), first,
                                                    axis=1, keepdims=False)

            def put(v, new):
                v2 = v.reshape((m, n_sub) + v.shape[1:])
                sel = (jnp.arange(n_sub) == first).reshape((1, n_sub) + (1,) * (v2.ndim - 2))
                return jnp.where(sel, new[:, None], v2).reshape(v.shape)
        else:  # one kink step in all: K, from t0
            first = jnp.clip(kk - n0, 0, w - 1)
            rows = (first, 1, 1)

            def pick(v):
                return jax.lax.dynamic_slice_in_dim(v, first, 1, axis=0)

            def put(v, new):
                sel = jnp.arange(w) == kk - n0
                return jnp.where(sel.reshape((w,) + (1,) * (v.ndim - 1)), new, v)

        jk = pick(js)

        def g(xd):
            return nonlin(xd, jk) / response

        left, right = -(big_k + 1), -big_k
        # the kink's source point t_{n-K} = t_n + p - tau does not move with tau: the state
        # there is the grid value, read from the left (before the kink; the history's value at
        # t0) and from the right (after it; y0)
        x_src = jax.lax.dynamic_slice_in_dim(xbuf, first + 1, (rows[1] - 1) * rows[2] + 1,
                                             axis=0)[::rows[2]]
        at_t0 = (n0 + first + rows[2] * jnp.arange(rows[1]) == kk).reshape((-1,) + (1,) * y0.ndim)
        gl_half = g(hermite_at(k, rows, left, (p / 2 - tau) / h - left, xbuf, fm, fp))
        gl_end = g(jnp.where(at_t0, x0_left, x_src))
        gr_start = g(x_src)
        gr_half = g(hermite_at(k, rows, right, ((p + h) / 2 - tau) / h - right, xbuf, fm, fp))
        r_l, c0_l, ch_l, c1_l = weights(p)
        r_r, c0_r, ch_r, c1_r = weights(h - p)
        b_k = (r_r * (c0_l * pick(g0) + ch_l * gl_half + c1_l * gl_end)
               + c0_r * gr_start + ch_r * gr_half + c1_r * pick(g1))
        a = put(jnp.broadcast_to(r, b.shape).astype(dtype),
                jnp.broadcast_to(r_l * r_r, b_k.shape).astype(dtype))
        return a, put(b, b_k.astype(dtype))

    def slabs(xbuf, fm, fp):
        """The grid points n0 - K - 1 .. n0 - K + w + 1 that the window's steps read (K >= w + 1,
        see the range check above): reading the slabs, not the whole buffers, keeps the
        gradient's scatter into the buffers to one per buffer and window."""
        return tuple(jax.lax.dynamic_slice_in_dim(b, length - 2 - kk, w + 3, axis=0)
                     for b in (xbuf, fm, fp))

    def window(carry, k):
        xbuf, fm, fp = carry
        n0 = k * w
        sx, sm, sp = slabs(xbuf, fm, fp)
        js = j_of((n0 + jnp.arange(w + 1)) // n_sub)
        g0 = nonlin(read(0.0, k, w + 1, sx, sm, sp), js) / response
        g_half = nonlin(read(0.5, k, w, sx, sm, sp), js[:w]) / response
        g1 = nonlin(read(1.0, k, w, sx, sm, sp), js[:w]) / response
        a, b = r, c0 * g0[:w] + c_half * g_half + c1 * g1
        if track:
            a, b = split_kink_steps(k, js[:w], g0[:w], g1, b.astype(dtype), sx, sm, sp)
        x = _linear_recurrence(a, b, xbuf[-1])
        x = x.astype(dtype)
        # one-sided derivatives at the new grid points: left (this step's input), right (next)
        fm = jnp.concatenate([fm[w:], (lam * x + g1).astype(dtype)])
        fp = jnp.concatenate([fp[w:], (lam * x + g0[1:]).astype(dtype)])
        xbuf = jnp.concatenate([xbuf[w:], x])
        return (xbuf, fm, fp), (x if save == "steps" else x[n_sub - 1::n_sub])

    xbuf = xh.astype(dtype).at[-1].set(y0)
    fm = fh.astype(dtype)
    # right derivative at t0 (with y0 and the first input)
    g00 = nonlin(read(0.0, 0, 1, *slabs(xbuf, fm, fm)), j_of(jnp.zeros((1,), jnp.int32))) / response
    fp = fm.at[-1].set((lam * y0 + g00[0]).astype(dtype))
    _, ys = jax.lax.scan(window, (xbuf, fm, fp), jnp.arange(n_win))
    ys = ys.reshape((-1,) + y0.shape)
    if save == "steps":
        return ys[: n_seg * n_sub].reshape((n_seg, n_sub) + y0.shape)
    return ys[:n_seg]


# --------------------------------------------------------------------------------------------
# The exact-in-theta discrete map of reservoir papers
# --------------------------------------------------------------------------------------------


def _affine_scan(a, b, x_prev):
    b = b.at[0].add((a if jnp.ndim(a) < jnp.ndim(b) else a[0]) * x_prev)

    def combine(left, right):
        a1, b1 = left
        a2, b2 = right
        return a1 * a2, a2 * b1 + b2

    aa = jnp.broadcast_to(a, b.shape)
    _, x = jax.lax.associative_scan(combine, (aa, b), axis=0)
    return x


@jax.custom_jvp
def _linear_recurrence(a, b, x_prev):
    """x_i = a_i * x_{i-1} + b_i along axis 0 (associative scan), with x_{-1} = x_prev; ``a``
    is one factor for all i or one per i (shaped as ``b``)."""
    return _affine_scan(a, b, x_prev)


@_linear_recurrence.defjvp
def _linear_recurrence_jvp(primals, tangents):
    # the tangent obeys the same recurrence, dx_i = a_i dx_{i-1} + (da_i x_{i-1} + db_i): one
    # more scan, linear in the tangents, instead of differentiating the scan's products of a
    # (which tripled the compile time of a gradient with respect to the delay)
    a, b, x_prev = primals
    da, db, dx_prev = tangents
    x = _affine_scan(a, b, x_prev)
    x_before = jnp.concatenate([jnp.broadcast_to(x_prev, x.shape[1:])[None], x[:-1]])
    return x, _affine_scan(a, da * x_before + db, dx_prev)


def delay_map(node, drive, *, history=0.0) -> Array:
    r"""Node states of a delay reservoir by the discrete map, exact in $\theta$.

    $$x_g = e^{-\theta/T}\, x_{g-1} + \left(1 - e^{-\theta/T}\right) F\!\left(x_{g-D}, J_g\right),
    \qquad D = \tau/\theta,$$

    where $g$ counts virtual nodes (node intervals of length $\theta$) from the start, $J_g$ is
    the value of the piecewise-constant ``drive`` on interval $g$, and $T$ and $F$ come from
    ``node.map_form()``. This is the exact solution of the node equation
    $T\dot x = -x + F(x(t-\tau), J(t))$ when the delayed feedback is held at its value at the end
    of each node interval (Appeltant et al. 2011, Methods); it approaches the continuous solve
    as $\theta$ shrinks.

    The delay must be a whole number $D \ge 1$ of node intervals ($\tau = N\theta$ is the
    synchronised case, $\tau = (N+1)\theta$ the desynchronised one). The recurrence runs as a
    ``lax.scan`` over blocks of $D$ nodes (whose delayed inputs all lie in the previous block)
    and an associative scan inside each block.

    **Arguments:**

    - `node`: a delay node with ``map_form()`` (e.g. :class:`~physnn.devices.MackeyGlassNode`).
    - `drive`: a piecewise-constant drive (usually :class:`~physnn.drives.Masked`) whose hold is
      $\theta$.
    - `history`: the constant state before $t_0$.

    **Returns:** the node states, shape ``batch + (n_intervals,)``: entry ``g`` is the state at
    the end of interval ``g``, the same samples as ``simulate(...).ys`` with ``saveat='holds'``
    (whose time axis is first).

    The decay factor uses the node's own ``theta`` when it has one, so that $\theta$ (in units of
    the response time) can be trained through the map; the drive's hold then only sets the
    segmentation, and $D$ is the delay in units of the drive's hold.
    """
    if not hasattr(node, "map_form"):
        raise ValueError(f"delay_map: {type(node).__name__} has no map_form(); the discrete map needs "
                         "a node of the form T x' = -x + F(x(t - tau), J(t))")
    if drive is None or drive.hold is None:
        raise ValueError("delay_map: drive must be piecewise constant (e.g. drives.Masked)")
    _check_drive_matches(node, drive, "delay_map", check_theta=False)
    theta = float(drive.hold)
    node.map_form()  # raises for nodes without the low-pass form
    tau_c = _concrete_float(node.delay)
    if tau_c is None:
        raise ValueError("delay_map: the delay must be concrete (the map needs a whole number of "
                         "node intervals); differentiate with respect to tau with simulate()")
    d_real = tau_c / theta
    big_d = int(round(d_real))
    if big_d < 1 or abs(d_real - big_d) > 1e-6 * max(1.0, d_real):
        raise ValueError(
            f"delay_map: delay={tau_c:.6g} is not a whole number of node intervals theta={theta:.6g} "
            f"(ratio {d_real:.6g}); use simulate() for fractional delays"
        )
    return _map_run(node, drive, jnp.asarray(history), theta, big_d)


@eqx.filter_jit
def _map_run(node, drive, history, theta, big_d):
    response, nonlin = node.map_form()
    g_total = drive.n_segments
    n_blocks = -(-g_total // big_d)
    js = jax.vmap(drive.segment)(jnp.arange(n_blocks * big_d))[..., 0]  # (G_pad,) + batch
    js = jnp.where((jnp.arange(n_blocks * big_d) < g_total).reshape((-1,) + (1,) * (js.ndim - 1)),
                   js, 0.0)
    js = js.reshape((n_blocks, big_d) + js.shape[1:])
    # the node's own theta when it has one (it may be trained; the drive's equal hold only
    # fixes the segmentation), else the drive's
    a = jnp.exp(-jnp.asarray(getattr(node, "theta", theta)) / response)
    dtype = jnp.result_type(js.dtype, a.dtype)
    prev0 = jnp.broadcast_to(jnp.asarray(history, dtype), js.shape[1:])

    def block(prev, j_block):
        b = (1 - a) * nonlin(prev, j_block)
        x = _linear_recurrence(a, b, prev[-1])
        return x, x

    _, xs = jax.lax.scan(block, prev0, js)
    xs = xs.reshape((n_blocks * big_d,) + xs.shape[2:])[:g_total]
    return jnp.moveaxis(xs, 0, -1)


def node_states(states, n_nodes: int, *, discard: int = 0) -> Array:
    """Reshape per-interval node states ``(..., n_samples * n_nodes)`` (time last) into the
    reservoir feature matrix ``(..., n_samples, n_nodes)``: row ``k`` holds the virtual nodes
    read during input sample ``k``, as in the papers. ``discard`` drops leading samples
    (washout)."""
    states = jnp.asarray(states)
    n_nodes = int(n_nodes)
    if n_nodes < 1:
        raise ValueError(f"node_states: n_nodes={n_nodes} must be >= 1")
    if states.shape[-1] % n_nodes:
        raise ValueError(f"node_states: the last axis ({states.shape[-1]}) is not a multiple of "
                         f"n_nodes={n_nodes}")
    out = states.reshape(states.shape[:-1] + (states.shape[-1] // n_nodes, n_nodes))
    return out[..., discard:, :]
