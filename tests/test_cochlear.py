"""Lyon's passive cochlear model (physnn.tasks.cochlear) and its FSDD hook-up.

References checked: (1) the compiled kernels of the PyPI package ``lyon`` against the worked
examples Slaney printed in the headers of AuditoryToolbox's agc.c and sosfilters.c; (2) the whole
model against an independent NumPy/SciPy implementation written from the equations of
LyonPassiveEar.m (module docstring); (3) the filter design against the constants of Slaney's
Apple TR #13 / DesignLyonFilters.m; (4) the physics: a tone excites its place, silence gives
zero, rectified outputs are non-negative, the AGC compresses.
"""

import numpy as np
import pytest
from scipy.signal import lfilter

from physnn.tasks import fsdd as fsdd_module
from physnn.tasks.cochlear import (
    _agc_params,
    _calc,
    _decimation_filter,
    lyon_channel_frequencies,
    lyon_cochleagram,
    lyon_decimation,
)
from physnn.tasks.fsdd import FSDDData, fixed_frames, fsdd_features, fsdd_frames, load_fsdd

SR = 8000
EB = 1000.0  # Hz, the corner of Lyon's bandwidth law B(f) = sqrt(f^2 + Eb^2) / ear_q


def _bandwidth(f, ear_q=8.0):
    return np.sqrt(np.asarray(f) ** 2 + EB**2) / ear_q


def _filters(sr=SR, ear_q=8.0, step=0.25):
    from lyon.utils import design_lyon_filters

    return design_lyon_filters(sr, ear_q, step)


def _tone(f, amplitude=0.1, seconds=0.4, sr=SR):
    return amplitude * np.sin(2 * np.pi * f * np.arange(int(seconds * sr)) / sr)


def _speech(n=1600):
    return np.asarray(load_fsdd().waves[0][:n], dtype=np.float64)


def test_kernels_reproduce_slaneys_worked_examples():
    """The wheel's compiled liblyon.so against the outputs Slaney printed in the headers of
    AuditoryToolbox's agc.c (``agc(ones(1,20), [.5; .5])``, 4 decimals) and sosfilters.c (two
    one-pole filters 0.9^n and 0.8^n); these headers are carried into the package's c_src/."""
    calc = _calc()
    out, _ = calc.agc(np.ones((20, 1)), np.array([[0.5, 0.5]]))
    slaney = [1.0000, 0.1000, 0.4500, 0.2750, 0.3625, 0.3187, 0.3406, 0.3297, 0.3352, 0.3324,
              0.3338, 0.3331, 0.3334, 0.3333, 0.3334, 0.3333, 0.3333, 0.3333, 0.3333, 0.3333]
    np.testing.assert_allclose(out[:, 0], slaney, atol=6e-5)
    coeffs = np.ascontiguousarray(np.array([[1, 0, 0, -0.9, 0], [1, 0, 0, -0.8, 0]], float).T)
    out, _ = calc.sosfilters(np.array([[1.0], [0], [0], [0], [0], [0]]), coeffs)
    np.testing.assert_allclose(out, np.stack([0.9 ** np.arange(6), 0.8 ** np.arange(6)], 1), rtol=1e-12)


@pytest.mark.parametrize("decimation, agc, differ", [(80, True, True), (1, True, True), (7, False, True),
                                                      (33, True, False)])
def test_whole_wave_path_equals_the_package_loop(decimation, agc, differ):
    """lyon_cochleagram runs each kernel once over the whole wave; the package's
    LyonCalc.lyon_passive_ear (the reference port of LyonPassiveEar.m) runs them window by
    window. Same recursions on the same numbers in the same order: equal bit for bit."""
    x = _speech()
    ref = _calc().lyon_passive_ear(x, SR, decimation, agc=agc, differ=differ)
    got = lyon_cochleagram(x, SR, decimation=decimation, agc=agc, differ=differ)
    np.testing.assert_array_equal(got, ref.astype(np.float32))


def _reference_model(x, sr, df, filters, *, agc=True, differ=True, tau_factor=3.0):
    """LyonPassiveEar.m written out from its equations with SciPy and NumPy only (no lyon
    kernel): the cascade tap by tap, rectification, the toolbox's zeroing of the two front taps
    at every window start, the coupled four-stage AGC, the channel difference, and the unit-DC
    two-pole decimation low-pass."""
    n = x.size // df * df
    taps, y = [], x[:n]
    for a0, a1, a2, b1, b2 in filters.T:
        y = lfilter([a0, a1, a2], [1.0, b1, b2], y)
        taps.append(y)
    u = np.maximum(np.stack(taps, 1), 0.0)
    u[::df, :2] = 0.0
    if agc:
        for target, tau in zip((0.0032, 0.0016, 0.0008, 0.0004), (0.64, 0.16, 0.04, 0.01), strict=True):
            eps = 1.0 - np.exp(-1.0 / (tau * sr))
            s = np.zeros(u.shape[1])
            for t in range(n):
                u[t] = np.abs(u[t] * (1.0 - s))
                # neighbours of the previous state; the edge channels count themselves twice
                left, right = np.r_[s[0], s[:-1]], np.r_[s[1:], s[-1]]
                s = np.minimum(0.9, u[t] * eps / target + (1.0 - eps) / 3.0 * (left + s + right))
    if differ:
        u[:, 1:] = np.maximum(u[:, :-1] - u[:, 1:], 0.0)
    if df > 1:
        tau_d = tau_factor * df / sr  # s
        e = 1.0 - np.exp(-1.0 / (tau_d * sr))
        u = lfilter([0.0, 0.0, e**2], [1.0, -2 * (1 - e), (1 - e) ** 2], u, axis=0)  # DC gain 1
    return u[df - 1 :: df, 2:]


@pytest.mark.parametrize("decimation, agc", [(80, True), (20, False)])
def test_matches_an_independent_numpy_model(decimation, agc):
    x = _speech()
    filters, _ = _filters()
    ref = _reference_model(x, SR, decimation, filters, agc=agc)
    got = lyon_cochleagram(x, SR, decimation=decimation, agc=agc)
    assert got.shape == ref.shape == (x.size // decimation, 64)
    np.testing.assert_allclose(got, ref, rtol=2e-6, atol=1e-12 * ref.max())
    # and the private pieces the fast path feeds the kernels
    e = 1.0 - np.exp(-1.0 / (3.0 * decimation))
    np.testing.assert_allclose(_decimation_filter(SR, decimation, 3.0)[:, 0],
                               [0, 0, e**2, -2 * (1 - e), (1 - e) ** 2], rtol=1e-9)
    np.testing.assert_allclose(_agc_params(SR)[:, 1], 1 - np.exp(-1 / (np.array([.64, .16, .04, .01]) * SR)))


@pytest.mark.parametrize("sr, ear_q, step, n_channels", [(8000, 8.0, 0.25, 64), (16000, 8.0, 0.25, 86),
                                                          (8000, 4.0, 0.125, None)])
def test_filter_design_follows_lyons_tr13(sr, ear_q, step, n_channels):
    """DesignLyonFilters' constants: channels ``step`` bandwidths apart (asinh spacing from
    f_top = sr/2 - step B/2), down to the last stage whose pole Q = f/B is still >= 1/2; stage
    poles at f_k with Q = f_k/B(f_k); zeros at f_k + 1.5 step B with Q = 5 f_z/B; DC gain
    f_{k-1}/f_k. 86 channels at 16 kHz is the figure of the lyon package's README."""
    filters, cf = _filters(sr, ear_q, step)
    np.testing.assert_array_equal(lyon_channel_frequencies(sr, ear_q=ear_q, step_factor=step), cf)
    if n_channels is not None:
        assert cf.size == n_channels
    top = sr / 2 - 0.5 * step * _bandwidth(sr / 2, ear_q)
    k = np.arange(1, cf.size + 1)
    np.testing.assert_allclose(ear_q * np.arcsinh(cf / EB), ear_q * np.arcsinh(top / EB) - k * step,
                               rtol=1e-12)
    q = cf / _bandwidth(cf, ear_q)
    next_q = (EB * np.sinh(np.arcsinh(cf[-1] / EB) - step / ear_q)) / _bandwidth(cf[-1], ear_q)
    assert q[-1] >= 0.5 > next_q  # the cascade stops where the stage Q falls to 1/2
    a0, a1, a2, b1, b2 = filters[:, 2:]
    bw = _bandwidth(cf, ear_q)
    np.testing.assert_allclose(b2, np.exp(-2 * np.pi * bw / sr), rtol=1e-12)  # r^2, r = exp(-pi f/(Q sr))
    theta = 2 * np.pi * cf / sr * np.sqrt(1 - 1 / (4 * q**2))
    np.testing.assert_allclose(b1, -2 * np.exp(-np.pi * bw / sr) * np.cos(theta), rtol=1e-10)
    fz = cf + 1.5 * step * bw
    qz = 5 * fz / bw
    np.testing.assert_allclose(a2 / a0, np.exp(-2 * np.pi * fz / (qz * sr)), rtol=1e-12)
    np.testing.assert_allclose(a1 / a0, -2 * np.exp(-np.pi * fz / (qz * sr))
                               * np.cos(2 * np.pi * fz / sr * np.sqrt(1 - 1 / (4 * qz**2))), rtol=1e-10)
    dc = (a0 + a1 + a2) / (1 + b1 + b2)
    np.testing.assert_allclose(dc[1:], cf[:-1] / cf[1:], rtol=1e-10)
    np.testing.assert_allclose(dc[0], dc[1], rtol=1e-10)


def test_a_tone_excites_its_place():
    """Place coding: the channel most excited by a steady tone (time average after the onset)
    has its centre frequency within half a filter bandwidth B(f) (two channels) of the tone, for
    tones across the band, with and without AGC; higher tones peak nearer the base (lower
    channel index)."""
    cf = lyon_channel_frequencies(SR)
    for agc in (True, False):
        peaks = []
        for f in (150.0, 400.0, 1000.0, 2000.0, 3000.0, 3500.0):
            response = lyon_cochleagram(_tone(f), SR, agc=agc)[20:].mean(0)
            k = int(np.argmax(response))
            assert abs(cf[k] - f) < 0.5 * _bandwidth(f), (f, agc, cf[k])
            peaks.append(k)
        assert np.all(np.diff(peaks) < 0), peaks


def test_silence_is_zero_and_outputs_are_non_negative():
    """A silent input leaves every linear stage at rest: exact zeros. Rectification, the
    rectified channel difference and the decimation filter (impulse response (n+1)(1-e)^n >= 0)
    keep every output non-negative, with or without AGC."""
    assert not np.any(lyon_cochleagram(np.zeros(800), SR))
    x = _speech(4000)
    for agc in (True, False):
        y = lyon_cochleagram(x, SR, agc=agc)
        assert y.dtype == np.float32 and y.min() >= 0 and y.max() > 0


def test_agc_compresses_within_its_range():
    """Without AGC the model is positively homogeneous (linear filters, rectification): doubling
    the amplitude doubles the output. With AGC, at speech levels (above the targets T_i ~ 1e-3)
    doubling adds less than 20 % (measured: 1.4 % at amplitude 0.1); far below the targets
    (amplitude 1e-4) it is nearly linear again."""
    tone = _tone(1000.0, amplitude=1.0)

    def ratio(amplitude, agc):
        y1 = lyon_cochleagram(amplitude * tone, SR, agc=agc)[20:].astype(np.float64).mean()
        y2 = lyon_cochleagram(2 * amplitude * tone, SR, agc=agc)[20:].astype(np.float64).mean()
        return y2 / y1

    for a in (0.01, 0.1, 0.5):
        np.testing.assert_allclose(ratio(a, False), 2.0, rtol=1e-6)
        assert ratio(a, True) < 1.2, a
    assert ratio(1e-4, True) > 1.5


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(wave=np.zeros((2, 100))), "wave has shape"),
        (dict(wave=np.zeros(79)), "at least decimation=80"),
        (dict(wave=np.array([0.0] * 99 + [np.nan])), "finite"),
        (dict(wave=np.array(["a"] * 100)), "dtype"),
        (dict(sr=0), "sr=0"),
        (dict(sr=8000.0), "sr=8000.0"),
        (dict(decimation=0), "decimation=0"),
        (dict(ear_q=0.5), "ear_q=0.5"),
        (dict(step_factor=-1.0), "step_factor=-1.0"),
        (dict(step_factor=0.0), "step_factor=0.0"),
        (dict(tau_factor=float("inf")), "tau_factor=inf"),
        (dict(agc=1), "agc=1"),
        (dict(differ="yes"), "differ='yes'"),
        (dict(sr=100, step_factor=20.0), "no cascade channel"),
    ],
)
def test_validation_errors(kwargs, match):
    kwargs = {"wave": np.zeros(800), **kwargs}
    with pytest.raises(ValueError, match=match):
        lyon_cochleagram(kwargs.pop("wave"), **kwargs)


def test_default_decimation_is_10_ms():
    assert lyon_decimation(8000) == 80 and lyon_decimation(16000) == 160
    assert lyon_cochleagram(np.zeros(8000), SR).shape == (100, 64)


@pytest.fixture
def small_fsdd(monkeypatch):
    """fsdd_features over the first 5 utterances only (the full set takes seconds)."""
    d = load_fsdd()
    small = FSDDData(waves=d.waves[:5], digits=d.digits[:5], speakers=d.speakers[:5],
                     indices=d.indices[:5], sample_rate=d.sample_rate)
    fsdd_module._fsdd_features_cached.cache_clear()
    monkeypatch.setattr(fsdd_module, "load_fsdd", lambda: small)
    yield small
    fsdd_module._fsdd_features_cached.cache_clear()


def test_fsdd_features_lyon(small_fsdd):
    feats = fsdd_features("lyon")
    assert len(feats) == 5
    for f, w in zip(feats, small_fsdd.waves, strict=True):
        assert f.shape == (w.size // 80, 64) and f.dtype == np.float32 and not f.flags.writeable
        np.testing.assert_array_equal(f, lyon_cochleagram(w))
    assert fsdd_features("lyon")[0] is feats[0]  # served from the cache
    assert fsdd_features("lyon", n_frames=7).shape == (5, 7, 64)
    assert fsdd_features("lyon", ear_q=4.0)[0].shape[1] == lyon_channel_frequencies(SR, ear_q=4.0).size
    with pytest.raises(TypeError, match="n_mfcc"):
        fsdd_features("lyon", n_mfcc=13)


def test_fsdd_frames_lyon_front_end():
    frames, digits, speakers, reps, keep = fsdd_frames(9, max_rep=1, front_end="lyon")
    assert frames.shape == (60, 9, 64) and np.all(reps == 0) and keep.size == 60
    waves = load_fsdd().waves
    np.testing.assert_array_equal(frames, fixed_frames([lyon_cochleagram(waves[i]) for i in keep], 9))
    assert frames.min() >= 0
    with pytest.raises(ValueError, match="front_end='lpc'"):
        fsdd_frames(9, max_rep=1, front_end="lpc")
