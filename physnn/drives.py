r"""Drives: the input signals $u(t)$ that enter a device.

Every drive is an :class:`equinox.Module`, callable as ``u = drive(t)``, with batch axes in front:
``u.shape == drive.batch_shape + (..., n_inputs)``. Piecewise-constant drives (the usual way data
enters a device) also expose ``hold`` (the duration of one held value) and ``segment(k)`` (the value
held on the k-th interval). :func:`physnn.simulate` integrates such drives one hold interval at a
time, so every solver stage sees the value of its own interval, with no ambiguity at the jumps.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from . import _validate as V


def _split(a):
    """Veltkamp split a = hi + lo, with hi holding the upper half of the mantissa."""
    c = 4097.0 if a.dtype == jnp.float32 else 134217729.0  # 2^12 + 1, 2^27 + 1
    big = a * c
    hi = big - (big - a)
    return hi, a - hi


def phase_cycles(freq, t):
    r"""The fractional part of $f t$ (in cycles, in $[-1/2, 1/2]$), computed accurately.

    A plain ``f * t`` in float32 loses the phase: at $t = 1000$ ns and $f = 0.3$ GHz the product is
    300 cycles and its rounding error, ~2e-5 cycles, is a phase error of ~1e-4 rad at every
    evaluation. The exact product
    $f t = p + e$ is recovered with Dekker's two-product, and the whole cycles are removed from
    $p$ before $e$ is added back. (This removes the phase error; it does not make float32
    solves of sensitive, near-locking trajectories agree with float64 to 1e-3 -- see
    BENCHMARKS.md.)
    """
    freq = jnp.asarray(freq)
    t = jnp.asarray(t, dtype=freq.dtype)
    p = freq * t
    fh, fl = _split(freq)
    th, tl = _split(t)
    e = ((fh * th - p) + fh * tl + fl * th) + fl * tl
    return (p - jnp.round(p)) + e


def _static_time(name, value, owner) -> float:
    """A positive time that fixes the solver grid: it must be a concrete number (not traced)."""
    if isinstance(value, jax.core.Tracer):
        raise ValueError(
            f"{owner}: {name} fixes the time grid and must be a concrete number, not a traced "
            "value; to optimise a time scale, train the device's own time constants instead"
        )
    V.positive(name, np.asarray(value, dtype=float), owner=owner)
    return float(np.asarray(value))


class AbstractDrive(eqx.Module):
    """Base class of input signals.

    ``hold`` is ``None`` for drives that vary continuously in time, or the length of one
    piecewise-constant interval (in the device's time unit).
    """

    hold: float | None = eqx.field(static=True, default=None, kw_only=True)
    t0: float = eqx.field(static=True, default=0.0, kw_only=True)
    #: ``{field name: number of the field's own trailing axes}`` for the fields that carry the
    #: drive's batch axes in front (:attr:`batch_shape`); :mod:`physnn.parallel` splits only
    #: these. E.g. ``SampleAndHold.values`` of shape ``batch + (n_samples, n_inputs)`` has 2 own
    #: axes; the mask of :class:`Masked` carries no batch axes and is not listed. ``None``
    #: (undeclared, a user's drive) is treated as no batch fields.
    batch_fields: ClassVar[Mapping[str, int] | None] = None

    @abc.abstractmethod
    def __call__(self, t) -> Array:
        """Value of the drive at time ``t``."""

    @property
    @abc.abstractmethod
    def batch_shape(self) -> tuple[int, ...]:
        """Leading batch axes of the drive's values."""

    @property
    def n_segments(self) -> int | None:
        """Number of held intervals (``None`` for continuous drives)."""
        return None

    @property
    def duration(self) -> float | None:
        """Total time covered by the held values (``None`` for continuous drives)."""
        if self.hold is None or self.n_segments is None:
            return None
        return self.n_segments * self.hold

    def segment(self, k) -> Array:
        """The value held on interval ``k`` (piecewise-constant drives only)."""
        raise NotImplementedError(f"{type(self).__name__} is not piecewise constant")

    def _index(self, t):
        k = jnp.floor((t - self.t0) / self.hold).astype(jnp.int32)
        return jnp.clip(k, 0, self.n_segments - 1)


class Constant(AbstractDrive):
    """A constant input ``u(t) = value``, with shape ``batch + (n_inputs,)``."""

    value: Float[Array, "*batch n_inputs"]
    batch_fields: ClassVar[dict[str, int]] = {"value": 1}

    def __init__(self, value):
        v = V.as_float("value", value, owner="Constant")
        self.value = v[None] if v.ndim == 0 else v

    def __call__(self, t):
        return self.value

    @property
    def batch_shape(self):
        return tuple(self.value.shape[:-1])


class SampleAndHold(AbstractDrive):
    r"""Piecewise-constant input: sample $k$ is held on $[t_0 + k h, t_0 + (k+1) h)$.

    **Arguments:**

    - `values`: shape ``batch + (n_samples, n_inputs)``; a 1-D array is one input channel.
    - `hold`: the hold time $h$ (device time unit), > 0.
    - `t0`: time at which sample 0 starts.
    """

    values: Float[Array, "*batch n_samples n_inputs"]
    batch_fields: ClassVar[dict[str, int]] = {"values": 2}

    def __init__(self, values, hold: float, *, t0: float = 0.0):
        v = V.as_float("values", values, owner="SampleAndHold")
        if v.ndim == 1:
            v = v[:, None]
        if v.ndim < 2 or v.shape[-2] == 0:
            raise ValueError(
                f"SampleAndHold: values has shape {tuple(v.shape)}; expected batch + "
                "(n_samples >= 1, n_inputs)"
            )
        self.values = v
        self.hold = _static_time("hold", hold, "SampleAndHold")
        self.t0 = float(t0)

    @property
    def batch_shape(self):
        return tuple(self.values.shape[:-2])

    @property
    def n_segments(self):
        return self.values.shape[-2]

    def segment(self, k):
        return jnp.take(self.values, k, axis=-2, mode="clip")

    def __call__(self, t):
        return self.segment(self._index(t))


class Tones(AbstractDrive):
    r"""RF tones $A_a e^{-i(\omega_a t + \phi_a)}$, $\omega_a = 2\pi f_a$ (physics sign convention).

    The value is the complex analytic signal split into real and imaginary parts, shape
    ``batch + (2, n_tones)``: ``u[..., 0, :]`` is the real waveform $A_a\cos(\omega_a t+\phi_a)$ and
    ``u[..., 1, :]`` is $-A_a\sin(\omega_a t + \phi_a)$. Oscillator models need both (the phase of
    the forcing), and real arrays keep diffrax on its well-tested path.

    **Arguments:**

    - `freqs`: tone frequencies in cycles per time unit (GHz when time is in ns),
      shape ``batch + (n_tones,)``; must be >= 0.
    - `amps`: amplitudes (e.g. RF current in mA), broadcastable to ``freqs``; >= 0.
    - `phases`: phases in radians, broadcastable to ``freqs``.
    """

    freqs: Float[Array, "*batch n_tones"]
    amps: Float[Array, "*batch n_tones"]
    phases: Float[Array, "*batch n_tones"]
    batch_fields: ClassVar[dict[str, int]] = {"freqs": 1, "amps": 1, "phases": 1}

    def __init__(self, freqs, amps=1.0, phases=0.0):
        f = V.positive("freqs", freqs, owner="Tones", allow_zero=True)
        f = f[None] if f.ndim == 0 else f
        a = V.positive("amps", amps, owner="Tones", allow_zero=True)
        p = V.as_float("phases", phases, owner="Tones")
        shape = jnp.broadcast_shapes(f.shape, a.shape, p.shape)
        self.freqs = jnp.broadcast_to(f, shape)
        self.amps = jnp.broadcast_to(a, shape)
        self.phases = jnp.broadcast_to(p, shape)

    @property
    def batch_shape(self):
        return tuple(self.freqs.shape[:-1])

    def __call__(self, t):
        theta = 2 * jnp.pi * phase_cycles(self.freqs, t) + self.phases
        return jnp.stack([self.amps * jnp.cos(theta), -self.amps * jnp.sin(theta)], axis=-2)

    def frame_phase(self, t, frame_freq):
        r"""Phase $\theta_a(t) - 2\pi f_r t$ of each tone in a frame rotating at ``frame_freq``
        (radians; what locking measures compare an oscillator's envelope phase with). ``t`` has
        shape ``(T,) + (1,) * len(freqs.shape)``; the result ``(T,) + freqs.shape``."""
        return 2 * jnp.pi * (self.freqs - frame_freq) * t + self.phases


class Chirps(AbstractDrive):
    r"""RF tones whose frequencies sweep linearly: $f_a(t) = f^{\mathrm{start}}_a +
    (f^{\mathrm{end}}_a - f^{\mathrm{start}}_a)\,\min(\max(t/T, 0), 1)$, with $T$ = ``sweep_time``
    (constant before 0 and after $T$). The phase is the exact integral of that frequency,
    $\theta_a(t) = 2\pi\int_0^t f_a + \phi_a$, and the value has the layout of :class:`Tones`
    (real and imaginary parts of $A_a e^{-i\theta_a(t)}$, shape ``batch + (2, n_tones)``), so a
    device driven by tones takes chirps unchanged. With equal start and end frequencies it is
    :class:`Tones`.

    A formant that glides during a vowel is the use in mind: the two tones follow F1 and F2 from
    one measurement point to the next.

    **Arguments:**

    - `f_start`, `f_end`: frequencies at $t = 0$ and $t = T$ in cycles per time unit (GHz when time
      is in ns), broadcastable to one shape ``batch + (n_tones,)``; >= 0.
    - `sweep_time`: $T$, in the time unit; a concrete positive number.
    - `amps`: amplitudes, broadcastable to the frequencies; >= 0.
    - `phases`: phases at $t = 0$ in radians.
    """

    f_start: Float[Array, "*batch n_tones"]
    f_end: Float[Array, "*batch n_tones"]
    amps: Float[Array, "*batch n_tones"]
    phases: Float[Array, "*batch n_tones"]
    batch_fields: ClassVar[dict[str, int]] = {"f_start": 1, "f_end": 1, "amps": 1, "phases": 1}
    sweep_time: float = eqx.field(static=True)

    def __init__(self, f_start, f_end, sweep_time, amps=1.0, phases=0.0):
        own = "Chirps"
        f0 = V.positive("f_start", f_start, owner=own, allow_zero=True)
        f1 = V.positive("f_end", f_end, owner=own, allow_zero=True)
        a = V.positive("amps", amps, owner=own, allow_zero=True)
        p = V.as_float("phases", phases, owner=own)
        self.sweep_time = _static_time("sweep_time", sweep_time, own)
        shape = jnp.broadcast_shapes(f0.shape, f1.shape, a.shape, p.shape)
        shape = (1,) if shape == () else shape
        self.f_start, self.f_end, self.amps, self.phases = (
            jnp.broadcast_to(v, shape) for v in (f0, f1, a, p))

    @property
    def batch_shape(self):
        return tuple(self.f_start.shape[:-1])

    def _sweep(self, t):
        r"""$\int_0^t \min(\max(s/T, 0), 1)\,ds$ (time units), for any shape of ``t``."""
        tt = jnp.clip(t, 0.0, self.sweep_time)
        return tt * tt / (2 * self.sweep_time) + jnp.maximum(t - self.sweep_time, 0.0)

    def __call__(self, t):
        t = jnp.asarray(t, self.f_start.dtype)
        cycles = phase_cycles(self.f_start, t) + phase_cycles(self.f_end - self.f_start, self._sweep(t))
        theta = 2 * jnp.pi * cycles + self.phases
        return jnp.stack([self.amps * jnp.cos(theta), -self.amps * jnp.sin(theta)], axis=-2)

    def frequency(self, t):
        """Instantaneous frequency of each tone at ``t`` (scalar ``t``: shape ``batch + (n_tones,)``;
        ``t`` of shape ``(T,) + (1,) * len(f_start.shape)``: ``(T,) + f_start.shape``)."""
        u = jnp.clip(jnp.asarray(t) / self.sweep_time, 0.0, 1.0)
        return self.f_start + (self.f_end - self.f_start) * u

    def frame_phase(self, t, frame_freq):
        """As :meth:`Tones.frame_phase`."""
        t = jnp.asarray(t, self.f_start.dtype)
        return 2 * jnp.pi * ((self.f_start - frame_freq) * t
                             + (self.f_end - self.f_start) * self._sweep(t)) + self.phases


class Masked(AbstractDrive):
    r"""Time multiplexing for delay reservoirs: $J(t) = m_{i(t)} \cdot s_{k(t)}$.

    Each input sample $s_k$ is held for $\tau = N\theta$ and multiplied, on virtual node
    $i = \lfloor t/\theta \rfloor \bmod N$, by the mask entry $m_i$. With multi-channel inputs the
    mask has one column per channel and the channels are summed (Appeltant et al. 2011).

    **Arguments:**

    - `inputs`: shape ``batch + (n_samples,)`` or ``batch + (n_samples, n_channels)``.
    - `mask`: shape ``(n_nodes,)`` or ``(n_nodes, n_channels)``; may be trainable.
    - `theta`: virtual-node spacing (device time unit), > 0.

    The value has shape ``batch + (1,)``.
    """

    inputs: Float[Array, "*batch n_samples n_channels"]
    mask: Float[Array, "n_nodes n_channels"]
    batch_fields: ClassVar[dict[str, int]] = {"inputs": 2}

    def __init__(self, inputs, mask, theta: float, *, t0: float = 0.0):
        x = V.as_float("inputs", inputs, owner="Masked")
        m = V.as_float("mask", mask, owner="Masked")
        if m.ndim == 1:
            m = m[:, None]
            if x.ndim >= 1:
                x = x[..., None]
        if m.ndim != 2 or x.ndim < 2 or x.shape[-1] != m.shape[-1] or x.shape[-2] == 0:
            raise ValueError(
                f"Masked: inputs shape {tuple(jnp.shape(inputs))} and mask shape "
                f"{tuple(jnp.shape(mask))} do not match; expected inputs batch + (n_samples,) with "
                "mask (n_nodes,), or inputs batch + (n_samples, n_channels) with mask "
                "(n_nodes, n_channels)"
            )
        self.inputs = x
        self.mask = m
        self.hold = _static_time("theta", theta, "Masked")
        self.t0 = float(t0)

    @property
    def theta(self) -> float:
        return self.hold

    @property
    def n_nodes(self) -> int:
        return self.mask.shape[0]

    @property
    def batch_shape(self):
        return tuple(self.inputs.shape[:-2])

    @property
    def n_segments(self):
        return self.inputs.shape[-2] * self.n_nodes

    def segment(self, k):
        sample = jnp.take(self.inputs, k // self.n_nodes, axis=-2, mode="clip")
        node = jnp.take(self.mask, k % self.n_nodes, axis=0, mode="clip")
        return jnp.sum(sample * node, axis=-1, keepdims=True)

    def __call__(self, t):
        return self.segment(self._index(t))


def binary_mask(key, n_nodes: int, n_channels: int | None = None, amplitude: float = 0.1):
    r"""A random binary mask $m_i \in \{-a, +a\}$ for :class:`Masked` (Appeltant et al. 2011),
    shape ``(n_nodes,)`` or ``(n_nodes, n_channels)``. Train it by making it a leaf of your model."""
    shape = _mask_shape(n_nodes, n_channels, "binary_mask")
    a = float(V.positive("amplitude", amplitude, owner="binary_mask"))
    return jnp.where(jax.random.bernoulli(key, 0.5, shape), a, -a)


def uniform_mask(key, n_nodes: int, n_channels: int | None = None, amplitude: float = 1.0):
    r"""A random mask uniform in $[-a, a]$ for :class:`Masked`, shape ``(n_nodes,)`` or
    ``(n_nodes, n_channels)``."""
    shape = _mask_shape(n_nodes, n_channels, "uniform_mask")
    a = float(V.positive("amplitude", amplitude, owner="uniform_mask"))
    return jax.random.uniform(key, shape, minval=-a, maxval=a)


def _mask_shape(n_nodes, n_channels, func):
    if int(n_nodes) != n_nodes or int(n_nodes) < 1:
        raise ValueError(f"{func}: n_nodes={n_nodes!r} must be an integer >= 1")
    if n_channels is None:
        return (int(n_nodes),)
    if int(n_channels) != n_channels or int(n_channels) < 1:
        raise ValueError(f"{func}: n_channels={n_channels!r} must be an integer >= 1 or None")
    return (int(n_nodes), int(n_channels))
