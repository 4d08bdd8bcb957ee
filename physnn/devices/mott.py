r"""Mott (NbO2 / VO2) threshold switches as Pearson–Anson relaxation oscillators.

Each of $M$ oscillators is a Mott threshold switch (resistance $R_{\mathrm{dev}}(T, V)$) in
parallel with a capacitor $C$, fed by a DC source $V_{\mathrm{in}}$ (plus the drive $u$) through
a load resistor $R_s$. The electro-thermal model (Slesazeck et al., RSC Adv. 5, 102318 (2015);
Gibson et al., APL 108, 023505 (2016); Kumar, Strachan & Williams, Nature 548, 318 (2017)):

$$\sum_k \mathcal{C}_{jk}\,\frac{dV_k}{dt} = \frac{V_{\mathrm{in},j} + u_j - V_j}{R_{s,j}}
   - \frac{V_j}{R_{\mathrm{dev}}(T_j, V_j)} + \sum_k G^{c}_{jk}(V_k - V_j),$$

$$C_{\mathrm{th}}\frac{dT_j}{dt} = \frac{V_j^2}{R_{\mathrm{dev}}(T_j, V_j)}
   - \frac{T_j - T_{\mathrm{amb}}}{R_{\mathrm{th}}} + \sum_k G^{\mathrm{th}}_{jk}(T_k - T_j)
   \;(+\ \text{noise}),$$

with the capacitance matrix $\mathcal{C} = \mathrm{diag}(C_j + \sum_k C^{c}_{jk}) - C^{c}$
(coupling capacitors $C^c_{jk}$ between the $V$ nodes make it non-diagonal; the small $M\times M$
system is solved with ``jnp.linalg.solve``), resistive coupling conductances $G^c_{jk}$ and
thermal coupling conductances $G^{\mathrm{th}}_{jk}$ (diagonals ignored).

Device conductance: a Frenkel–Poole insulating channel mixed with a metallic one by a smooth
insulator–metal transition (IMT) in temperature,

$$G_{\mathrm{dev}} = (1 - \phi(T))\,G_{\mathrm{ins}}(T, E) + \phi(T)/R_{\mathrm{on}},\qquad
  \phi(T) = \frac{1}{1 + e^{-(T - T_{\mathrm{IMT}})/w}},$$

$$G_{\mathrm{ins}} = \frac{1}{R_{\mathrm{off}}}
  \exp\!\left[-\frac{E_a}{k_B}\Big(\frac1T - \frac1{T_{\mathrm{amb}}}\Big)
  + \frac{\beta\sqrt{E}}{k_B T}\right],\qquad
  \beta\sqrt{E} = \sqrt{\frac{q E}{\pi\varepsilon_0\varepsilon_r}}\ \text{(eV)},\quad E = |V|/d,$$

i.e. $\sigma \propto \exp[-(E_a - \beta\sqrt E)/k_B T]$ normalised so that $R_{\mathrm{off}}$ is the
low-field resistance at $T_{\mathrm{amb}}$. $\sqrt{E}$ is smoothed as $(E^2 + E_s^2)^{1/4}$ with
$E_s = 10^3$ V/m so that the gradient exists at $V = 0$. The thermal runaway of
$G_{\mathrm{ins}}(T)$ gives the S-shaped (current-controlled) negative differential resistance
(NDR); the IMT adds the metallic branch.

Materials (``material=``): defaults are representative orders of magnitude, not a fit to one sample.

- ``"NbO2"``: $E_a$ = 0.1 eV, $\varepsilon_r$ = 45, $d$ = 20 nm, IMT at 1070 K (width 20 K),
  $R_{\mathrm{off}}$ = 50 kOhm, $R_{\mathrm{on}}$ = 500 Ohm, $R_{\mathrm{th}}$ = 3e5 K/W,
  $C_{\mathrm{th}}$ = 1e-15 J/K (thermal time 0.3 ns), $C$ = 100 pF, $R_s$ = 1 kOhm,
  $V_{\mathrm{in}}$ = 3.3 V, $T_{\mathrm{amb}}$ = 300 K.
- ``"VO2"``: the thermal-neuristor fit of Zhang, Qiu, Di Ventra et al. (thermal neuristors):
  $T_c$ = 332.8 K, $C$ = 145 pF, $C_{\mathrm{th}}$ = 49.6 pJ/K, thermal conductance 0.206 mW/K
  ($R_{\mathrm{th}}$ = 4854 K/W), $T_{\mathrm{amb}}$ = 325 K; transition width 1.5 K,
  $R_{\mathrm{off}}$ = 20 kOhm, $R_{\mathrm{on}}$ = 500 Ohm, $E_a$ = 0.1 eV (insulating-phase
  activation), no Frenkel–Poole field term, $R_s$ = 5 kOhm, $V_{\mathrm{in}}$ = 7 V. The
  resistance parameters are guesses, not from the fit: with them and the published $C$ the device
  oscillates for $V_{\mathrm{in}}$ of about 7 V, but close to the onset (0.1 V peak to peak, period
  0.72 us); with $C$ = 1.45 nF and 10 V it is a full relaxation oscillation (1.7 V, 4.3 us).

**Hysteresis** (``hysteretic=True``, opt-in). The metallic fraction becomes a state $\phi_j$ that
follows a hysteresis loop of width $h$ (``hysteresis_k``; 7.19 K in the VO2 fit above), a single
smooth hysteron:

$$\tau_s\,\dot\phi = r\big(\phi_\uparrow(T) - \phi\big) - r\big(\phi - \phi_\downarrow(T)\big),\qquad
   \phi_{\uparrow/\downarrow}(T) = \frac{1}{1 + e^{-(T - T_{\mathrm{IMT}} \mp h/2)/w}},$$

so that $\phi$ rises onto the heating branch (IMT at $T_{\mathrm{IMT}} + h/2$) where it lies below
it, falls onto the cooling branch (MIT at $T_{\mathrm{IMT}} - h/2$) where it lies above it, and stays
where it is between the two: a switch held inside the loop remembers its phase at zero bias.
$\tau_s$ (``switching_time_ns``, default 1 ns) is how fast the phase follows the temperature;
$r(x) = \max(x, 0)$ with its corner rounded over $[0, s]$, $s$ = 0.01 ($x^2/2s$ there; exactly 0
for $x \le 0$, so that a switch inside the loop does not creep). The state is then
$(V, T, \phi)$, shape ``(..., 3, M)``. A thermal oscillation needs the metallic steady state to
cool below $T_{\mathrm{IMT}} - h/2$. With the VO2 defaults ($T_{\mathrm{amb}}$ = 325 K, 4 K
below the MIT) the switch settles in a mixed state instead. At $T_{\mathrm{amb}}$ = 300 K,
$R_{\mathrm{on}}$ = 100 Ohm and $V_{\mathrm{in}}$ of 12-24 V it is a full relaxation oscillation
in which $\phi$ swings between 0 and 1 (``tests/test_mott.py``).

**Where this departs from the sharp physics.** The IMT is a smooth logistic function of $T$
(width $w$), so that gradients exist. By default (``hysteretic=False``) the transition is a single
sigmoid centred at $T_c$, without the hysteresis that the VO2 transition has in reality
(``hysteresis_k`` is then recorded for reference only): the oscillation comes from the thermal NDR
alone, and hysteretic bistability (memory at zero bias) needs ``hysteretic=True``. The hysteron
above is one domain: the percolating, multi-domain switching of a real film and its minor loops are
not modelled. Electroforming, filament growth and the field-driven (non-thermal) part of the
switching are not modelled.

Units: time in **ns** (``time_unit = "ns"``), voltages V, resistances ohm, capacitances F,
temperatures K, thermal resistance K/W, thermal capacitance J/K, power W. Temperature noise
``noise`` is in K/sqrt(ns) (a Johnson-like additive amplitude on $T$; 0 = deterministic).

State: ``y[..., 0, :]`` = $V$ (V), ``y[..., 1, :]`` = $T$ (K), and with ``hysteretic=True``
``y[..., 2, :]`` = $\phi$; batch axes in front.
"""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .. import _validate as V
from ._base import AbstractDevice

K_B_EV = 8.617333262e-5  # eV/K
Q_E = 1.602176634e-19  # C
EPS0 = 8.8541878128e-12  # F/m
E_SMOOTH = 1e3  # V/m, smoothing of sqrt(E) at E = 0
NS = 1e-9  # s per time unit
HYST_SMOOTH = 0.01  # rounding of the hysteresis-loop push (in units of phi), see _soft_relu

_MATERIALS = {
    "NbO2": dict(
        capacitance_f=100e-12, load_resistance_ohm=1e3, source_voltage_v=3.3,
        thermal_resistance_k_per_w=3e5, thermal_capacitance_j_per_k=1e-15, ambient_k=300.0,
        activation_ev=0.1, off_resistance_ohm=50e3, on_resistance_ohm=500.0,
        transition_k=1070.0, transition_width_k=20.0, thickness_m=20e-9, permittivity_r=45.0,
        hysteresis_k=0.0, poole_frenkel=True, switching_time_ns=1.0,
    ),
    "VO2": dict(
        capacitance_f=145e-12, load_resistance_ohm=5e3, source_voltage_v=7.0,
        thermal_resistance_k_per_w=1.0 / 0.206e-3, thermal_capacitance_j_per_k=49.6e-12,
        ambient_k=325.0, activation_ev=0.1, off_resistance_ohm=20e3, on_resistance_ohm=500.0,
        transition_k=332.8, transition_width_k=1.5, thickness_m=100e-9, permittivity_r=36.0,
        hysteresis_k=7.19, poole_frenkel=False, switching_time_ns=1.0,
    ),
}

_PER = ("capacitance_f", "load_resistance_ohm", "source_voltage_v", "thermal_resistance_k_per_w",
        "thermal_capacitance_j_per_k", "ambient_k", "activation_ev", "off_resistance_ohm",
        "on_resistance_ohm", "transition_k", "transition_width_k", "thickness_m", "permittivity_r",
        "noise", "switching_time_ns")
_MATS = ("coupling_conductance_s", "coupling_capacitance_f", "thermal_coupling_w_per_k")
_ELEMENTS = dict(coupling_conductance_s="resistors", coupling_capacitance_f="capacitors",
                 thermal_coupling_w_per_k="thermal links")


class MottNetwork(AbstractDevice):
    r"""$M$ (optionally coupled) Mott relaxation oscillators; see the module docstring.

    **Arguments** (per oscillator: a scalar or shape ``(M,)``, possibly with leading ensemble axes;
    ``None`` takes the ``material`` default):

    - `material`: ``"NbO2"`` (default) or ``"VO2"``: the parameter set used for defaults.
    - `capacitance_f`: $C$, F. `load_resistance_ohm`: $R_s$, ohm. `source_voltage_v`:
      $V_{\mathrm{in}}$, V (>= 0; trainable).
    - `thermal_resistance_k_per_w`: $R_{\mathrm{th}}$, K/W. `thermal_capacitance_j_per_k`:
      $C_{\mathrm{th}}$, J/K. `ambient_k`: $T_{\mathrm{amb}}$, K.
    - `activation_ev`: $E_a$, eV (>= 0). `off_resistance_ohm`: $R_{\mathrm{off}}$, the low-field
      insulating resistance at $T_{\mathrm{amb}}$. `on_resistance_ohm`: $R_{\mathrm{on}}$, metallic.
    - `transition_k`: $T_{\mathrm{IMT}}$ (NbO2 ~1070 K, VO2 $T_c$ = 332.8 K).
      `transition_width_k`: $w$, K.
    - `thickness_m`: $d$, m; `permittivity_r`: $\varepsilon_r$ (Frenkel–Poole $\beta$).
    - `noise`: temperature noise amplitude, K/sqrt(ns) (0 = deterministic, ``diffusion`` is None).
    - `coupling_conductance_s`, `coupling_capacitance_f`, `thermal_coupling_w_per_k`: $(M, M)$
      matrices (S, F, W/K), >= 0, symmetric (resistors, capacitors and thermal links are
      reciprocal), diagonal ignored; default 0.
    - `hysteresis_k`: width $h$ of the IMT hysteresis loop, K. Used only with
      ``hysteretic=True``; otherwise recorded for reference.
    - `hysteretic`: give every switch a metallic-fraction state $\phi$ with the hysteresis loop
      of width ``hysteresis_k`` (see "Hysteresis" in the module docstring); the state is then
      ``(..., 3, M)``. Default False (the anhysteretic two-variable model).
    - `switching_time_ns`: $\tau_s$, ns, the time constant with which $\phi$ follows a branch of
      the loop (``hysteretic=True`` only).
    - `poole_frenkel`: include the $\beta\sqrt{E}$ field lowering (default per material).
    - `n_oscillators`: $M$ when every per-oscillator argument is a scalar.

    **Shape contract** (checked by :func:`physnn.simulate`): the state is ``batch + (2, M)``
    ($V$, $T$; ``batch + (3, M)`` with ``hysteretic=True``); a drive gives a voltage $u$ added to
    the sources, of trailing shape ``(M,)`` (one per oscillator) or ``(1,)`` (one voltage added to
    every source: the one broadcast allowed); the ensemble axes are those in front of the
    parameters' own axes.
    """

    capacitance_f: Float[Array, "*e m"]
    load_resistance_ohm: Float[Array, "*e m"]
    source_voltage_v: Float[Array, "*e m"]
    thermal_resistance_k_per_w: Float[Array, "*e m"]
    thermal_capacitance_j_per_k: Float[Array, "*e m"]
    ambient_k: Float[Array, "*e m"]
    activation_ev: Float[Array, "*e m"]
    off_resistance_ohm: Float[Array, "*e m"]
    on_resistance_ohm: Float[Array, "*e m"]
    transition_k: Float[Array, "*e m"]
    transition_width_k: Float[Array, "*e m"]
    thickness_m: Float[Array, "*e m"]
    permittivity_r: Float[Array, "*e m"]
    noise: Float[Array, "*e m"]
    coupling_conductance_s: Float[Array, "*e m m"]
    coupling_capacitance_f: Float[Array, "*e m m"]
    thermal_coupling_w_per_k: Float[Array, "*e m m"]
    switching_time_ns: Float[Array, "*e m"]
    hysteresis_k: float = eqx.field(static=True)
    material: str = eqx.field(static=True)
    poole_frenkel: bool = eqx.field(static=True)
    hysteretic: bool = eqx.field(static=True, default=False)

    time_unit: ClassVar[str] = "ns"
    #: matrix parameters of reciprocal elements (resistors, capacitors, thermal links: $G_{jk} =
    #: G_{kj}$), kept symmetric by the constructor's check and by :func:`physnn.codesign.fabricate`
    reciprocal: ClassVar[frozenset[str]] = frozenset(_MATS)
    #: per-oscillator parameters have one own axis, the coupling matrices two
    ensemble_params: ClassVar[dict[str, int]] = {**dict.fromkeys(_PER, 1), **dict.fromkeys(_MATS, 2)}

    def __init__(
        self,
        material: str = "NbO2",
        *,
        capacitance_f=None,
        load_resistance_ohm=None,
        source_voltage_v=None,
        thermal_resistance_k_per_w=None,
        thermal_capacitance_j_per_k=None,
        ambient_k=None,
        activation_ev=None,
        off_resistance_ohm=None,
        on_resistance_ohm=None,
        transition_k=None,
        transition_width_k=None,
        thickness_m=None,
        permittivity_r=None,
        noise=0.0,
        coupling_conductance_s=None,
        coupling_capacitance_f=None,
        thermal_coupling_w_per_k=None,
        hysteresis_k=None,
        poole_frenkel: bool | None = None,
        n_oscillators: int | None = None,
        hysteretic: bool = False,
        switching_time_ns=None,
    ):
        own = "MottNetwork"
        if material not in _MATERIALS:
            raise ValueError(f"{own}: material={material!r}; expected one of {tuple(_MATERIALS)}")
        d = _MATERIALS[material]
        given = dict(
            capacitance_f=capacitance_f, load_resistance_ohm=load_resistance_ohm,
            source_voltage_v=source_voltage_v, thermal_resistance_k_per_w=thermal_resistance_k_per_w,
            thermal_capacitance_j_per_k=thermal_capacitance_j_per_k, ambient_k=ambient_k,
            activation_ev=activation_ev, off_resistance_ohm=off_resistance_ohm,
            on_resistance_ohm=on_resistance_ohm, transition_k=transition_k,
            transition_width_k=transition_width_k, thickness_m=thickness_m,
            permittivity_r=permittivity_r, noise=noise, switching_time_ns=switching_time_ns,
        )
        nonneg = {"source_voltage_v", "activation_ev", "noise"}
        per = {}
        for name in _PER:
            v = d[name] if given[name] is None else given[name]
            per[name] = V.positive(name, v, owner=own, allow_zero=name in nonneg)
        sizes = {n: v.shape[-1] for n, v in per.items() if v.ndim > 0 and v.shape[-1] != 1}
        mats = dict(coupling_conductance_s=coupling_conductance_s,
                    coupling_capacitance_f=coupling_capacitance_f,
                    thermal_coupling_w_per_k=thermal_coupling_w_per_k)
        for name, mat in mats.items():
            if mat is not None:
                if jnp.ndim(mat) < 2 or jnp.shape(mat)[-1] != jnp.shape(mat)[-2]:
                    raise ValueError(
                        f"{own}: {name} has shape {tuple(jnp.shape(mat))}; expected a square "
                        "(M, M) matrix (any leading axes are ensemble axes)")
                sizes[name] = jnp.shape(mat)[-1]
        if n_oscillators is not None:
            sizes["n_oscillators"] = int(n_oscillators)
        if len(set(sizes.values())) > 1:
            listed = ", ".join(f"{n} -> {k}" for n, k in sizes.items())
            raise ValueError(
                f"{own}: the parameters disagree on the number of oscillators M ({listed}); "
                "per-oscillator arrays need shape (M,), coupling matrices (M, M)")
        m = set(sizes.values()).pop() if sizes else 1
        for name, v in per.items():
            v = v[None] if v.ndim == 0 else v
            setattr(self, name, jnp.broadcast_to(v, v.shape[:-1] + (m,)))
        for name, mat in mats.items():
            mat = jnp.zeros((m, m)) if mat is None else mat
            mat = V.shape_is(name, V.positive(name, mat, owner=own, allow_zero=True), (m, m), owner=own)
            V.symmetric_matrix(name, mat, _ELEMENTS[name], owner=own)
            setattr(self, name, mat * (1.0 - jnp.eye(m, dtype=mat.dtype)))
        h = float(d["hysteresis_k"] if hysteresis_k is None else hysteresis_k)
        if not np.isfinite(h) or h < 0:
            raise ValueError(f"{own}: hysteresis_k={h}; expected a finite width >= 0 K")
        self.hysteresis_k = h
        self.hysteretic = bool(hysteretic)
        self.material = material
        self.poole_frenkel = bool(d["poole_frenkel"] if poole_frenkel is None else poole_frenkel)

    # ---------------------------------------------------------------- helpers
    @property
    def n_oscillators(self) -> int:
        return self.capacitance_f.shape[-1]

    @property
    def batch_shape(self) -> tuple[int, ...]:
        shapes = [getattr(self, n).shape[:-1] for n in _PER] + [getattr(self, n).shape[:-2] for n in _MATS]
        return tuple(np.broadcast_shapes(*shapes))

    def input_shapes(self):
        """A voltage added to each source: values of trailing shape ``(M,)`` (one per
        oscillator) or ``(1,)`` (one voltage added to every source, the one broadcast allowed)."""
        return ((self.n_oscillators,), (1,)) if self.n_oscillators != 1 else ((1,),)

    def metallic_fraction(self, temperature) -> Array:
        r"""$\phi(T)$, the smooth IMT (0 insulating, 1 metallic)."""
        return jax.nn.sigmoid((temperature - self.transition_k) / self.transition_width_k)

    def metallic_branches(self, temperature) -> tuple[Array, Array]:
        r"""The two branches of the hysteresis loop, $(\phi_\uparrow(T), \phi_\downarrow(T))$:
        the IMT on heating at $T_{\mathrm{IMT}} + h/2$ and the MIT on cooling at
        $T_{\mathrm{IMT}} - h/2$ (logistic, width $w$); $\phi_\uparrow \le \phi_\downarrow$."""
        half = 0.5 * self.hysteresis_k
        w = self.transition_width_k
        return (jax.nn.sigmoid((temperature - self.transition_k - half) / w),
                jax.nn.sigmoid((temperature - self.transition_k + half) / w))

    def metallic_rate(self, temperature, metallic) -> Array:
        r"""$d\phi/dt$, 1/ns, of the hysteretic metallic fraction (see the module docstring):
        $\phi$ rises towards the heating branch where it lies below it, falls towards the cooling
        branch where it lies above it, and stays put between them."""
        up, down = self.metallic_branches(temperature)
        return (_soft_relu(up - metallic) - _soft_relu(metallic - down)) / self.switching_time_ns

    def conductance(self, temperature, voltage, metallic=None) -> Array:
        r"""$G_{\mathrm{dev}}(T, V) = 1/R_{\mathrm{dev}}$, S. ``metallic`` is the metallic
        fraction $\phi$ (the hysteretic state); ``None`` takes the anhysteretic $\phi(T)$."""
        t = jnp.maximum(temperature, 1.0)
        expo = -self.activation_ev / K_B_EV * (1.0 / t - 1.0 / self.ambient_k)
        if self.poole_frenkel:
            field = voltage / self.thickness_m
            sqrt_e = (field**2 + E_SMOOTH**2) ** 0.25
            beta = jnp.sqrt(Q_E / (jnp.pi * EPS0 * self.permittivity_r))  # eV per sqrt(V/m)
            expo = expo + beta * sqrt_e / (K_B_EV * t)
        g_ins = jnp.exp(expo) / self.off_resistance_ohm
        phi = self.metallic_fraction(t) if metallic is None else metallic
        return (1.0 - phi) * g_ins + phi / self.on_resistance_ohm

    def resistance(self, temperature, voltage) -> Array:
        """$R_{\\mathrm{dev}}(T, V)$, ohm."""
        return 1.0 / self.conductance(temperature, voltage)

    def _source(self, u):
        v = self.source_voltage_v
        return v if u is None else v + u

    def capacitance_matrix(self) -> Array:
        r"""$\mathcal{C} = \mathrm{diag}(C_j + \sum_k C^c_{jk}) - C^c$, F, shape ``(..., M, M)``."""
        cc = self.coupling_capacitance_f
        diag = self.capacitance_f + jnp.sum(cc, axis=-1)
        return diag[..., :, None] * jnp.eye(self.n_oscillators, dtype=diag.dtype) - cc

    # ---------------------------------------------------------------- device contract
    def init_state(self, batch_shape=(), voltage=0.0, temperature=None, metallic=None):
        r"""$V$ = ``voltage`` (default 0 V, the capacitor discharged) and $T$ = ``temperature``
        (default $T_{\mathrm{amb}}$), shape ``batch_shape + (2, M)``. With ``hysteretic=True`` a
        third row holds the metallic fraction $\phi$ = ``metallic`` (default: the heating branch
        at $T$, i.e. a switch brought to $T$ from below; 1 prepares the metallic state)."""
        shape = tuple(np.broadcast_shapes(tuple(batch_shape) + (self.n_oscillators,),
                                          self.batch_shape + (self.n_oscillators,)))
        temp = self.ambient_k if temperature is None else temperature
        v = jnp.broadcast_to(jnp.asarray(voltage, self.ambient_k.dtype), shape)
        t = jnp.broadcast_to(jnp.asarray(temp, self.ambient_k.dtype), shape)
        if not self.hysteretic:
            if metallic is not None:
                raise ValueError("MottNetwork: metallic= is a state only with hysteretic=True")
            return jnp.stack([v, t], axis=-2)
        phi = self.metallic_branches(t)[0] if metallic is None else metallic
        phi = V.in_range("metallic", phi, 0.0, 1.0, owner="MottNetwork.init_state")
        return jnp.stack([v, t, jnp.broadcast_to(jnp.asarray(phi, t.dtype), shape)], axis=-2)

    def _metallic(self, y):
        return y[..., 2, :] if self.hysteretic else None

    def drift(self, t, y, u):
        v, temp = y[..., 0, :], y[..., 1, :]
        g = self.conductance(temp, v, self._metallic(y))
        i_dev = g * v
        i_in = (self._source(u) - v) / self.load_resistance_ohm
        gc = self.coupling_conductance_s
        i_c = jnp.einsum("...jk,...k->...j", gc, v) - jnp.sum(gc, axis=-1) * v
        i_net = i_in - i_dev + i_c
        if _all_zero(self.coupling_capacitance_f):
            dv = i_net / self.capacitance_f
        else:
            cmat = jnp.broadcast_to(self.capacitance_matrix(), i_net.shape + (self.n_oscillators,))
            dv = jnp.linalg.solve(cmat, i_net[..., None])[..., 0]
        gt = self.thermal_coupling_w_per_k
        q_c = jnp.einsum("...jk,...k->...j", gt, temp) - jnp.sum(gt, axis=-1) * temp
        p_in = i_dev * v - (temp - self.ambient_k) / self.thermal_resistance_k_per_w + q_c
        dtemp = p_in / self.thermal_capacitance_j_per_k
        rows = [dv * NS, dtemp * NS]
        if self.hysteretic:
            rows.append(self.metallic_rate(temp, y[..., 2, :]))  # already per ns
        return jnp.stack(rows, axis=-2).astype(y.dtype)

    def diffusion(self, t, y, u):
        n = V.concrete(self.noise)
        if n is not None and not np.any(n > 0):
            return None
        rows = [jnp.zeros_like(self.noise), self.noise] + [jnp.zeros_like(self.noise)] * self.hysteretic
        return jnp.broadcast_to(jnp.stack(rows, axis=-2), y.shape).astype(y.dtype)

    def observe(self, t, y, u):
        """``voltage`` $V$ (V), ``current`` through the switch $V/R_{\\mathrm{dev}}$ (A),
        ``temperature`` $T$ (K), and with ``hysteretic=True`` ``metallic_fraction`` $\\phi$; each
        of shape ``batch + (M,)``."""
        v, temp = y[..., 0, :], y[..., 1, :]
        obs = {"voltage": v, "current": self.conductance(temp, v, self._metallic(y)) * v,
               "temperature": temp}
        if self.hysteretic:
            obs["metallic_fraction"] = y[..., 2, :]
        return obs

    def power(self, t, y, u):
        """Dissipated power, W, shape batch: Joule heat in the switches $V^2/R_{\\mathrm{dev}}$,
        in the load resistors $(V_{\\mathrm{in}} + u - V)^2/R_s$ and in the coupling resistors."""
        v, temp = y[..., 0, :], y[..., 1, :]
        p = (self.conductance(temp, v, self._metallic(y)) * v**2
             + (self._source(u) - v) ** 2 / self.load_resistance_ohm)
        dv = v[..., :, None] - v[..., None, :]
        p_c = 0.5 * jnp.sum(self.coupling_conductance_s * dv**2, axis=(-2, -1))
        return jnp.sum(p, axis=-1) + p_c


def _soft_relu(x, s=HYST_SMOOTH):
    """max(x, 0) with its corner rounded over [0, s] (x^2/2s there): exactly 0 for x <= 0, so
    that a switch inside the hysteresis loop does not creep, and continuously differentiable."""
    xc = jnp.clip(x, 0.0, s)
    return jnp.where(x > s, x - 0.5 * s, 0.5 * xc**2 / s)


def _all_zero(x) -> bool:
    a = V.concrete(x)
    return a is not None and not np.any(a)


# -------------------------------------------------------------------- analysis helpers


def static_iv(device: MottNetwork, temperatures) -> tuple[Array, Array]:
    r"""The quasi-static I–V curve of each switch, parametrised by its temperature.

    For each $T$ in ``temperatures`` (shape ``(n,)``, K, above $T_{\mathrm{amb}}$) the thermal
    steady state fixes the power $P = (T - T_{\mathrm{amb}})/R_{\mathrm{th}}$; the voltage solves
    $V^2 = P\,R_{\mathrm{dev}}(T, V)$ (unique: the left side increases and the right side
    decreases with $V$; solved by bisection to machine precision) and $I = V/R_{\mathrm{dev}}$.
    Coupling is ignored. Returns ``(I, V)`` in A and V, shape ``(n,) + device batch + (M,)``.
    """
    temps = jnp.asarray(temperatures, device.ambient_k.dtype)
    tt = temps.reshape((-1,) + (1,) * device.ambient_k.ndim)
    p = jnp.maximum(tt - device.ambient_k, 0.0) / device.thermal_resistance_k_per_w
    hi = jnp.sqrt(p * device.resistance(tt, 0.0)) * 1.01 + 1e-12
    lo = jnp.zeros_like(hi)

    def body(_, lh):
        lo, hi = lh
        mid = 0.5 * (lo + hi)
        f = mid**2 - p * device.resistance(tt, mid)
        return jnp.where(f > 0, lo, mid), jnp.where(f > 0, mid, hi)

    lo, hi = jax.lax.fori_loop(0, 100, body, (lo, hi))
    v = 0.5 * (lo + hi)
    return v * device.conductance(tt, v), v


def phase_from_spikes(ts, v, threshold) -> np.ndarray:
    r"""Phase of each oscillator (rad, unwrapped) from its upward threshold crossings.

    ``v`` has shape ``(n_t, ..., M)`` (e.g. ``traj.obs["voltage"]``); the $k$-th upward crossing
    of ``threshold`` (interpolated linearly between samples) is phase $2\pi k$, and the phase is
    linear in time between crossings. NaN before the first and after the last crossing. NumPy.
    """
    ts = np.asarray(ts, float)
    v = np.asarray(v, float)
    flat = v.reshape(v.shape[0], -1)
    out = np.full(flat.shape, np.nan)
    for j in range(flat.shape[1]):
        x = flat[:, j] - threshold
        idx = np.nonzero((x[:-1] < 0) & (x[1:] >= 0))[0]
        if idx.size < 2:
            continue
        tc = ts[idx] + (ts[idx + 1] - ts[idx]) * (-x[idx]) / (x[idx + 1] - x[idx])
        inside = (ts >= tc[0]) & (ts <= tc[-1])
        out[inside, j] = 2 * np.pi * np.interp(ts[inside], tc, np.arange(tc.size))
    return out.reshape(v.shape)
