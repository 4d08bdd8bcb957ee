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
from collections.abc import Mapping
from typing import ClassVar

import equinox as eqx
from jaxtyping import Array, PyTree


class AbstractDevice(eqx.Module):
    r"""Base class of all non-delayed devices (ODE, or SDE with thermal noise).

    Subclasses implement :meth:`init_state`, :meth:`drift`, :meth:`observe` and :meth:`power`,
    and may implement :meth:`diffusion` (default: deterministic). ``time_unit`` names the unit of
    ``t`` ("ns", "us", or "tau" for normalised systems). A step-by-step guide from a new equation
    to a trained parameter is ``docs/adding-a-device.md``.

    **The contract a device declares** (class variables, read by :func:`physnn.codesign.fabricate`
    and :mod:`physnn.parallel`; nothing is inferred from annotations):

    - ``ensemble_params``: ``{field name: number of the parameter's own (trailing) axes}`` for
      every array parameter that may carry leading *ensemble* axes (a chip ensemble from
      ``fabricate``, a sweep of operating points). A per-oscillator parameter of shape ``(M,)``
      has 1 own axis, a coupling matrix ``(M, M)`` 2, a scalar 0; any axes in front of them are
      ensemble axes, which broadcast against the batch of the state. ``fabricate`` spreads only
      these parameters and ``parallel.shard`` splits only their ensemble axes. ``None`` (the
      default) means undeclared: ``fabricate`` refuses such a device with a message saying what
      to declare, and ``parallel`` treats it as having no ensemble axes (its fields are left where
      they are). ``{}`` declares that the device has none. A declared field that is ``None``
      on an instance (an optional parameter this device does not use) has no axes.
    - ``reciprocal``: the names of matrix parameters (two own axes) that are symmetric because
      the elements they describe are reciprocal (a resistor, a capacitor, a spring between $i$
      and $j$). ``fabricate`` draws one factor per link for them, so they stay symmetric. Default:
      none.

    For example, $M$ oscillators with frequencies, a scalar temperature and a spring matrix:

    ```python
    class Springs(AbstractDevice):
        f0_ghz: Float[Array, "*e m"]
        temperature_k: Float[Array, "*e"]
        coupling: Float[Array, "*e m m"]
        ensemble_params: ClassVar[dict[str, int]] = {"f0_ghz": 1, "temperature_k": 0,
                                                     "coupling": 2}
        reciprocal: ClassVar[frozenset[str]] = frozenset({"coupling"})
    ```

    - ``input_shapes()``: the trailing shapes of the drive values the device takes (for
      example ``((2, n_tones),)``), which :func:`physnn.simulate` checks the drive against before
      tracing; ``()`` for a device that takes no drive; ``None`` (the default) leaves the drive
      unchecked. ``input_hint()`` may add to the error which parameter sets the channel count.
      The state's own shape is read from ``init_state`` (with ``jax.eval_shape``), so a ``y0``
      or a history of the wrong shape is refused too (see :mod:`physnn.contract`).
    - ``noise_drift(t, y, u)``: the drift that belongs to the noise (e.g. a Stratonovich
      noise-induced term), added only to noisy solves; ``None`` by default. A deterministic
      solve (``key=None``) integrates ``drift`` alone: the noise-free model at any temperature.

    A device with ensemble parameters also has a ``batch_shape`` property: the ensemble axes
    its parameters carry (``()`` for a single device), which ``simulate`` broadcasts with the
    drive's batch axes.
    """

    time_unit: ClassVar[str] = "ns"
    ensemble_params: ClassVar[Mapping[str, int] | None] = None
    reciprocal: ClassVar[frozenset[str]] = frozenset()

    @abc.abstractmethod
    def init_state(self, batch_shape: tuple[int, ...] = ()) -> PyTree[Array]:
        """Initial state with leading axes ``batch_shape``."""

    @abc.abstractmethod
    def drift(self, t, y: PyTree[Array], u) -> PyTree[Array]:
        """The vector field $f(t, y, u)$, same structure as ``y``."""

    def diffusion(self, t, y: PyTree[Array], u) -> PyTree[Array] | None:
        """Diagonal noise amplitude $g(t, y, u)$ (same structure as ``y``), or ``None``."""
        return None

    def noise_drift(self, t, y: PyTree[Array], u) -> PyTree[Array] | None:
        r"""A drift that belongs to the noise (same structure as ``y``), or ``None`` (default):
        for example the noise-induced term of a Stratonovich model whose fluctuation-dissipation
        balance needs it. :func:`physnn.simulate` adds it to :meth:`drift` only when it simulates
        the noise (a ``key`` is given); a deterministic solve (``key=None``) integrates
        :meth:`drift` alone, the noise-free model."""
        return None

    @abc.abstractmethod
    def observe(self, t, y: PyTree[Array], u) -> PyTree[Array]:
        """What an experimenter measures (power, voltage, displacement, ...)."""

    @abc.abstractmethod
    def power(self, t, y: PyTree[Array], u) -> Array:
        """Dissipated power in watts, shape = batch shape, for energy-per-inference accounting."""

    def input_shapes(self) -> tuple[tuple[int, ...], ...] | None:
        """The trailing shapes (after the batch axes) of the drive values $u(t)$ this device
        takes, e.g. ``((2, n_tones),)`` for RF tones; ``()`` if it takes no drive; ``None`` (the
        default) when undeclared, in which case :func:`physnn.simulate` does not check the drive.
        Part of the shape contract (:mod:`physnn.contract`) that ``simulate`` checks before
        tracing, so that a drive with the wrong number of channels is an error, not a silent
        broadcast."""
        return None

    def input_hint(self) -> str:
        """A hint appended to the error for a drive of the wrong shape (which parameter sets the
        number of channels); empty by default."""
        return ""


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


def ensemble_params(device: AbstractDevice, own: str) -> dict[str, int]:
    """``device``'s declared ``ensemble_params`` (see :class:`AbstractDevice`), checked: a
    mapping of its own field names to whole numbers >= 0. ``None`` (undeclared) raises a
    ``ValueError`` naming ``own`` (the caller) and what to declare."""
    kind = type(device).__name__
    declared = type(device).ensemble_params
    fields = {f.name for f in dataclasses.fields(device) if not f.metadata.get("static", False)}
    if declared is None:
        example = ", ".join(f"{n!r}: 1" for n in sorted(fields)[:2]) or "'param': 1"
        raise ValueError(
            f"{own}: {kind} does not declare which of its parameters may carry ensemble (chip) "
            f"axes; set the class variable ensemble_params = {{{example}, ...}} "
            "(field name: number of the parameter's own trailing axes; {} for none), see "
            "physnn.AbstractDevice and docs/adding-a-device.md")
    out = {}
    for name, n_own in dict(declared).items():
        if name not in fields:
            raise ValueError(f"{own}: {kind}.ensemble_params names {name!r}, which is not one of "
                             f"its array fields ({', '.join(sorted(fields))})")
        if isinstance(n_own, bool) or not isinstance(n_own, int) or n_own < 0:
            raise ValueError(f"{own}: {kind}.ensemble_params[{name!r}]={n_own!r}; expected the "
                             "number of the parameter's own trailing axes (an integer >= 0)")
        if getattr(device, name) is not None:  # an optional parameter the device does not use
            out[name] = n_own
    return out
