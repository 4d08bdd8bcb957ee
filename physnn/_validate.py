"""Parameter validation shared by devices, drives and simulate.

A private module: its names are public within physnn (any physnn module may use them) and not
part of the user-facing API.

Every check raises ``ValueError`` naming the parameter, the offending value and what was
expected, so that a user can act on the message. Checks are skipped for traced values
(inside ``jax.jit``/``jax.grad``), where the module is being rebuilt from already-validated
leaves; run-time problems during a solve are caught by :func:`physnn.simulate` instead.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def concrete(x):
    """Return a NumPy view of ``x``, or ``None`` when ``x`` is a tracer."""
    if isinstance(x, jax.core.Tracer):
        return None
    try:
        return np.asarray(x)
    except Exception:  # pragma: no cover - exotic array types
        return None


def show(a: np.ndarray) -> str:
    """``a`` for an error message: the value itself when small, else its shape and range."""
    if a.size == 1:
        return f"{a.reshape(()).item()!r}"
    if a.size <= 8:
        return np.array2string(a, precision=6, separator=", ")
    return f"array of shape {a.shape} (min {np.nanmin(a):.6g}, max {np.nanmax(a):.6g})"


def as_float(name: str, value, *, owner: str = "") -> jax.Array:
    """Convert to a floating JAX array and require every entry to be finite."""
    where = f"{owner}: " if owner else ""
    a = concrete(value)
    if a is not None:
        if not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
            raise ValueError(f"{where}{name}={show(a)} must be real numbers, got dtype {a.dtype}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{where}{name}={show(a)} must be finite (no NaN or inf)")
    x = jnp.asarray(value)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    return x


def positive(name: str, value, *, owner: str = "", allow_zero: bool = False) -> jax.Array:
    """A finite array whose entries are all > 0 (or >= 0 with ``allow_zero``)."""
    x = as_float(name, value, owner=owner)
    a = concrete(value)
    if a is not None:
        bad = a < 0 if allow_zero else a <= 0
        if np.any(bad):
            where = f"{owner}: " if owner else ""
            want = ">= 0" if allow_zero else "> 0"
            raise ValueError(f"{where}{name}={show(a)} must be {want} (physical quantity)")
    return x


def in_range(name: str, value, lo=None, hi=None, *, owner: str = "") -> jax.Array:
    """A finite array with lo <= entries <= hi."""
    x = as_float(name, value, owner=owner)
    a = concrete(value)
    if a is not None and ((lo is not None and np.any(a < lo)) or (hi is not None and np.any(a > hi))):
        where = f"{owner}: " if owner else ""
        raise ValueError(f"{where}{name}={show(a)} must lie in [{lo}, {hi}]")
    return x


def shape_is(name: str, value, shape: tuple, *, owner: str = "") -> jax.Array:
    """Require ``value``'s trailing axes to equal ``shape`` (leading axes are batch/ensemble axes)."""
    x = jnp.asarray(value)
    n = len(shape)
    if x.ndim < n or tuple(x.shape[x.ndim - n:]) != tuple(shape):
        where = f"{owner}: " if owner else ""
        raise ValueError(
            f"{where}{name} has shape {tuple(x.shape)}; expected trailing axes {tuple(shape)} "
            "(any leading axes are ensemble axes)"
        )
    return x


def symmetric_matrix(name: str, value, elements: str, *, owner: str) -> None:
    """A coupling matrix of reciprocal ``elements`` must be symmetric (relative tolerance 1e-6 of
    the largest off-diagonal entry of each matrix; the diagonal is ignored). Checked when the
    value is concrete; traced values (under ``jax.jit``/``jax.grad``) pass."""
    a = concrete(value)
    if a is None or a.ndim < 2:
        return
    a = a.astype(np.float64) * (1.0 - np.eye(a.shape[-1]))
    asym = np.abs(a - np.swapaxes(a, -1, -2)).max(axis=(-2, -1))
    scale = np.abs(a).max(axis=(-2, -1))
    bad = asym > 1e-6 * scale
    if np.any(bad):
        worst = np.unravel_index(np.argmax(np.where(bad, asym / np.where(bad, scale, 1.0), 0.0)),
                                 bad.shape)
        m = a[worst]
        i, j = np.unravel_index(np.argmax(np.abs(m - m.T)), m.shape)
        at = f" (ensemble index {tuple(int(k) for k in worst)})" if worst else ""
        raise ValueError(
            f"{owner}: {name} is not symmetric{at}: {name}[{i}, {j}] = {m[i, j]:.6g} but "
            f"{name}[{j}, {i}] = {m[j, i]:.6g}, an asymmetry of {abs(m[i, j] - m[j, i]):.3g} "
            f"against a largest entry of {np.abs(m).max():.3g}; expected a symmetric matrix "
            f"({elements} are reciprocal)")
