"""The readout of the associative memory: the recalled pattern from the final phases, the
settling time, energy per recall, and the scores against the stored letters."""

from __future__ import annotations

import jax
import numpy as np

from physnn.devices.mott import phase_from_spikes
from physnn.phases import final_phases

from .network import simulate_recall
from .patterns import binary_sign


def read_patterns(ts, v_plus, cues, config) -> np.ndarray:
    """Binary pattern from the final phases of the + cells relative to cell 0+ (over the last
    ``window_ns``); global sign by agreement with the cue. v_plus (n_t, B, N). NaN rows: a cell
    was silent."""
    late = ts >= ts[-1] - config.window_ns
    ph = final_phases(ts[late], np.asarray(v_plus)[late])
    r = binary_sign(np.cos(ph - ph[:, :1]))
    r = r * binary_sign(np.sum(r * cues, axis=1, keepdims=True))
    return np.where(np.isnan(ph).any(1, keepdims=True), np.nan, r)


def settling_times(ts, v_plus, recalled) -> np.ndarray:
    """Latency of each recall (ns): the first time after which the binarised phase pattern
    relative to cell 0+ (phases from the threshold crossings over the whole run) always equals
    the final readout. NaN for a failed (silent) readout."""
    v = np.asarray(v_plus)
    late = ts > ts[-1] / 2
    thr = 0.5 * (v[late].max(0) + v[late].min(0))
    out = np.full(v.shape[1], np.nan)
    for b in range(v.shape[1]):
        if np.isnan(recalled[b]).any():
            continue
        ph = np.stack([phase_from_spikes(ts, v[:, b, j], thr[b, j]) for j in range(v.shape[2])], 1)
        ok = np.nonzero(~np.isnan(ph).any(1))[0]
        rel = binary_sign(np.cos(ph[ok] - ph[ok, :1]))
        wrong = np.nonzero(np.any(rel != recalled[b] * recalled[b, 0], axis=1))[0]
        out[b] = ts[ok[0]] if wrong.size == 0 else ts[ok[min(wrong[-1] + 1, ok.size - 1)]]
    return out


def evaluate(w, cues, design, cycle, config, keep=()):
    """Recall every cue, in batches of ``config.batch`` (padded, so that one compiled solve
    serves every call). Returns the recalled patterns (B, N), latencies (ns), energies to the
    latency and to t1 (J), mean power (W), and the + cell voltages of samples ``keep``."""
    out = [evaluate_batch(w, cues[k:k + config.batch], design, cycle, config)
           for k in range(0, len(cues), config.batch)]
    res = {key: np.concatenate([o[key] for o in out]) for key in out[0] if key != "traces"}
    res["ts"] = out[0]["ts"]
    res["traces"] = np.concatenate([o["traces"] for o in out], axis=1)[:, list(keep)]
    return res


def evaluate_batch(w, cues, design, cycle, config):
    n, real = cues.shape[1], len(cues)
    cues = np.concatenate([cues, np.repeat(cues[-1:], config.batch - real, 0)])
    ts = np.arange(0.0, config.t1_ns + 1e-6, config.save_ns)
    net, tr = simulate_recall(w, cues, design, cycle, config, ts)
    v = np.asarray(tr.obs["voltage"][..., :n])[:, :real]
    rec = read_patterns(ts, v, cues[:real], config)
    lat = settling_times(ts, v, rec)
    p = np.asarray(jax.lax.map(lambda y: net.power(0.0, y, None), tr.ys))[:, :real]  # W
    energy = np.concatenate([np.zeros((1, real)),
                             np.cumsum(0.5 * (p[1:] + p[:-1]) * np.diff(ts)[:, None] * 1e-9, 0)])
    e_lat = np.array([np.interp(t, ts, energy[:, b]) if np.isfinite(t) else np.nan
                      for b, t in enumerate(lat)])
    return {"recalled": rec, "latency_ns": lat, "energy_latency_j": e_lat,
            "energy_t1_j": energy[-1], "mean_power_w": p.mean(0), "ts": ts, "traces": v}


def scores(recalled, patterns, idx) -> tuple[np.ndarray, np.ndarray]:
    """Exact recall (bool) and overlap m per cue; a silent readout counts as failed, overlap 0."""
    target = patterns[idx]
    exact = np.all(recalled == target, axis=1)
    overlap = np.nan_to_num(np.mean(recalled * target, axis=1), nan=0.0)
    return exact, overlap


def by_level(values, flips, levels) -> list[float]:
    return [float(np.mean(values[flips == k])) for k in levels]
