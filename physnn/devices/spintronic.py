r"""Spin-torque nano-oscillators: the Slavin–Tiberkevich universal auto-oscillator model.

For $M$ oscillators with complex amplitudes $c_j$ (dimensionless, $p_j = |c_j|^2$ the normalised
oscillation power), driven by DC currents $I_j$ and RF tones $A_a e^{-i\omega_a t}$:

$$\frac{dc_j}{dt} = -i\omega_j(p_j)c_j - \Gamma_j(1 + Q_j p_j)c_j + \sigma_j I_j (1 - p_j) c_j
   + \sum_k W_{jk} e^{i\beta_{jk}} c_k + \sum_a F_{ja} A_a e^{-i\omega_a t}
   + \tfrac12 \Gamma_j Q_j \theta_j c_j + \xi_j(t),$$

$$\omega_j(p) = \omega_{0,j} + 2\pi\kappa I_j + N_j p,\qquad \sigma_j = \Gamma_j / I_{\mathrm{th},j},\qquad
  \langle \xi_j(t)\xi_k^*(t')\rangle = 2 D_j(p_j) \delta_{jk}\delta(t - t'),\quad
  D_j(p) = \Gamma_{+,j}(p)\,\theta_j,\quad \Gamma_{+,j}(p) = \Gamma_j(1 + Q_j p),\quad
  \theta_j = k_B T / E_{0,j}.$$

The thermal noise is set by the *positive* damping at the oscillator's power, $\Gamma_+(p)$, as
the fluctuation–dissipation theorem asks (Kim, Tiberkevich & Slavin 2008; Slavin & Tiberkevich
2009, Sec. VI). Noise of a power-dependent strength is multiplicative: physnn integrates it as a
Stratonovich SDE (``Heun``, the default solver for noisy solves; pass a Stratonovich solver if
you choose one), and the noise-induced term $\tfrac12\Gamma Q\theta c$ makes a passive oscillator
($I = 0$) relax to the Boltzmann distribution $\propto e^{-E_0 p/k_B T}$ exactly, with
$\langle E_0 p\rangle = k_B T$ (tested). That term is of relative size $Q\theta \approx 10^{-3}$ at
the defaults and 300 K. It belongs to the noise: :meth:`STONetwork.noise_drift` returns it and
``simulate`` adds it only to a noisy solve (a ``key`` given). A deterministic solve
(``key=None``) is the noise-free model at any temperature, and meets the closed forms below.

The term $2\pi\kappa I_j$ (``current_shift_ghz_per_ma``, default 0) tunes the linear frequency
with the DC current, as the current's Oersted field does in vortex oscillators, which are close
to isochronous (small $N$) and still tune by several MHz/mA (Hamadeh et al., arXiv:1310.4913).
It does not depend on the power, so it enters neither $\nu$ nor the locking range nor the
linewidth.

**Current input** (``input="current"``). The drive may instead modulate the DC current, as in
time-multiplexed reservoirs (Torrejon et al., Nature 547, 428 (2017)): the drive gives a
dimensionless signal $J(t)$ and every $I_j$ above becomes

$$I_j(t) = I_{\mathrm{dc},j} + \Delta I_j\,J_j(t),$$

with $\Delta I_j$ = ``current_input_ma`` (trainable). It enters the spin-transfer gain
$\sigma_j I_j(t)(1 - p_j)$, the Oersted shift and the dissipated power; the noise does not depend
on it. Without coupling, a single oscillator's power then obeys the logistic equation
$\dot p = 2p\,(a - b p)$ with $a = \sigma I - \Gamma = \Gamma(\zeta - 1)$ and $b = \sigma I + \Gamma Q$,
solved exactly for a constant current by :meth:`STONetwork.power_after` (the response to a
current step), and its small-signal response to a current modulation is the low-pass
$\delta p/\delta I = 2p_0\sigma(1 - p_0)/(2\Gamma_p + i\omega)$
(:meth:`STONetwork.current_response`): the amplitude relaxation time $1/(2\Gamma_p)$ is the
reservoir's memory.

Sources: A. Slavin & V. Tiberkevich, IEEE Trans. Magn. 45, 1875 (2009) (the model, the steady
state, the relaxation rate and the locking range); J.-V. Kim, V. Tiberkevich & A. Slavin,
Phys. Rev. Lett. 100, 017207 (2008) (thermal noise and the generation linewidth).

Closed-form results the tests check (with supercriticality $\zeta = I/I_{\mathrm{th}}$):

- free-running power $p_0 = (\zeta - 1)/(\zeta + Q)$ above threshold, 0 below;
- frequency $\omega_g = \omega_0 + 2\pi\kappa I + N p_0$;
- power deviations relax as $e^{-2\Gamma_p t}$ with $\Gamma_p = \Gamma(\zeta - 1)$ (Slavin's
  "amplitude relaxation rate"; the factor 2 is because $\delta p$ and $\delta|c|$ both obey
  $\dot{\delta p} = -2\Gamma_p\delta p$); below threshold $p$ decays as $e^{-2\Gamma(1-\zeta)t}$;
- after a current step, $p(t) = p_s / (e^{-2at} + b\,p_s(1 - e^{-2at})/a)$ exactly (logistic);
  small current modulations are low-pass filtered at the corner $2\Gamma_p$;
- injection-locking half-range $\Delta\omega = (F A/\sqrt{p_0})\sqrt{1 + \nu^2}$ with the
  amplitude–phase coupling $\nu = N p_0 / \Gamma_p$ (weak forcing);
- linewidth (FWHM, rad/ns) $\Delta\omega_{\mathrm{gen}} = (1 + \nu^2) D(p_0) / p_0
  = \Gamma_+(p_0)(k_B T / E_0 p_0)(1 + \nu^2)$ (Kim, Tiberkevich & Slavin 2008).

Units: time in ns, frequencies in GHz (cycles per ns), rates in 1/ns, currents in mA,
resistances in ohm, temperature in K, energies in J.

Default parameters are representative of vortex magnetic tunnel junctions (FeB free layer,
a few hundred nm wide): gyrotropic frequency about 300 MHz (Romera et al., Nature 563, 230 (2018);
Torrejon et al., Nature 547, 428 (2017)); damping rate $\Gamma \approx \alpha\omega_0 \approx
0.02$/ns for $\alpha \approx 0.01$ (Grimaldi et al., PRB 89, 104404 (2014)); threshold current a few
mA; a tunability of a few MHz/mA; amplitude–phase coupling $\nu$ of order 5; MTJ resistance about
50 ohm; linewidths below 1 MHz at room temperature. They are order-of-magnitude values for these
devices, not a fit to one sample: set your own for quantitative work.

The state is held as real numbers, ``y[..., 0, :] = Re c`` and ``y[..., 1, :] = Im c`` (diffrax
warns that complex states may be wrong). ``frame="rotating"`` integrates the slowly varying
envelope $a = c\,e^{i\omega_r t}$ at a common frame frequency $\omega_r$ (default: the mean
free-running frequency), which needs steps set by detunings and relaxation rates, not by the
carrier; ``frame="lab"`` resolves the carrier. Both describe the same physics (tested).
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


class STONetwork(AbstractDevice):
    r"""$M$ coupled spin-torque oscillators in the universal auto-oscillator model.

    **Arguments** (all per oscillator, shape ``(M,)`` or with leading ensemble axes, unless noted):

    - `f0_ghz`: linear (small-amplitude) frequency $\omega_0/2\pi$, GHz. Default 0.3.
    - `nonlinear_shift_ghz`: $N/2\pi$, the frequency shift at $p = 1$, GHz. Default 0.05.
    - `damping`: $\Gamma$, the linear damping rate, 1/ns. Default 0.02.
    - `nonlinear_damping`: $Q$, dimensionless, >= 0. Default 1.5.
    - `threshold_ma`: $I_{\mathrm{th}} = \Gamma/\sigma$, mA. Default 5.
    - `current_ma`: DC currents $I_j$, mA (trainable). Default 7.5 (supercriticality 1.5).
    - `coupling`: $W$, shape ``(M, M)``, 1/ns; diagonal ignored. Default 0 (uncoupled).
    - `coupling_phase`: $\beta$, shape ``(M, M)``, rad. Default 0.
    - `rf_coupling`: $F$, shape ``(M, n_tones)``, 1/(ns mA): how strongly tone $a$ (amplitude in
      mA of RF current) reaches oscillator $j$. Default 0.002 for every pair, one tone.
    - `temperature_k`: $T$, K (0 = no thermal noise). Default 300. It sets the thermal noise
      and its noise-induced drift (:meth:`noise_drift`) and nothing else: a deterministic solve
      (``simulate(..., key=None)``) is the noise-free model ($T \to 0$ in the noise) whatever
      $T$ is, and a noisy one (a ``key`` given) adds both.
    - `mode_energy_j`: $E_0$, the oscillator energy at $p = 1$, J. Default 4e-18.
    - `resistance_ohm`: MTJ resistance, for the dissipated DC power. Default 50.
    - `delta_r_ohm`: resistance oscillation amplitude at $p = 1$, for the emitted voltage. Default 3.
    - `current_shift_ghz_per_ma`: $\kappa$, the linear frequency's shift per mA of DC current
      (Oersted-field tuning), GHz/mA; one value for the network, not trained. Default 0.
    - `input`: what the drive drives. "tones" (default): RF tones through `rf_coupling`.
      "current": the DC current, $I_j(t) = I_{\mathrm{dc},j} + \Delta I_j J_j(t)$, where $J$ is
      the drive's value (dimensionless) and $I_{\mathrm{dc}}$ is `current_ma`.
    - `current_input_ma`: $\Delta I_j$, the current per unit of drive with ``input="current"``,
      mA (trainable, may be negative). Default 1 with ``input="current"``; None (no parameter,
      so a tones device's tree of arrays is unchanged) with ``input="tones"``.
    - `frame`: "rotating" (default) or "lab".
    - `frame_ghz`: frame frequency of the rotating frame, GHz; default the mean free-running
      frequency (give it when the device is built inside ``jax.jit``/``jax.grad`` from traced
      parameters: the frame is a static number).

    **Shape contract** (checked by :func:`physnn.simulate`): the state is ``batch + (2, M)``
    (``Re c``, ``Im c``); with ``input="tones"`` a drive gives RF tones of trailing shape
    ``(2, n_tones)`` (amplitude in mA and phase, from :class:`~physnn.drives.Tones` or
    :class:`~physnn.drives.Chirps`), with ``n_tones = rf_coupling.shape[-1]``; with
    ``input="current"`` it gives $J$ of trailing shape ``(M,)`` (one signal per oscillator) or
    ``(1,)`` (one signal sent to every oscillator, each scaled by its own $\Delta I_j$; e.g.
    :class:`~physnn.drives.Masked`); the ensemble axes are those in front of the parameters'
    own axes.
    - `n_oscillators`: $M$, when all per-oscillator arguments are scalars. Default 1.
    """

    f0_ghz: Float[Array, "*e m"]
    nonlinear_shift_ghz: Float[Array, "*e m"]
    damping: Float[Array, "*e m"]
    nonlinear_damping: Float[Array, "*e m"]
    threshold_ma: Float[Array, "*e m"]
    current_ma: Float[Array, "*e m"]
    coupling: Float[Array, "*e m m"]
    coupling_phase: Float[Array, "*e m m"]
    rf_coupling: Float[Array, "*e m tones"]
    temperature_k: Float[Array, "*e m"]
    mode_energy_j: Float[Array, "*e m"]
    resistance_ohm: Float[Array, "*e m"]
    delta_r_ohm: Float[Array, "*e m"]
    current_input_ma: Float[Array, "*e m"] | None
    frame: str = eqx.field(static=True)
    frame_ghz: float = eqx.field(static=True)
    current_shift_ghz_per_ma: float = eqx.field(static=True, default=0.0)
    input: str = eqx.field(static=True, default="tones")

    time_unit: ClassVar[str] = "ns"
    #: per-oscillator parameters have one own axis; W, beta and F two
    ensemble_params: ClassVar[dict[str, int]] = {
        "f0_ghz": 1, "nonlinear_shift_ghz": 1, "damping": 1, "nonlinear_damping": 1,
        "threshold_ma": 1, "current_ma": 1, "coupling": 2, "coupling_phase": 2, "rf_coupling": 2,
        "temperature_k": 1, "mode_energy_j": 1, "resistance_ohm": 1, "delta_r_ohm": 1,
        "current_input_ma": 1}

    def __init__(
        self,
        f0_ghz=0.3,
        nonlinear_shift_ghz=0.05,
        damping=0.02,
        nonlinear_damping=1.5,
        threshold_ma=5.0,
        current_ma=7.5,
        coupling=None,
        coupling_phase=None,
        rf_coupling=None,
        temperature_k=300.0,
        mode_energy_j=4e-18,
        resistance_ohm=50.0,
        delta_r_ohm=3.0,
        *,
        current_shift_ghz_per_ma: float = 0.0,
        input: str = "tones",
        current_input_ma=None,
        frame: str = "rotating",
        frame_ghz: float | None = None,
        n_oscillators: int | None = None,
    ):
        own = "STONetwork"
        kappa = np.asarray(current_shift_ghz_per_ma, dtype=float)
        if kappa.ndim != 0 or not np.isfinite(kappa):
            raise ValueError(f"STONetwork: current_shift_ghz_per_ma={current_shift_ghz_per_ma!r}; "
                             "expected one finite number (GHz per mA) for the network")
        self.current_shift_ghz_per_ma = float(kappa)
        if input not in ("tones", "current"):
            raise ValueError(f"STONetwork: input={input!r}; expected 'tones' (RF tones) or "
                             "'current' (the drive modulates the DC current)")
        self.input = input
        per = {
            "f0_ghz": V.positive("f0_ghz", f0_ghz, owner=own),
            "nonlinear_shift_ghz": V.as_float("nonlinear_shift_ghz", nonlinear_shift_ghz, owner=own),
            "damping": V.positive("damping", damping, owner=own),
            "nonlinear_damping": V.positive("nonlinear_damping", nonlinear_damping, owner=own,
                                            allow_zero=True),
            "threshold_ma": V.positive("threshold_ma", threshold_ma, owner=own),
            "current_ma": V.positive("current_ma", current_ma, owner=own, allow_zero=True),
            "temperature_k": V.positive("temperature_k", temperature_k, owner=own, allow_zero=True),
            "mode_energy_j": V.positive("mode_energy_j", mode_energy_j, owner=own),
            "resistance_ohm": V.positive("resistance_ohm", resistance_ohm, owner=own),
            "delta_r_ohm": V.positive("delta_r_ohm", delta_r_ohm, owner=own, allow_zero=True),
        }
        if input == "current":
            per["current_input_ma"] = V.as_float(
                "current_input_ma", 1.0 if current_input_ma is None else current_input_ma, owner=own)
        elif current_input_ma is not None:
            raise ValueError(f"STONetwork: current_input_ma={current_input_ma!r} is the current per "
                             "unit of drive of input='current', but input='tones'; pass "
                             "input='current' or leave it out")
        sizes = {n: v.shape[-1] for n, v in per.items() if v.ndim > 0 and v.shape[-1] != 1}
        for name, mat in (("coupling", coupling), ("coupling_phase", coupling_phase),
                          ("rf_coupling", rf_coupling)):
            if mat is not None and jnp.ndim(mat) >= 2:
                sizes[name] = jnp.shape(mat)[-1 if name != "rf_coupling" else -2]
        if n_oscillators is not None:
            sizes["n_oscillators"] = int(n_oscillators)
        if len(set(sizes.values())) > 1:
            listed = ", ".join(f"{n} -> {k}" for n, k in sizes.items())
            raise ValueError(
                f"STONetwork: the parameters disagree on the number of oscillators M ({listed}); "
                "per-oscillator arrays need shape (M,), coupling (M, M), rf_coupling (M, n_tones)"
            )
        sizes = set(sizes.values())
        m = sizes.pop() if sizes else 1
        for name, v in per.items():
            v = v[None] if v.ndim == 0 else v
            setattr(self, name, jnp.broadcast_to(v, v.shape[:-1] + (m,)))
        if input != "current":
            self.current_input_ma = None  # no leaf: a tones device's tree is unchanged
        self.coupling = V.shape_is("coupling", V.as_float(
            "coupling", jnp.zeros((m, m)) if coupling is None else coupling, owner=own), (m, m),
            owner=own)
        self.coupling_phase = V.shape_is("coupling_phase", V.as_float(
            "coupling_phase", jnp.zeros((m, m)) if coupling_phase is None else coupling_phase,
            owner=own), (m, m), owner=own)
        rf = jnp.full((m, 1), 0.002) if rf_coupling is None else rf_coupling
        rf = V.as_float("rf_coupling", rf, owner=own)
        if rf.ndim < 2 or rf.shape[-2] != m:
            raise ValueError(
                f"STONetwork: rf_coupling has shape {tuple(rf.shape)}; expected (M, n_tones) "
                f"with M = {m}"
            )
        self.rf_coupling = rf
        if frame not in ("rotating", "lab"):
            raise ValueError(f"STONetwork: frame={frame!r}; expected 'rotating' or 'lab'")
        self.frame = frame
        if frame == "lab":
            self.frame_ghz = 0.0
        elif frame_ghz is None:
            f_free = V.concrete(self.free_running_frequency_ghz())
            if f_free is None:  # built inside jit/grad: the static frame cannot come from tracers
                raise ValueError(
                    "STONetwork: frame_ghz=None asks for the rotating frame at the mean free-running "
                    "frequency, but the parameters are traced (the device is built inside "
                    "jax.jit/jax.grad), so it cannot be computed; pass frame_ghz=<GHz> (e.g. the "
                    ".frame_ghz of the same device built outside), or build the device outside and "
                    "replace the traced parameter with equinox.tree_at")
            self.frame_ghz = float(np.mean(f_free))
        else:
            # checked on the concrete number: as_float would stage it into a jit trace
            f = V.concrete(frame_ghz)
            if f is None or np.ndim(f) != 0 or not np.isfinite(f) or f <= 0:
                raise ValueError(f"STONetwork: frame_ghz={frame_ghz!r}; expected one positive "
                                 "number (GHz), not a traced or array value: the frame is static")
            self.frame_ghz = float(f)

    # ---------------------------------------------------------------- closed-form results
    @property
    def n_oscillators(self) -> int:
        return self.f0_ghz.shape[-1]

    @property
    def batch_shape(self) -> tuple[int, ...]:
        shapes = [getattr(self, n).shape[:-1] for n in (
            "f0_ghz", "nonlinear_shift_ghz", "damping", "nonlinear_damping", "threshold_ma",
            "current_ma", "temperature_k", "mode_energy_j", "resistance_ohm", "delta_r_ohm",
            "current_input_ma") if getattr(self, n) is not None]
        shapes += [self.coupling.shape[:-2], self.coupling_phase.shape[:-2],
                   self.rf_coupling.shape[:-2]]
        return tuple(np.broadcast_shapes(*shapes))

    def input_shapes(self):
        """``input="tones"``: RF tones (:class:`~physnn.drives.Tones`,
        :class:`~physnn.drives.Chirps`), values of trailing shape ``(2, n_tones)`` with
        ``n_tones = rf_coupling.shape[-1]``. ``input="current"``: the current signal $J$, of
        trailing shape ``(M,)`` or ``(1,)`` (the same signal for every oscillator)."""
        if self.input == "current":
            return ((self.n_oscillators,), (1,)) if self.n_oscillators != 1 else ((1,),)
        return ((2, self.rf_coupling.shape[-1]),)

    def input_hint(self):
        if self.input == "current":
            return (f" (input='current': the drive gives J(t), one value per oscillator (M = "
                    f"{self.n_oscillators}) or one for all; for RF tones build the device with "
                    "input='tones')")
        return (f" (rf_coupling has shape {tuple(self.rf_coupling.shape)}: one column per tone; "
                "give it one column for each tone of the drive)")

    def supercriticality(self, current_ma=None) -> Array:
        r"""$\zeta = I / I_{\mathrm{th}}$, at the DC current or at ``current_ma`` (mA)."""
        return (self.current_ma if current_ma is None else current_ma) / self.threshold_ma

    def free_running_power(self, current_ma=None) -> Array:
        r"""$p_0 = (\zeta - 1)/(\zeta + Q)$ above threshold, 0 below; at the DC current or at
        a constant current ``current_ma`` (mA)."""
        z = self.supercriticality(current_ma)
        excess = jnp.maximum(z - 1.0, 0.0)
        above = excess > 0  # (also at I = 0 with Q = 0, where the ratio would be 0/0)
        return jnp.where(above, excess / jnp.where(above, z + self.nonlinear_damping, 1.0), 0.0)

    def free_running_frequency_ghz(self) -> Array:
        r"""$(\omega_0 + N p_0)/2\pi + \kappa I$, GHz."""
        return self._linear_frequency_ghz() + self.nonlinear_shift_ghz * self.free_running_power()

    def _linear_frequency_ghz(self) -> Array:
        r"""$\omega_0/2\pi + \kappa I$ (without the Oersted term when kappa is 0, so that
        the computation is the one without it, op for op)."""
        if self.current_shift_ghz_per_ma == 0.0:
            return self.f0_ghz
        return self.f0_ghz + self.current_shift_ghz_per_ma * self.current_ma

    def current_for_frequency_ma(self, f_ghz) -> Array:
        r"""The DC current that puts the free-running frequency at ``f_ghz`` (inverse of
        :meth:`free_running_frequency_ghz`): $p_0 = (f - f_0)/(N/2\pi)$,
        $\zeta = (1 + Q p_0)/(1 - p_0)$, $I = \zeta I_{\mathrm{th}}$. Needs
        $f_0 < f < f_0 + N/2\pi$ (and $N > 0$). With an Oersted shift $\kappa > 0$ (and
        $N \ge 0$) the frequency rises monotonically with the current above threshold, and the
        current is found by bisection; it needs $f > f_0 + \kappa I_{\mathrm{th}}$."""
        if self.current_shift_ghz_per_ma != 0.0:
            return self._current_by_bisection(f_ghz)
        p0 = (jnp.asarray(f_ghz) - self.f0_ghz) / self.nonlinear_shift_ghz
        bad = V.concrete((p0 <= 0) | (p0 >= 1))
        if bad is not None and np.any(bad):
            raise ValueError(
                f"STONetwork.current_for_frequency_ma: f_ghz={np.asarray(f_ghz)} is outside the "
                f"tunable band (f0, f0 + N/2pi) = ({np.asarray(self.f0_ghz)}, "
                f"{np.asarray(self.f0_ghz + self.nonlinear_shift_ghz)}) GHz"
            )
        zeta = (1 + self.nonlinear_damping * p0) / (1 - p0)
        return zeta * self.threshold_ma

    def _current_by_bisection(self, f_ghz) -> Array:
        kappa = self.current_shift_ghz_per_ma
        f = jnp.asarray(f_ghz, jnp.result_type(float))
        shift = V.concrete(self.nonlinear_shift_ghz)
        if kappa < 0 or (shift is not None and np.any(shift < 0)):
            raise ValueError(
                f"STONetwork.current_for_frequency_ma: current_shift_ghz_per_ma={kappa} with "
                f"nonlinear_shift_ghz={np.asarray(self.nonlinear_shift_ghz)}; the inverse needs "
                "both >= 0 (a frequency that rises with the current)")
        f_th = self.f0_ghz + kappa * self.threshold_ma  # at threshold, p0 = 0
        bad = V.concrete(f <= f_th)
        if bad is not None and np.any(bad):
            raise ValueError(
                f"STONetwork.current_for_frequency_ma: f_ghz={np.asarray(f_ghz)} is at or below "
                f"the frequency at threshold f0 + kappa I_th = {np.asarray(f_th)} GHz; expected "
                "a higher frequency")
        lo = jnp.broadcast_to(self.threshold_ma, jnp.broadcast_shapes(f.shape, f_th.shape))
        hi = jnp.maximum(lo, (f - self.f0_ghz) / kappa)  # f(I) >= f0 + kappa I there
        for _ in range(60):  # bisection on a monotone f(I): 2^-60 of the bracket
            mid = 0.5 * (lo + hi)
            f_mid = eqx.tree_at(lambda d: d.current_ma, self, mid).free_running_frequency_ghz()
            below = f_mid < f
            lo, hi = jnp.where(below, mid, lo), jnp.where(below, hi, mid)
        return 0.5 * (lo + hi)

    def relaxation_rate(self, current_ma=None) -> Array:
        r"""$\Gamma_p = \Gamma(\zeta - 1)$, 1/ns: power deviations relax as $e^{-2\Gamma_p t}$
        (at the DC current, or at a constant current ``current_ma`` in mA)."""
        return self.damping * (self.supercriticality(current_ma) - 1.0)

    def power_after(self, p_start, current_ma, t) -> Array:
        r"""The power $t$ ns after the current is set to ``current_ma`` (constant), from the power
        ``p_start``: the exact solution of $\dot p = 2p(a - bp)$,

        $$p(t) = \frac{p_s}{e^{-2at} + b\,p_s\,(1 - e^{-2at})/a},\qquad
          a = \sigma I - \Gamma,\quad b = \sigma I + \Gamma Q,\quad \sigma = \Gamma/I_{\mathrm{th}},$$

        ($(1 - e^{-2at})/a \to 2t$ at $a = 0$), for an uncoupled oscillator without RF tones
        in the noise-free model. It relaxes to $p_0(I)$ above threshold, to 0 below, and is
        the exact one-node map of a time-multiplexed reservoir whose current is held
        constant over each node (see ``input="current"``). Differentiable in every argument
        and parameter; ``p_start``, ``current_ma`` and ``t`` broadcast against the
        per-oscillator parameters as numpy does (their trailing axis is the oscillator)."""
        sigma = self.damping / self.threshold_ma
        a = sigma * current_ma - self.damping
        b = sigma * current_ma + self.damping * self.nonlinear_damping
        x = 2.0 * a * t
        small = jnp.abs(x) < 1e-6
        a_safe = jnp.where(small, 1.0, a)
        # (1 - e^{-2at}) / a, with its series near a = 0 (no 0/0 in the value or the gradient)
        h = jnp.where(small, 2.0 * t * (1.0 - 0.5 * x),
                      -jnp.expm1(-jnp.where(small, 0.0, x)) / a_safe)
        return p_start / (jnp.exp(-x) + b * p_start * h)

    def current_response(self, f_ghz) -> Array:
        r"""The small-signal response of the power to a current modulation at frequency
        ``f_ghz`` (GHz), per mA, around the free-running state at the DC current (above
        threshold, uncoupled, no tones): $\delta p/\delta I = 2p_0\sigma(1 - p_0)/(2\Gamma_p
        + i\omega)$, complex, 1/mA. A low-pass of corner $2\Gamma_p/2\pi$; at DC it is
        $dp_0/dI = (1 + Q)/(I_{\mathrm{th}}(\zeta + Q)^2)$."""
        p0 = self.free_running_power()
        sigma = self.damping / self.threshold_ma
        omega = TWO_PI * jnp.asarray(f_ghz)
        return 2 * p0 * sigma * (1 - p0) / (2 * self.relaxation_rate() + 1j * omega)

    def amplitude_phase_coupling(self) -> Array:
        r"""$\nu = N p_0 / \Gamma_p$ (dimensionless). Defined above threshold only ($\zeta > 1$):
        at threshold it is 0/0 (NaN)."""
        return TWO_PI * self.nonlinear_shift_ghz * self.free_running_power() / self.relaxation_rate()

    def locking_range_ghz(self, amplitude_ma) -> Array:
        r"""Half-width of the injection-locking band, GHz, for a tone of amplitude ``amplitude_ma``
        reaching each oscillator through ``rf_coupling[:, 0]``:
        $\Delta f = F A \sqrt{1+\nu^2} / (2\pi\sqrt{p_0})$ (weak forcing). Above threshold only
        ($\zeta > 1$): NaN at threshold, inf below it, where there is no auto-oscillation to lock."""
        nu = self.amplitude_phase_coupling()
        force = self.rf_coupling[..., 0] * amplitude_ma
        return force * jnp.sqrt(1 + nu**2) / (TWO_PI * jnp.sqrt(self.free_running_power()))

    def thermal_ratio(self) -> Array:
        r"""$\theta = k_B T / E_0$, the thermal energy over the mode energy at $p = 1$."""
        return K_B * self.temperature_k / self.mode_energy_j

    def noise_intensity(self, p=None) -> Array:
        r"""$D(p) = \Gamma(1 + Q p)\,k_B T / E_0$, 1/ns: the noise intensity at power ``p``,
        by default at the free-running power $p_0$."""
        p = self.free_running_power() if p is None else p
        return self.damping * (1.0 + self.nonlinear_damping * p) * self.thermal_ratio()

    def linewidth_ghz(self) -> Array:
        r"""Generation linewidth (FWHM), GHz: $(1+\nu^2) D(p_0) / (2\pi p_0)$, with
        $D(p_0) = \Gamma_+(p_0) k_B T / E_0$ (Kim, Tiberkevich & Slavin 2008). Above threshold
        only ($\zeta > 1$): NaN at threshold and inf below it (where the line is that of a damped
        resonator, which this formula does not describe)."""
        nu = self.amplitude_phase_coupling()
        return (1 + nu**2) * self.noise_intensity() / (TWO_PI * self.free_running_power())

    # ---------------------------------------------------------------- device contract
    def init_state(self, batch_shape=(), phase=0.0):
        """The free-running steady state $c_j = \\sqrt{p_0}e^{-i\\phi}$ (amplitude 0.01 below
        threshold, so that the oscillator can still be driven), phase ``phase`` (rad)."""
        m = self.n_oscillators
        amp = jnp.sqrt(jnp.maximum(self.free_running_power(), 1e-4))
        shape = tuple(batch_shape) + (m,)
        re = jnp.broadcast_to(amp * jnp.cos(phase), shape)
        im = jnp.broadcast_to(-amp * jnp.sin(phase), shape)
        return jnp.stack([re, im], axis=-2)

    def _complex(self, y):
        return y[..., 0, :] + 1j * y[..., 1, :]

    def current(self, t, u) -> Array:
        r"""The current $I_j(t)$ through each junction, mA: $I_{\mathrm{dc}}$ with RF tones
        (``input="tones"``), $I_{\mathrm{dc}} + \Delta I\,J(t)$ with ``input="current"``
        (``u`` is the drive's value $J(t)$, or None for no drive)."""
        if self.input != "current" or u is None:
            return self.current_ma
        return self.current_ma + self.current_input_ma * u

    def _envelope_rate(self, t, c, u):
        """dc/dt in the simulation frame, complex, without noise."""
        p = jnp.real(c) ** 2 + jnp.imag(c) ** 2
        current = self.current(t, u)
        if self.input == "current":
            f_lin = self.f0_ghz + self.current_shift_ghz_per_ma * current
            u = None  # the drive is the current, not a tone
        else:
            f_lin = self._linear_frequency_ghz()
        omega = TWO_PI * (f_lin + self.nonlinear_shift_ghz * p - self.frame_ghz)
        gain = self.damping / self.threshold_ma * current * (1.0 - p)
        loss = self.damping * (1.0 + self.nonlinear_damping * p)
        dc = (-1j * omega - loss + gain) * c
        k = self.coupling * (1.0 - jnp.eye(self.n_oscillators))
        wc = k * jnp.exp(1j * self.coupling_phase)
        dc = dc + jnp.einsum("...jk,...k->...j", wc, c)
        if u is not None:
            tone = u[..., 0, :] + 1j * u[..., 1, :]
            if self.frame_ghz != 0.0:
                tone = tone * jnp.exp(1j * TWO_PI * phase_cycles(jnp.asarray(self.frame_ghz,
                                                                            tone.real.dtype), t))
            dc = dc + jnp.einsum("...ja,...a->...j", self.rf_coupling, tone)
        return dc

    def drift(self, t, y, u):
        dc = self._envelope_rate(t, self._complex(y), u)
        return jnp.stack([jnp.real(dc), jnp.imag(dc)], axis=-2).astype(y.dtype)

    def noise_drift(self, t, y, u):
        r"""The noise-induced drift $\tfrac12\Gamma Q\theta\,c$ of the Stratonovich form (the
        same layout as ``y``), which ``simulate`` adds to :meth:`drift` only when it simulates
        the thermal noise (a ``key`` is given): with it, a passive oscillator relaxes to the
        Boltzmann distribution exactly. A deterministic solve (``key=None``) is the noise-free
        model and leaves it out, so it reproduces the closed forms ($p_0$, the relaxation rate)
        at any temperature."""
        if not self._may_be_noisy():
            return None
        rate = 0.5 * self.damping * self.nonlinear_damping * self.thermal_ratio()
        return (rate[..., None, :] * y).astype(y.dtype)

    def _may_be_noisy(self) -> bool:
        temp = V.concrete(self.temperature_k)
        return temp is None or bool(np.any(temp > 0))

    def diffusion(self, t, y, u):
        if not self._may_be_noisy():
            return None  # deterministic device
        p = y[..., 0, :] ** 2 + y[..., 1, :] ** 2
        g = jnp.sqrt(self.noise_intensity(p))[..., None, :]  # each of Re c, Im c: intensity D(p)
        return jnp.broadcast_to(g, y.shape).astype(y.dtype)

    def observe(self, t, y, u):
        """``power`` $p_j$; ``frequency_ghz``, the instantaneous frequency
        $\\dot\\phi_j/2\\pi$ in the lab frame; ``voltage_mv``, the emitted microwave voltage
        $I_j(t)\\,\\Delta R_j\\,\\mathrm{Re}\\,c_j$ (lab frame, mV); with ``input="current"``
        also ``current_ma``, $I_j(t)$."""
        c = self._complex(y)
        p = jnp.real(c) ** 2 + jnp.imag(c) ** 2
        dc = self._envelope_rate(t, c, u)
        f = self.frame_ghz - jnp.imag(dc * jnp.conj(c)) / (TWO_PI * jnp.maximum(p, 1e-12))
        c_lab = c
        if self.frame_ghz:
            frame = phase_cycles(jnp.asarray(self.frame_ghz, y.dtype), t)
            c_lab = c * jnp.exp(-1j * TWO_PI * frame)
        current = self.current(t, u)
        v = current * self.delta_r_ohm * jnp.real(c_lab)
        out = {"power": p, "frequency_ghz": f, "voltage_mv": v}
        if self.input == "current":
            out["current_ma"] = jnp.broadcast_to(current, p.shape)
        return out

    def power(self, t, y, u):
        """Power dissipated in the junctions, $\\sum_j I_j(t)^2 R_j$, W (the DC power with RF
        tones; with ``input="current"`` the instantaneous current's)."""
        p = jnp.sum(self.current(t, u) ** 2 * self.resistance_ohm, axis=-1) * 1e-6
        return jnp.broadcast_to(p, y.shape[:-2])


# -------------------------------------------------------------------- locking measures


def lab_phase(traj, device: STONetwork) -> Array:
    r"""Unwrapped lab-frame phase $\phi_j(t)$ (rad, $c_j = |c_j|e^{-i\phi_j}$) at the saved times,
    shape ``(n_save,) + batch + (M,)``. The saved times must be dense enough that the phase in the
    simulation frame advances by less than $\pi$ between them."""
    y = traj.ys
    phi = jnp.unwrap(-jnp.arctan2(y[..., 1, :], y[..., 0, :]), axis=0)
    t = traj.ts.reshape((-1,) + (1,) * (phi.ndim - 1))
    return phi + TWO_PI * device.frame_ghz * t


def _window(traj, t_start):
    return traj.ts >= (traj.ts[0] if t_start is None else t_start)


TAPERS = ("none", "hann")


def window_weights(ts, t_start=None, taper="none") -> Array:
    r"""Averaging weights over the saved times ``ts`` for ``t >= t_start``, summing to 1.

    ``taper="none"`` is the plain (rectangular) average. ``taper="hann"`` weights the window by
    $\sin^2(\pi u)$, $u$ running from 0 to 1 across it: a beat at detuning $\Delta f$ then leaves a
    residue falling as $(\Delta f\,T)^{-3}$ instead of $(\Delta f\,T)^{-1}$, so time averages of
    drifting (unlocked) oscillators depend smoothly on their detuning rather than on where the
    window happens to cut the last beat."""
    if taper not in TAPERS:
        raise ValueError(f"taper={taper!r}: expected one of {TAPERS}")
    ts_c, t0_c = V.concrete(ts), (None if t_start is None else V.concrete(t_start))
    if ts_c is not None and (t_start is None or t0_c is not None):
        n_in = int(np.sum(ts_c >= (ts_c[0] if t_start is None else t0_c)))
        need = 3 if taper == "hann" else 1
        if n_in < need:
            raise ValueError(
                f"t_start={t_start!r}: the averaging window holds {n_in} of the saved times "
                f"(last {float(ts_c[-1]):g}); the {taper!r} taper needs at least {need}")
    ts = jnp.asarray(ts)
    t0 = ts[0] if t_start is None else t_start
    inside = ts >= t0
    if taper == "none":
        w = inside.astype(ts.dtype)
    else:
        u = (ts - t0) / (ts[-1] - t0)
        w = jnp.where(inside, jnp.sin(jnp.pi * jnp.clip(u, 0.0, 1.0)) ** 2, 0.0)
    return w / jnp.sum(w)


def window_average(x, ts, t_start=None, taper="none") -> Array:
    """Weighted time average of ``x`` (time on axis 0) with :func:`window_weights`."""
    w = window_weights(ts, t_start, taper).astype(x.dtype)
    return jnp.tensordot(w, x, axes=(0, 0))


def mean_frequency_ghz(traj, device: STONetwork, t_start=None) -> Array:
    r"""Mean frequency over the saved times ``t >= t_start`` (default: all), GHz:
    the phase advance divided by $2\pi$ and the elapsed time. Shape ``batch + (M,)``.
    Works under ``jit`` and ``grad``."""
    i0 = jnp.argmax(_window(traj, t_start))
    phi = lab_phase(traj, device)
    return (phi[-1] - phi[i0]) / (TWO_PI * (traj.ts[-1] - traj.ts[i0]))


def _relative_phase(traj, device, tones):
    """phi_j(t) - theta_a(t), shape (n_save,) + batch + (M, n_tones); the tones' batch axes are
    right-aligned with the simulation's (which may have extra leading ensemble axes)."""
    # In the simulation frame, so that only the small detuning (frame - f_a) multiplies t:
    # the lab-frame phases themselves are ~1e3 rad after 1 us and would lose float32 precision.
    y = traj.ys
    phi = jnp.unwrap(-jnp.arctan2(y[..., 1, :], y[..., 0, :]), axis=0)  # (T, *batch, M)
    ndim = len(tones.batch_shape) + 1
    t = traj.ts.reshape((-1,) + (1,) * ndim)
    theta = tones.frame_phase(t, device.frame_ghz)  # (T, *tone_batch, A); Tones or Chirps
    pad = (phi.ndim - 2) - (theta.ndim - 2)
    theta = theta.reshape((theta.shape[0],) + (1,) * max(pad, 0) + theta.shape[1:])
    return phi[..., :, None] - theta[..., None, :]


def locking_order(traj, device: STONetwork, tones, t_start=None, taper="none") -> Array:
    r"""Soft, differentiable locking measure between oscillator $j$ and tone $a$:

    $$R_{ja} = \left|\left\langle e^{i(\phi_j(t) - \theta_a(t))}\right\rangle_t\right| \in [0, 1],$$

    the phase-coherence (Kuramoto) order parameter over the window $t \ge t_{\mathrm{start}}$.
    It is 1 for a constant phase difference (locked) and tends to 0 for a drifting one over a window
    much longer than the beat period. ``taper="hann"`` weights the average with
    :func:`window_weights` (smoother in the detuning). Shape ``batch + (M, n_tones)``.
    """
    return _order(_relative_phase(traj, device, tones), traj.ts, t_start, taper)


def locking_phasor(traj, device: STONetwork, tones, t_start=None, taper="none") -> Array:
    r"""The complex mean of the relative phase, what a lock-in (IQ mixer) referenced to each tone
    measures:

    $$Z_{ja} = \left\langle e^{i(\phi_j(t) - \theta_a(t))}\right\rangle_t,$$

    whose modulus is :func:`locking_order`'s $R_{ja}$ (same window and taper).

    Its argument is the phase lag of a locked oscillator behind the tone, which moves across the
    locking band with the detuning $\delta$ as in Adler's equation,
    $\arg Z(\delta) - \arg Z(0) = -\arcsin(\delta/\Delta f)$ ($\Delta f$ from
    :meth:`STONetwork.locking_range_ghz`), so it tells *where* in the band the tone sits, which
    $R$ alone does not. Complex, shape ``batch + (M, n_tones)``; differentiable."""
    return _phasor(_relative_phase(traj, device, tones), traj.ts, t_start, taper)


def _phasor(rel, ts, t_start, taper):
    return window_average(jnp.exp(1j * rel), ts, t_start, taper)


def _order(rel, ts, t_start, taper):
    return jnp.abs(_phasor(rel, ts, t_start, taper))


def is_locked(traj, device: STONetwork, tones, t_start=None, max_slip_cycles=0.25) -> Array:
    r"""Hard locking measure for reporting: True where the phase of oscillator $j$ relative to
    tone $a$ slips by less than ``max_slip_cycles`` cycles over the window $t \\ge t_{start}$
    (a drifting oscillator slips by its beat frequency times the window length). Shape
    ``batch + (M, n_tones)``."""
    return _locked(_relative_phase(traj, device, tones), traj, t_start, max_slip_cycles)


def _locked(rel, traj, t_start, max_slip_cycles):
    wt = _window(traj, t_start).reshape((-1,) + (1,) * (rel.ndim - 1))
    slip = jnp.max(jnp.where(wt, rel, -jnp.inf), axis=0) - jnp.min(jnp.where(wt, rel, jnp.inf), axis=0)
    return slip < TWO_PI * max_slip_cycles


def lock_state(traj, device: STONetwork, tones, t_start=None, max_slip_cycles=0.25, taper="none"):
    """``(is_locked(...), locking_order(...))`` from one computation of the relative phases, the
    costly part of each (a synchronisation pattern needs both). The same values as the two calls,
    at about half their cost. Shapes ``batch + (M, n_tones)``."""
    rel = _relative_phase(traj, device, tones)
    return _locked(rel, traj, t_start, max_slip_cycles), _order(rel, traj.ts, t_start, taper)
