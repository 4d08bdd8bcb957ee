r"""One Duffing resonator with delayed feedback: the mechanical delay reservoir of Dion, Mejaouri &
Sylvestre, J. Appl. Phys. 124, 152132 (2018).

A single flexural mode (effective mass $m$, natural frequency $\omega_0$, quality factor $Q$, cubic
stiffness $k_3$) is driven by a harmonic force at $\omega_d$ whose **amplitude** carries the
time-multiplexed input $J(t)$ (:class:`physnn.drives.Masked`) and the resonator's own vibration
amplitude, measured and fed back after a delay $\tau$:

$$m\ddot x + \frac{m\omega_0}{Q}\dot x + m\omega_0^2x + k_3x^3 = F(t)\cos\omega_d t,\qquad
  F(t) = F_0\,[1 + \gamma J(t)] + \eta\,\frac{m\omega_0^2}{Q}\,|A(t-\tau)|.$$

$|A|$ is the lock-in amplitude of the vibration ($x = \mathrm{Re}[A e^{i\omega_d t}]$). The
feedback is normalised so that $\eta$ is the **loop gain at resonance** of the linear resonator:
the force $m\omega_0^2|A|/Q$ is exactly what holds an amplitude $|A|$ at resonance against
damping, so for $\eta < 1$ the loop alone decays and for $\eta > 1$ it grows until the Duffing
frequency shift pulls the resonator off the drive (this saturation is the reservoir's
nonlinearity, together with the curvature of the Duffing response).

The state is the slow flow (first-order averaging, as
:class:`~physnn.devices.mechanical.DuffingNetwork` with ``frame="rotating"``) of $A$:

$$2i\omega_d\dot A = (\omega_d^2 - \omega_0^2)A - i\omega_d\gamma_m A - \tfrac{3k_3}{4m}|A|^2A
  + F(t)/m,\qquad \gamma_m = \omega_0/Q,$$

whose node response time is the ring-down time $T = 2Q/\omega_0$; the virtual nodes are spaced
$\theta$ (a fraction of $T$, so that neighbouring nodes are coupled by the resonator's inertia),
and $\tau = N\theta$ (or $(N + \text{desync})\theta$). Its fixed points with a constant input
solve the harmonic balance with an amplitude-dependent force,
$a^2[(\omega_d^2-\omega_0^2-\tfrac{3k_3}{4m}a^2)^2 + \omega_d^2\gamma_m^2] = (F(a)/m)^2$
(:meth:`DuffingDelayNode.steady_state_amplitudes_nm`).

**Where this departs from the paper.** Dion et al. drive a silicon MEMS beam electrostatically and
close the delay loop electronically; the exact form of their feedback signal (what is detected,
filtered and added to the drive) could not be established from the sources available here, so
the feedback above is a choice: the delayed **envelope** $|A(t-\tau)|$ (what a demodulator in an
electronic delay loop delivers) added to the drive amplitude, in phase with the carrier. The
electrostatic force's quadratic dependence on voltage and the beam's higher modes are not
modelled.

**Thermal noise.** The delay integrator is deterministic, so the thermal force enters as two extra
input channels: :func:`thermal_drive` appends independent standard-normal samples
$n', n''$, one pair per node interval, to the masked input, and the node adds
$\sigma/(\omega_d\sqrt{2\theta})\,(n' + i n'')$ to $\dot A$ with $\sigma^2 = 2\gamma_m k_BT/m$ (the
slow-flow noise of :class:`DuffingNetwork`, held constant over each interval: a zero-order-hold
discretisation of the white force, accurate for $\theta \ll T$; it gives equipartition
$m\omega_0^2\langle x^2\rangle = k_BT$, checked in the tests). Without these channels the
node is noise-free.

**Units** as in :mod:`physnn.devices.mechanical`: frequencies in MHz, masses in kg, $k_3$ in
N/m$^3$, forces in pN; time in µs (``time_unit = "us"``), $A$ in nm. State: ``batch + (2,)`` =
(Re A, Im A), nm. Defaults: the NEMS resonator of :class:`DuffingNetwork` (2.2 MHz, Q = 4000,
1 pg, $k_3$ = 3e11 N/m$^3$; $T$ = 579 µs), order-of-magnitude values, not Dion et al.'s MEMS.
"""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .. import _validate as V
from ..drives import Masked, SampleAndHold
from ._base import AbstractDelayDevice
from ._virtual_nodes import node_delay, virtual_node_count
from .mechanical import K3_UNIT, K_B, PN_UNIT, TWO_PI

__all__ = ["DuffingDelayNode", "thermal_drive"]

# |A| = sqrt(|A|^2 + eps^2): finite derivative at A = 0 (the resonator starts at rest)
_EPS_NM2 = 1e-12

_PARAMS = ("f0_mhz", "q", "mass_kg", "k3_n_per_m3", "drive_force_pn", "drive_mhz", "input_gain",
           "feedback_gain", "temperature_k", "theta", "delay")


class DuffingDelayNode(AbstractDelayDevice):
    r"""A driven Duffing resonator whose drive amplitude carries the masked input and its own
    delayed vibration amplitude; see the module docstring for the equations.

    **Arguments** (scalars, or arrays with common leading axes for an ensemble of operating
    points simulated in one batched solve):

    - `f0_mhz`: $\omega_0/2\pi$, MHz, > 0. Default 2.2.
    - `q`: quality factor, > 0. Default 4000.
    - `mass_kg`: effective mass, kg, > 0. Default 1e-15.
    - `k3_n_per_m3`: cubic stiffness $k_3$, N/m$^3$ (> 0 hardening). Default 3e11.
    - `drive_force_pn`: $F_0$, pN, >= 0. Default 1.
    - `drive_mhz`: $\omega_d/2\pi$, MHz, > 0. Default ``f0_mhz``.
    - `input_gain`: $\gamma$, modulation depth of the drive per unit masked input. Default 0.5.
    - `feedback_gain`: $\eta$, loop gain at resonance (0 = no feedback). Default 0.5.
    - `temperature_k`: $T$, K, >= 0; used only with a :func:`thermal_drive`. Default 300.
    - `n_nodes`: virtual nodes $N \ge 1$. Default 50.
    - `theta`: node spacing $\theta$, µs, > 0. Default: 0.2 ring-down times $2Q/\omega_0$.
    - `delay`: $\tau$, µs; default $(N + \text{desync})\theta$.
    - `delay_bound`: the largest delay a training run may reach (default twice the delay, or,
      for a node built inside ``jax.grad``/``jax.jit`` with a traced ``delay``, twice the default
      delay $(N + \text{desync})\theta$; pass it when ``theta`` is traced too).
    """

    f0_mhz: Float[Array, "*e"]
    q: Float[Array, "*e"]
    mass_kg: Float[Array, "*e"]
    k3_n_per_m3: Float[Array, "*e"]
    drive_force_pn: Float[Array, "*e"]
    drive_mhz: Float[Array, "*e"]
    input_gain: Float[Array, "*e"]
    feedback_gain: Float[Array, "*e"]
    temperature_k: Float[Array, "*e"]
    theta: Float[Array, "*e"]
    delay: Float[Array, "*e"]
    n_nodes: int = eqx.field(static=True)
    delay_bound: float = eqx.field(static=True)
    time_unit: ClassVar[str] = "us"
    #: every parameter is a scalar per node; leading axes are ensemble axes (operating points,
    #: chips). theta and delay set the integrator's grid, so fabricate does not spread them
    ensemble_params: ClassVar[dict[str, int]] = dict.fromkeys(_PARAMS, 0)

    def __init__(self, f0_mhz=2.2, q=4000.0, mass_kg=1e-15, k3_n_per_m3=3e11, drive_force_pn=1.0,
                 drive_mhz=None, input_gain=0.5, feedback_gain=0.5, temperature_k=300.0, *, n_nodes: int = 50,
                 theta=None, delay=None, desync: int = 0, delay_bound=None):
        own = "DuffingDelayNode"
        self.n_nodes = virtual_node_count(n_nodes, own)
        self.f0_mhz = V.positive("f0_mhz", f0_mhz, owner=own)
        self.q = V.positive("q", q, owner=own)
        self.mass_kg = V.positive("mass_kg", mass_kg, owner=own)
        self.k3_n_per_m3 = V.as_float("k3_n_per_m3", k3_n_per_m3, owner=own)
        self.drive_force_pn = V.positive("drive_force_pn", drive_force_pn, owner=own,
                                         allow_zero=True)
        self.drive_mhz = V.positive("drive_mhz", self.f0_mhz if drive_mhz is None else drive_mhz,
                                    owner=own)
        self.input_gain = V.as_float("input_gain", input_gain, owner=own)
        self.feedback_gain = V.as_float("feedback_gain", feedback_gain, owner=own)
        self.temperature_k = V.positive("temperature_k", temperature_k, owner=own, allow_zero=True)
        if theta is None:
            f0, q = V.concrete(f0_mhz), V.concrete(q)
            if f0 is None or q is None:
                raise ValueError(f"{own}: theta=None needs concrete f0_mhz and q (the default is "
                                 "0.2 ring-down times); pass theta when they are traced")
            theta = float(0.2 * np.max(2.0 * np.asarray(q) / (TWO_PI * np.asarray(f0))))
        self.theta = V.positive("theta", theta, owner=own)
        self.delay, self.delay_bound = node_delay(self.n_nodes, self.theta, delay, desync,
                                                  delay_bound, own, theta_arg=theta)
        try:
            np.broadcast_shapes(*[jnp.shape(getattr(self, n)) for n in _PARAMS])
        except ValueError:
            shapes = ", ".join(f"{n} {tuple(jnp.shape(getattr(self, n)))}" for n in _PARAMS)
            raise ValueError(f"{own}: the parameter shapes do not broadcast ({shapes}); give "
                             "scalars or arrays with common ensemble axes") from None

    # ---------------------------------------------------------------- derived quantities
    @property
    def batch_shape(self) -> tuple[int, ...]:
        return tuple(np.broadcast_shapes(*[jnp.shape(getattr(self, n)) for n in _PARAMS]))

    def omega0(self):
        r"""$\omega_0$, rad/µs."""
        return TWO_PI * self.f0_mhz

    def omega_drive(self):
        r"""$\omega_d$, rad/µs."""
        return TWO_PI * self.drive_mhz

    def damping_rate(self):
        r"""$\gamma_m = \omega_0/Q$, 1/µs."""
        return self.omega0() / self.q

    def ringdown_time_us(self):
        r"""Amplitude ring-down time $T = 2Q/\omega_0$, µs: the node's response time."""
        return 2.0 / self.damping_rate()

    def _cubic(self):
        return 0.75 * self.k3_n_per_m3 * K3_UNIT / self.mass_kg  # 1/(nm^2 us^2)

    def feedback_per_nm(self):
        r"""Feedback force per unit mass and unit delayed amplitude, $\eta\omega_0^2/Q$, 1/µs²."""
        return self.feedback_gain * self.omega0() ** 2 / self.q

    def force_per_mass(self, j, amplitude_delayed_nm):
        r"""$F(t)/m$, nm/µs², for masked input ``j`` and delayed amplitude $|A(t-\tau)|$."""
        f0 = self.drive_force_pn * PN_UNIT / self.mass_kg
        return f0 * (1.0 + self.input_gain * j) + self.feedback_per_nm() * amplitude_delayed_nm

    def thermal_amplitude_nm(self):
        r"""Thermal rms displacement $\sqrt{k_BT/(m\omega_0^2)}$, nm (also the rms of each
        quadrature of $A$ at equilibrium)."""
        k_n_per_m = self.mass_kg * (self.omega0() * 1e6) ** 2
        return jnp.sqrt(K_B * self.temperature_k / k_n_per_m) * 1e9

    def _thermal_per_sample(self):
        """Slow-flow noise per unit held standard-normal sample, nm/µs."""
        # sigma^2 = 2 gamma kT/m in nm^2/us^3 (the factor is 1, see DuffingNetwork)
        sigma = jnp.sqrt(2 * self.damping_rate() * 1e6 * K_B * self.temperature_k / self.mass_kg)
        return sigma / (self.omega_drive() * jnp.sqrt(2.0 * self.theta))

    def steady_state_amplitudes_nm(self, j: float = 0.0) -> np.ndarray:
        r"""Fixed-point amplitudes (nm) under a constant masked input ``j``: the positive real
        roots $a$ of $a^2[(\omega_d^2-\omega_0^2-\tfrac{3k_3}{4m}a^2)^2+\omega_d^2\gamma_m^2]
        = (F(a)/m)^2$ with $F(a)/m = F_0(1+\gamma j)/m + \eta\omega_0^2 a/Q$ (a degree-6
        polynomial), ascending. Concrete (NumPy, float64); needs scalar parameters."""
        if self.batch_shape != ():
            raise ValueError("DuffingDelayNode.steady_state_amplitudes_nm: needs scalar parameters "
                             f"(this node has ensemble shape {self.batch_shape})")
        p = {n: float(np.asarray(getattr(self, n), np.float64)) for n in _PARAMS[:-2]}
        w0, w = TWO_PI * p["f0_mhz"], TWO_PI * p["drive_mhz"]  # float64: w^2 - w0^2 cancels
        c, d = 0.75 * p["k3_n_per_m3"] * K3_UNIT / p["mass_kg"], w**2 - w0**2
        g = w0 / p["q"]
        f = p["drive_force_pn"] * PN_UNIT / p["mass_kg"] * (1.0 + p["input_gain"] * float(j))
        b = p["feedback_gain"] * w0**2 / p["q"]
        coeffs = [c**2, 0.0, -2 * c * d, 0.0, d**2 + (w * g) ** 2 - b**2, -2 * f * b, -f**2]
        roots = np.roots(np.trim_zeros(np.asarray(coeffs), "f"))
        scale = max(np.abs(roots).max(), 1e-30)
        real = roots[(np.abs(roots.imag) < 1e-7 * scale) & (roots.real > 0)].real
        return np.sort(real)

    # ---------------------------------------------------------------- device contract
    def init_state(self, batch_shape=()):
        """At rest, $A = 0$; shape ``batch_shape + (2,)``."""
        shape = tuple(np.broadcast_shapes(tuple(batch_shape), self.batch_shape))
        return jnp.zeros(shape + (2,), jnp.result_type(self.f0_mhz.dtype, jnp.float32))

    def drift(self, t, y, y_delayed, u):
        j = 0.0 if u is None else u[..., 0]
        ar, ai = y[..., 0], y[..., 1]
        amp_d = jnp.sqrt(y_delayed[..., 0] ** 2 + y_delayed[..., 1] ** 2 + _EPS_NM2)
        w = self.omega_drive()
        # 2 i w dA/dt = K A - i w g A + F/m, with K = w^2 - w0^2 - c |A|^2 (real)
        k = w**2 - self.omega0() ** 2 - self._cubic() * (ar**2 + ai**2)
        f = self.force_per_mass(j, amp_d)
        half_g = 0.5 * self.damping_rate()
        # dA/dt = -i (K A + F/m) / (2w) - g A / 2
        dr = (k * ai) / (2 * w) - half_g * ar
        di = -(k * ar + f) / (2 * w) - half_g * ai
        if u is not None and u.shape[-1] >= 3:  # thermal channels of thermal_drive()
            s = self._thermal_per_sample()
            dr = dr + s * u[..., 1]
            di = di + s * u[..., 2]
        return jnp.stack([dr, di], axis=-1).astype(y.dtype)

    def input_shapes(self):
        """The masked input $J(t)$, trailing shape ``(1,)``, or ``(3,)`` with the two thermal
        channels that :func:`thermal_drive` appends."""
        return ((1,), (3,))

    def observe(self, t, y, u):
        """``amplitude_nm`` $|A|$ and ``phase_rad`` $\\arg A$ (what a lock-in amplifier
        referenced to the drive reads), each of shape batch."""
        return {"amplitude_nm": jnp.sqrt(y[..., 0] ** 2 + y[..., 1] ** 2),
                "phase_rad": jnp.arctan2(y[..., 1], y[..., 0])}

    def power(self, t, y, u):
        r"""Power dissipated by damping, W, cycle-averaged: $m\gamma_m\omega_d^2|A|^2/2$."""
        # kg * (1/us) * (nm/us)^2 = kg * 1e6/s * 1e-6 m^2/s^2: factor 1 (as DuffingNetwork)
        a2 = y[..., 0] ** 2 + y[..., 1] ** 2
        return self.mass_kg * self.damping_rate() * 0.5 * self.omega_drive() ** 2 * a2


def thermal_drive(drive, key, node: DuffingDelayNode | None = None):
    r"""The masked input ``drive`` (a :class:`~physnn.drives.Masked`) with two thermal-noise
    channels appended: a :class:`~physnn.drives.SampleAndHold` with the same hold $\theta$ whose
    value is $(J, n', n'')$, with $n', n''$ independent standard-normal samples per node interval
    (drawn from ``key``; same key, same noise). :class:`DuffingDelayNode` turns them into its
    thermal force at ``temperature_k``, scaled for a hold equal to its own ``theta``; pass the
    ``node`` to have its virtual-node count and spacing checked against the drive's."""
    if not isinstance(drive, Masked):
        raise ValueError(f"thermal_drive: drive must be a physnn.Masked drive, got "
                         f"{type(drive).__name__}")
    if node is not None:
        theta = V.concrete(node.theta)
        if drive.n_nodes != node.n_nodes:
            raise ValueError(f"thermal_drive: the mask has {drive.n_nodes} entries but the node "
                             f"has n_nodes={node.n_nodes}")
        if theta is not None and np.any(np.abs(theta - drive.hold) > 1e-6 * drive.hold):
            raise ValueError(f"thermal_drive: the drive's node spacing theta={drive.hold:.6g} us "
                             f"differs from the node's theta={V.show(theta)} us; the thermal force "
                             "is scaled for the node's theta")
    g = jnp.arange(drive.n_segments)
    j = jnp.moveaxis(jax.vmap(drive.segment)(g), 0, -2)  # batch + (n_seg, 1)
    noise = jax.random.normal(key, j.shape[:-1] + (2,), j.dtype)
    return SampleAndHold(jnp.concatenate([j, noise], axis=-1), drive.hold, t0=drive.t0)
