r"""The shape contract between a device, its drive and its state, checked before any tracing.

Every solve pairs three things whose shapes must agree:

- the **device**: its ensemble axes (``device.batch_shape``, from the parameters it declares in
  ``ensemble_params``), the shape of its own state (what ``device.init_state(())`` returns after
  the ensemble axes) and the trailing shapes of the drive values it takes
  (``device.input_shapes()``);
- the **drive**: its batch axes (``drive.batch_shape``) and the trailing shape of its value
  $u(t)$;
- the **initial state** ``y0`` (and, for delay devices, the ``history``): the device's state
  structure with leading batch axes.

The batch of a solve is ``broadcast(device.batch_shape, drive.batch_shape)``; a ``y0`` may add
batch axes of its own in front but must carry that whole batch (a state smaller than the batch
would be silently enlarged by the vector field). Nothing else is broadcast: a drive value whose
trailing shape is not one the device declares, a ``y0`` whose trailing shape is not the device's
state shape, or a batch that does not broadcast raises a ``ValueError`` naming the argument, the
shape received and the shape expected. The checks use only shapes (``jax.eval_shape``), so they
run the same inside ``jax.jit``/``jax.grad`` and cost no computation.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np

__all__ = ["check_solve_inputs", "solve_batch_shape", "drive_value_shape"]


def _shape(s) -> str:
    return str(tuple(int(d) for d in s))


def solve_batch_shape(device, drive) -> tuple[int, ...]:
    """``broadcast(device.batch_shape, drive.batch_shape)``, or a ``ValueError`` naming both."""
    dev = tuple(getattr(device, "batch_shape", ()))
    if drive is None:
        return dev
    drv = tuple(drive.batch_shape)
    try:
        return tuple(np.broadcast_shapes(dev, drv))
    except ValueError:
        raise ValueError(
            f"simulate: the device's ensemble axes {_shape(dev)} ({type(device).__name__}"
            f".batch_shape) and the drive's batch axes {_shape(drv)} ({type(drive).__name__}"
            ".batch_shape) do not broadcast; expected equal axes, or axes of length 1 where they "
            "differ (e.g. an ensemble (E, 1) with a drive batch (B,) gives the batch (E, B))"
        ) from None


def drive_value_shape(drive, t0: float) -> tuple[int, ...]:
    """The trailing shape of ``drive(t)`` after the drive's batch axes (e.g. ``(2, n_tones)`` for
    :class:`~physnn.drives.Tones`)."""
    out = jax.eval_shape(lambda t: drive(t), jnp.asarray(t0, jnp.result_type(float)))
    leaves = jtu.tree_leaves(out)
    if len(leaves) != 1:
        raise ValueError(f"simulate: {type(drive).__name__}(t) must return one array, got "
                         f"{len(leaves)} leaves")
    shape = tuple(leaves[0].shape)
    nb = len(tuple(drive.batch_shape))
    if shape[:nb] != tuple(drive.batch_shape):
        raise ValueError(
            f"simulate: {type(drive).__name__}(t) has shape {_shape(shape)}, which does not start "
            f"with the drive's batch axes {_shape(drive.batch_shape)}")
    return shape[nb:]


def _check_drive(device, drive, t0):
    name = type(device).__name__
    allowed = device.input_shapes()
    if allowed is None:
        return
    allowed = tuple(tuple(int(d) for d in s) for s in allowed)
    if drive is None:
        return  # every device runs free (u = None)
    got = drive_value_shape(drive, t0)
    if not allowed:
        raise ValueError(f"simulate: {name} takes no drive, got {type(drive).__name__}; "
                         "pass drive=None")
    if got not in allowed:
        want = " or ".join(_shape(s) for s in allowed)
        raise ValueError(
            f"simulate: drive {type(drive).__name__} gives values of trailing shape {_shape(got)} "
            f"(after its batch axes {_shape(drive.batch_shape)}), but {name} takes {want}"
            f"{device.input_hint()}")


def _state_spec(device, batch):
    """The device's state structure and each leaf's own (non-batch) shape and dtype."""
    spec = jax.eval_shape(lambda: device.init_state(batch))
    leaves, treedef = jtu.tree_flatten(spec)
    own = []
    for leaf in leaves:
        if tuple(leaf.shape[:len(batch)]) != tuple(batch):
            raise ValueError(  # a device bug, not the user's
                f"{type(device).__name__}.init_state({batch}) returned a leaf of shape "
                f"{leaf.shape}, which does not start with the batch axes {batch}")
        own.append(tuple(leaf.shape[len(batch):]))
    return treedef, own


def _check_state(device, value, batch, treedef, own, what: str,
                 source: str = "the device and the drive make", exact: bool = False) -> None:
    name = type(device).__name__
    leaves = jtu.tree_leaves(value)
    got_def = jtu.tree_structure(value)
    if got_def != treedef:
        raise ValueError(
            f"simulate: {what} has the structure {got_def}, but {name}'s state is {treedef} "
            f"(build it with {name}.init_state(batch_shape))")
    batches = []
    for i, (leaf, shape) in enumerate(zip(leaves, own, strict=True)):
        s = tuple(jnp.shape(leaf))
        where = "" if len(leaves) == 1 else f" (leaf {i})"
        dtype = jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.floating):
            raise ValueError(f"simulate: {what}{where} has dtype {dtype}; expected real floating "
                             "point values")
        n = len(shape)
        if len(s) < n or s[len(s) - n:] != shape:
            state = "(2, M) = (re, im) of M oscillators" if name == "STONetwork" else "its state"
            raise ValueError(
                f"simulate: {what}{where} has shape {_shape(s)}; {name} expects trailing axes "
                f"{_shape(shape)} ({state}) after any batch axes, e.g. "
                f"{name}.init_state(batch_shape)")
        batches.append(s[:len(s) - n])
    if any(b != batches[0] for b in batches):
        raise ValueError(f"simulate: the leaves of {what} have different batch axes "
                         f"{[_shape(b) for b in batches]}; expected the same for every leaf")
    got = batches[0] if batches else ()
    try:
        full = tuple(np.broadcast_shapes(got, tuple(batch)))
    except ValueError:
        full = None
    if exact and got != tuple(batch):
        raise ValueError(
            f"simulate: {what} has batch axes {_shape(got)}, but {source} {_shape(batch)}; "
            f"expected the same batch axes {_shape(batch)}")
    if full != got:
        raise ValueError(
            f"simulate: {what} has batch axes {_shape(got)}, but {source} a "
            f"batch {_shape(batch)}; expected {what} to carry the whole batch (batch axes "
            f"{_shape(batch)}, or more axes in front of them), e.g. "
            f"{name}.init_state({_shape(batch)})")


def check_solve_inputs(device, drive, t0: float, y0=None, history=None) -> tuple[int, ...]:
    """Check ``device``, ``drive``, ``y0`` and ``history`` against one another (see the module
    docstring) and return the batch shape of the solve (``y0``'s batch axes when given).

    **Raises:** ``ValueError`` naming the argument, the shape received and the shape expected.
    """
    batch = solve_batch_shape(device, drive)
    _check_drive(device, drive, t0)
    treedef, own = _state_spec(device, batch)
    if y0 is not None:
        _check_state(device, y0, batch, treedef, own, "y0")
        leaf = jtu.tree_leaves(y0)[0]
        batch = tuple(jnp.shape(leaf))[:jnp.ndim(leaf) - len(own[0])]
    if history is not None:
        what = "history"
        if isinstance(history, Callable) and not isinstance(history, jax.Array):
            what = "history(t)"  # the delay integrator calls it at one scalar time at a time
            try:
                value = jax.eval_shape(lambda t: history(t), jnp.asarray(t0, jnp.result_type(float)))
            except Exception as err:  # the user's function failed on a scalar time
                raise ValueError(f"simulate: history(t) failed for a scalar time t={t0}: "
                                 f"{type(err).__name__}: {err}; expected a function of one "
                                 "scalar time that returns the state") from None
        else:
            value = history
        if y0 is None:  # history gives y0 = history(t0): it may add batch axes, as y0 may
            _check_state(device, value, batch, treedef, own, what)
        else:  # the history continues y0: the same batch
            _check_state(device, value, batch, treedef, own, what, "y0 has the batch axes",
                         exact=True)
    return batch
