"""Delay-reservoir benchmark tasks: NARMA, Mackey-Glass, Santa Fe laser, FSDD spoken digits, WER."""

import math
import os
import wave

import numpy as np
import pytest

from physnn import tasks
from physnn.readout import accuracy, ridge_fit
from physnn.tasks import fsdd as fsdd_mod
from physnn.tasks.fsdd import (
    FSDD_SPEAKERS,
    fixed_frames,
    fsdd_features,
    fsdd_speaker_folds,
    fsdd_split,
    load_fsdd,
    melspec,
    mfcc,
    mulaw_decode,
    mulaw_encode,
)
from physnn.tasks.mackey_glass import mackey_glass, mackey_glass_step
from physnn.tasks.metrics import word_error_rate
from physnn.tasks.narma import narma, narma10
from physnn.tasks.santafe import load_santafe, santafe_one_step

FSDD_RECORDINGS = "/work/shared/data/fsdd/recordings"

# --------------------------------------------------------------------------------------------
# NARMA
# --------------------------------------------------------------------------------------------


def test_narma10_recurrence_holds_at_every_step():
    u, y = narma10(400, seed=3, washout=50)
    assert u.dtype == np.float64 and y.dtype == np.float64 and u.shape == y.shape == (400,)
    assert u.min() >= 0.0 and u.max() <= 0.5
    # y[k] is y(k+1): y(k+1) = 0.3 y(k) + 0.05 y(k) sum_{i=0..9} y(k-i) + 1.5 u(k-9) u(k) + 0.1
    for k in (10, 11, 57, 399):
        yk = y[k - 1]
        expect = 0.3 * yk + 0.05 * yk * sum(y[k - 10 : k]) + 1.5 * u[k - 9] * u[k] + 0.1
        assert y[k] == pytest.approx(expect, rel=1e-13)
    k = np.arange(10, 400)
    window = np.array([y[i - 10 : i].sum() for i in k])
    expect = 0.3 * y[k - 1] + 0.05 * y[k - 1] * window + 1.5 * u[k - 9] * u[k] + 0.1
    np.testing.assert_allclose(y[k], expect, rtol=1e-13)


def test_narma_general_order_and_coefficients():
    a, b, c, d = 0.2, 0.04, 1.0, 0.05
    u, y = narma(200, order=5, seed=1, washout=20, coefficients=(a, b, c, d), input_range=(0.1, 0.4))
    assert 0.1 <= u.min() and u.max() <= 0.4
    k = np.arange(5, 200)
    window = np.array([y[i - 5 : i].sum() for i in k])
    expect = a * y[k - 1] + b * y[k - 1] * window + c * u[k - 4] * u[k] + d
    np.testing.assert_allclose(y[k], expect, rtol=1e-13)


def test_narma_same_seed_same_data():
    u1, y1 = narma10(500, seed=7)
    u2, y2 = narma10(500, seed=7)
    u3, _ = narma10(500, seed=8)
    np.testing.assert_array_equal(u1, u2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.allclose(u1, u3)
    # a longer series starts with the same samples
    u4, y4 = narma10(800, seed=7)
    np.testing.assert_array_equal(y4[:500], y1)


def test_narma_divergence_raises_naming_parameters():
    # U[0, 1] inputs make NARMA10 blow up within a few steps (measured: every seed 0-19 diverges).
    with pytest.raises(ValueError, match=r"diverged.*order=10.*input_range=\(0\.0, 1\.0\).*seed=0"):
        narma(2000, input_range=(0.0, 1.0), seed=0)
    with pytest.raises(ValueError, match="bound=10"):
        narma(2000, input_range=(0.0, 0.6), seed=0, bound=10.0)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"n_steps": 0}, "n_steps"),
        ({"n_steps": 10, "order": 0}, "order"),
        ({"n_steps": 10, "washout": -1}, "washout"),
        ({"n_steps": 10, "seed": -3}, "seed"),
        ({"n_steps": 10, "input_range": (0.5, 0.1)}, "input_range"),
        ({"n_steps": 10, "coefficients": (0.3, 0.05, 1.5)}, "coefficients"),
        ({"n_steps": 10, "coefficients": (0.3, float("nan"), 1.5, 0.1)}, "coefficients"),
        ({"n_steps": 10, "bound": 0}, "bound"),
    ],
)
def test_narma_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        narma(**kwargs)


# --------------------------------------------------------------------------------------------
# Mackey-Glass
# --------------------------------------------------------------------------------------------


def _mg_heun_reference(t_end, h=1e-3, tau=17.0, beta=0.2, gamma=0.1, n=10.0, x0=1.2):
    """Independent check: trapezoidal (Heun) method of steps, constant history, plain Python."""
    m = int(round(tau / h))
    xs = [x0] * (m + 1)  # grid indices -m .. 0

    def g(xd):
        return beta * xd / (1.0 + xd**n)

    for _ in range(int(round(t_end / h))):
        x, xd0, xd1 = xs[-1], xs[-1 - m], xs[-m]
        f0 = g(xd0) - gamma * x
        pred = x + h * f0
        xs.append(x + 0.5 * h * (f0 + g(xd1) - gamma * pred))
    return np.asarray(xs[m :: int(round(1.0 / h))])


def test_mackey_glass_matches_independent_integrator_and_halved_step():
    x = mackey_glass(300)
    assert x.dtype == np.float64 and x.shape == (300,) and x[0] == 1.2
    # Halving the RK4 step (measured change: 3e-9) ...
    np.testing.assert_allclose(mackey_glass(300, substeps=20), x, rtol=0, atol=1e-7)
    # ... and an independent second-order integrator with a 100x smaller step (measured: 2e-9).
    ref = _mg_heun_reference(60.0)
    np.testing.assert_allclose(x[:61], ref, rtol=0, atol=1e-6)


def test_mackey_glass_attractor_statistics():
    # Measured with this integrator (3e5 samples: mean 0.930, std 0.226, range [0.417, 1.320]; the
    # same to 1e-4 at half the step and for random histories; 2e4 samples: within 3e-4 of those).
    x = mackey_glass(20_000, washout=1000, seed=1)
    assert abs(x.mean() - 0.930) < 0.005
    assert abs(x.std() - 0.226) < 0.005
    assert 0.40 < x.min() < 0.45 and 1.30 < x.max() < 1.34


def test_mackey_glass_seeds_and_washout():
    a = mackey_glass(200, seed=4)
    np.testing.assert_array_equal(a, mackey_glass(200, seed=4))
    assert not np.allclose(a, mackey_glass(200, seed=5))
    assert not np.allclose(a, mackey_glass(200))
    w = mackey_glass(150, washout=50, seed=4)
    np.testing.assert_allclose(w, a[50:], rtol=0, atol=1e-12)


def test_mackey_glass_step_selection():
    assert mackey_glass_step(17.0, 1.0) == (10, 170)
    assert mackey_glass_step(17.0, 3.0) == (30, 170)  # h = 0.1, tau = 170 h
    assert mackey_glass_step(30.0, 1.0, 4) == (4, 120)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"n_steps": 0}, "n_steps"),
        ({"n_steps": 5, "tau": 17.05, "substeps": 10}, "tau"),
        ({"n_steps": 5, "tau": -1.0}, "tau"),
        ({"n_steps": 5, "beta": 0.0}, "beta"),
        ({"n_steps": 5, "dt_sample": float("inf")}, "dt_sample"),
        ({"n_steps": 5, "seed": -1}, "seed"),
        ({"n_steps": 5, "substeps": 0}, "substeps"),
    ],
)
def test_mackey_glass_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        mackey_glass(**kwargs)


# --------------------------------------------------------------------------------------------
# Santa Fe
# --------------------------------------------------------------------------------------------


def test_santafe_values():
    s = load_santafe()
    assert s.dtype == np.float64 and s.shape == (10_093,)
    np.testing.assert_array_equal(s[:4], [86, 141, 95, 41])  # PROVENANCE: A.dat starts 86, 141, 95, 41
    assert s.min() >= 0 and s.max() <= 255 and np.all(s == np.round(s))
    np.testing.assert_array_equal(load_santafe("A"), s[:1000])
    np.testing.assert_array_equal(load_santafe("continuation"), s[1000:1100])
    s[0] = -1.0  # a copy: the cache is not modified
    assert load_santafe()[0] == 86


def test_santafe_one_step_split():
    sp = santafe_one_step()
    assert sp.u_train.shape == sp.y_train.shape == (4000,)  # washout 200 + 3800
    assert sp.u_test.shape == sp.y_test.shape == (1000,)
    assert sp.washout == 200 and sp.scale == 255.0 and sp.offset == 0.0
    np.testing.assert_array_equal(sp.y_train[:-1], sp.u_train[1:])  # y(k) = u(k+1)
    assert sp.y_train[-1] == sp.u_test[0]  # the test part continues the training part
    np.testing.assert_array_equal(sp.y_test[:-1], sp.u_test[1:])
    assert sp.u_train.max() == 1.0 and sp.u_train.min() >= 0.0
    np.testing.assert_allclose(sp.denormalise(sp.u_train[:4]), [86, 141, 95, 41])
    z = santafe_one_step(1000, 500, washout=0, normalise="zscore")
    assert abs(z.u_train.mean()) < 1e-12 and abs(z.u_train.std() - 1.0) < 1e-12
    raw = santafe_one_step(100, 10, washout=5, normalise=False, start=3)
    np.testing.assert_array_equal(raw.u_train[:2], [41, 22])


def test_santafe_errors(tmp_path):
    missing = tmp_path / "nope" / "santafe.txt"
    with pytest.raises(FileNotFoundError, match="nope"):
        load_santafe(path=missing)
    with pytest.raises(ValueError, match="n_train"):
        santafe_one_step(n_train=10_000)
    with pytest.raises(ValueError, match="n_test"):
        santafe_one_step(n_test=0)
    with pytest.raises(ValueError, match="normalise"):
        santafe_one_step(normalise="minmax")
    with pytest.raises(ValueError, match="part"):
        load_santafe("B")


# --------------------------------------------------------------------------------------------
# FSDD
# --------------------------------------------------------------------------------------------


def test_fsdd_contents():
    d = load_fsdd()
    waves, digits, speakers, indices = d
    assert len(d) == len(waves) == 3000 and d.sample_rate == 8000
    np.testing.assert_array_equal(np.bincount(digits), [300] * 10)
    assert sorted(set(speakers)) == list(FSDD_SPEAKERS)
    assert all(np.sum(speakers == s) == 500 for s in FSDD_SPEAKERS)
    np.testing.assert_array_equal(np.bincount(indices), [60] * 50)
    lengths = np.array([w.size for w in waves])
    assert lengths.sum() == 10_498_424 and 0.14 <= lengths.min() / 8000 and lengths.max() / 8000 <= 2.29
    assert all(w.dtype == np.float32 and -1.0 <= w.min() and w.max() < 1.0 for w in waves[::100])
    assert d.names[0] == "0_george_0.wav"


def _g711_reference(x: int) -> int:
    """ITU-T G.191 ulaw_compress, transcribed from its description, one sample at a time."""
    absno = ((~x) >> 2) + 33 if x < 0 else (x >> 2) + 33
    absno = min(absno, 0x1FFF)
    i, segno = absno >> 6, 1
    while i:
        segno += 1
        i >>= 1
    code = ((8 - segno) << 4) | (15 - ((absno >> segno) & 15))
    return code | 0x80 if x >= 0 else code


def test_mulaw_codec():
    x = np.arange(-32768, 32768)
    codes = mulaw_encode(x)
    assert codes.dtype == np.uint8
    assert all(_g711_reference(int(v)) == int(c) for v, c in zip(x[::7], codes[::7], strict=True))
    back = mulaw_decode(codes).astype(np.int64)
    # Quantisation error: at most half a segment step (1/32 of the magnitude) plus the bias,
    # except in the clipped range above 32635.
    inside = np.abs(x) <= 32635
    assert np.all(np.abs(back - x)[inside] <= np.abs(x)[inside] / 32 + 8)
    # Every code survives decode -> encode, except 0x7F ("-0"), which decodes to 0 = 0xFF.
    expect = np.arange(256)
    expect[0x7F] = 0xFF
    np.testing.assert_array_equal(mulaw_encode(mulaw_decode(np.arange(256, dtype=np.uint8))), expect)
    with pytest.raises(ValueError, match="pcm"):
        mulaw_encode(np.array([0.5]))
    with pytest.raises(ValueError, match="pcm"):
        mulaw_encode(np.array([40000]))


@pytest.mark.skipif(not os.path.isdir(FSDD_RECORDINGS), reason="original FSDD WAV files not available")
def test_fsdd_matches_original_wav_files():
    d = load_fsdd()
    for i in (0, 777, 1500, 2222, 2999):
        with wave.open(os.path.join(FSDD_RECORDINGS, d.names[i]), "rb") as w:
            pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        assert pcm.size == d.waves[i].size
        np.testing.assert_array_equal(d.waves[i], mulaw_decode(mulaw_encode(pcm)) / np.float32(32768))
        x = pcm / 32768.0
        snr_db = 10 * np.log10(np.sum(x**2) / np.sum((d.waves[i] - x) ** 2))
        assert snr_db > 30.0  # measured 33-37 dB on every 50th file


def test_fsdd_missing_archive(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing_dir"):
        load_fsdd(path=tmp_path / "missing_dir" / "fsdd_mulaw.npz")


def test_fsdd_splits():
    d = load_fsdd()
    train, test = fsdd_split("official")
    assert test.size == 300 and train.size == 2700
    assert np.all(d.indices[test] < 5) and np.all(d.indices[train] >= 5)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(3000))
    folds = fsdd_speaker_folds()
    assert len(folds) == 6
    for (tr, te), name in zip(folds, FSDD_SPEAKERS, strict=True):
        assert te.size == 500 and tr.size == 2500
        assert set(d.speakers[te]) == {name} and not set(d.speakers[tr]) & set(d.speakers[te])
    tr, te = fsdd_split("speaker", test_speakers=("theo", "lucas"))
    assert te.size == 1000 and not set(d.speakers[tr]) & {"theo", "lucas"}
    with pytest.raises(ValueError, match="kind"):
        fsdd_split("random")
    with pytest.raises(ValueError, match="test_speakers"):
        fsdd_split("speaker", test_speakers="bob")
    with pytest.raises(ValueError, match="test_speakers"):
        fsdd_split("speaker", test_speakers=FSDD_SPEAKERS)
    with pytest.raises(ValueError, match="fold"):
        fsdd_split("speaker", fold=6)


def _mfcc_reference(x, sr=8000, n_mfcc=13, n_mels=26):
    """Independent MFCC: frame-by-frame loop, scipy's DCT and window."""
    scipy_fft = pytest.importorskip("scipy.fft")
    scipy_signal = pytest.importorskip("scipy.signal")
    x = np.asarray(x, dtype=np.float64)
    y = np.append(x[0], x[1:] - 0.97 * x[:-1])
    frame, hop, nfft = 200, 80, 256
    n_frames = 1 + max(0, math.ceil((y.size - frame) / hop))
    y = np.append(y, np.zeros(max(0, (n_frames - 1) * hop + frame - y.size)))
    window = scipy_signal.get_window("hamming", frame, fftbins=False)

    def mel(f):
        return 2595 * np.log10(1 + f / 700)

    edges = 700 * (10 ** (np.linspace(0, mel(sr / 2), n_mels + 2) / 2595) - 1)
    bins = np.arange(nfft // 2 + 1) * sr / nfft
    fb = np.zeros((n_mels, bins.size))
    for j in range(n_mels):
        lo, c, hi = edges[j : j + 3]
        for b, f in enumerate(bins):
            if lo < f <= c:
                fb[j, b] = (f - lo) / (c - lo)
            elif c < f < hi:
                fb[j, b] = (hi - f) / (hi - c)
    out = []
    for t in range(n_frames):
        seg = y[t * hop : t * hop + frame] * window
        power = np.abs(np.fft.rfft(seg, nfft)) ** 2 / nfft
        logmel = np.log(np.maximum(fb @ power, 1e-10))
        out.append(scipy_fft.dct(logmel, type=2, norm="ortho")[:n_mfcc])
    return np.array(out)


def test_mfcc_against_reference_and_shapes():
    w = load_fsdd().waves[123]
    c = mfcc(w)
    assert c.shape == (1 + math.ceil((w.size - 200) / 80), 13) and np.all(np.isfinite(c))
    np.testing.assert_allclose(c, _mfcc_reference(w), rtol=1e-9, atol=1e-9)
    m = melspec(w)
    assert m.shape == (c.shape[0], 40) and np.all(np.isfinite(m))
    assert mfcc(np.zeros(50)).shape == (1, 13)  # shorter than a frame: one zero-padded frame
    assert mfcc(w, n_mfcc=20, n_mels=40, lifter=22).shape == (c.shape[0], 20)


@pytest.mark.parametrize(
    "args, kwargs, name",
    [
        ((np.zeros((2, 400)),), {}, "wave"),
        ((np.array([]),), {}, "wave"),
        ((np.array([0.0, np.nan] * 200),), {}, "wave"),
        ((np.zeros(400),), {"n_mfcc": 30}, "n_mfcc"),
        ((np.zeros(400),), {"sr": 0}, "sr"),
        ((np.zeros(400),), {"hop_ms": -10.0}, "hop_ms"),
        ((np.zeros(400),), {"n_fft": 64}, "n_fft"),
        ((np.zeros(400),), {"fmax": 5000.0}, "fmax"),
        ((np.zeros(400),), {"preemphasis": 1.0}, "preemphasis"),
        ((np.zeros(400),), {"n_mels": 200, "n_mfcc": 13}, "n_mels"),
    ],
)
def test_mfcc_bad_inputs(args, kwargs, name):
    with pytest.raises(ValueError, match=name):
        mfcc(*args, **kwargs)


def test_fsdd_features_cached_and_fixed_frames():
    feats = fsdd_features("mfcc")
    assert len(feats) == 3000 and feats[0].shape[1] == 13
    np.testing.assert_allclose(feats[5], mfcc(load_fsdd().waves[5]), rtol=1e-12, atol=1e-12)
    again = fsdd_features("mfcc")
    assert all(a is b for a, b in zip(feats, again, strict=True))  # served from the cache
    fixed = fsdd_features("mfcc", n_frames=12)
    assert fixed.shape == (3000, 12, 13)
    np.testing.assert_allclose(fixed[:, 0], np.stack([f[0] for f in feats]))
    np.testing.assert_allclose(fixed[:, -1], np.stack([f[-1] for f in feats]))
    pad = fixed_frames([np.ones((3, 2)), np.ones((30, 2))], 5, mode="pad")
    np.testing.assert_array_equal(pad[0], [[1, 1]] * 3 + [[0, 0]] * 2)
    with pytest.raises(ValueError, match="kind"):
        fsdd_features("lpc")
    with pytest.raises(ValueError, match="n_frames"):
        fsdd_features(n_frames=0)
    with pytest.raises(ValueError, match="mode"):
        fixed_frames([np.ones((3, 2))], 4, mode="crop")


def test_linear_classifier_on_mean_mfcc_beats_chance():
    d = load_fsdd()
    x = np.stack([f.mean(0) for f in fsdd_features("mfcc")])
    train, test = fsdd_split("official")
    readout = ridge_fit(x[train], d.digits[train], classify=True)
    pred = np.asarray(readout.predict(x[test]))
    acc = accuracy(pred, d.digits[test])
    # Measured 0.773 (chance: 0.1); 10 resampled frames instead of the mean give 0.927.
    assert acc > 0.6
    assert word_error_rate(pred, d.digits[test]) == pytest.approx(1.0 - acc)


# --------------------------------------------------------------------------------------------
# Metrics and exports
# --------------------------------------------------------------------------------------------


def test_word_error_rate():
    assert word_error_rate([1, 2, 3, 4], [1, 2, 0, 4]) == 0.25
    assert word_error_rate(np.arange(5), np.arange(5)) == 0.0
    with pytest.raises(ValueError, match="word_error_rate: pred_labels"):
        word_error_rate([1, 2], [1])


def test_public_exports():
    for name in (
        "narma",
        "narma10",
        "mackey_glass",
        "load_santafe",
        "santafe_one_step",
        "load_fsdd",
        "mfcc",
        "melspec",
        "fsdd_features",
        "fsdd_split",
        "word_error_rate",
        "load_vowels",
    ):
        assert name in tasks.__all__ and callable(getattr(tasks, name))
    assert tasks.metrics.nmse is __import__("physnn.readout", fromlist=["nmse"]).nmse
    assert fsdd_mod.fsdd_path().endswith(os.path.join("physnn", "data", "fsdd", "fsdd_mulaw.npz"))
