"""Presenting tokens to the network and measuring it: one batched solve of the four oscillators
under the two tones, then the synchronisation pattern of readout (a) and the observables of
readout (b), both over the second half of the presentation (250 ns in the full run)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import physnn as pn
from physnn.devices.spintronic import lock_state, locking_phasor, window_average

from .data import pad_tokens
from .model import BAND_GHZ, N_CLASSES, N_OSC, NONE, VowelNetwork


def _concrete(x):
    """``x`` as a NumPy array, or None inside a trace (where its value is unknown)."""
    return None if isinstance(x, jax.core.Tracer) else np.asarray(x)


def solve(model: VowelNetwork, formants_hz, key, sto):
    """One batched solve of the tokens: ``(trajectory, saved times, device, tones)``. Thermal
    noise (drawn from ``key``, default a fixed key) only when ``model.noisy``: the solve is then
    an SDE (Heun), else an ODE (Tsit5), also inside a compiled step, where the temperature is
    traced and cannot be seen to be zero. ``sto`` replaces the model's device (e.g. a chip)."""
    sto = model.sto if sto is None else sto
    temp = _concrete(sto.temperature_k)
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
    docs/experiments/romera2018-notes.md). Compiled: the same patterns as op-by-op, at about 3/4
    of the cost."""
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
    traj, ts, sto, tones = solve(model, formants_hz, key, sto)
    return _features(model, traj, ts, sto, tones), _pattern(model, traj, sto, tones)


def present_features(model: VowelNetwork, formants_hz, key=None, sto=None):
    """Only the features of :func:`present` (the same values), without the patterns of (a)."""
    traj, ts, sto, tones = solve(model, formants_hz, key, sto)
    return _features(model, traj, ts, sto, tones)


def present_patterns(model: VowelNetwork, formants_hz, key=None, sto=None):
    """Only the synchronisation patterns of :func:`present` (the same values), without the
    features of readout (b): what the current rule of (a) measures, at about 2/3 of the cost."""
    traj, _, sto, tones = solve(model, formants_hz, key, sto)
    return _pattern(model, traj, sto, tones)


def sync_pattern(locked, order):
    """Pattern index jA * 5 + jB: the oscillator locked to tone A (B), the most coherent one if
    several are, or 4 if none."""
    score = jnp.where(locked, order, -1.0)
    j = jnp.argmax(score, axis=-2)  # (..., 2)
    j = jnp.where(jnp.any(locked, axis=-2), j, NONE)
    return j[..., 0] * (N_OSC + 1) + j[..., 1]


def logits(model: VowelNetwork, feats):
    """Readout (b): standardised observables times the softmax readout's weights, plus bias."""
    z = (feats - model.feat_mean) / model.feat_std
    return z @ model.weights + model.bias


def pattern_table(patterns, labels, n_classes=N_CLASSES):
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
