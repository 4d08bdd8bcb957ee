r"""Abstract devices: the contract every physical substrate implements.

A device is an :class:`equinox.Module` whose array fields are physical parameters in the units
stated in its docstring. It describes the dynamics

$$\mathrm{d}y = f(t, y, u(t))\,\mathrm{d}t + g(t, y, u(t)) \circ \mathrm{d}W_t$$

where $u(t)$ is the value of a :mod:`physnn.drives` drive. States are PyTrees of real arrays whose
*leading* axes are batch axes: the batch lives inside the state, so one solve advances every
sample at once (measured 15-26x faster than ``vmap`` over solves, see DESIGN.md).
"""

from __future__ import annotations

import abc
import dataclasses
import re
from typing import ClassVar

import equinox as eqx
from jaxtyping import Array, PyTree


class AbstractDevice(eqx.Module):
    """Base class of all non-delayed devices (ODE, or SDE with thermal noise).

    Subclasses implement :meth:`init_state`, :meth:`drift`, :meth:`observe` and :meth:`power`,
    and may implement :meth:`diffusion` (default: deterministic). ``time_unit`` names the unit of
    ``t`` ("ns", "us", or "tau" for normalised systems).
    """

    time_unit: ClassVar[str] = "ns"

    @abc.abstractmethod
    def init_state(self, batch_shape: tuple[int, ...] = ()) -> PyTree[Array]:
        """Initial state with leading axes ``batch_shape``."""

    @abc.abstractmethod
    def drift(self, t, y: PyTree[Array], u) -> PyTree[Array]:
        """The vector field $f(t, y, u)$, same structure as ``y``."""

    def diffusion(self, t, y: PyTree[Array], u) -> PyTree[Array] | None:
        """Diagonal noise amplitude $g(t, y, u)$ (same structure as ``y``), or ``None``."""
        return None

    @abc.abstractmethod
    def observe(self, t, y: PyTree[Array], u) -> PyTree[Array]:
        """What an experimenter measures (power, voltage, displacement, ...)."""

    @abc.abstractmethod
    def power(self, t, y: PyTree[Array], u) -> Array:
        """Dissipated power in watts, shape = batch shape, for energy-per-inference accounting."""


class AbstractDelayDevice(AbstractDevice):
    r"""Base class of delay-differential devices $\dot x = f(t, x(t), x(t-\tau), u(t))$.

    Subclasses have a ``delay`` field (in ``time_unit``) and implement
    ``drift(t, y, y_delayed, u)``. They are integrated by physnn's delay integrator, since
    diffrax has no support for delay equations.
    """

    delay: eqx.AbstractVar[Array]

    @abc.abstractmethod
    def drift(self, t, y, y_delayed, u):  # type: ignore[override]
        """The vector field $f(t, y(t), y(t-\\tau), u(t))$."""


def not_a_device(own: str, obj) -> str:
    """The error message for ``obj`` passed to ``own`` where a device is expected; it points to
    ``obj.device`` when ``obj`` holds one (a :class:`physnn.codesign.Design`)."""
    hint = ("; it holds one, so pass its .device (e.g. design.device)"
            if isinstance(getattr(obj, "device", None), AbstractDevice) else "")
    return f"{own}: device must be a physnn device (an AbstractDevice), got {type(obj).__name__}{hint}"


def parameter_axes(device: AbstractDevice) -> dict[str, int]:
    """``{name: number of the parameter's own axes}`` for every array parameter of ``device``
    declared ``Float[Array, "*e m m"]`` (any leading axes are ensemble axes; here 2 own axes)."""
    return leading_axes_fields(device, "e")


def leading_axes_fields(module: eqx.Module, star: str) -> dict[str, int]:
    """``{name: number of trailing own axes}`` for every field of ``module`` annotated
    ``Float[Array, "*<star> ..."]``: those fields carry the leading axes named ``*<star>`` (``e``,
    a device's ensemble axes; ``batch``, a drive's batch axes), and fields without them do not."""
    axes = {}
    for f in dataclasses.fields(module):
        if f.metadata.get("static", False):
            continue
        ann = next((str(k.__annotations__[f.name]) for k in type(module).__mro__
                    if f.name in getattr(k, "__annotations__", {})), "")
        found = re.search(r"['\"]\*" + re.escape(star) + r"((?:\s+\w+)*)\s*['\"]", ann)
        if found is not None:
            axes[f.name] = len(found.group(1).split())
    return axes
