"""The device and the network of romera2018: four coupled vortex STOs, two RF tones carrying the
formants (F1, F2), and the readouts (a) (synchronisation pattern -> vowel table) and (b) (linear
softmax on physical observables).

Device: identical vortex STOs whose frequencies are set by their DC currents (about 6-7 MHz/mA,
as in vortex MTJs); both tones reach every oscillator, and every oscillator is electrically
coupled to every other one.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import physnn as pn

DEVICE = {
    "f0_ghz": 0.30, "nonlinear_shift_ghz": 0.15, "damping": 0.02, "nonlinear_damping": 1.5,
    "threshold_ma": 5.0, "rf_coupling": 0.0005, "resistance_ohm": 50.0,
}
BAND_GHZ = (0.312, 0.352)  # where the tones are placed and the oscillators start
N_OSC = 4
NONE = N_OSC  # pattern index meaning "no oscillator locked to this tone"
N_CLASSES = 7
#: Readout (b) averages its observables over the second half of the presentation.
SECOND_HALF = ((0.5, 1.0),)


class VowelNetwork(eqx.Module):
    """Four coupled STOs with an input map and a readout; ``mode`` is "pattern" or "linear".

    The input map sends formants in Hz to tone frequencies in GHz:
    ``f = band_lo + (scale * (z - 1/2) + 1/2 + offset) * (band_hi - band_lo)`` with
    ``z = (F - F_min)/(F_max - F_min)``, per formant (trainable ``scale`` and ``offset``).

    With ``glide=True`` a token is ``(F1, F2)`` at two moments of the vowel, ``(n, 4)``, and the
    tones sweep linearly from the first pair to the second over the presentation
    (:class:`physnn.Chirps`; used by ``romera2018-glide``). ``feature_windows`` lists the parts of
    the presentation (fractions of ``t1_ns``) over which the observables of readout (b) are
    averaged; the default is the second half. With ``lock_phase=True`` readout (b) also reads
    the lock-in phasor of every oscillator against each tone (its real and imaginary parts,
    :func:`physnn.devices.spintronic.locking_phasor`): the phase lag of a locked oscillator tells
    where in its locking band the tone sits (32 observables per window instead of 16).
    """

    sto: pn.STONetwork
    enc_scale: jax.Array  # (2,)
    enc_offset: jax.Array  # (2,)
    enc_log_gain: jax.Array  # (2,) tone amplitudes rf_amp_ma * exp(enc_log_gain)
    f_min: jax.Array  # (2,) Hz, from the training speakers
    f_max: jax.Array  # (2,)
    weights: jax.Array  # (n_features, n_classes) for mode "linear"
    bias: jax.Array  # (n_classes,)
    feat_mean: jax.Array  # feature standardisation, fixed at initialisation
    feat_std: jax.Array
    table: jax.Array  # (25,) class for each synchronisation pattern, mode "pattern"
    mode: str = eqx.field(static=True)
    t1_ns: float = eqx.field(static=True)
    dt_ns: float = eqx.field(static=True)
    rf_amp_ma: float = eqx.field(static=True)
    taper: str = eqx.field(static=True, default="hann")
    lock_slip_cycles: float = eqx.field(static=True, default=1.0)
    glide: bool = eqx.field(static=True, default=False)
    feature_windows: tuple = eqx.field(static=True, default=SECOND_HALF)
    lock_phase: bool = eqx.field(static=True, default=False)
    #: thermal noise in the solves (the device's temperature_k > 0), fixed when the model is built:
    #: a compiled training step sees the temperature only as a traced array, and a solve that
    #: might be noisy would take the SDE solver (Heun) where a deterministic one takes Tsit5
    noisy: bool = eqx.field(static=True, default=False)

    def tone_freqs(self, formants_hz):
        """Tone frequencies (GHz) of formants ``(..., 2)`` in Hz: the input map."""
        z = (formants_hz - self.f_min) / (self.f_max - self.f_min)
        u = self.enc_scale * (z - 0.5) + 0.5 + self.enc_offset
        return BAND_GHZ[0] + u * (BAND_GHZ[1] - BAND_GHZ[0])

    def tones(self, formants_hz):
        amps = self.rf_amp_ma * jnp.exp(self.enc_log_gain)
        if self.glide:
            return pn.Chirps(self.tone_freqs(formants_hz[..., :2]), self.tone_freqs(formants_hz[..., 2:]),
                             self.t1_ns, amps=amps)
        return pn.Tones(self.tone_freqs(formants_hz), amps=amps)


def n_features(feature_windows=SECOND_HALF, lock_phase=False) -> int:
    # power, frequency, locking to A and B (and with lock_phase the phasor's Re, Im for A and B)
    return N_OSC * (8 if lock_phase else 4) * len(feature_windows)


def as_windows(windows) -> tuple:
    """``feature_windows`` as a tuple of ``(start, end)`` fractions of the presentation, each
    with ``0 <= start < end <= 1`` (lists, as JSON gives them, are accepted)."""
    out = tuple((float(a), float(b)) for a, b in windows)
    if not out or any(not 0.0 <= a < b <= 1.0 for a, b in out):
        raise ValueError(f"feature_windows={windows!r}: expected a non-empty list of (start, end) "
                         "fractions of the presentation with 0 <= start < end <= 1")
    return out


def make_device(currents, coupling: float, temperature_k: float) -> pn.STONetwork:
    """The four oscillators at DC ``currents`` (mA), all-to-all ``coupling`` (1/ns) and
    ``temperature_k`` (K), in the frame rotating at the band's centre."""
    w = coupling * (1 - jnp.eye(N_OSC))
    return pn.STONetwork(
        f0_ghz=DEVICE["f0_ghz"], nonlinear_shift_ghz=DEVICE["nonlinear_shift_ghz"],
        damping=DEVICE["damping"], nonlinear_damping=DEVICE["nonlinear_damping"],
        threshold_ma=DEVICE["threshold_ma"], current_ma=currents, coupling=w,
        rf_coupling=jnp.full((N_OSC, 2), DEVICE["rf_coupling"]), temperature_k=temperature_k,
        resistance_ohm=DEVICE["resistance_ohm"], frame_ghz=0.5 * sum(BAND_GHZ),
    )


def initial_model(train_formants, config, mode: str, coupling: float | None = None, *,
                  glide: bool = False, feature_windows=SECOND_HALF,
                  lock_phase: bool = False) -> VowelNetwork:
    """Oscillators evenly spread over the band; input map from the training speakers' range.

    ``config`` supplies ``coupling`` (unless ``coupling`` is given), ``temperature_k``, ``t1_ns``,
    ``dt_ns``, ``rf_amp_ma``, ``taper`` and ``lock_slip_cycles`` (the configuration of
    ``romera2018`` or of a variant). ``glide``, ``feature_windows`` and ``lock_phase`` choose
    the input and the observables of readout (b) (:class:`VowelNetwork`)."""
    coupling = config.coupling if coupling is None else coupling
    probe = make_device(jnp.full(N_OSC, 7.5), coupling, config.temperature_k)
    lo, hi = BAND_GHZ
    targets = lo + (np.arange(N_OSC) + 0.5) / N_OSC * (hi - lo)
    currents = probe.current_for_frequency_ma(jnp.asarray(targets))
    windows = as_windows(feature_windows)
    n_feat = n_features(windows, lock_phase)
    pairs = np.asarray(train_formants).reshape(-1, 2)  # (F1, F2) of every token and moment
    return VowelNetwork(
        sto=make_device(currents, coupling, config.temperature_k),
        enc_scale=jnp.ones(2), enc_offset=jnp.zeros(2), enc_log_gain=jnp.zeros(2),
        f_min=jnp.asarray(pairs.min(0)), f_max=jnp.asarray(pairs.max(0)),
        weights=jnp.zeros((n_feat, N_CLASSES)), bias=jnp.zeros(N_CLASSES),
        feat_mean=jnp.zeros(n_feat), feat_std=jnp.ones(n_feat),
        table=jnp.zeros(25, dtype=jnp.int32), mode=mode, t1_ns=float(config.t1_ns),
        dt_ns=float(config.dt_ns), rf_amp_ma=float(config.rf_amp_ma),
        taper=config.taper, lock_slip_cycles=float(config.lock_slip_cycles),
        glide=bool(glide), feature_windows=windows, lock_phase=bool(lock_phase),
        noisy=bool(config.temperature_k > 0),
    )


def with_input_map(model, scale, offset):
    """``model`` with its input map's per-formant ``enc_scale`` and ``enc_offset`` replaced."""
    return eqx.tree_at(lambda m: (m.enc_scale, m.enc_offset), model,
                       (jnp.asarray(scale, jnp.float32), jnp.asarray(offset, jnp.float32)))
