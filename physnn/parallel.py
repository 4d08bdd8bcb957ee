r"""Spread a batch (or an ensemble of chips) over several accelerators.

physnn keeps the batch inside the state, so one solve advances every sample at once. With more
than one device (several GPUs, or TPU cores), :func:`shard` lays the batch axis of the inputs out
across them; :func:`physnn.simulate` and everything built on it then run under XLA's automatic
partitioning, each device advancing its share of the samples, with results equal to those of one
device. Sharding is a layout, not a change of the computation: a leaf that is split but did not
need to be costs only speed.

```python
tones = pn.Tones(freqs, amps=0.5)                          # freqs: (B, 2), B a multiple of devices
traj = pn.simulate(sto, parallel.shard(tones, B), t1=1000.0, dt=0.5)   # B/k samples per device
```

A reverse-mode gradient through one split solve sums the parameters' cotangents across the
devices at every step, which can make it slower than on one device. :func:`sum_over_shards`
avoids that: each device differentiates its own part of the batch as a separate problem, and
the gradients are summed once, at the end:

```python
loss = lambda dev, tones: jnp.sum(per_sample_loss(dev, tones))       # a sum over the samples
grads = jax.jit(lambda dev, tones: parallel.sum_over_shards(
    lambda part: jax.grad(loss)(dev, part), tones, B))(sto, tones)   # = jax.grad(loss)(sto, tones)
```

Measured (``python benchmarks/bench_parallel.py``, BENCHMARKS.md): on a 2-core CPU presented as
two devices, a forward solve of 256-1024 samples runs 1.6-1.9 times faster split, with the same
powers bit for bit; a gradient through one split solve 2-5 times slower; a gradient with
:func:`sum_over_shards` 2.0-2.2 times faster, equal to the one-device gradient to float32
rounding.
"""

from __future__ import annotations

import os

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .devices._base import AbstractDevice
from .drives import AbstractDrive

__all__ = ["mesh", "shard", "pad", "sum_over_shards", "use_host_cores", "usable_cores", "n_devices"]

AXIS = "batch"
_HOST_FLAG = "--xla_force_host_platform_device_count"


def _positive_int(name, value, own, what=""):
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{own}: {name}={value!r} must be a positive integer{what}")


def _check_n(n, own):
    _positive_int("n", n, own, " (the size of the batch axis)")


def _is_array(x) -> bool:
    return isinstance(x, jax.Array | np.ndarray)


def _batched(x, n, own_axes=0) -> bool:
    """Whether ``x`` is an array with a leading batch axis of size ``n`` before ``own_axes``."""
    return _is_array(x) and x.ndim > own_axes and x.shape[0] == n


_SPLIT, _WHOLE, _KEEP = "split", "whole", "keep"


def _batch_spec(tree, n):
    """For every leaf of ``tree``: ``"split"`` where it carries the batch axis of size ``n``,
    ``"whole"`` where it does not, ``"keep"`` for a device's other fields (left as they are).

    Inside a device only the ensemble axes of the parameters it declares in ``ensemble_params``
    count (a parameter's own axes, such as the oscillators of a network, never do), and inside a
    drive only the batch axes of the fields it declares in ``batch_fields`` (a mask of virtual
    nodes never does); a device or drive that declares nothing has no batch axes. Other leaves
    count when their leading axis has size ``n``."""
    def spec(node):
        if isinstance(node, AbstractDevice | AbstractDrive):
            declared = (type(node).ensemble_params if isinstance(node, AbstractDevice)
                        else type(node).batch_fields)
            axes = dict(declared or {})
            rest = _KEEP if isinstance(node, AbstractDevice) else _WHOLE
            out = jtu.tree_map(lambda _: rest, node)
            names = [k for k in axes if getattr(node, k) is not None]
            return eqx.tree_at(lambda d: [getattr(d, k) for k in names], out,
                               [_SPLIT if _batched(getattr(node, k), n, axes[k]) else _WHOLE
                                for k in names])
        return _SPLIT if _batched(node, n) else _WHOLE

    return jtu.tree_map(spec, tree, is_leaf=lambda x: isinstance(x, AbstractDevice | AbstractDrive))


def _map_with_spec(fn, tree, n):
    """``fn(leaf, spec)`` on every leaf of ``tree`` (see :func:`_batch_spec`)."""
    leaves, treedef = jtu.tree_flatten(tree)
    specs = jtu.tree_leaves(_batch_spec(tree, n))
    return jtu.tree_unflatten(treedef, [fn(x, sp) for x, sp in zip(leaves, specs, strict=True)])


def _split_mesh(n, devices, own) -> Mesh:
    """The mesh for splitting a batch of ``n`` over ``devices``, which must divide it."""
    _check_n(n, own)
    m = mesh(devices)
    k = m.devices.size
    if n % k:
        raise ValueError(
            f"{own}: n={n} is not a multiple of the {k} devices; pad the batch (parallel.pad(tree, "
            f"{n}, {k}) gives {-(-n // k) * k} entries, which a summed loss must weight 0) or pass "
            "fewer devices")
    return m


def mesh(devices=None) -> Mesh:
    """A one-axis mesh (axis name ``"batch"``) over ``devices`` (default: ``jax.devices()``)."""
    devices = jax.devices() if devices is None else list(devices)
    if not devices:
        raise ValueError("mesh: devices is empty; expected at least one jax device")
    return Mesh(np.asarray(devices), (AXIS,))


def shard(tree, n: int, *, devices=None):
    """Lay ``tree`` out over ``devices`` (default: all of ``jax.devices()``): every array leaf
    whose leading axis has size ``n`` is split along it, one block per device, and every other
    leaf is replicated. For a device, only an ensemble axis is split (a parameter's own axes,
    such as the oscillators of a network, never are), so ``n`` chips of ``n`` oscillators are
    laid out by chip. ``tree`` is any PyTree: a drive, a device (e.g. chips from
    :func:`physnn.codesign.fabricate`, ``n`` their number), an initial state, a data set.

    ``n`` must be a multiple of the number of devices; :func:`pad` makes it one.
    """
    m = _split_mesh(n, devices, "shard")
    split, whole = NamedSharding(m, PartitionSpec(AXIS)), NamedSharding(m, PartitionSpec())

    def place(x, spec):
        if not _is_array(x) or spec == _KEEP:
            return x
        return jax.device_put(x, split if spec == _SPLIT else whole)

    return _map_with_spec(place, tree, n)


def pad(tree, n: int, multiple: int):
    """Pad every array leaf whose leading axis is the batch axis of size ``n`` to the next
    multiple of ``multiple`` by repeating its last entry (so that padded samples are valid
    inputs); drop the padding from the results with ``[:n]``. Returns the padded tree. As in
    :func:`shard`, only a device's ensemble axes and a drive's batch axes are batch axes (not the
    oscillators of a network nor the virtual nodes of a mask, whatever their number)."""
    _check_n(n, "pad")
    _positive_int("multiple", multiple, "pad")
    extra = -(-n // multiple) * multiple - n

    def grow(x, spec):
        if spec != _SPLIT or extra == 0:
            return x
        return jnp.concatenate([x, jnp.repeat(x[-1:], extra, axis=0)])

    return _map_with_spec(grow, tree, n)


def sum_over_shards(fn, batch, n: int, *, devices=None):
    r"""$\sum_s$ ``fn(part_s)`` over the $k$ equal parts of ``batch`` (one per device), each
    part evaluated on its own device as a separate problem, and the results summed once.

    ``batch`` is a PyTree whose array leaves with the batch axis ``n`` leading are split into
    parts (a drive, a data set; in a drive or a device only its batch or ensemble axes count, as
    in :func:`shard`); other leaves go whole to every part. ``fn`` maps a part to a PyTree of
    arrays: typically ``lambda part: jax.grad(loss)(device, part)`` with ``loss`` a *sum* over
    the samples, so that the result equals ``jax.grad(loss)(device, batch)``. Use it inside
    ``jax.jit``. ``n`` must be a multiple of the number of devices; padding would add the padded
    samples to the sum, so mask them in ``loss`` if you pad.
    """
    m = _split_mesh(n, devices, "sum_over_shards")
    k, split = m.devices.size, NamedSharding(m, PartitionSpec(AXIS))
    leaves, treedef = jtu.tree_flatten(batch)
    axes = tuple(0 if sp == _SPLIT else None for sp in jtu.tree_leaves(_batch_spec(batch, n)))
    if 0 not in axes:
        raise ValueError(f"sum_over_shards: no array in batch has a leading axis of size n={n}")
    parts = [x if a is None else jax.lax.with_sharding_constraint(
        jnp.reshape(x, (k, n // k) + x.shape[1:]), split) for x, a in zip(leaves, axes, strict=True)]
    per = jax.vmap(lambda *ls: fn(jtu.tree_unflatten(treedef, ls)), in_axes=axes)(*parts)
    return jtu.tree_map(lambda x: jnp.sum(x, axis=0), per)


def use_host_cores(k: int | None = None) -> bool:
    """Present the CPU to JAX as ``k`` devices (default: :func:`usable_cores`), so that
    :func:`shard` can put each part of a batch on its own core. This sets ``XLA_FLAGS``, which
    JAX reads once, when it first runs a computation: call it before that (the ``physnn`` command
    does, before an experiment starts). Computations that are not sharded run on the first device
    as before, with the same results. Returns whether the setting was made: nothing is changed
    when ``XLA_FLAGS`` already sets the device count or JAX has already started."""
    k = usable_cores() if k is None else k
    _positive_int("k", k, "use_host_cores")
    flags = os.environ.get("XLA_FLAGS", "")
    if _HOST_FLAG in flags or _backend_started():
        return False
    os.environ["XLA_FLAGS"] = f"{flags} {_HOST_FLAG}={int(k)}".strip()
    return True


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system tells, which a
    container's limit can make fewer than ``os.cpu_count()``)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # pragma: no cover - no affinity on this system
        return os.cpu_count() or 1


def _backend_started() -> bool:
    try:
        from jax._src import xla_bridge
        return bool(xla_bridge.backends_are_initialized())
    except (ImportError, AttributeError):  # pragma: no cover - a JAX without this (private) check
        return False


def n_devices() -> int:
    """The number of devices :func:`shard` splits over by default (``len(jax.devices())``)."""
    return len(jax.devices())
