r"""Solves for networks of nanomechanical resonators (:class:`~physnn.DuffingNetwork`):

- :func:`simulate_checked`: :func:`physnn.simulate` with a blow-up named per resonator, its batch
  element and the time between saves at which its amplitude passed a bound;
- :func:`frequency_sweep`: a quasi-static sweep of the drive frequency, every dwell starting from
  the state the previous one ended in, which traces the hysteresis loop of the bistable Duffing
  response $a^2[(\omega_0^2 - \omega^2 + \tfrac{3k_3}{4m}a^2)^2 + \omega^2\gamma^2] = (F/m)^2$.

They live here, not in :mod:`physnn.devices.mechanical`, because devices describe physics only
and do not call the integrator.
"""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from . import _validate as V
from .devices import AbstractDevice, DuffingNetwork
from .simulate import simulate
from .trajectory import SimulationError

__all__ = ["simulate_checked", "frequency_sweep"]


# -------------------------------------------------------------------- blow-up reporting


class _Guarded(AbstractDevice):
    """A DuffingNetwork whose resonators freeze once their amplitude passes ``bound_nm``.

    Beyond the bound the physics is gone anyway; freezing keeps the state finite (a non-finite
    resonator would contaminate every other one through the coupling product) so that the first
    resonator to cross can be named."""

    device: DuffingNetwork
    bound_nm: Array
    time_unit: ClassVar[str] = "us"
    ensemble_params: ClassVar[dict[str, int]] = {}

    @property
    def batch_shape(self):
        return self.device.batch_shape

    def init_state(self, batch_shape=()):
        return self.device.init_state(batch_shape)

    def drift(self, t, y, u):
        r = self.device.amplitude_nm(y)
        alive = jnp.isfinite(r) & (r <= self.bound_nm)
        y_safe = jnp.where(alive[..., None, :], y, 0.0)
        return jnp.where(alive[..., None, :], self.device.drift(t, y_safe, u), 0.0)

    def diffusion(self, t, y, u):
        return self.device.diffusion(t, y, u)

    def noise_drift(self, t, y, u):
        return self.device.noise_drift(t, y, u)

    def input_shapes(self):
        return self.device.input_shapes()

    def input_hint(self):
        return self.device.input_hint()

    def observe(self, t, y, u):
        return self.device.observe(t, y, u)

    def power(self, t, y, u):
        return self.device.power(t, y, u)


def simulate_checked(device: DuffingNetwork, drive=None, *, blow_up_nm: float = 1e5, **kwargs):
    r""":func:`physnn.simulate` for a :class:`DuffingNetwork`, with blow-ups named per resonator.

    A resonator blows up when its amplitude ($\sqrt{x^2 + (\dot x/\omega_d)^2}$, or $|A|$)
    passes ``blow_up_nm`` (default 1e5 nm, far beyond any nanobeam's deflection) or, for a
    softening spring ($k_3 < 0$), the top of its potential barrier $x_b$, after which it escapes
    and diverges. Such resonators are frozen during the solve (so that they cannot spread NaN to
    the others through the coupling) and :class:`physnn.SimulationError` names the first one to
    cross, its batch element and the time interval between saves in which it crossed.
    All other keyword arguments go to :func:`physnn.simulate`; without a blow-up the trajectory is
    the plain one.
    """
    own = type(device).__name__
    bound = jnp.minimum(device.escape_amplitude_nm(), V.positive("blow_up_nm", blow_up_nm,
                                                                 owner="simulate_checked"))
    traj = simulate(_Guarded(device, bound), drive, **kwargs)
    amp = np.asarray(device.amplitude_nm(traj.ys))
    b = np.broadcast_to(np.asarray(bound), amp.shape[1:])
    over = ~(amp <= b)
    if not over.any():
        return traj
    k = int(np.argmax(over.reshape(over.shape[0], -1).any(axis=1)))
    ratio = np.where(over[k], amp[k] / b, -np.inf)
    where = np.unravel_index(int(np.argmax(np.nan_to_num(ratio, nan=np.inf))), ratio.shape)
    batch, res = tuple(int(i) for i in where[:-1]), int(where[-1])
    ts = np.asarray(traj.ts)
    when = f"between t={ts[k - 1]:.6g} and t={ts[k]:.6g} us" if k > 0 else f"by t={ts[k]:.6g} us"
    xb = float(np.broadcast_to(np.asarray(device.escape_amplitude_nm()), b.shape)[where])
    what = (f"escaped over the potential barrier of its softening spring (x_b = {xb:.4g} nm)"
            if np.isfinite(xb) else f"passed {blow_up_nm:.3g} nm (blow_up_nm)")
    raise SimulationError(
        f"{own}: resonator {res}{_batch_words(batch)} blew up: its amplitude {what} {when}. "
        f"{_hint(device, res)}"
    )


def _batch_words(batch):
    return f" (batch element {batch})" if batch else ""


def _hint(device, res):
    k3 = np.asarray(device.k3_n_per_m3)[..., res]
    f = float(np.asarray(device.drive_force_pn)[..., res].max())
    if k3.min() < 0:
        return (f"Its spring softens (k3 = {k3.min():.3g} N/m^3 < 0), so a strong drive "
                f"(F0 = {f:.3g} pN, times 1 + input_gain * u) pushes it out of its well: reduce "
                "the drive or the input gain.")
    return (f"With a hardening spring (k3 = {k3.max():.3g} N/m^3) the frequency grows with "
            f"amplitude: reduce dt or the drive (F0 = {f:.3g} pN, times 1 + input_gain * u).")


# -------------------------------------------------------------------- frequency response


def frequency_sweep(device: DuffingNetwork, freqs_mhz, *, settle_us: float, dt: float, y0=None):
    r"""Quasi-static drive-frequency sweep: the drive steps through ``freqs_mhz`` in order, dwelling
    ``settle_us`` at each, and every dwell starts from the state the previous one ended in (so a
    bistable resonator stays on its branch until the branch ends: sweeping up and down traces the
    hysteresis loop). Rotating frame only: the slow flow's amplitude is relative to the drive, so
    the drive phase stays continuous from one dwell to the next (a lab-frame solve would restart
    the carrier at every dwell, a phase jump that can knock a resonator off its branch).

    **Returns:** the lock-in amplitudes $|A_i|$ (nm) at the end of every dwell, shape
    ``(n_freqs,) + batch + (N,)``, and the final state.
    """
    if device.frame != "rotating":
        raise ValueError("frequency_sweep: needs a DuffingNetwork with frame='rotating' (a lab-frame "
                         "sweep would restart the drive phase at every dwell)")
    freqs = jnp.asarray(freqs_mhz, dtype=device.f0_mhz.dtype)
    if freqs.ndim != 1 or freqs.size == 0:
        raise ValueError(f"frequency_sweep: freqs_mhz must be a non-empty 1-D array, got "
                         f"shape {tuple(freqs.shape)}")
    y = device.init_state() if y0 is None else y0
    y_end, amps = _sweep(device, y, freqs, float(settle_us), float(dt))
    return amps, y_end


@eqx.filter_jit
def _sweep(dev, y, freqs, settle_us: float, dt: float):
    """The dwells of :func:`frequency_sweep` as one scan (compiled once per device structure,
    sweep length and dwell; floats are static under ``filter_jit``)."""
    def dwell(y, f):
        d = eqx.tree_at(lambda m: m.drive_mhz, dev, jnp.broadcast_to(f, dev.drive_mhz.shape))
        traj = simulate(d, None, t1=settle_us, dt=dt, y0=y, saveat="final", observe=False)
        y_end = traj.ys[-1]
        _, _, a = d.lab_and_amplitude(jnp.asarray(settle_us, y.dtype), y_end)
        return y_end, jnp.abs(a)

    return jax.lax.scan(dwell, y, freqs)
