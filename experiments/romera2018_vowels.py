"""Vowel recognition with four coupled spin-torque oscillators (Romera et al., Nature 563, 230 (2018)).

Protocol, as in the paper where we could establish it:

- Data: Hillenbrand et al. (1995) formants F1, F2 (steady state) of female speakers, seven vowels
  (``physnn.tasks.load_romera``: 37 speakers x 7 vowels; see that module for how the vowel set and
  the 37 speakers were reconstructed). Every figure is measured on speaker-independent k-fold
  splits: no speaker is in both the training and the test set of a fold.
- Encoding: (F1, F2) are mapped linearly onto two RF tones (fA, fB) inside the oscillators' band;
  the map is fitted on the training speakers of each fold (their min/max to the band edges).
- Device: four vortex-like STOs (``STONetwork``, rotating frame), all reached by both tones and
  electrically coupled to each other. The DC currents set the frequencies.
- Readout (a), the paper's: the class is read from the synchronisation pattern (which oscillator,
  if any, is locked to tone A, and which to tone B: ``is_locked``). An oscillator counts as
  locked to a tone when its phase relative to the tone slips by less than ``lock_slip_cycles`` = 1
  cycle over the measurement window (the second half of the presentation, 250 ns): a beat of
  less than one cycle cannot be resolved in that window, so the two share one bin of its
  spectrum, as a spectrum analyser would see synchronisation. A lookup table maps patterns to
  vowels (majority vote over the training tokens). Only the four DC currents are trained, by a
  measurement-driven rule in the spirit of the paper's real-time learning: a population hill climb
  (``train_pattern_rule``). It measures a population of current layouts (random ones, and one
  that puts the oscillators at the centres of ideal locking windows of the device's width fitted
  to the training tokens, kept 0.2 of the band apart: ``rule_window_init``, chosen on held-out
  training speakers by ``scripts/romera_window_init_probe.py``), keeps the best, then at every
  iteration measures +-step on every current and a few random moves (one batched
  solve each), keeps the best if it improves the training recognition, and shrinks the step when
  none does. No gradients are used, so the rule would run on hardware. The rule scores the
  training tokens together with one copy of each, both formants scaled as by another speaker
  (``rule_augment``, the augmentation readout (b) uses; chosen on held-out training speakers by
  ``scripts/romera_rule_probe.py``).
- Readout (b), physnn's: end-to-end gradient training through the physics with optax: the currents,
  the coupling matrix and the input map (scale, offset and amplitude of each tone) are trained
  together with a linear softmax readout of physical observables (per oscillator: power,
  frequency, and the soft locking measure to each tone, Hann-weighted time averages over the
  second half of the presentation). The readout is first fitted on the untrained device's
  observables, so that the gradient steps start from a working classifier. At every step the
  training formants are augmented as by another speaker (``vtl_augment``; vocal-tract length
  perturbation, Jaitly & Hinton 2013): both formants of a token are scaled by one factor
  exp(s z), z standard normal, with s the spread of the speakers' formant scale estimated from
  the training speakers of the fold (:func:`formant_scale_spread`).
- Baselines on the same folds: a digital ceiling (quadratic discriminant analysis and a small MLP on
  the same (F1, F2)), and an ablation of (a) and (b) without coupling.
- Cost: the DC power of the four junctions times the presentation time gives the energy per
  classification; the presentation time is the latency.

Differences from the paper: simulated, not measured, devices (parameters in ``DEVICE``); the
learning rule is our measurement-driven version (the paper's rule shifts frequencies towards or away
from the inputs); the pattern-to-vowel table is learned from the training data.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax
from tqdm.auto import tqdm

import physnn as pn
from physnn.devices.spintronic import lock_state, locking_phasor, window_average
from physnn.tasks import check_formants, load_romera, speaker_folds

# Device: identical vortex STOs whose frequencies are set by their DC currents (about 6-7 MHz/mA,
# as in vortex MTJs); both tones reach every oscillator.
DEVICE = {
    "f0_ghz": 0.30, "nonlinear_shift_ghz": 0.15, "damping": 0.02, "nonlinear_damping": 1.5,
    "threshold_ma": 5.0, "rf_coupling": 0.0005, "resistance_ohm": 50.0,
}
BAND_GHZ = (0.312, 0.352)  # where the tones are placed and the oscillators start
N_OSC = 4
NONE = N_OSC  # pattern index meaning "no oscillator locked to this tone"
# `physnn run` presents the CPU's cores as devices, and the current rule of (a) measures its
# candidate layouts split over them (the same patterns as on one device, bit for bit); the
# gradient training of (b) stays on one device, so its float32 sums keep their order
SPLITS_OVER_DEVICES = True

QUICK = {"n_folds": 2, "t1_ns": 400.0, "dt_ns": 1.0, "rf_amp_ma": 2.0, "coupling": 0.001,
         "temperature_k": 0.0, "rule_iters": 5, "rule_step_ma": 0.5, "rule_candidates": 8,
         "rule_shrink": 0.6, "lock_slip_cycles": 1.0, "grad_steps": 20,
         "grad_lr": 0.01, "grad_lr_current": 1.0, "grad_lr_coupling": 0.01,
         "readout_l2": 1e-3, "readout_steps": 500, "taper": "hann", "mlp_steps": 300,
         "map_points": 17, "seed": 0, "vtl_augment": True, "rule_augment": True,
         "final_model": False,
         "rule_window_init": True, "rule_window_halfwidth": 0.135,
         "rule_window_min_separation": 0.2, "rule_window_fit_map": True}
FULL = {"n_folds": 5, "t1_ns": 500.0, "dt_ns": 1.0, "rf_amp_ma": 2.0, "coupling": 0.001,
        "temperature_k": 0.0, "rule_iters": 30, "rule_step_ma": 0.5, "rule_candidates": 16,
        "rule_shrink": 0.6, "lock_slip_cycles": 1.0, "grad_steps": 100,
        "grad_lr": 0.01, "grad_lr_current": 1.0, "grad_lr_coupling": 0.01,
        "readout_l2": 1e-3, "readout_steps": 500, "taper": "hann", "mlp_steps": 3000,
        "map_points": 61, "seed": 0, "vtl_augment": True, "rule_augment": True,
        "final_model": True,
        "rule_window_init": True, "rule_window_halfwidth": 0.135,
        "rule_window_min_separation": 0.2, "rule_window_fit_map": True}

PAPER = {"train_accuracy_a": 0.89, "test_accuracy_a": 0.88}
#: Readout (b) averages its observables over the second half of the presentation.
SECOND_HALF = ((0.5, 1.0),)


# ----------------------------------------------------------------------------------- model


class VowelNetwork(eqx.Module):
    """Four coupled STOs with an input map and a readout; ``mode`` is "pattern" or "linear".

    The input map sends formants in Hz to tone frequencies in GHz:
    ``f = band_lo + (scale * (z - 1/2) + 1/2 + offset) * (band_hi - band_lo)`` with
    ``z = (F - F_min)/(F_max - F_min)``, per formant (trainable ``scale`` and ``offset``).

    With ``glide=True`` a token is ``(F1, F2)`` at two moments of the vowel, ``(n, 4)``, and the
    tones sweep linearly from the first pair to the second over the presentation
    (:class:`physnn.Chirps`; used by ``romera2018_glide``). ``feature_windows`` lists the parts of
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


def _as_windows(windows) -> tuple:
    """``feature_windows`` from a config (JSON gives lists): a tuple of ``(start, end)`` fractions
    of the presentation, each with ``0 <= start < end <= 1``."""
    out = tuple((float(a), float(b)) for a, b in windows)
    if not out or any(not 0.0 <= a < b <= 1.0 for a, b in out):
        raise ValueError(f"feature_windows={windows!r}: expected a non-empty list of (start, end) "
                         "fractions of the presentation with 0 <= start < end <= 1")
    return out


def make_device(currents, coupling: float, temperature_k: float) -> pn.STONetwork:
    w = coupling * (1 - jnp.eye(N_OSC))
    return pn.STONetwork(
        f0_ghz=DEVICE["f0_ghz"], nonlinear_shift_ghz=DEVICE["nonlinear_shift_ghz"],
        damping=DEVICE["damping"], nonlinear_damping=DEVICE["nonlinear_damping"],
        threshold_ma=DEVICE["threshold_ma"], current_ma=currents, coupling=w,
        rf_coupling=jnp.full((N_OSC, 2), DEVICE["rf_coupling"]), temperature_k=temperature_k,
        resistance_ohm=DEVICE["resistance_ohm"], frame_ghz=0.5 * sum(BAND_GHZ),
    )


def initial_model(train_formants, config, mode: str, coupling: float | None = None):
    """Oscillators evenly spread over the band; input map from the training speakers' range."""
    coupling = config["coupling"] if coupling is None else coupling
    probe = make_device(jnp.full(N_OSC, 7.5), coupling, config["temperature_k"])
    lo, hi = BAND_GHZ
    targets = lo + (np.arange(N_OSC) + 0.5) / N_OSC * (hi - lo)
    currents = probe.current_for_frequency_ma(jnp.asarray(targets))
    n_cls = 7
    windows = _as_windows(config.get("feature_windows", SECOND_HALF))
    glide = bool(config.get("glide", False))
    lock_phase = bool(config.get("lock_phase", False))
    n_feat = n_features(windows, lock_phase)
    pairs = np.asarray(train_formants).reshape(-1, 2)  # (F1, F2) of every token and moment
    return VowelNetwork(
        sto=make_device(currents, coupling, config["temperature_k"]),
        enc_scale=jnp.ones(2), enc_offset=jnp.zeros(2), enc_log_gain=jnp.zeros(2),
        f_min=jnp.asarray(pairs.min(0)), f_max=jnp.asarray(pairs.max(0)),
        weights=jnp.zeros((n_feat, n_cls)), bias=jnp.zeros(n_cls),
        feat_mean=jnp.zeros(n_feat), feat_std=jnp.ones(n_feat),
        table=jnp.zeros(25, dtype=jnp.int32), mode=mode, t1_ns=float(config["t1_ns"]),
        dt_ns=float(config["dt_ns"]), rf_amp_ma=float(config["rf_amp_ma"]),
        taper=config.get("taper", "hann"), lock_slip_cycles=float(config.get("lock_slip_cycles", 1.0)),
        glide=glide, feature_windows=windows, lock_phase=lock_phase,
        noisy=bool(config["temperature_k"] > 0),
    )


# ----------------------------------------------------------------------------------- physics


def _solve(model: VowelNetwork, formants_hz, key, sto):
    """One batched solve of the tokens. Thermal noise (drawn from ``key``, default a fixed key)
    only when ``model.noisy``: the solve is then an SDE (Heun), else an ODE (Tsit5), also inside
    a compiled step, where the temperature is traced and cannot be seen to be zero."""
    sto = model.sto if sto is None else sto
    temp = pn._validate._concrete(sto.temperature_k)
    if temp is not None and bool(np.any(temp > 0)) != model.noisy:
        raise ValueError(f"romera2018: the device's temperature_k={np.asarray(temp)} but the model's "
                         f"noisy={model.noisy}; expected noisy=True exactly when a temperature is "
                         "above 0 K (build the model with initial_model, or replace both)")
    key = (jax.random.key(0) if key is None else key) if model.noisy else None
    tones = model.tones(formants_hz)
    t1 = model.t1_ns
    ts = np.linspace(0.0, t1, int(t1 / 4) + 1)
    traj = pn.simulate(sto, tones, t1=t1, dt=model.dt_ns, saveat=ts, key=key)
    return traj, ts, sto, tones


@eqx.filter_jit
def _pattern(model: VowelNetwork, traj, sto, tones):
    """The synchronisation pattern of readout (a). It breaks ties between locked oscillators with
    the plain-average order, as before the taper was introduced for the features of (b) (with the
    Hann order there, (a) scored 66.9 % instead of 70.2 % on the full run's folds;
    docs/romera2018-notes.md). Compiled: the same patterns as op-by-op, at about 3/4 of the cost."""
    locked, plain = lock_state(traj, sto, tones, t_start=model.t1_ns / 2,
                               max_slip_cycles=model.lock_slip_cycles)
    return sync_pattern(locked, plain)


def _features(model: VowelNetwork, traj, ts, sto, tones):
    return jnp.concatenate([_window_features(model, traj, ts, sto, tones, a, b)
                            for a, b in model.feature_windows], axis=-1)


def _window_features(model, traj, ts, sto, tones, start, end):
    """The 16 observables (32 with ``lock_phase``) averaged over the part ``[start, end]`` of the
    presentation."""
    t1 = model.t1_ns
    if end < 1.0:  # cut the trajectory at the window's end (a window to the end needs no cut)
        k = int(np.searchsorted(ts, end * t1, side="right"))
        traj = jax.tree_util.tree_map(lambda a: a[:k], traj)
        ts = ts[:k]
    power = window_average(traj.obs["power"], ts, start * t1, model.taper)
    freq = window_average(traj.obs["frequency_ghz"], ts, start * t1, model.taper)
    phasor = locking_phasor(traj, sto, tones, t_start=start * t1, taper=model.taper)  # (..., 4, 2)
    shape = phasor.shape[:-2]
    flat = lambda a: a.reshape(shape + (2 * N_OSC,))  # noqa: E731
    parts = [power, (freq - 0.5 * sum(BAND_GHZ)) * 50.0, flat(jnp.abs(phasor))]
    if model.lock_phase:
        parts += [flat(phasor.real), flat(phasor.imag)]
    return jnp.concatenate(parts, axis=-1)


def present(model: VowelNetwork, formants_hz, key=None, sto=None):
    """Present the tokens (one batched solve) and measure, over the second half of the
    presentation: features (n, 16) and the synchronisation pattern index (n,). The features are
    Hann-weighted time averages (``window_average``), so that they vary smoothly with the
    detuning of oscillators that are not locked. With ``temperature_k > 0`` the thermal noise is
    drawn from ``key`` (default: a fixed key, so that a measurement is repeatable)."""
    traj, ts, sto, tones = _solve(model, formants_hz, key, sto)
    return _features(model, traj, ts, sto, tones), _pattern(model, traj, sto, tones)


def present_features(model: VowelNetwork, formants_hz, key=None, sto=None):
    """Only the features of :func:`present` (the same values), without the patterns of (a)."""
    traj, ts, sto, tones = _solve(model, formants_hz, key, sto)
    return _features(model, traj, ts, sto, tones)


def present_patterns(model: VowelNetwork, formants_hz, key=None, sto=None):
    """Only the synchronisation patterns of :func:`present` (the same values), without the
    features of readout (b): what the current rule of (a) measures, at about 2/3 of the cost."""
    traj, _, sto, tones = _solve(model, formants_hz, key, sto)
    return _pattern(model, traj, sto, tones)


def sync_pattern(locked, order):
    """Pattern index jA * 5 + jB: the oscillator locked to tone A (B), the most coherent one if
    several are, or 4 if none."""
    score = jnp.where(locked, order, -1.0)
    j = jnp.argmax(score, axis=-2)  # (..., 2)
    j = jnp.where(jnp.any(locked, axis=-2), j, NONE)
    return j[..., 0] * (N_OSC + 1) + j[..., 1]


def logits(model: VowelNetwork, feats):
    z = (feats - model.feat_mean) / model.feat_std
    return z @ model.weights + model.bias


def pattern_table(patterns, labels, n_classes=7):
    """Majority vowel for every pattern seen in training; unseen patterns fall back to the
    majority over patterns that share the tone-A or tone-B oscillator, then to the overall
    majority."""
    counts = np.zeros((25, n_classes))
    np.add.at(counts, (np.asarray(patterns), np.asarray(labels)), 1)
    table = counts.argmax(1)
    overall = counts.sum(0).argmax()
    for p in range(25):
        if counts[p].sum() == 0:
            ja, jb = divmod(p, N_OSC + 1)
            near = counts[[q for q in range(25) if q // 5 == ja or q % 5 == jb]].sum(0)
            table[p] = near.argmax() if near.sum() else overall
    return jnp.asarray(table, dtype=jnp.int32)


def predict_formants(model: VowelNetwork, formants_hz, key=None):
    """Class indices for formants (n, 2) in Hz. The tokens are padded to a multiple of 64 so that
    sets of similar size share one compiled solve. ``key`` draws the thermal noise of a noisy
    model (default: a fixed key)."""
    n = len(formants_hz)
    xp = jnp.asarray(pad_tokens(np.asarray(formants_hz, dtype=np.float32))[0])
    if model.mode == "pattern":
        return np.asarray(model.table[present_patterns(model, xp, key=key)])[:n]
    return np.asarray(jnp.argmax(logits(model, present_features(model, xp, key=key)), axis=-1))[:n]


# ----------------------------------------------------------------------------------- padding


def pad_tokens(x, y=None, n=None):
    """Pad a token set to ``n`` rows (repeats of the first token) with weight 0, so that every
    fold presents the same shapes and the solves and training steps compile once. ``n``
    defaults to the next multiple of 64. Returns ``(x, y, weights)``."""
    x = np.asarray(x)
    k = len(x)
    n = -(-k // 64) * 64 if n is None else n
    if n < k:
        raise ValueError(f"pad_tokens: n={n} is below the number of tokens {k}")
    idx = np.r_[np.arange(k), np.zeros(n - k, int)]
    w = np.r_[np.ones(k), np.zeros(n - k)].astype(np.float32)
    return x[idx], (None if y is None else np.asarray(y)[idx]), w


# ----------------------------------------------------------------------------------- (a)


def window_patterns(u, centres, width):
    """Patterns of *ideal* locking windows: oscillator j locks a tone at normalised frequency u
    when ``|u - centres[j]| <= width`` (the nearest centre wins where windows overlap), the same
    four windows for both tones. ``u`` (n, 2) -> pattern indices (n,) as ``sync_pattern``."""
    d = np.abs(u[:, :, None] - centres[None, None, :])  # (n, 2 tones, 4 oscillators)
    inside = d <= width
    j = np.where(inside.any(-1), np.argmin(np.where(inside, d, np.inf), -1), NONE)
    return j[:, 0] * (N_OSC + 1) + j[:, 1]


def _table_accuracy(p, y):
    counts = np.zeros((25, 7))
    np.add.at(counts, (p, y), 1)
    return counts.max(1).sum() / len(y)


def fit_window_map(x, y, rng, free_map=True, restarts=300, iters=60, width=None,
                   min_separation=0.0):
    """Fit ideal locking windows (four centres, one half-width) and, with ``free_map``, the input
    map (per-formant ``enc_scale`` and ``enc_offset``) to the training tokens ``x`` (n, 2) Hz by
    random-restart local search on the training recognition of the pattern table. Returns
    ``(centres, width, scale, offset)`` in the band's normalised units (``VowelNetwork.tones``,
    with z from the min/max of ``x``). Without ``free_map`` the map stays the min-max one. With
    ``width`` the half-width is held at that value (the same random draws otherwise). With
    ``min_separation > 0`` (below 1/3) the centres start and stay in order and at least that far
    apart (moves that break it are rejected; the random draws are the same), so that neighbouring
    windows overlap by at most ``2 * width - min_separation``: coupled oscillators closer than
    their windows are wide pull each other into mutual locking, so the device cannot realise
    crowded centres."""
    if not 0 <= min_separation < 1 / 3:
        raise ValueError(f"fit_window_map: min_separation = {min_separation!r}; expected a distance "
                         "in units of the band, at least 0 and below 1/3 (four centres in [0, 1])")
    lo, hi = x.min(0), x.max(0)
    z = (x - lo) / (hi - lo) - 0.5
    best = (-1.0, None)
    for _ in range(restarts):
        c, w = np.sort(rng.uniform(0, 1, 4)), rng.uniform(0.03, 0.2)
        if min_separation > 0:  # the same draws, spread into a layout that keeps the separation
            c = c * (1 - 3 * min_separation) + min_separation * np.arange(4)
        w = w if width is None else width
        s = rng.uniform(0.6, 1.4, 2) if free_map else np.ones(2)
        o = rng.uniform(-0.3, 0.3, 2) if free_map else np.zeros(2)
        for _ in range(iters):
            cc, ww = c + rng.normal(0, 0.03, 4), abs(w + rng.normal(0, 0.01))
            ww = ww if width is None else width
            ss = s + rng.normal(0, 0.05, 2) if free_map else s
            oo = o + rng.normal(0, 0.03, 2) if free_map else o
            if min_separation > 0:
                cc = np.sort(cc)
                if np.any(np.diff(cc) < min_separation):
                    continue
            acc = _table_accuracy(window_patterns(ss * z + 0.5 + oo, cc, ww), y)
            if acc >= best[0]:
                best = (acc, (cc, ww, ss, oo))
                c, w, s, o = cc, ww, ss, oo
    return best[1]


def _check_vtl_sigma(vtl_sigma):
    if not (np.isfinite(vtl_sigma) and vtl_sigma >= 0):
        raise ValueError(f"romera2018: vtl_sigma = {vtl_sigma!r}; expected a relative spread >= 0 "
                         "(e.g. 0.04)")
    return vtl_sigma


def window_layout(x, y, config):
    """Free-running frequencies (GHz, (1, 4)) that put the four oscillators at the centres of
    ideal locking windows fitted to the training tokens ``x`` (n, 2) Hz, ``y``, with the
    experiment's fixed min-max map and the half-width held at the device's own,
    ``config["rule_window_halfwidth"]`` (in units of the band; measured by
    ``python scripts/romera_window_bound.py widths``). A starting layout for the current rule:
    the device cannot change the width of its windows, only where they sit. With
    ``config["rule_window_min_separation"]`` (default 0) the centres are kept at least that far
    apart (:func:`fit_window_map`). With ``config["rule_window_fit_map"]`` the input map is
    fitted with the windows, and the layout belongs to that map (:func:`window_start`)."""
    return window_start(x, y, config)[0]


def window_start(x, y, config):
    """``(layout, scale, offset)``: the starting layout of :func:`window_layout` and the input
    map it was fitted with (``VowelNetwork.enc_scale`` and ``enc_offset``, (2,) each). The map is
    the fixed min-max one (scale 1, offset 0) unless ``config["rule_window_fit_map"]`` (default
    False) fits it with the windows (``fit_window_map(free_map=True)``, 300 restarts): keeping the
    centres apart costs ideal windows about 2 points on held-out training speakers, and a fitted
    map wins them back (``scripts/romera_window_init_probe.py``, ``winit_sep_map``)."""
    fit_map = config.get("rule_window_fit_map", False)
    if not isinstance(fit_map, (bool, np.bool_)):
        raise ValueError(f"romera2018: rule_window_fit_map = {fit_map!r}; expected True or False")
    width = float(config["rule_window_halfwidth"])
    if not 0 < width < 0.5:
        raise ValueError(f"romera2018: rule_window_halfwidth = {width!r}; expected a half-width in "
                         "units of the band, between 0 and 0.5 (e.g. 0.135)")
    rng = np.random.default_rng(config["seed"])
    sep = float(config.get("rule_window_min_separation", 0.0))
    if not 0 <= sep < 1 / 3:
        raise ValueError(f"romera2018: rule_window_min_separation = {sep!r}; expected a distance in "
                         "units of the band, at least 0 and below 1/3 (e.g. 0.2)")
    centres, _, scale, offset = fit_window_map(np.asarray(x, float), np.asarray(y), rng,
                                               free_map=bool(fit_map), restarts=300 if fit_map else 150,
                                               width=width, min_separation=sep)
    lo, hi = BAND_GHZ
    return (lo + np.clip(centres, -0.1, 1.1) * (hi - lo))[None, :], scale, offset


def with_input_map(model, scale, offset):
    """``model`` with its input map's per-formant ``enc_scale`` and ``enc_offset`` replaced."""
    return eqx.tree_at(lambda m: (m.enc_scale, m.enc_offset), model,
                       (jnp.asarray(scale, jnp.float32), jnp.asarray(offset, jnp.float32)))


def loso_table_accuracy(patterns, labels, speakers):
    """Leave-one-speaker-out accuracy of the pattern table: each speaker's tokens are classified
    by the table (:func:`pattern_table`, with its fallbacks) learned from the other speakers'
    tokens. It measures how well a synchronisation map's pattern-to-vowel table carries over to a
    new speaker, where the training accuracy also counts patterns that only one token shows."""
    patterns, labels, speakers = np.asarray(patterns), np.asarray(labels), np.asarray(speakers)
    hits = 0
    for s in np.unique(speakers):
        own = speakers == s
        tab = np.asarray(pattern_table(patterns[~own], labels[~own]))
        hits += int(np.sum(tab[patterns[own]] == labels[own]))
    return hits / len(labels)


def train_pattern_rule(model, x, y, config, progress=None, n_pad=None, vtl_sigma=0.0,
                       init_layouts=None, speakers=None, checkpoint=None):
    """Measurement-driven current tuning (no gradients): a population hill climb on the training
    recognition, every population measured in one batched solve.

    0. Measure ``rule_candidates`` (K) current layouts: the model's own (oscillators evenly spread
       over the band) and K - 1 random ones (free-running frequencies uniform over the band
       widened by 10 % on each side). Keep the best.
    1. At every iteration measure K candidates around the kept currents: +-step on each current
       (8 candidates) and K - 8 random moves of all four (Gaussian, standard deviation step). Keep
       the best if it improves the training recognition, else shrink the step by
       ``rule_shrink``.

    The pattern table is re-learned (majority vote) for every candidate. The random layouts and
    moves are drawn from ``seed``; with ``temperature_k > 0`` each iteration sees fresh noise.

    With ``vtl_sigma > 0`` the rule scores the tokens together with one copy of each whose
    formants are both scaled by exp(vtl_sigma z) (z standard normal, drawn once from ``seed``), as
    another speaker's vocal tract would scale them; readout (b) trains with the same
    augmentation. It keeps the rule off configurations that classify the training tokens only
    through the speckled edges of the locking regions (``scripts/romera_rule_probe.py``). The
    copies double the cost of every measurement; ``n_pad`` counts the tokens before copying.

    ``init_layouts`` (m, 4), free-running frequencies in GHz, take the places of the first m
    random layouts of step 0 (after the model's own); :func:`window_layout` gives one. Without
    them, ``config["rule_window_init"]`` (the experiment's setting) puts the layout of
    :func:`window_layout` there: ideal windows of the device's half-width fitted to the training
    tokens, their centres kept ``rule_window_min_separation`` apart so that the coupled device
    can realise them (``scripts/romera_window_init_probe.py``). With
    ``config["rule_window_fit_map"]`` as well, the model's input map is replaced by the one fitted
    with those windows (:func:`window_start`), and the returned model keeps it. With
    ``init_layouts`` given, the model's input map is used as it is.

    With ``config["rule_objective"] == "loso"`` the rule keeps the candidate whose table carries
    best to a new speaker (:func:`loso_table_accuracy` over ``speakers``, one id per token; the
    training accuracy breaks ties) instead of the one with the best training accuracy
    (``"train"``, the default). The table itself is still learned from all the tokens, and the
    returned history is the training accuracy of the kept currents either way.

    With ``checkpoint`` (a file path) the rule's state (kept currents, table, step, history and
    the random generator) is written there atomically after every iteration, and a rule started
    with that file present resumes from it: interrupted and resumed, it returns exactly what an
    uninterrupted rule returns (same arguments)."""
    k_cand, step = int(config["rule_candidates"]), float(config["rule_step_ma"])
    if k_cand < 2 * N_OSC:
        raise ValueError(f"romera2018: rule_candidates={k_cand}; expected at least {2 * N_OSC} "
                         "(the +-step moves of the four currents)")
    objective = config.get("rule_objective", "train")
    if objective not in ("train", "loso"):
        raise ValueError(f"romera2018: rule_objective={objective!r}; expected 'train' or 'loso'")
    if objective == "loso":
        if speakers is None or len(speakers) != len(x) or len(np.unique(speakers)) < 2:
            raise ValueError(f"romera2018: rule_objective='loso' needs speakers, one id per token "
                             f"and at least 2 speakers; got {None if speakers is None else len(speakers)} "
                             f"ids for {len(x)} tokens")
        speakers = np.asarray(speakers)
    if config.get("rule_window_fit_map", False) and not config.get("rule_window_init", False):
        raise ValueError("romera2018: rule_window_fit_map = True with rule_window_init = "
                         f"{config.get('rule_window_init', False)!r}; the input map is fitted with the "
                         "rule's window start, so set rule_window_init = True (or the map off)")
    rng = np.random.default_rng(config["seed"])
    x, y = np.asarray(x), np.asarray(y)
    if init_layouts is None and config.get("rule_window_init", False):
        # from the tokens alone, before any copies
        init_layouts, scale, offset = window_start(x, y, config)
        if config.get("rule_window_fit_map", False):
            model = with_input_map(model, scale, offset)
    if _check_vtl_sigma(vtl_sigma) > 0:  # own generator, same seed: the draws the probe chose on
        z = np.random.default_rng(config["seed"]).standard_normal((len(x), 1))
        x = np.concatenate([x, x * np.exp(vtl_sigma * z).astype(x.dtype)])
        y = np.concatenate([y, y])
        speakers = None if speakers is None else np.concatenate([speakers, speakers])  # copies stay
        n_pad = None if n_pad is None else 2 * n_pad
    n = len(x)
    xp, _, _ = pad_tokens(x, n=n_pad)
    thr = 1.05 * DEVICE["threshold_ma"]  # stay above threshold
    history = []

    def evaluate(currents, it):  # currents (K, 4) -> patterns (K, n)
        sto = eqx.tree_at(lambda s: s.current_ma, model.sto, jnp.asarray(currents)[:, None, :])
        if len(currents) % pn.parallel.n_devices() == 0:  # each core measures its candidates
            sto = pn.parallel.shard(sto, len(currents))
        key = jax.random.fold_in(jax.random.key(config["seed"]), it)
        return np.asarray(present_patterns(model, jnp.asarray(xp), key=key, sto=sto))[:, :n]

    def best_of(cands, it):  # -> (objective, training accuracy, table, currents) of the best
        pats = evaluate(np.maximum(cands, thr).astype(np.float32), it)
        scores = []
        for p in pats:
            tab = pattern_table(p, y)
            acc = float(np.mean(np.asarray(tab)[p] == y))
            key = (loso_table_accuracy(p, y, speakers), acc) if objective == "loso" else (acc,)
            scores.append((key, acc, tab))
        k = max(range(len(scores)), key=lambda i: scores[i][0])  # the first of equals, as argmax
        return scores[k][0], scores[k][1], scores[k][2], np.maximum(cands[k], thr)

    lo, hi = BAND_GHZ
    layouts = rng.uniform(lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo), (k_cand, N_OSC))
    cands = np.asarray(model.sto.current_for_frequency_ma(jnp.asarray(layouts)), np.float64)
    cands[0] = np.asarray(model.sto.current_ma)
    if init_layouts is not None:
        init = np.atleast_2d(np.asarray(init_layouts, np.float64))
        if init.ndim != 2 or init.shape[1] != N_OSC or not 1 <= len(init) < k_cand:
            raise ValueError(f"romera2018: init_layouts has shape {init.shape}; expected (m, {N_OSC}) "
                             f"with 1 <= m < rule_candidates = {k_cand}")
        cands[1:1 + len(init)] = np.asarray(model.sto.current_for_frequency_ma(jnp.asarray(init)))
    resumed = _load_rule_state(checkpoint)
    if resumed is None:
        best, best_acc, table, currents = best_of(cands, 0)
        history.append(best_acc)
        done = 0
        _save_rule_state(checkpoint, 0, best, best_acc, table, currents, step, history, rng)
    else:
        done, best, best_acc, table, currents, step, history = resumed["state"]
        rng.bit_generator.state = resumed["rng"]
        if progress is not None:
            progress.update(min(done, config["rule_iters"]))
    for it in range(done + 1, config["rule_iters"] + 1):
        cands = np.repeat(currents[None], k_cand, axis=0)
        for j in range(N_OSC):
            cands[2 * j, j] += step
            cands[2 * j + 1, j] -= step
        cands[2 * N_OSC:] += rng.normal(0.0, step, (k_cand - 2 * N_OSC, N_OSC))
        score, acc, tab, cur = best_of(cands, it)
        if score > best:
            best, best_acc, table, currents = score, acc, tab, cur
        else:
            step *= config["rule_shrink"]
        history.append(best_acc)
        _save_rule_state(checkpoint, it, best, best_acc, table, currents, step, history, rng)
        if progress is not None:
            progress.update(1)
    trained = eqx.tree_at(lambda m: (m.sto.current_ma, m.table), model,
                          (jnp.asarray(currents, dtype=jnp.float32), table))
    return trained, history



def _save_rule_state(path, it, best, best_acc, table, currents, step, history, rng):
    """The rule's state after iteration ``it``, as JSON (floats round-trip exactly)."""
    if path is None:
        return
    pn.checkpoint.save_checkpoint(path, jnp.asarray(table), header_extra={"romera2018_rule": {
        "iteration": it, "best": [float(v) for v in best], "best_acc": float(best_acc),
        "currents": [float(v) for v in currents], "step": float(step),
        "history": [float(v) for v in history], "rng": rng.bit_generator.state}})


def _load_rule_state(path):
    if path is None or not Path(path).exists():
        return None
    table, header = pn.checkpoint.load_checkpoint(path, jnp.zeros(25, jnp.int32))
    r = header.get("romera2018_rule")
    if r is None:
        raise pn.checkpoint.CheckpointError(f"romera2018: {path} is not a checkpoint of the current rule")
    state = (r["iteration"], tuple(r["best"]), r["best_acc"], table,
             np.asarray(r["currents"], np.float64), r["step"], list(r["history"]))
    return {"state": state, "rng": r["rng"]}


# ----------------------------------------------------------------------------------- (b)

#: Period, in steps, of :func:`train_gradient`'s checkpoints (besides the last step and an
#: interruption). A checkpoint takes about 12 ms, a step about 0.9 s in the full configuration.
GRAD_CHECKPOINT_EVERY = 5


def _trainable(model):
    spec = jax.tree_util.tree_map(lambda _: False, model)
    return eqx.tree_at(
        lambda m: (m.sto.current_ma, m.sto.coupling, m.enc_scale, m.enc_offset, m.enc_log_gain,
                   m.weights, m.bias),
        spec, (True,) * 7)


def _param_labels(params):
    """Optimizer group of every trainable leaf: currents (mA) and coupling (1/ns) move at their own
    rates (multiples of ``grad_lr``), everything else at ``grad_lr``."""
    labels = jax.tree_util.tree_map(lambda _: "other", params)
    return eqx.tree_at(lambda m: (m.sto.current_ma, m.sto.coupling), labels,
                       ("current", "coupling"), is_leaf=lambda v: v is None)


@functools.lru_cache(maxsize=8)
def _optimizer(lr, lr_current, lr_coupling, steps):
    """Adam with per-group rates, cosine decay, clipping: ``lr`` for everything, times
    ``lr_current`` for the currents and ``lr_coupling`` for the coupling (the configuration's
    ``grad_lr_current`` and ``grad_lr_coupling`` are such multiples). Cached so that every fold
    reuses one optimizer object and hence one compiled step."""
    sched = lambda k: optax.cosine_decay_schedule(lr * k, max(steps, 1), alpha=0.1)  # noqa: E731
    return optax.chain(optax.clip_by_global_norm(10.0), optax.multi_transform(
        {"other": optax.adam(sched(1.0)), "current": optax.adam(sched(lr_current)),
         "coupling": optax.adam(sched(lr_coupling))}, _param_labels))


def _weighted_ce(lg, ys, ws):
    ce = optax.softmax_cross_entropy_with_integer_labels(lg, ys)
    return jnp.sum(ws * ce) / jnp.sum(ws), jnp.sum(ws * (jnp.argmax(lg, -1) == ys)) / jnp.sum(ws)


@eqx.filter_jit
def _fit_readout(weights, bias, z, ys, ws, l2, steps):
    """Softmax readout on fixed features ``z`` (already standardised): L2-regularised
    cross-entropy, full-batch Adam, ``steps`` iterations in one compiled loop."""
    opt = optax.adam(0.05)

    def loss(p):
        return _weighted_ce(z @ p[0] + p[1], ys, ws)[0] + l2 * jnp.sum(p[0] ** 2)

    def body(_, carry):
        p, s = carry
        u, s = opt.update(jax.grad(loss)(p), s)
        return optax.apply_updates(p, u), s

    p = (weights, bias)
    return jax.lax.fori_loop(0, steps, body, (p, opt.init(p)))[0]


def _augment(xs, key, vtl_sigma):
    """Vocal-tract length perturbation of a training step: one scale factor exp(vtl_sigma z) per
    token for all its formants."""
    return xs * jnp.exp(vtl_sigma * jax.random.normal(jax.random.fold_in(key, 7), xs.shape[:-1] + (1,)))


def _update(params, state, g, opt):
    """Adam's update of a training step, then the floor on the currents (5 % above threshold)."""
    u, state = opt.update(g, state, params)
    params = optax.apply_updates(params, u)
    params = eqx.tree_at(lambda m: m.sto.current_ma, params,
                         jnp.maximum(params.sto.current_ma, 1.05 * DEVICE["threshold_ma"]))
    return params, state


@eqx.filter_jit
def _grad_step(params, static, state, xs, ys, ws, coupling_mask, l2, key, opt, vtl_sigma):
    xs = _augment(xs, key, vtl_sigma)

    def loss_fn(p):
        m = eqx.combine(p, static)
        f, _ = present(m, xs, key=key)
        ce, acc = _weighted_ce(logits(m, f), ys, ws)
        return ce + l2 * jnp.sum(p.weights ** 2), (ce, acc)

    (_, (ce, acc)), g = eqx.filter_value_and_grad(loss_fn, has_aux=True)(params)
    g = eqx.tree_at(lambda m: m.sto.coupling, g, g.sto.coupling * coupling_mask)
    params, state = _update(params, state, g, opt)
    return params, state, ce, acc


def fit_readout(model: VowelNetwork, x, y, config, n_pad=None) -> VowelNetwork:
    """Present ``x``, standardise the observables and fit the softmax readout on them (L2
    ``readout_l2``, from zero); the physics is left as it is."""
    n = len(x)
    xp, yp, wp = pad_tokens(x, y, n=n_pad)
    ws = jnp.asarray(wp)
    feats = present_features(model, jnp.asarray(xp))
    mu = jnp.sum(ws[:, None] * feats, 0) / n
    sd = jnp.sqrt(jnp.sum(ws[:, None] * (feats - mu) ** 2, 0) / n) + 1e-3
    w0, b0 = _fit_readout(jnp.zeros_like(model.weights), jnp.zeros_like(model.bias),
                          (feats - mu) / sd, jnp.asarray(yp), ws,
                          jnp.float32(config["readout_l2"]), config["readout_steps"])
    return eqx.tree_at(lambda m: (m.feat_mean, m.feat_std, m.weights, m.bias), model,
                       (mu, sd, w0, b0))


def load_folds(config):
    """``(x, y, speakers, folds, n_pad)`` of a run: the steady (F1, F2) of :func:`load_romera`
    (float32, Hz), labels, speaker ids, the speaker-independent folds of ``config`` (``n_folds``,
    ``seed``) and the largest training set (the padded size that gives every fold one compiled
    step)."""
    data = load_romera()
    folds = speaker_folds(data.speakers, n_folds=config["n_folds"], seed=config["seed"])
    return (data.features.astype(np.float32), data.labels, np.asarray(data.speakers), folds,
            max(len(tr) for tr, _ in folds))


def formant_scale_spread(formants_hz, labels, speakers) -> float:
    """How much the speakers' formant scale varies: the standard deviation over speakers of
    their mean log-formant offset from the vowel means (log of F1 and F2 averaged). A common
    factor on all formants is what a different vocal-tract length does; about 0.03-0.045 on the
    training speakers of the romera2018 folds."""
    lx = np.log(np.asarray(formants_hz, float))
    labels, speakers = np.asarray(labels), np.asarray(speakers)
    means = {c: lx[labels == c].mean(0) for c in np.unique(labels)}
    off = (lx - np.stack([means[c] for c in labels])).mean(1)
    return float(np.std([off[speakers == k].mean() for k in np.unique(speakers)]))


def train_gradient(model, x, y, config, train_coupling=True, progress=None, n_pad=None,
                   vtl_sigma=0.0, checkpoint=None):
    """End-to-end training through the physics.

    1. Present the training tokens, standardise the 16 observables, and fit the softmax readout
       on them (:func:`fit_readout`): the readout starts where a linear classifier on the
       untrained device's observables would end.
    2. Train the currents, the coupling matrix (unless ``train_coupling=False``: then its
       gradient is masked, so that both variants share one compiled step), the input map (scale,
       offset, tone amplitudes) and the readout together, by Adam on the cross-entropy with
       gradients through the diffrax solve (``grad_steps`` steps, fresh thermal noise at each
       when ``temperature_k > 0``). With ``vtl_sigma`` > 0 each step sees the training formants
       of every token scaled by a fresh factor exp(vtl_sigma z) (:func:`formant_scale_spread`).

    ``n_pad`` pads the training tokens (with weight 0) to a fixed count, so that folds of
    different sizes share one compiled step.

    With ``checkpoint`` (a file path) the model, the optimiser state and the history are written
    there atomically every ``GRAD_CHECKPOINT_EVERY`` steps, at the end, and when the training is
    interrupted (Ctrl-C or SIGTERM: :func:`physnn.train.train_loop`), and a training started
    with that file present resumes from it: interrupted and resumed, it returns exactly what an
    uninterrupted training returns (same arguments; every step's randomness depends only on the
    seed and the step number). A process killed outright (SIGKILL) redoes at most the steps
    since the last periodic checkpoint.
    """
    xp, yp, wp = pad_tokens(x, y, n=n_pad)
    xs, ys, ws = jnp.asarray(xp), jnp.asarray(yp), jnp.asarray(wp)
    l2 = jnp.float32(config["readout_l2"])
    opt = _optimizer(config["grad_lr"], config["grad_lr_current"], config["grad_lr_coupling"],
                     config["grad_steps"])
    mask = jnp.float32(1.0 if train_coupling else 0.0)
    sigma = jnp.float32(_check_vtl_sigma(vtl_sigma))
    if checkpoint is None or not Path(checkpoint).exists():
        model = fit_readout(model, x, y, config, n_pad=n_pad)
    # else the fitted model is in the checkpoint, and this one only gives its structure
    params, static = eqx.partition(model, _trainable(model))
    fixed, rest = eqx.partition(static, eqx.is_array)  # fitted but not trained: feature scaling
    base = jax.random.key(config["seed"])

    def step(i, state):
        p, opt_state, fx = state
        new = _grad_step(p, eqx.combine(fx, rest), opt_state, xs, ys, ws, mask, l2,
                         jax.random.fold_in(base, i), opt, sigma)
        return (new[0], new[1], fx), {"loss": new[2], "accuracy": new[3]}

    (params, _, fixed), history = pn.train.train_loop(
        step, (params, opt.init(params), fixed), config["grad_steps"], checkpoint=checkpoint,
        every=GRAD_CHECKPOINT_EVERY, owner="romera2018 train_gradient", progress=progress)
    return (eqx.combine(params, fixed, rest),
            {"loss": history.get("loss", []), "accuracy": history.get("accuracy", [])})


# ----------------------------------------------------------------------------------- digital


def qda_fit_predict(xtr, ytr, xte, reg=1e-3):
    """Quadratic discriminant analysis (Gaussian class models, equal priors)."""
    mu, sd = xtr.mean(0), xtr.std(0)
    a, b = (xtr - mu) / sd, (xte - mu) / sd
    scores = []
    for c in range(7):
        xc = a[ytr == c]
        m = xc.mean(0)
        cov = np.cov(xc.T) + reg * np.eye(xtr.shape[1])
        inv = np.linalg.inv(cov)
        d = b - m
        scores.append(-0.5 * np.einsum("ni,ij,nj->n", d, inv, d) - 0.5 * np.log(np.linalg.det(cov)))
    return np.argmax(np.stack(scores, 1), 1)


_MLP_OPT = optax.adamw(3e-3, weight_decay=1e-3)


@eqx.filter_jit
def _mlp_step(net, state, a, yt):
    def loss(n):
        return optax.softmax_cross_entropy_with_integer_labels(jax.vmap(n)(a), yt).mean()

    g = eqx.filter_grad(loss)(net)
    u, state = _MLP_OPT.update(g, state, eqx.filter(net, eqx.is_array))
    return eqx.apply_updates(net, u), state


def mlp_fit_predict(xtr, ytr, xte, steps, seed):
    """A small MLP (d-32-32-7, tanh, weight decay) on the standardised formants (d = 2 for (F1, F2)),
    full-batch Adam."""
    mu, sd = xtr.mean(0), xtr.std(0)
    a, b = jnp.asarray((xtr - mu) / sd), jnp.asarray((xte - mu) / sd)
    net = eqx.nn.MLP(xtr.shape[1], 7, 32, 2, activation=jnp.tanh, key=jax.random.key(seed))
    state = _MLP_OPT.init(eqx.filter(net, eqx.is_array))
    yt = jnp.asarray(ytr)
    for _ in range(steps):
        net, state = _mlp_step(net, state, a, yt)
    return np.asarray(jnp.argmax(jax.vmap(net)(b), -1))


# ----------------------------------------------------------------------------------- protocol


def run(config, out_dir) -> dict:
    out_dir = Path(out_dir)
    data = load_romera()
    x, y = data.features.astype(np.float32), data.labels
    folds = speaker_folds(data.speakers, n_folds=config["n_folds"], seed=config["seed"])
    acc = {k: {"train": [], "test": []} for k in
           ("a", "b", "a_uncoupled", "b_uncoupled", "qda", "mlp")}
    confusion = np.zeros((7, 7), int)
    curves = {"a": [], "b": []}
    total = len(folds) * 2 * (config["rule_iters"] + config["grad_steps"])
    bar = tqdm(total=total, desc="romera2018: training", leave=False)
    models = {}
    n_pad = max(len(tr) for tr, _ in folds)  # one shape for every fold: one compile
    spk = np.asarray(data.speakers)

    def spread(idx):  # the speakers' formant-scale spread, from the training speakers only
        return formant_scale_spread(x[idx], y[idx], spk[idx])

    ckpt = RunCheckpoints(out_dir / CHECKPOINT_DIR, config, x, y, spk, folds)
    vtl_sigmas = []
    for f, (tr, te) in enumerate(folds):
        s_tr = spread(tr)  # (b)'s augmentation and (a)'s copies share it
        vtl_sigmas.append(s_tr if config["vtl_augment"] else 0.0)
        sigma_a = s_tr if config.get("rule_augment", False) else 0.0
        start = None
        for coupled in (True, False):
            tag = "" if coupled else "_uncoupled"
            c = config["coupling"] if coupled else 0.0
            unit = f"fold{f}{tag}"
            m0 = initial_model(x[tr], config, "pattern", coupling=c)
            mb0 = initial_model(x[tr], config, "linear", coupling=c)
            done = ckpt.load(unit, (m0, mb0))
            if done is not None:  # this fold and variant finished before an interruption
                (ma, mb), rec = done
                hist_a, hist_b = rec["hist_a"], rec["hist_b"]
                bar.update(config["rule_iters"] + config["grad_steps"])
            else:
                if start is None and config.get("rule_window_init", False):
                    # the rule's window start (and input map), fitted once for both rules of the fold
                    start = window_start(x[tr], y[tr], config)
                if start is not None and config.get("rule_window_fit_map", False):
                    m0 = with_input_map(m0, start[1], start[2])
                ma, hist_a = train_pattern_rule(m0, x[tr], y[tr], config, progress=bar, n_pad=n_pad,
                                                vtl_sigma=sigma_a,
                                                init_layouts=None if start is None else start[0],
                                                checkpoint=ckpt.path(unit + "_a_progress"))
                mb, hist_b = train_gradient(mb0, x[tr], y[tr], config, train_coupling=coupled,
                                            progress=bar, n_pad=n_pad, vtl_sigma=vtl_sigmas[-1],
                                            checkpoint=ckpt.path(unit + "_b_progress"))
                preds = {name: predict_formants(m, x)  # every token in one solve, one shape for all
                         for name, m in (("a", ma), ("b", mb))}
                rec = {"hist_a": hist_a, "hist_b": hist_b,
                       "preds": {k: np.asarray(v).tolist() for k, v in preds.items()}}
                ckpt.save(unit, (ma, mb), rec)
            for name in ("a", "b"):
                pred = np.asarray(rec["preds"][name])
                pred_tr, pred_te = pred[tr], pred[te]
                acc[name + tag]["train"].append(float(np.mean(pred_tr == y[tr])))
                acc[name + tag]["test"].append(float(np.mean(pred_te == y[te])))
                if coupled and name == "b":
                    np.add.at(confusion, (y[te], pred_te), 1)
            if coupled:
                curves["a"].append(hist_a)
                curves["b"].append(hist_b)
                models[f] = (ma, mb)
        for name, fn in (("qda", lambda a, b, c: qda_fit_predict(a, b, c)),
                         ("mlp", lambda a, b, c: mlp_fit_predict(a, b, c, config["mlp_steps"],
                                                                  config["seed"]))):
            pred = fn(x[tr], y[tr], np.concatenate([x[tr], x[te]]))  # one fit, both sides
            acc[name]["train"].append(float(np.mean(pred[:len(tr)] == y[tr])))
            acc[name]["test"].append(float(np.mean(pred[len(tr):] == y[te])))
    bar.close()

    ma, mb = models[0]
    energy_nj = float(ma.sto.power(0.0, ma.sto.init_state(), None)) * config["t1_ns"]  # W*ns=nJ
    metrics = {}
    for k, v in acc.items():
        metrics[f"train_accuracy_{k}"] = float(np.mean(v["train"]))
        metrics[f"test_accuracy_{k}"] = float(np.mean(v["test"]))
        metrics[f"test_accuracy_{k}_std"] = float(np.std(v["test"]))
    ceiling = max(metrics["test_accuracy_qda"], metrics["test_accuracy_mlp"])
    metrics["digital_ceiling"] = ceiling
    metrics["b_minus_ceiling_points"] = 100 * (metrics["test_accuracy_b"] - ceiling)
    metrics["energy_per_classification_nj"] = energy_nj
    metrics["latency_ns"] = float(config["t1_ns"])
    metrics["vtl_sigma_mean"] = float(np.mean(vtl_sigmas))

    _figures(out_dir, x, y, data, ma, mb, confusion, curves, config)
    if config["final_model"]:
        final, _ = train_gradient(initial_model(x, config, "linear"), x, y, config,
                                  vtl_sigma=spread(np.arange(len(y))) if config["vtl_augment"] else 0.0,
                                  checkpoint=ckpt.path("final_b_progress"))
    else:
        final = mb
    save_model(final, out_dir, config)
    notes = [
        "speaker-independent %d-fold CV on %d women x 7 vowels (%d tokens); the paper's split "
        "may differ" % (len(folds), data.n_speakers, len(y)),
        "vowel set and speaker selection reconstructed (physnn.tasks.vowels docstring)",
        "simulated devices; energy = DC power of the four junctions x presentation time",
    ]
    if ckpt.resumed:
        notes.append("resumed from the checkpoints of an interrupted run (%s); wall_s counts only "
                     "this part" % ", ".join(ckpt.resumed))
    return {"metrics": metrics, "reference": {**PAPER, "test_accuracy_b": 0.90},
            "per_fold": acc, "confusion_test_b": confusion.tolist(), "notes": notes,
            "vowels": list(data.vowels), "resumed": ckpt.resumed}


#: ``physnn run`` calls it once ``results.json`` is written: a new run in the folder starts afresh.
finished = pn.checkpoint.remove_run_checkpoints


# ----------------------------------------------------------------------------------- checkpoints

CHECKPOINT_DIR = pn.checkpoint.RUN_CHECKPOINTS


class RunCheckpoints:
    """The checkpoints of one ``run`` in a folder (``out_dir/checkpoints``), so that an interrupted
    run resumes where it stopped and ends with exactly what an uninterrupted run gives.

    - Each fold and variant (coupled or not), once both readouts are trained and have classified
      every token, is one file ``fold{f}[_uncoupled].eqx``: the two models, their training
      histories and their predictions.
    - While a fold is training, the rule writes its state after every iteration
      (``..._a_progress.eqx``) and the gradient training every ``GRAD_CHECKPOINT_EVERY`` steps and
      when interrupted (``..._b_progress.eqx``; ``final_b_progress.eqx`` for the model trained on
      every speaker).

    The folder is tied to its set-up: ``setup.json`` holds the config and a digest of the tokens,
    labels, speakers and folds, and a run with another set-up in that folder is an error that
    says what differs. ``physnn run`` removes the folder once ``results.json`` is written
    (:func:`finished`)."""

    def __init__(self, directory, config, x, y, speakers, folds):
        h = hashlib.sha256()
        for a in (x, y, speakers, *(i for fold in folds for i in fold)):
            h.update(np.ascontiguousarray(a).tobytes())
        self.dir = pn.checkpoint.bind_checkpoint_dir(directory, {"config": config, "data": h.hexdigest()},
                                                "romera2018")
        self.resumed = []

    def path(self, name) -> Path:
        return self.dir / f"{name}.eqx"

    def load(self, name, like):
        """``(tree, record)`` of a finished unit, or None if it has not finished."""
        p = self.path(name)
        if not p.exists():
            return None
        tree, header = pn.checkpoint.load_checkpoint(p, like)
        if "romera2018_unit" not in header:
            raise pn.checkpoint.CheckpointError(f"romera2018: {p} is not a checkpoint of a finished fold")
        self.resumed.append(name)
        return tree, header["romera2018_unit"]

    def save(self, name, tree, record):
        pn.checkpoint.save_checkpoint(self.path(name), tree, header_extra={"romera2018_unit": record})
        for part in ("_a_progress", "_b_progress"):  # superseded by the finished unit
            self.path(name + part).unlink(missing_ok=True)


# ----------------------------------------------------------------------------------- model I/O


def save_model(model: VowelNetwork, out_dir, config) -> Path:
    header = {"mode": model.mode, "config": {k: config[k] for k in
                                             ("t1_ns", "dt_ns", "rf_amp_ma", "coupling",
                                              "temperature_k", "taper", "lock_slip_cycles",
                                              "glide", "feature_windows", "lock_phase")
                                             if k in config}}
    return pn.checkpoint.save_checkpoint(Path(out_dir) / "model.eqx", model, header_extra=header)


def load_model(out_dir) -> VowelNetwork:
    """Load the model a run saved in ``out_dir`` (``model.eqx``)."""
    path = Path(out_dir) / "model.eqx"
    if not path.exists():
        raise FileNotFoundError(f"romera2018: no saved model at {path}; run "
                                "`physnn run romera2018 --out DIR` first")
    with open(path, "rb") as fh:
        try:
            header = json.loads(fh.readline())
        except ValueError as e:
            raise pn.checkpoint.CheckpointError(f"romera2018: {path} has no readable header: {e}") from e
    cfg = {**FULL, **header["config"]}
    like = initial_model(np.array([[300.0, 1000.0], [900.0, 3000.0]]), cfg, header["mode"])
    model, _ = pn.checkpoint.load_checkpoint(path, like)
    return model


def predict(model: VowelNetwork, f1_hz, f2_hz) -> np.ndarray:
    """Classify formant measurements (Hz); returns vowel codes (e.g. 'iy')."""
    f1, f2 = check_formants(f1_hz, f2_hz)
    x = np.stack([np.atleast_1d(f1), np.atleast_1d(f2)], -1).astype(np.float32)
    labels = predict_formants(model, x)
    from physnn.tasks import ROMERA_VOWELS

    return np.asarray(ROMERA_VOWELS)[labels]


# ----------------------------------------------------------------------------------- figures


def _figures(out_dir, x, y, data, ma, mb, confusion, curves, config):
    n = config["map_points"]
    f1 = np.linspace(x[:, 0].min() * 0.9, x[:, 0].max() * 1.05, n)
    f2 = np.linspace(x[:, 1].min() * 0.9, x[:, 1].max() * 1.05, n)
    g1, g2 = np.meshgrid(f1, f2, indexing="ij")
    grid = np.stack([g1.ravel(), g2.ravel()], -1).astype(np.float32)
    patterns = present_patterns(ma, jnp.asarray(pad_tokens(grid)[0]))
    patterns = np.asarray(patterns)[: len(grid)]
    regions_b = predict_formants(mb, grid).reshape(n, n)
    tones = ma.tones(jnp.asarray(x))
    fa, fb = np.asarray(tones.freqs[:, 0]) * 1e3, np.asarray(tones.freqs[:, 1]) * 1e3
    ga = np.asarray(ma.tones(jnp.asarray(grid)).freqs) * 1e3
    colors = plt.get_cmap("tab10")

    fig, ax = plt.subplots(figsize=(6, 5), constrained_layout=True)
    _, inv = np.unique(np.asarray(patterns), return_inverse=True)
    ax.pcolormesh(ga[:, 0].reshape(n, n), ga[:, 1].reshape(n, n), inv.reshape(n, n),
                  cmap="Pastel1", shading="auto")
    for c in range(7):
        s = y == c
        ax.scatter(fa[s], fb[s], s=10, color=colors(c), label=data.vowels[c], edgecolor="k", lw=0.3)
    for fj in np.asarray(ma.sto.free_running_frequency_ghz()) * 1e3:
        ax.axvline(fj, color="gray", lw=0.5)
        ax.axhline(fj, color="gray", lw=0.5)
    ax.set_xlabel("tone A frequency fA (MHz)  [F1]")
    ax.set_ylabel("tone B frequency fB (MHz)  [F2]")
    ax.set_title("Synchronisation map (a), fold 0; lines: oscillator frequencies")
    ax.legend(fontsize=7, ncol=2)
    fig.savefig(out_dir / "sync_map.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 5), constrained_layout=True)
    ax.pcolormesh(g1, g2, regions_b, cmap="tab10", vmin=-0.5, vmax=9.5, alpha=0.35, shading="auto")
    for c in range(7):
        s = y == c
        ax.scatter(x[s, 0], x[s, 1], s=10, color=colors(c), label=data.vowels[c], edgecolor="k",
                   lw=0.3)
    ax.set_xlabel("F1 (Hz)")
    ax.set_ylabel("F2 (Hz)")
    ax.set_title("Decision regions of the trained network (b), fold 0")
    ax.legend(fontsize=7, ncol=2)
    fig.savefig(out_dir / "decision_regions.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(4.8, 4.2), constrained_layout=True)
    ax.imshow(confusion, cmap="Blues")
    for i in range(7):
        for j in range(7):
            ax.text(j, i, confusion[i, j], ha="center", va="center", fontsize=8)
    ax.set_xticks(range(7), data.vowels)
    ax.set_yticks(range(7), data.vowels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion (b), test tokens of all folds")
    fig.savefig(out_dir / "confusion.png", dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), constrained_layout=True)
    for h in curves["a"]:
        axes[0].plot(h, "o-", ms=3)
    axes[0].set_xlabel("rule iteration")
    axes[0].set_ylabel("training recognition")
    axes[0].set_title("(a) current tuning, per fold")
    for h in curves["b"]:
        axes[1].plot(h["accuracy"])
    axes[1].set_xlabel("gradient step")
    axes[1].set_ylabel("training recognition")
    axes[1].set_title("(b) end-to-end gradient training, per fold")
    fig.savefig(out_dir / "training_curves.png", dpi=110)
    plt.close(fig)
