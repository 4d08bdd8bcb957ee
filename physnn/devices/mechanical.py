r"""Nanomechanical resonators: networks of coupled, driven Duffing oscillators.

Each of $N$ resonators (a flexural mode of a nanobeam, with effective mass $m_i$) obeys

$$m_i\ddot x_i + \frac{m_i\omega_{0,i}}{Q_i}\dot x_i + m_i\omega_{0,i}^2 x_i + k_{3,i}x_i^3
  = \sum_j k_{ij}(x_j - x_i) + F_i(t) + \xi_i(t),$$

$$F_i(t) = F_{0,i}\Big(1 + \sum_a W_{ia}u_a(t)\Big)\cos(\omega_d t),\qquad
  \langle\xi_i(t)\xi_j(t')\rangle = 2 m_i\gamma_i k_B T\,\delta_{ij}\delta(t-t'),$$

with $\gamma_i = \omega_{0,i}/Q_i$. The harmonic drive at $\omega_d$ is amplitude-modulated by the
input $u(t)$ (modulation depths $W$), as in Coulombe, York & Sylvestre, PLoS ONE 12, e0178663
(2017). The coupling springs $k_{ij}$ form a chain, a ring or an arbitrary matrix (diagonal
ignored).

**Two forms** (``frame=``):

- ``"lab"``: the equation above, state $(x_i, \dot x_i)$. Steps must resolve the carrier.
- ``"rotating"`` (default, for high-$Q$ resonators): the slow flow (first-order averaging) of the
  complex amplitude $A_i$, $x_i = \mathrm{Re}[A_i e^{i\omega_d t}]$,

  $$2i\omega_d\dot A_i = (\omega_d^2 - \omega_{0,i}^2)A_i - i\omega_d\gamma_i A_i
    - \frac{3k_{3,i}}{4m_i}|A_i|^2A_i + \sum_j\frac{k_{ij}}{m_i}(A_j - A_i) + \frac{F_i}{m_i},$$

  whose steps are set by detunings and linewidths, not by the carrier. Its fixed points are the
  harmonic-balance solutions; it neglects terms of relative order $1/Q$, $|\omega_d-\omega_0|/
  \omega_0$ and the third harmonic. Thermal noise enters as $\mathrm{d}A_i = \dots +
  \sigma_i/(\omega_d\sqrt2)\,(\mathrm{d}W' + i\,\mathrm{d}W'')$, $\sigma_i^2 = 2\gamma_i k_BT/m_i$,
  which gives equipartition $m\omega_0^2\langle x^2\rangle = k_BT$ at resonance.

Closed-form results the tests check:

- free ring-down: the amplitude decays as $e^{-\gamma t/2}$, rate $\omega_0/(2Q)$;
- backbone (free oscillation at amplitude $A$): $\omega(A) \approx \omega_0 + 3k_3A^2/(8m\omega_0)$;
- driven response (harmonic balance):
  $a^2[(\omega_0^2 - \omega^2 + \tfrac{3k_3}{4m}a^2)^2 + \omega^2\gamma^2] = (F/m)^2$, bistable
  (hysteretic sweeps) where this has three positive roots;
- two identical resonators coupled by $k_c$: normal modes $\omega_0$ and
  $\sqrt{\omega_0^2 + 2k_c/m}$.

**Units.** Inputs are physical: frequencies in MHz, $Q$ dimensionless, masses in kg, $k_3$ in
N/m$^3$, coupling springs in N/m, forces in pN, temperature in K. Internally (and in the state)
time is in **µs** (``time_unit = "us"``), displacement in **nm**, velocity in nm/µs (= mm/s), so
that float32 is comfortable: a 1 pg resonator at 2.2 MHz driven by 1 pN at $Q$ = 4000 moves ~20 nm.

**Defaults** follow published NEMS rings: 8 resonators at 2.2 MHz with $Q \approx 4000$ in a ring
(Matheny et al., Science 363, eaav7932 (2019)). The effective mass (1 pg, a ~10 µm nanobeam), the
coupling (2e-4 N/m, about 1e-3 of the 0.19 N/m spring, so the normal-mode band is a few linewidths
wide) and $k_3$ = 3e11 N/m$^3$ (the nonlinear shift equals one linewidth at ~20 nm, a typical
critical amplitude of thin beams) are order-of-magnitude choices, not a fit to one device.

State: ``y[..., 0, :]`` = $x$ (nm), ``y[..., 1, :]`` = $\dot x$ (nm/µs) in the lab frame;
``Re A`` and ``Im A`` (nm) in the rotating frame; batch axes in front.
"""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .. import _validate as V
from ..drives import phase_cycles
from ._base import AbstractDevice

K_B = 1.380649e-23  # J/K
TWO_PI = 2 * np.pi
# Conversions from SI to (nm, us): stiffness/mass 1/s^2 -> 1/us^2, k3/m -> 1/(nm^2 us^2),
# force/mass: pN/kg -> nm/us^2.
_PER_S2 = 1e-12
K3_UNIT = 1e-30  #: (k3 in N/m^3) / (m in kg) -> 1/(nm^2 us^2)
PN_UNIT = 1e-15  #: (force in pN) / (m in kg) -> nm/us^2

_PER = ("f0_mhz", "q", "mass_kg", "k3_n_per_m3", "drive_force_pn", "temperature_k")
TOPOLOGIES = ("ring", "chain", "none")


def coupling_matrix(n: int, spring_n_per_m=2e-4, topology: str = "ring") -> np.ndarray:
    """The $(N, N)$ coupling-spring matrix of a ``"chain"`` (nearest neighbours), a ``"ring"``
    (a closed chain) or ``"none"``, N/m."""
    if topology not in TOPOLOGIES:
        raise ValueError(f"coupling_matrix: topology={topology!r}; expected one of {TOPOLOGIES}")
    k = np.zeros((n, n))
    if topology != "none":
        i = np.arange(n - 1)
        k[i, i + 1] = k[i + 1, i] = 1.0
        if topology == "ring" and n > 2:
            k[0, n - 1] = k[n - 1, 0] = 1.0
    return k * np.asarray(spring_n_per_m, dtype=float)


class DuffingNetwork(AbstractDevice):
    r"""$N$ coupled, driven Duffing resonators (nanomechanical); see the module docstring.

    **Arguments** (per resonator: a scalar or shape ``(N,)``, possibly with leading ensemble axes):

    - `f0_mhz`: $\omega_0/2\pi$, MHz, > 0. Default 2.2.
    - `q`: quality factor $Q$, > 0. Default 4000.
    - `mass_kg`: effective mass $m$, kg, > 0. Default 1e-15.
    - `k3_n_per_m3`: cubic stiffness $k_3$, N/m$^3$ (> 0 hardening, < 0 softening). Default 3e11.
    - `coupling_n_per_m`: a scalar spring $k_c$ (N/m) placed by ``topology``, or an $(N, N)$
      matrix $k_{ij}$ (symmetric: a spring is reciprocal; diagonal ignored; then ``topology``
      must be None). Default 2e-4.
    - `topology`: ``"ring"`` (default), ``"chain"`` or ``"none"`` for a scalar coupling.
    - `drive_force_pn`: $F_0$, pN, >= 0. Default 1.
    - `drive_mhz`: $\omega_d/2\pi$, MHz, > 0, common to all resonators (shape ``(*e,)`` for an
      ensemble, e.g. a frequency sweep). Default: the mean of ``f0_mhz``.
    - `input_gain`: $W$, shape ``(N, n_inputs)``, the modulation depth of the drive per unit input.
      Default 1 for every resonator and one input.
    - `temperature_k`: $T$, K, >= 0 (thermal force, used when ``simulate`` gets a key). Default 300.
    - `frame`: ``"rotating"`` (default, slow flow) or ``"lab"``.
    - `n_resonators`: $N$ when every per-resonator argument is a scalar. Default 8.

    **Shape contract** (checked by :func:`physnn.simulate`): the state is ``batch + (2, N)``; a
    drive gives inputs of trailing shape ``(n_inputs,)``, ``n_inputs = input_gain.shape[-1]``
    (one column of ``input_gain`` per channel, never reused for another); the ensemble axes are
    those in front of the parameters' own axes.
    """

    f0_mhz: Float[Array, "*e n"]
    q: Float[Array, "*e n"]
    mass_kg: Float[Array, "*e n"]
    k3_n_per_m3: Float[Array, "*e n"]
    drive_force_pn: Float[Array, "*e n"]
    temperature_k: Float[Array, "*e n"]
    coupling_n_per_m: Float[Array, "*e n n"]
    input_gain: Float[Array, "*e n inputs"]
    drive_mhz: Float[Array, "*e"]
    frame: str = eqx.field(static=True)

    time_unit: ClassVar[str] = "us"
    #: per-resonator parameters have one own axis, the springs and input gains two, the drive
    #: frequency none; leading axes in front of them are ensemble axes
    ensemble_params: ClassVar[dict[str, int]] = {
        **dict.fromkeys(_PER, 1), "coupling_n_per_m": 2, "input_gain": 2, "drive_mhz": 0}
    #: matrix parameters of reciprocal elements (springs: $k_{ij} = k_{ji}$), kept symmetric by
    #: the constructor's check and by :func:`physnn.codesign.fabricate`
    reciprocal: ClassVar[frozenset[str]] = frozenset({"coupling_n_per_m"})

    def __init__(
        self,
        f0_mhz=2.2,
        q=4000.0,
        mass_kg=1e-15,
        k3_n_per_m3=3e11,
        coupling_n_per_m=2e-4,
        drive_force_pn=1.0,
        drive_mhz=None,
        input_gain=None,
        temperature_k=300.0,
        *,
        topology: str | None = "ring",
        frame: str = "rotating",
        n_resonators: int | None = None,
    ):
        own = "DuffingNetwork"
        per = {
            "f0_mhz": V.positive("f0_mhz", f0_mhz, owner=own),
            "q": V.positive("q", q, owner=own),
            "mass_kg": V.positive("mass_kg", mass_kg, owner=own),
            "k3_n_per_m3": V.as_float("k3_n_per_m3", k3_n_per_m3, owner=own),
            "drive_force_pn": V.positive("drive_force_pn", drive_force_pn, owner=own,
                                         allow_zero=True),
            "temperature_k": V.positive("temperature_k", temperature_k, owner=own, allow_zero=True),
        }
        sizes = {n: v.shape[-1] for n, v in per.items() if v.ndim > 0 and v.shape[-1] != 1}
        kmat = V.as_float("coupling_n_per_m", coupling_n_per_m, owner=own)
        if kmat.ndim >= 1:
            if kmat.ndim < 2 or kmat.shape[-1] != kmat.shape[-2]:
                raise ValueError(
                    f"{own}: coupling_n_per_m has shape {tuple(kmat.shape)}; expected a scalar "
                    "spring (placed by topology) or a square (N, N) matrix"
                )
            sizes["coupling_n_per_m"] = kmat.shape[-1]
        if input_gain is not None and jnp.ndim(input_gain) >= 2:
            sizes["input_gain"] = jnp.shape(input_gain)[-2]
        if n_resonators is not None:
            sizes["n_resonators"] = int(n_resonators)
        if len(set(sizes.values())) > 1:
            listed = ", ".join(f"{n} -> {k}" for n, k in sizes.items())
            raise ValueError(
                f"{own}: the parameters disagree on the number of resonators N ({listed}); "
                "per-resonator arrays need shape (N,), coupling_n_per_m (N, N), "
                "input_gain (N, n_inputs)"
            )
        n = sizes.popitem()[1] if sizes else 8
        if n < 1:
            raise ValueError(f"{own}: n_resonators={n} must be >= 1")
        for name, v in per.items():
            v = v[None] if v.ndim == 0 else v
            setattr(self, name, jnp.broadcast_to(v, v.shape[:-1] + (n,)))
        if kmat.ndim == 0:
            if topology not in TOPOLOGIES:
                raise ValueError(f"{own}: topology={topology!r}; expected one of {TOPOLOGIES}")
            kmat = jnp.asarray(coupling_matrix(n, 1.0, topology), kmat.dtype) * kmat
        elif topology not in (None, "ring"):
            raise ValueError(
                f"{own}: topology={topology!r} was given with a coupling matrix; pass "
                "topology=None with a matrix, or a scalar spring with a topology"
            )
        kmat = V.shape_is("coupling_n_per_m", kmat, (n, n), owner=own)
        V.symmetric_matrix("coupling_n_per_m", kmat, "springs", owner=own)
        self.coupling_n_per_m = kmat * (1.0 - jnp.eye(n, dtype=kmat.dtype))
        gain = jnp.ones((n, 1)) if input_gain is None else V.as_float("input_gain", input_gain,
                                                                      owner=own)
        if gain.ndim < 2 or gain.shape[-2] != n:
            raise ValueError(
                f"{own}: input_gain has shape {tuple(gain.shape)}; expected (N, n_inputs) with "
                f"N = {n}"
            )
        self.input_gain = gain
        fd = jnp.mean(self.f0_mhz, axis=-1) if drive_mhz is None else drive_mhz
        self.drive_mhz = V.positive("drive_mhz", fd, owner=own)
        if frame not in ("rotating", "lab"):
            raise ValueError(f"{own}: frame={frame!r}; expected 'rotating' or 'lab'")
        self.frame = frame

    # ---------------------------------------------------------------- parameters, internal units
    @property
    def n_resonators(self) -> int:
        return self.f0_mhz.shape[-1]

    @property
    def batch_shape(self) -> tuple[int, ...]:
        shapes = [getattr(self, n).shape[:-1] for n in _PER]
        shapes += [self.coupling_n_per_m.shape[:-2], self.input_gain.shape[:-2],
                   self.drive_mhz.shape]
        return tuple(np.broadcast_shapes(*shapes))

    def input_shapes(self):
        """Values of trailing shape ``(n_inputs,)`` with ``n_inputs = input_gain.shape[-1]``."""
        return ((self.input_gain.shape[-1],),)

    def input_hint(self):
        return (f" (input_gain has shape {tuple(self.input_gain.shape)}: one column per input "
                "channel; give it one column for each channel of the drive)")

    def omega0(self) -> Array:
        r"""$\omega_0$, rad/µs."""
        return TWO_PI * self.f0_mhz

    def omega_drive(self) -> Array:
        r"""$\omega_d$, rad/µs, shape ``(*e, 1)`` (broadcasts against per-resonator arrays)."""
        return TWO_PI * self.drive_mhz[..., None]

    def damping_rate(self) -> Array:
        r"""$\gamma = \omega_0/Q$, 1/µs (the energy decay rate)."""
        return self.omega0() / self.q

    def ringdown_rate(self) -> Array:
        r"""Amplitude decay rate $\omega_0/(2Q)$, 1/µs."""
        return 0.5 * self.damping_rate()

    def stiffness_n_per_m(self) -> Array:
        r"""Linear spring $k = m\omega_0^2$, N/m."""
        return self.mass_kg * (TWO_PI * self.f0_mhz * 1e6) ** 2

    def _cubic(self):
        return self.k3_n_per_m3 * K3_UNIT / self.mass_kg  # 1/(nm^2 us^2)

    def _couple(self):
        return self.coupling_n_per_m * _PER_S2 / self.mass_kg[..., :, None]  # 1/us^2

    def _force(self, u):
        """Drive amplitude per unit mass $F_i/m_i$, nm/µs^2."""
        f = self.drive_force_pn * PN_UNIT / self.mass_kg
        if u is None:
            return f
        return f * (1.0 + jnp.einsum("...ia,...a->...i", self.input_gain, u))

    def _coupling_force(self, z):
        k = self._couple()
        return jnp.einsum("...ij,...j->...i", k, z) - jnp.sum(k, axis=-1) * z

    def backbone_frequency_mhz(self, amplitude_nm) -> Array:
        r"""Free-oscillation frequency at amplitude $A$ to first order,
        $[\omega_0 + 3k_3A^2/(8m\omega_0)]/2\pi$, MHz."""
        w0 = self.omega0()
        return (w0 + 3 * self._cubic() * jnp.asarray(amplitude_nm) ** 2 / (8 * w0)) / TWO_PI

    def escape_amplitude_nm(self) -> Array:
        r"""For a softening spring ($k_3 < 0$), the top of the potential barrier
        $x_b = \sqrt{m\omega_0^2/|k_3|}$, nm (inf for $k_3 \ge 0$)."""
        c3 = self._cubic()
        return jnp.where(c3 < 0, self.omega0() / jnp.sqrt(jnp.abs(c3) + 1e-30), jnp.inf)

    def normal_mode_frequencies_mhz(self) -> np.ndarray:
        r"""Linear normal-mode frequencies, MHz, ascending: $\sqrt{\lambda}/2\pi$ for the eigenvalues
        $\lambda$ of $M^{-1}(\mathrm{diag}(m\omega_0^2) + L)$, $L$ the Laplacian of $k_{ij}$."""
        w0 = np.asarray(self.omega0(), dtype=float)
        k = np.asarray(self._couple(), dtype=float)
        dyn = -k + (w0**2 + k.sum(-1))[..., :, None] * np.eye(self.n_resonators)
        lam = np.linalg.eigvals(dyn).real
        return np.sort(np.sqrt(lam), axis=-1) / TWO_PI

    def harmonic_balance_amplitudes(self, f_mhz, resonator: int = 0) -> np.ndarray:
        r"""Steady-state amplitudes (nm) of resonator ``resonator`` alone (coupling ignored) at drive
        frequencies ``f_mhz``: the positive roots $a$ of
        $a^2[(\omega_0^2-\omega^2+\tfrac{3k_3}{4m}a^2)^2 + \omega^2\gamma^2] = (F_0/m)^2$.
        Shape ``f_mhz.shape + (3,)``, ascending, NaN where there are fewer than three branches.
        Concrete (NumPy, float64); needs a device without ensemble axes."""
        f = np.asarray(f_mhz, dtype=float)
        w0 = float(np.asarray(self.omega0())[resonator])
        gam = float(np.asarray(self.damping_rate())[resonator])
        beta = 0.75 * float(np.asarray(self._cubic())[resonator])
        force = float(np.asarray(self._force(None))[resonator])
        out = np.full(f.shape + (3,), np.nan)
        for idx, fi in np.ndenumerate(f):
            w = TWO_PI * fi
            d = w0**2 - w**2
            # z = a^2: beta^2 z^3 + 2 beta d z^2 + (d^2 + w^2 gam^2) z - F^2 = 0
            roots = np.roots([beta**2, 2 * beta * d, d**2 + (w * gam) ** 2, -force**2]) \
                if beta != 0 else np.array([force**2 / (d**2 + (w * gam) ** 2)])
            z = np.sort(roots[(np.abs(roots.imag) < 1e-9 * np.abs(roots).max()) & (roots.real > 0)]
                        .real)
            out[idx][: len(z)] = np.sqrt(z)
        return out

    def bistable_band_mhz(self, resonator: int = 0, span_linewidths: float = 200.0):
        r"""The drive-frequency band (lo, hi), MHz, where the harmonic balance of one resonator has
        three branches (the saddle-node frequencies that bound the hysteresis), or None.

        The band is searched on a grid of 8001 frequencies over $f_0 \pm$ ``span_linewidths``
        linewidths $f_0/Q$ (fewer than $Q$, so that the grid stays above 0 Hz); a band that
        reaches an end of the grid raises ``ValueError`` (pass a larger ``span_linewidths``)."""
        own = "DuffingNetwork.bistable_band_mhz"
        f0 = float(np.asarray(self.f0_mhz)[resonator])
        q = float(np.asarray(self.q)[resonator])
        lw = f0 / q
        span = float(V.positive("span_linewidths", span_linewidths, owner=own))
        if span >= q:
            raise ValueError(
                f"{own}: span_linewidths={span_linewidths!r} reaches 0 MHz (f0 - span * f0/Q <= 0 "
                f"with Q = {q:g}); expected span_linewidths < Q")
        grid = f0 + lw * np.linspace(-span, span, 8001)
        hb = self.harmonic_balance_amplitudes(grid, resonator)
        three = ~np.isnan(hb[:, 2])
        if not three.any():
            return None
        if three[0] or three[-1]:
            end = 0 if three[0] else -1
            note = ""
            escape = float(np.asarray(self.escape_amplitude_nm())[resonator])
            if hb[end, 2] > escape:
                note = (f"; there the upper branch ({hb[end, 2]:.4g} nm) lies beyond the escape "
                        f"amplitude {escape:.4g} nm of this softening spring, where the model no "
                        "longer holds, so the band may have no edge below f0")
            raise ValueError(
                f"{own}: the bistable band of resonator {resonator} reaches the "
                f"{'lower' if end == 0 else 'upper'} end of the search grid, {grid[end]:.6g} MHz "
                f"= f0 {'-' if end == 0 else '+'} span_linewidths={span_linewidths!r} linewidths "
                f"({lw:.4g} MHz each), so its edge is not found; pass a larger span_linewidths "
                f"(fewer than Q = {q:g}){note}")
        i = np.flatnonzero(three)

        def edge(a, b):  # three branches at a, one at b: bisect
            for _ in range(60):
                m = 0.5 * (a + b)
                if np.isnan(self.harmonic_balance_amplitudes(np.array([m]), resonator)[0, 2]):
                    b = m
                else:
                    a = m
            return 0.5 * (a + b)

        return edge(grid[i[0]], grid[i[0] - 1]), edge(grid[i[-1]], grid[i[-1] + 1])

    # ---------------------------------------------------------------- device contract
    def init_state(self, batch_shape=(), displacement_nm=0.0, velocity_nm_per_us=0.0):
        """Lab frame: $x$ = ``displacement_nm``, $\\dot x$ = ``velocity_nm_per_us`` at $t = 0$.
        Rotating frame: the matching amplitude $A = x - i\\dot x/\\omega_d$.
        Shape ``batch_shape + (2, N)``."""
        shape = tuple(np.broadcast_shapes(tuple(batch_shape) + (self.n_resonators,),
                                          self.batch_shape + (self.n_resonators,)))
        dtype = self.f0_mhz.dtype
        x = jnp.broadcast_to(jnp.asarray(displacement_nm, dtype), shape)
        v = jnp.broadcast_to(jnp.asarray(velocity_nm_per_us, dtype), shape)
        if self.frame == "rotating":
            v = jnp.broadcast_to(-v / self.omega_drive(), shape)  # Im A
        return jnp.stack([x, v], axis=-2)

    def _carrier(self, t, dtype):
        return TWO_PI * phase_cycles(self.drive_mhz[..., None].astype(dtype), t)

    def drift(self, t, y, u):
        if self.frame == "lab":
            x, v = y[..., 0, :], y[..., 1, :]
            w0 = self.omega0()
            acc = (-self.damping_rate() * v - w0**2 * x - self._cubic() * x**3
                   + self._coupling_force(x) + self._force(u) * jnp.cos(self._carrier(t, y.dtype)))
            return jnp.stack([v, acc], axis=-2).astype(y.dtype)
        a = y[..., 0, :] + 1j * y[..., 1, :]
        w = self.omega_drive()
        p = y[..., 0, :] ** 2 + y[..., 1, :] ** 2
        rhs = ((w**2 - self.omega0() ** 2) * a - 0.75 * self._cubic() * p * a
               + self._coupling_force(a) + self._force(u))
        da = -1j * rhs / (2 * w) - 0.5 * self.damping_rate() * a
        return jnp.stack([jnp.real(da), jnp.imag(da)], axis=-2).astype(y.dtype)

    def thermal_force_density(self) -> Array:
        r"""$\sigma = \sqrt{2\gamma k_BT/m}$, the thermal acceleration noise, nm/µs$^{3/2}$."""
        # SI: sqrt(2 gamma_SI kT/m) m/s^1.5 -> nm/us^1.5 is a factor 1e9 * 1e-9 = 1.
        return jnp.sqrt(2 * self.damping_rate() * 1e6 * K_B * self.temperature_k / self.mass_kg)

    def diffusion(self, t, y, u):
        temp = V.concrete(self.temperature_k)
        if temp is not None and not np.any(temp > 0):
            return None
        s = self.thermal_force_density()
        if self.frame == "lab":
            g = jnp.stack([jnp.zeros_like(s), s], axis=-2)
        else:
            g = jnp.broadcast_to((s / (self.omega_drive() * np.sqrt(2.0)))[..., None, :],
                                 s.shape[:-1] + (2, s.shape[-1]))
        return jnp.broadcast_to(g, y.shape).astype(y.dtype)

    def lab_and_amplitude(self, t, y):
        r"""$(x, \dot x, A)$ in either frame, each of shape ``batch + (N,)``: displacement (nm),
        velocity (nm/µs) and the complex lock-in amplitude $A$ (nm) referenced to the drive,
        $x = \mathrm{Re}[A e^{i\omega_d t}]$."""
        w = self.omega_drive()
        theta = self._carrier(t, y.dtype)
        rot = jnp.exp(1j * theta)
        if self.frame == "lab":
            x, v = y[..., 0, :], y[..., 1, :]
            return x, v, (x - 1j * v / w) / rot
        a = y[..., 0, :] + 1j * y[..., 1, :]
        z = a * rot
        return jnp.real(z), -w * jnp.imag(z), a

    def amplitude_nm(self, y):
        r"""The oscillation amplitude of every resonator, nm, shape ``batch + (N,)``:
        $\sqrt{x^2 + (\dot x/\omega_d)^2}$ in the lab frame, $|A|$ in the rotating frame."""
        if self.frame == "lab":
            return jnp.sqrt(y[..., 0, :] ** 2 + (y[..., 1, :] / self.omega_drive()) ** 2)
        return jnp.sqrt(y[..., 0, :] ** 2 + y[..., 1, :] ** 2)

    def observe(self, t, y, u):
        """``displacement_nm`` $x_i$ and ``velocity_nm_per_us`` $\\dot x_i$ (lab frame; rebuilt
        from the carrier in the rotating frame); ``amplitude_nm`` $|A_i|$ and ``phase_rad``
        $\\arg A_i$, with $x_i = |A_i|\\cos(\\omega_d t + \\arg A_i)$ (what a lock-in amplifier
        referenced to the drive reads). Each of shape ``batch + (N,)``."""
        x, v, a = self.lab_and_amplitude(t, y)
        return {"displacement_nm": x, "velocity_nm_per_us": v, "amplitude_nm": jnp.abs(a),
                "phase_rad": jnp.angle(a)}

    def power(self, t, y, u):
        r"""Power dissipated by damping, W, shape batch: $\sum_i m_i\gamma_i\dot x_i^2$ in the lab
        frame; its cycle average $\sum_i m_i\gamma_i\omega_d^2|A_i|^2/2$ in the rotating frame."""
        # m [kg] * gamma [1/us] * v^2 [nm^2/us^2] = m * (gamma 1e6 /s) * (v 1e-3 m/s)^2: factor 1.
        if self.frame == "lab":
            v2 = y[..., 1, :] ** 2
        else:
            v2 = 0.5 * self.omega_drive() ** 2 * (y[..., 0, :] ** 2 + y[..., 1, :] ** 2)
        return jnp.sum(self.mass_kg * self.damping_rate() * v2, axis=-1)
