"""Ideal locking windows: the starting layout of readout (a)'s current rule.

An oscillator j locks a tone at normalised frequency u when ``|u - c_j| <= w``; four such
windows and a pattern table are fitted to the training tokens by random-restart local search,
and the centres become the oscillators' free-running frequencies. The device cannot change the
width of its windows (``rule_window_halfwidth``, measured by ``probes/window_bound.py widths``),
only where they sit.
"""

from __future__ import annotations

import numpy as np

from .model import BAND_GHZ, N_CLASSES, N_OSC, NONE


def window_patterns(u, centres, width):
    """Patterns of *ideal* locking windows: oscillator j locks a tone at normalised frequency u
    when ``|u - centres[j]| <= width`` (the nearest centre wins where windows overlap), the same
    four windows for both tones. ``u`` (n, 2) -> pattern indices (n,) as ``sync_pattern``."""
    d = np.abs(u[:, :, None] - centres[None, None, :])  # (n, 2 tones, 4 oscillators)
    inside = d <= width
    j = np.where(inside.any(-1), np.argmin(np.where(inside, d, np.inf), -1), NONE)
    return j[:, 0] * (N_OSC + 1) + j[:, 1]


def table_accuracy(patterns, labels) -> float:
    """Training recognition of the majority-vote pattern table: the fraction of tokens whose
    vowel is their pattern's most frequent one."""
    counts = np.zeros((25, N_CLASSES))
    np.add.at(counts, (patterns, labels), 1)
    return counts.max(1).sum() / len(labels)


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
            acc = table_accuracy(window_patterns(ss * z + 0.5 + oo, cc, ww), y)
            if acc >= best[0]:
                best = (acc, (cc, ww, ss, oo))
                c, w, s, o = cc, ww, ss, oo
    return best[1]


def window_layout(x, y, config):
    """Free-running frequencies (GHz, (1, 4)) that put the four oscillators at the centres of
    ideal locking windows fitted to the training tokens ``x`` (n, 2) Hz, ``y``, with the
    half-width held at the device's own, ``config.rule_window_halfwidth`` (in units of the band).
    A starting layout for the current rule. The centres are kept
    ``config.rule_window_min_separation`` apart (:func:`fit_window_map`), and with
    ``config.rule_window_fit_map`` the input map is fitted with the windows and the layout
    belongs to that map (:func:`window_start`)."""
    return window_start(x, y, config)[0]


def window_start(x, y, config):
    """``(layout, scale, offset)``: the starting layout of :func:`window_layout` and the input
    map it was fitted with (``VowelNetwork.enc_scale`` and ``enc_offset``, (2,) each). The map is
    the fixed min-max one (scale 1, offset 0) unless ``config.rule_window_fit_map`` fits it with
    the windows (``fit_window_map(free_map=True)``, 300 restarts): keeping the centres apart costs
    ideal windows about 2 points on held-out training speakers, and a fitted map wins them back
    (``probes/window_init_probe.py``, ``winit_sep_map``)."""
    fit_map = config.rule_window_fit_map
    if not isinstance(fit_map, (bool, np.bool_)):
        raise ValueError(f"romera2018: rule_window_fit_map = {fit_map!r}; expected True or False")
    width = float(config.rule_window_halfwidth)
    if not 0 < width < 0.5:
        raise ValueError(f"romera2018: rule_window_halfwidth = {width!r}; expected a half-width in "
                         "units of the band, between 0 and 0.5 (e.g. 0.135)")
    rng = np.random.default_rng(config.seed)
    sep = float(config.rule_window_min_separation)
    if not 0 <= sep < 1 / 3:
        raise ValueError(f"romera2018: rule_window_min_separation = {sep!r}; expected a distance in "
                         "units of the band, at least 0 and below 1/3 (e.g. 0.2)")
    centres, _, scale, offset = fit_window_map(np.asarray(x, float), np.asarray(y), rng,
                                               free_map=bool(fit_map), restarts=300 if fit_map else 150,
                                               width=width, min_separation=sep)
    lo, hi = BAND_GHZ
    return (lo + np.clip(centres, -0.1, 1.1) * (hi - lo))[None, :], scale, offset
