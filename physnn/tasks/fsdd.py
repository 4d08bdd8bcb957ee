r"""Spoken digits: the Free Spoken Digit Dataset (FSDD), MFCC / mel / cochlear front ends and splits.

Why FSDD
--------
The spoken-digit benchmark of delay and spintronic reservoirs (Appeltant et al., Nat. Commun. 2,
468 (2011); Larger et al., Phys. Rev. X 7, 011015 (2017); Torrejon et al., Nature 547, 428 (2017))
uses the digits of TI-46 (Texas Instruments 46-word corpus, LDC93S9: 5 female speakers x 10
utterances x 10 digits, 12.5 kHz). TI-46 is distributed only by the LDC under licence and is
**not freely available**, so physnn ships the open **Free Spoken Digit Dataset** as a stand-in.
Numbers obtained on FSDD are *not* comparable one-to-one with the TI-46 numbers of those papers:
FSDD has 6 male speakers with different accents, 50 utterances per digit and speaker, 8 kHz audio.

Data
----
Free Spoken Digit Dataset (Jakobovski et al.), github.com/Jakobovski/free-spoken-digit-dataset,
commit ``26eb9aaf76e81b692f806f9140c2d2777410d7a1``, licence CC BY-SA 4.0. 3000 recordings:
6 speakers (george, jackson, lucas, nicolas, theo, yweweler) x 10 digits x 50 repetitions
(index 0-49), mono, 8 kHz, originally 16-bit PCM WAV with the silence at both ends trimmed.

physnn ships them in ``physnn/data/fsdd/fsdd_mulaw.npz`` as 8-bit ITU-T G.711 mu-law (the
telephone coding for 8 kHz speech; measured SNR 33-37 dB on these recordings), concatenated into one
array, with offsets, digit, speaker and index arrays; made by ``scripts/pack_fsdd.py`` from the
original WAV files. The packaged audio is a derivative of FSDD and, like it, licensed CC BY-SA
4.0 (attribution in ``physnn/data/fsdd/PROVENANCE.md``). :func:`mulaw_encode` /
:func:`mulaw_decode` are the codec (bit-exact with ``ulaw_compress``/``ulaw_expand`` of the ITU-T
G.191 software tools).

Front ends
----------
:func:`mfcc`: pre-emphasis, 25 ms Hamming frames every 10 ms, power spectrum, triangular mel
filterbank (HTK mel scale), log, DCT-II (orthonormal), the first ``n_mfcc`` coefficients
(Davis & Mermelstein, IEEE TASSP 28, 357 (1980); the HTK book). :func:`melspec`: the log mel
energies before the DCT, a cochleagram-like time-frequency map.
:func:`physnn.tasks.cochlear.lyon_cochleagram`: Lyon's passive cochlear model (the front end of
Appeltant 2011 and Torrejon 2017; 64 channels every 10 ms at 8 kHz). :func:`fsdd_features`
computes any of them for all 3000 utterances at once (cached in memory; about a second for the
MFCC of the whole set, about 8 s for the cochleagrams).

Splits
------
``fsdd_split("official")``: the dataset README's split, repetitions 0-4 test (300), 5-49 train
(2700); the test speakers are also training speakers. ``fsdd_split("speaker", ...)`` and
:func:`fsdd_speaker_folds`: speaker-independent (leave-one-speaker-out), no speaker on both sides.

Evaluation of a reservoir
-------------------------
:func:`fsdd_frames` / :func:`fsdd_inputs` (MFCC frames per utterance), :func:`fsdd_problems` (the
official split and the leave-one-speaker-out folds, each with a validation set inside its
training data), :func:`fsdd_problem_inputs` (each problem standardised on its own training set),
:func:`fsdd_groups`, and :func:`wta_evaluate` / :func:`wta_choose`: the winner-take-all ridge
readout of the delay-reservoir papers, scored as word error rates, the operating point and
penalty chosen on validation only.

For scale (no reservoir; :func:`physnn.readout.ridge_fit` with ``classify=True`` and its default
stratified folds on default MFCCs; ``python scripts/fsdd_for_scale.py``): time-averaged MFCC
77.3 % on the official split; the MFCC sequence resampled to 10 frames
(``fsdd_features(n_frames=10)``, 130 features) 93.7 % on the official split and 69.9 % averaged
over the six leave-one-speaker-out folds (47 % to 90 % per held-out speaker).
"""

from __future__ import annotations

import functools
import math
import numbers
import os
import zipfile
from dataclasses import dataclass
from importlib import resources

import numpy as np

from ..errors import UserError

__all__ = [
    "FSDD_SPEAKERS",
    "FSDD_SAMPLE_RATE",
    "FSDDData",
    "fsdd_path",
    "load_fsdd",
    "mulaw_encode",
    "mulaw_decode",
    "mfcc",
    "melspec",
    "fsdd_features",
    "fixed_frames",
    "fsdd_split",
    "fsdd_speaker_folds",
    "FSDD_N_DIGITS",
    "wta_scan",
    "speaker_mean",
    "fsdd_frames",
    "standardise_frames",
    "fsdd_inputs",
    "fsdd_problems",
    "fsdd_problem_inputs",
    "fsdd_groups",
    "wta_evaluate",
    "wta_choose",
]

FSDD_SPEAKERS: tuple[str, ...] = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
FSDD_SAMPLE_RATE = 8000
_FILE = "fsdd_mulaw.npz"

# --------------------------------------------------------------------------------------------
# G.711 mu-law
# --------------------------------------------------------------------------------------------

_BIAS = 0x84
_CLIP = 32635


def mulaw_encode(pcm) -> np.ndarray:
    """Encode 16-bit linear PCM (integers in [-32768, 32767]) to 8-bit G.711 mu-law bytes.

    Bit-exact with ``ulaw_compress`` of the ITU-T G.191 software tools (STL): the 14 most
    significant bits are used, a negative sample is coded through its one's complement, the
    biased magnitude is coded as segment and mantissa and all bits are inverted (0 and -1 give
    0xFF and 0x7F; magnitudes above 32635 are clipped). Python's deprecated ``audioop.lin2ulaw``
    rounds some negative samples one step differently (arithmetic shift instead of the one's
    complement); :func:`mulaw_decode` is the same in both.

    Raises:
        ValueError: ``pcm`` is not an integer array within the 16-bit range.
    """
    x = np.asarray(pcm)
    if x.dtype.kind not in "iu":
        raise ValueError(f"pcm must be an integer array (16-bit linear PCM), got dtype {x.dtype}")
    x = x.astype(np.int32)
    if x.size and (x.min() < -32768 or x.max() > 32767):
        raise ValueError(
            f"pcm must lie in [-32768, 32767] (16-bit), got min {int(x.min())}, max {int(x.max())}"
        )
    sign = (x < 0).astype(np.int32)
    # One's complement for negative samples (~x = -x - 1), as the ITU-T G.191 reference does.
    mag = np.minimum(np.where(x < 0, ~x, x), _CLIP) + _BIAS  # 132 .. 32767
    exponent = np.frexp(mag)[1].astype(np.int32) - 8  # floor(log2(mag)) - 7, in 0 .. 7
    mantissa = (mag >> (exponent + 3)) & 0x0F
    code = ~((sign << 7) | (exponent << 4) | mantissa) & 0xFF
    return code.astype(np.uint8)


def _mulaw_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    mag = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    table = np.where(u & 0x80, -mag, mag).astype(np.int16)
    table.setflags(write=False)
    return table


_MULAW_TABLE = _mulaw_table()


def mulaw_decode(codes) -> np.ndarray:
    """Decode 8-bit G.711 mu-law bytes to 16-bit linear PCM (int16)."""
    c = np.asarray(codes)
    if c.dtype != np.uint8:
        raise ValueError(f"codes must be a uint8 array of mu-law bytes, got dtype {c.dtype}")
    return _MULAW_TABLE[c]


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class FSDDData:
    """The 3000 utterances; entry ``i`` is digit ``digits[i]`` by ``speakers[i]``, take ``indices[i]``.

    Unpacks as ``waves, digits, speakers, indices = load_fsdd()``.

    Attributes:
        waves: list of read-only float32 arrays in [-1, 1) (mu-law decoded PCM / 32768).
        digits: int64 array (3000,), 0-9.
        speakers: str array (3000,), names from :data:`FSDD_SPEAKERS`.
        indices: int64 array (3000,), the repetition number 0-49 (file ``{digit}_{speaker}_{index}.wav``).
        sample_rate: 8000 (Hz).
    """

    waves: list
    digits: np.ndarray
    speakers: np.ndarray
    indices: np.ndarray
    sample_rate: int

    def __len__(self) -> int:
        return len(self.waves)

    def __iter__(self):
        return iter((self.waves, self.digits, self.speakers, self.indices))

    @property
    def names(self) -> list[str]:
        """The original file names, ``{digit}_{speaker}_{index}.wav``."""
        return [f"{d}_{s}_{i}.wav" for d, s, i in zip(self.digits, self.speakers, self.indices, strict=True)]


def fsdd_path() -> str:
    """Path of the packaged archive ``physnn/data/fsdd/fsdd_mulaw.npz``."""
    return os.fspath(resources.files("physnn").joinpath("data", "fsdd", _FILE))


class MissingDataError(UserError, FileNotFoundError):
    """A data file is missing: a :class:`~physnn.errors.UserError` (the ``physnn`` command prints
    it as one line) that is also a ``FileNotFoundError``."""


@functools.lru_cache(maxsize=2)
def _load(path: str) -> FSDDData:
    if not os.path.isfile(path):
        raise MissingDataError(
            f"FSDD archive not found: {path!r} (expected physnn/data/fsdd/{_FILE}, made by "
            "scripts/pack_fsdd.py; reinstall physnn or pass path=)"
        )
    try:
        with np.load(path, allow_pickle=False) as z:
            audio = z["audio"]
            offsets = z["offsets"].astype(np.int64)
            digits = z["digits"].astype(np.int64)
            speaker_names = tuple(str(s) for s in z["speaker_names"])
            speakers = np.asarray(speaker_names)[z["speakers"].astype(np.int64)]
            indices = z["indices"].astype(np.int64)
            sample_rate = int(z["sample_rate"])
    except (OSError, ValueError, KeyError, IndexError, EOFError, zipfile.BadZipFile) as e:
        raise UserError(f"{path!r}: not a readable FSDD archive ({type(e).__name__}: {e}); "
                        "reinstall physnn or rebuild it with scripts/pack_fsdd.py") from None
    n = digits.size
    if (
        offsets.shape != (n + 1,)
        or offsets[0] != 0
        or offsets[-1] != audio.size
        or np.any(np.diff(offsets) <= 0)
    ):
        raise UserError(f"{path!r}: inconsistent offsets: the FSDD archive is damaged; reinstall "
                        "physnn (or rebuild it with scripts/pack_fsdd.py)")
    signal = mulaw_decode(audio).astype(np.float32) / np.float32(32768.0)
    signal.setflags(write=False)
    waves = [signal[offsets[i] : offsets[i + 1]] for i in range(n)]
    for a in (digits, speakers, indices):
        a.setflags(write=False)
    return FSDDData(waves=waves, digits=digits, speakers=speakers, indices=indices, sample_rate=sample_rate)


def load_fsdd(*, path: str | os.PathLike | None = None) -> FSDDData:
    """Load the 3000 FSDD recordings (decoded from the packaged mu-law archive; cached).

    Returns:
        :class:`FSDDData`; unpack as ``waves, digits, speakers, indices``. Order: by speaker
        (alphabetical), then digit, then repetition index. The arrays are shared with the
        cache and read-only; copy before modifying.

    Raises:
        MissingDataError: the archive is missing (a ``FileNotFoundError`` and a
            :class:`~physnn.errors.UserError`); the message names the path.
    """
    return _load(fsdd_path() if path is None else os.fspath(path))


# --------------------------------------------------------------------------------------------
# Front ends
# --------------------------------------------------------------------------------------------


def _hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def _mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def _check_int(name: str, value, lo: int, func: str, hi: int | None = None) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < lo
        or (hi is not None and value > hi)
    ):
        rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ValueError(f"{func}: {name}={value!r} must be an integer {rng}")
    return int(value)


def _check_float(name: str, value, func: str, lo=None, hi=None, lo_open=False, hi_open=False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    ok = not isinstance(value, bool) and math.isfinite(v)
    if ok and lo is not None:
        ok = v > lo if lo_open else v >= lo
    if ok and hi is not None:
        ok = v < hi if hi_open else v <= hi
    if not ok:
        lb = "(" if lo_open else "["
        rb = ")" if hi_open else "]"
        raise ValueError(
            f"{func}: {name}={value!r} must be a finite number in {lb}{'-inf' if lo is None else lo}, "
            f"{'inf' if hi is None else hi}{rb}"
        )
    return v


@dataclass(frozen=True)
class _FrontEnd:
    sr: int
    frame: int
    hop: int
    n_fft: int
    n_mels: int
    fmin: float
    fmax: float
    preemphasis: float


def _front_end(func, sr, frame_ms, hop_ms, n_fft, n_mels, fmin, fmax, preemphasis) -> _FrontEnd:
    sr = _check_int("sr", sr, 1, func)
    frame_ms = _check_float("frame_ms", frame_ms, func, lo=0.0, lo_open=True)
    hop_ms = _check_float("hop_ms", hop_ms, func, lo=0.0, lo_open=True)
    frame = int(round(frame_ms * 1e-3 * sr))
    hop = int(round(hop_ms * 1e-3 * sr))
    if frame < 2 or hop < 1:
        raise ValueError(
            f"{func}: frame_ms={frame_ms!r}, hop_ms={hop_ms!r} at sr={sr} give {frame} samples per "
            f"frame and a hop of {hop}; need at least 2 and 1"
        )
    if n_fft is None:
        n_fft = 1 << (frame - 1).bit_length()
    n_fft = _check_int("n_fft", n_fft, frame, func)
    n_mels = _check_int("n_mels", n_mels, 1, func)
    fmin = _check_float("fmin", fmin, func, lo=0.0, hi=sr / 2, hi_open=True)
    fmax = sr / 2 if fmax is None else _check_float("fmax", fmax, func, lo=fmin, hi=sr / 2, lo_open=True)
    preemphasis = _check_float("preemphasis", preemphasis, func, lo=0.0, hi=1.0, hi_open=True)
    return _FrontEnd(sr, frame, hop, n_fft, n_mels, float(fmin), float(fmax), preemphasis)


@functools.lru_cache(maxsize=16)
def _mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """(n_fft//2 + 1, n_mels) triangular filters on the HTK mel scale, peak 1 (no area norm)."""
    edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    freqs = np.arange(n_fft // 2 + 1) * sr / n_fft
    lo, centre, hi = edges[:-2], edges[1:-1], edges[2:]
    up = (freqs[:, None] - lo) / (centre - lo)
    down = (hi - freqs[:, None]) / (hi - centre)
    fb = np.maximum(0.0, np.minimum(up, down))
    empty = np.flatnonzero(fb.sum(0) == 0)
    if empty.size:
        raise ValueError(
            f"n_mels={n_mels} is too many for n_fft={n_fft} at sr={sr} between fmin={fmin} and "
            f"fmax={fmax} Hz: mel filter(s) {empty.tolist()} cover no FFT bin; use fewer mels or a "
            "larger n_fft"
        )
    fb.setflags(write=False)
    return fb


@functools.lru_cache(maxsize=16)
def _dct_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Orthonormal DCT-II, (n_in, n_out): ``c = x @ D`` keeps the first n_out coefficients."""
    n = np.arange(n_in)
    k = np.arange(n_out)
    d = np.cos(np.pi * np.outer(2 * n + 1, k) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    d[:, 0] /= np.sqrt(2.0)
    d.setflags(write=False)
    return d


@functools.lru_cache(maxsize=4)
def _hamming(n: int) -> np.ndarray:
    w = np.hamming(n)
    w.setflags(write=False)
    return w


def _check_wave(wave, func: str) -> np.ndarray:
    try:
        x = np.asarray(wave)
    except Exception:  # pragma: no cover - exotic inputs
        x = np.asarray(None)
    if x.dtype.kind not in "iuf":
        raise ValueError(f"{func}: wave must be a real 1-D array of samples, got dtype {x.dtype}")
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"{func}: wave has shape {x.shape}; expected a non-empty 1-D array of samples")
    x = x.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{func}: wave must be finite (no NaN or inf)")
    return x


def _n_frames(n_samples: int, fe: _FrontEnd) -> int:
    return 1 + max(0, math.ceil((n_samples - fe.frame) / fe.hop))


def _frames(x: np.ndarray, fe: _FrontEnd) -> np.ndarray:
    """Pre-emphasised, zero-padded, Hamming-windowed frames (n_frames, frame), float64."""
    x = np.asarray(x, dtype=np.float64)
    x = np.concatenate([x[:1], x[1:] - fe.preemphasis * x[:-1]])
    n_frames = _n_frames(x.size, fe)
    need = (n_frames - 1) * fe.hop + fe.frame
    if need > x.size:
        x = np.concatenate([x, np.zeros(need - x.size)])
    fr = np.lib.stride_tricks.sliding_window_view(x, fe.frame)[:: fe.hop][:n_frames]
    return fr * _hamming(fe.frame)


_LOG_FLOOR = 1e-10


def _log_mel(frames: np.ndarray, fe: _FrontEnd) -> np.ndarray:
    spec = np.abs(np.fft.rfft(frames, n=fe.n_fft, axis=-1)) ** 2 / fe.n_fft
    energies = spec @ _mel_filterbank(fe.sr, fe.n_fft, fe.n_mels, fe.fmin, fe.fmax)
    return np.log(np.maximum(energies, _LOG_FLOOR))


def _many(waves, fe: _FrontEnd, post, chunk_frames: int = 20_000) -> list[np.ndarray]:
    """Features of many waves: frames of consecutive waves are transformed together, in chunks
    of about ``chunk_frames`` frames (bounded memory), then split back per wave."""
    counts = [_n_frames(w.size, fe) for w in waves]
    out: list[np.ndarray] = []
    start = 0
    while start < len(waves):
        stop, total = start + 1, counts[start]
        while stop < len(waves) and total + counts[stop] <= chunk_frames:
            total += counts[stop]
            stop += 1
        frames = np.concatenate([_frames(w, fe) for w in waves[start:stop]])
        feats = post(_log_mel(frames, fe))
        out.extend(np.split(feats, np.cumsum(counts[start : stop - 1])))
        start = stop
    return out


def melspec(
    wave,
    sr: int = FSDD_SAMPLE_RATE,
    *,
    n_mels: int = 40,
    frame_ms: float = 25.0,
    hop_ms: float = 10.0,
    n_fft: int | None = None,
    fmin: float = 0.0,
    fmax: float | None = None,
    preemphasis: float = 0.97,
) -> np.ndarray:
    """Log mel-filterbank energies of one waveform, float64 ``(n_frames, n_mels)``.

    Steps as :func:`mfcc` up to the log (natural log of the filter energies, floored at 1e-10).
    ``n_frames = 1 + ceil((len(wave) - frame) / hop)`` (at least 1); the last frame is zero-padded.
    """
    func = "melspec"
    fe = _front_end(func, sr, frame_ms, hop_ms, n_fft, n_mels, fmin, fmax, preemphasis)
    x = _check_wave(wave, func)
    return _log_mel(_frames(x, fe), fe)


def mfcc(
    wave,
    sr: int = FSDD_SAMPLE_RATE,
    *,
    n_mfcc: int = 13,
    n_mels: int = 26,
    frame_ms: float = 25.0,
    hop_ms: float = 10.0,
    n_fft: int | None = None,
    fmin: float = 0.0,
    fmax: float | None = None,
    preemphasis: float = 0.97,
    lifter: float = 0.0,
) -> np.ndarray:
    r"""Mel-frequency cepstral coefficients of one waveform, float64 ``(n_frames, n_mfcc)``.

    1. pre-emphasis $x'[t] = x[t] - a\,x[t-1]$ (``a = preemphasis``);
    2. frames of ``frame_ms`` (25 ms = 200 samples at 8 kHz) every ``hop_ms`` (10 ms), the last one
       zero-padded, so ``n_frames = 1 + ceil((len(wave) - frame) / hop)`` (at least 1);
    3. Hamming window; power spectrum $|\mathrm{FFT}|^2 / N_{FFT}$ with ``n_fft`` (default: the
       next power of two >= frame, 256);
    4. ``n_mels`` triangular filters equally spaced on the HTK mel scale
       $2595 \log_{10}(1 + f/700)$ between ``fmin`` and ``fmax`` (default ``sr/2``);
    5. natural log (floored at 1e-10); 6. orthonormal DCT-II, the first ``n_mfcc`` coefficients
       (``c0`` included: it tracks the frame's log energy);
    7. optional sinusoidal liftering $c_k \cdot (1 + \tfrac{L}{2}\sin(\pi k/L))$ with
       ``L = lifter`` (0: none; HTK uses 22).

    Raises:
        ValueError: naming the parameter: a wave that is not a non-empty finite 1-D real array,
            ``n_mfcc`` outside ``[1, n_mels]``, non-positive ``sr``/``frame_ms``/``hop_ms``,
            ``n_fft`` below the frame length, ``fmin``/``fmax`` outside ``[0, sr/2]``, a
            ``preemphasis`` outside ``[0, 1)``, a negative ``lifter``, or a filterbank with empty filters.
    """
    func = "mfcc"
    fe = _front_end(func, sr, frame_ms, hop_ms, n_fft, n_mels, fmin, fmax, preemphasis)
    post = _cepstrum_post(func, fe, n_mfcc, lifter)
    x = _check_wave(wave, func)
    return post(_log_mel(_frames(x, fe), fe))


def _cepstrum_post(func, fe: _FrontEnd, n_mfcc, lifter):
    n_mfcc = _check_int("n_mfcc", n_mfcc, 1, func, hi=fe.n_mels)
    lifter = _check_float("lifter", lifter, func, lo=0.0)
    dct = _dct_matrix(fe.n_mels, n_mfcc)
    lift = 1.0 + (lifter / 2.0) * np.sin(np.pi * np.arange(n_mfcc) / lifter) if lifter > 0 else None

    def post(logmel):
        c = logmel @ dct
        return c * lift if lift is not None else c

    return post


_KINDS = ("mfcc", "melspec", "lyon")
_LYON_OPTIONS = ("decimation", "ear_q", "step_factor", "differ", "agc", "tau_factor")


def _lyon_many(waves, sr: int, kw: dict, func: str) -> tuple[np.ndarray, ...]:
    from .cochlear import lyon_cochleagram

    unknown = sorted(set(kw) - set(_LYON_OPTIONS))
    if unknown:
        raise TypeError(f"{func}: unknown keyword argument(s) {unknown} for kind='lyon'")
    feats = tuple(lyon_cochleagram(w, sr, **kw) for w in waves)
    for f in feats:
        f.setflags(write=False)
    return feats


@functools.lru_cache(maxsize=8)
def _fsdd_features_cached(kind: str, options: tuple) -> tuple[np.ndarray, ...]:
    kw = dict(options)
    data = load_fsdd()
    func = "fsdd_features"
    if kind == "lyon":
        return _lyon_many(data.waves, data.sample_rate, kw, func)
    common = {k: kw.pop(k) for k in ("frame_ms", "hop_ms", "n_fft", "fmin", "fmax", "preemphasis") if k in kw}
    if kind == "mfcc":
        n_mfcc, n_mels, lifter = kw.pop("n_mfcc", 13), kw.pop("n_mels", 26), kw.pop("lifter", 0.0)
    else:
        n_mels = kw.pop("n_mels", 40)
    if kw:
        raise TypeError(f"{func}: unknown keyword argument(s) {sorted(kw)} for kind={kind!r}")
    fe = _front_end(
        func,
        data.sample_rate,
        common.get("frame_ms", 25.0),
        common.get("hop_ms", 10.0),
        common.get("n_fft"),
        n_mels,
        common.get("fmin", 0.0),
        common.get("fmax"),
        common.get("preemphasis", 0.97),
    )
    post = _cepstrum_post(func, fe, n_mfcc, lifter) if kind == "mfcc" else (lambda z: z)
    feats = _many(data.waves, fe, post)
    for f in feats:
        f.setflags(write=False)
    return tuple(feats)


def fsdd_features(kind: str = "mfcc", *, n_frames: int | None = None, mode: str = "resample", **options):
    """Front-end features of all 3000 FSDD utterances (cached in memory per set of options).

    Args:
        kind: ``"mfcc"`` (:func:`mfcc`), ``"melspec"`` (:func:`melspec`) or ``"lyon"``
            (:func:`physnn.tasks.cochlear.lyon_cochleagram`: 64 channels every 10 ms by default).
        n_frames: ``None`` for variable-length sequences; an integer to bring every utterance to
            that many frames with :func:`fixed_frames` (``mode``).
        mode: ``"resample"`` or ``"pad"``, see :func:`fixed_frames`.
        **options: front-end options of :func:`mfcc` / :func:`melspec` (``n_mfcc``, ``n_mels``,
            ``frame_ms``, ``hop_ms``, ``n_fft``, ``fmin``, ``fmax``, ``preemphasis``, ``lifter``)
            or of :func:`~physnn.tasks.cochlear.lyon_cochleagram` (``decimation``, ``ear_q``,
            ``step_factor``, ``differ``, ``agc``, ``tau_factor``).

    Returns:
        ``n_frames=None``: a list of 3000 read-only arrays ``(n_frames_i, n_features)``, float64
        (float32 for ``"lyon"``), in the order of :func:`load_fsdd`. Otherwise a float64 array
        ``(3000, n_frames, n_features)``.
    """
    if kind not in _KINDS:
        raise ValueError(f"fsdd_features: kind={kind!r} is not a front end; valid options: {list(_KINDS)}")
    try:
        feats = _fsdd_features_cached(kind, tuple(sorted(options.items())))
    except TypeError as e:
        if "unhashable" in str(e):
            raise TypeError(
                f"fsdd_features: options must be numbers or None (hashable), got {options!r}"
            ) from None
        raise
    if n_frames is None:
        return list(feats)
    return fixed_frames(feats, n_frames, mode=mode)


def fixed_frames(sequences, n_frames: int, *, mode: str = "resample") -> np.ndarray:
    """Bring variable-length feature sequences ``(T_i, F)`` to a common ``(n, n_frames, F)`` array.

    - ``"resample"``: linear interpolation of each feature over normalised time, frame centres
      mapped onto ``n_frames`` equally spaced points from the first to the last frame (a sequence
      of one frame is repeated).
    - ``"pad"``: keep the first ``n_frames`` frames, zero-pad shorter sequences at the end.
    """
    n_frames = _check_int("n_frames", n_frames, 1, "fixed_frames")
    if mode not in ("resample", "pad"):
        raise ValueError(f"fixed_frames: mode={mode!r} is not valid; valid options: 'resample', 'pad'")
    seqs = [np.asarray(s, dtype=np.float64) for s in sequences]
    if not seqs:
        raise ValueError("fixed_frames: sequences is empty")
    n_feat = seqs[0].shape[-1] if seqs[0].ndim == 2 else None
    for i, s in enumerate(seqs):
        if s.ndim != 2 or s.shape[0] == 0 or s.shape[1] != n_feat:
            raise ValueError(
                f"fixed_frames: sequences[{i}] has shape {s.shape}; expected (n_frames_i >= 1, {n_feat})"
            )
    out = np.zeros((len(seqs), n_frames, n_feat))
    for i, s in enumerate(seqs):
        if mode == "pad":
            m = min(n_frames, s.shape[0])
            out[i, :m] = s[:m]
        elif s.shape[0] == 1:
            out[i] = s[0]
        else:
            pos = np.linspace(0.0, s.shape[0] - 1, n_frames)
            lo = np.floor(pos).astype(np.int64)
            hi = np.minimum(lo + 1, s.shape[0] - 1)
            w = (pos - lo)[:, None]
            out[i] = (1.0 - w) * s[lo] + w * s[hi]
    return out


# --------------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------------


def _as_test_speakers(test_speakers) -> tuple[str, ...]:
    sp = (test_speakers,) if isinstance(test_speakers, str) else tuple(test_speakers)
    bad = [s for s in sp if s not in FSDD_SPEAKERS]
    if not sp or bad or len(set(sp)) != len(sp) or len(sp) >= len(FSDD_SPEAKERS):
        raise ValueError(
            f"test_speakers={test_speakers!r} must be 1 to {len(FSDD_SPEAKERS) - 1} distinct names "
            f"from {list(FSDD_SPEAKERS)}"
        )
    return sp


def fsdd_split(
    kind: str = "official", *, test_speakers=None, fold: int = 0, data: FSDDData | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Train/test indices into :func:`load_fsdd`'s order.

    Args:
        kind: ``"official"`` (repetitions 0-4 of every speaker and digit are the test set: 300
            test, 2700 train, speakers shared) or ``"speaker"`` (speaker-independent: every
            utterance of the test speakers is test, the rest train).
        test_speakers: for ``"speaker"``: a name or names from :data:`FSDD_SPEAKERS`
            (1 to 5 of them). Default: leave-one-speaker-out fold ``fold``.
        fold: for ``"speaker"`` without ``test_speakers``: hold out ``FSDD_SPEAKERS[fold]``
            (0-5, alphabetical: george, jackson, lucas, nicolas, theo, yweweler).
        data: the loaded :class:`FSDDData` (default: :func:`load_fsdd`).

    Returns:
        ``(train_idx, test_idx)``: sorted int64 index arrays.
    """
    d = load_fsdd() if data is None else data
    if kind == "official":
        if test_speakers is not None:
            raise ValueError(
                f"fsdd_split: test_speakers={test_speakers!r} applies to kind='speaker' only; "
                "kind='official' splits by repetition index"
            )
        test = d.indices < 5
    elif kind == "speaker":
        if test_speakers is None:
            fold = _check_int("fold", fold, 0, "fsdd_split", hi=len(FSDD_SPEAKERS) - 1)
            test_speakers = (FSDD_SPEAKERS[fold],)
        test = np.isin(d.speakers, _as_test_speakers(test_speakers))
    else:
        raise ValueError(f"fsdd_split: kind={kind!r} is not a split; valid options: 'official', 'speaker'")
    return np.flatnonzero(~test), np.flatnonzero(test)


def fsdd_speaker_folds(data: FSDDData | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """The 6 leave-one-speaker-out folds ``(train_idx, test_idx)``, in :data:`FSDD_SPEAKERS` order."""
    return [fsdd_split("speaker", fold=i, data=data) for i in range(len(FSDD_SPEAKERS))]



# --------------------------------------------------------------------------------------------
# The spoken-digit evaluation of a reservoir: frames, standardisation, selection problems, the
# winner-take-all ridge readout (Appeltant 2011; Larger 2017; Dion 2018)
# --------------------------------------------------------------------------------------------

FSDD_N_DIGITS = 10
"""Number of classes of the spoken-digit task (digits 0-9)."""


_FRONT_ENDS = ("mfcc", "lyon")


@functools.lru_cache(maxsize=4)
def _fsdd_lyon_subset(max_rep: int) -> tuple[np.ndarray, ...]:
    # Default cochleagrams of repetitions < max_rep only (a quick run need not pay for all
    # 3000); each utterance's cochleagram does not depend on the others, so these equal the
    # matching rows of fsdd_features("lyon").
    data = load_fsdd()
    keep = np.flatnonzero(np.asarray(data.indices) < max_rep)
    return _lyon_many([data.waves[i] for i in keep], data.sample_rate, {}, "fsdd_frames")


def fsdd_frames(n_frames: int, n_mfcc: int = 13, max_rep: int = 50, *, front_end: str = "mfcc"):
    """Front-end frames of the FSDD utterances with repetition index below ``max_rep``.

    Each utterance's feature sequence (:func:`fsdd_features`: MFCC, or Lyon's cochleagram with
    its default options) is resampled to ``n_frames`` frames; nothing is standardised (see
    :func:`standardise_frames`).

    **Arguments:**

    - `n_frames`: frames per utterance (each one input sample of a reservoir).
    - `n_mfcc`: MFCC coefficients per frame; ignored for ``front_end="lyon"``, whose channel
      count is set by the cochlear model (64 at 8 kHz).
    - `max_rep`: keep repetitions ``0 .. max_rep - 1`` of every speaker and digit (1-50).
    - `front_end`: ``"mfcc"`` or ``"lyon"`` (:func:`physnn.tasks.cochlear.lyon_cochleagram`,
      default options: 10 ms frames, 64 channels from 3811 Hz down to 79 Hz).

    **Returns:**

    ``(frames, digits, speakers, reps, keep)``: frames ``(n_utt, n_frames, n_features)`` float64
    (``n_features`` = ``n_mfcc`` or 64), the digit, the speaker index into
    :data:`FSDD_SPEAKERS`, the repetition index of each utterance, and the indices of the kept
    utterances in :func:`load_fsdd`'s order.
    """
    if front_end not in _FRONT_ENDS:
        raise ValueError(
            f"fsdd_frames: front_end={front_end!r} is not a front end; valid options: {list(_FRONT_ENDS)}"
        )
    max_rep = _check_int("max_rep", max_rep, 1, "fsdd_frames", hi=50)
    data = load_fsdd()
    keep = np.flatnonzero(np.asarray(data.indices) < max_rep)
    if front_end == "lyon":
        seqs = fsdd_features("lyon") if max_rep == 50 else _fsdd_lyon_subset(max_rep)
        x = fixed_frames(seqs, n_frames)
    else:
        x = fsdd_features("mfcc", n_frames=n_frames, n_mfcc=n_mfcc)[keep]
    reps = np.asarray(data.indices)[keep]
    speakers = np.searchsorted(np.asarray(FSDD_SPEAKERS), np.asarray(data.speakers)[keep])
    return x, np.asarray(data.digits)[keep], speakers, reps, keep


def standardise_frames(frames, train) -> np.ndarray:
    r"""Frames standardised per coefficient with training statistics only:
    $(x - \mu_\mathrm{train}) / \sigma_\mathrm{train}$, the mean and standard deviation over all
    frames of the utterances ``train`` (2 x n_coefficients label-free constants), so that no test
    utterance shapes its own preprocessing.

    **Arguments:**

    - `frames`: ``(n_utt, n_frames, n_coefficients)``.
    - `train`: boolean mask (or indices) of the training utterances.

    **Returns:**

    The standardised frames, float32, the shape of `frames`.
    """
    frames = np.asarray(frames)
    return ((frames - frames[train].mean((0, 1))) / frames[train].std((0, 1))).astype(np.float32)


def fsdd_inputs(n_frames: int, n_mfcc: int = 13, max_rep: int = 50, *, front_end: str = "mfcc"):
    """:func:`fsdd_frames` standardised for the official split (statistics of its training set,
    repetitions 5-49): ``(inputs float32, digits, speakers, reps, keep)``."""
    frames, digits, speakers, reps, keep = fsdd_frames(n_frames, n_mfcc, max_rep, front_end=front_end)
    return standardise_frames(frames, reps >= 5), digits, speakers, reps, keep


def fsdd_problems(speakers, reps) -> dict[str, tuple[np.ndarray, ...]]:
    """The selection problems of the spoken-digit evaluation, as boolean masks over utterances.

    A problem is ``(train_val, val, train, test)``: the operating point and the ridge penalty
    are chosen by training on ``train_val`` and scoring ``val`` (both inside the training data),
    and the test error is that of the readout refitted on ``train`` and scored on ``test``.

    - ``"official"``: test repetitions 0-4, validation 5-9, train_val 10-49 (the dataset's split).
    - ``"speaker_<name>"``, one per speaker (leave one speaker out): test = that speaker,
      validation = the next speaker in :data:`FSDD_SPEAKERS` (cyclically), train_val = the others.

    **Arguments:**

    - `speakers`: speaker index of each utterance (into :data:`FSDD_SPEAKERS`).
    - `reps`: repetition index of each utterance.

    **Returns:**

    ``{name: (train_val, val, train, test)}``, the official split first.
    """
    speakers, reps = np.asarray(speakers), np.asarray(reps)
    n_speakers = len(FSDD_SPEAKERS)
    out = {"official": (reps >= 10, (reps >= 5) & (reps < 10), reps >= 5, reps < 5)}
    for k in range(n_speakers):
        v = (k + 1) % n_speakers
        out[f"speaker_{FSDD_SPEAKERS[k]}"] = (
            (speakers != k) & (speakers != v), speakers == v, speakers != k, speakers == k)
    return out


def fsdd_problem_inputs(frames, problems) -> dict[str, np.ndarray]:
    """The inputs of every selection problem, standardised (:func:`standardise_frames`) with the
    statistics of that problem's training set (``problems[name][2]``; official: repetitions
    5-49; a speaker fold: the five other speakers), so that no test utterance shapes its
    preprocessing. Problems with the same training set share one array (the same object).

    **Returns:**

    ``{name: inputs (n_utt, n_frames, n_coefficients) float32}``.
    """
    out, seen = {}, {}
    for name, (_, _, train, _) in problems.items():
        key = np.asarray(train, bool).tobytes()
        if key not in seen:
            seen[key] = standardise_frames(frames, train)
        out[name] = seen[key]
    return out


def fsdd_groups(speakers, reps, by_speaker: bool = True) -> tuple[np.ndarray, int]:
    """The blocks every selection problem of :func:`fsdd_problems` is a union of: repetitions
    0-4, 5-9 and 10-49, of each speaker (``by_speaker``) or of all speakers together.

    **Returns:**

    ``(groups, n_groups)``: the group index of each utterance and the number of groups
    (3 x 6, or 3).
    """
    reps = np.asarray(reps)
    rep_block = np.where(reps < 5, 0, np.where(reps < 10, 1, 2))
    if not by_speaker:
        return rep_block, 3
    return np.asarray(speakers) * 3 + rep_block, 3 * len(FSDD_SPEAKERS)


def wta_evaluate(feats, labels, groups, n_groups: int, problems, rel_alphas,
                 n_classes: int = FSDD_N_DIGITS) -> dict[str, dict[str, list]]:
    """Word error rates of the winner-take-all ridge readout for every selection problem.

    The readout (:func:`physnn.readout.wta_ridge`) is trained on the per-frame features with the
    utterance's class as the target of every frame, and an utterance is classified by the argmax
    of its time-averaged outputs (:func:`physnn.readout.wta_predict`); the protocol of the
    spoken-digit reservoirs (Appeltant 2011, Larger 2017). One pass over the features
    (:func:`physnn.readout.group_stats`) serves every problem and penalty.

    **Arguments:**

    - `feats`: ``(n_utt, n_frames, n_features)``, e.g. reservoir node states.
    - `labels`: class of each utterance.
    - `groups`, `n_groups`: :func:`fsdd_groups`; every mask of `problems` must be a union of
      groups.
    - `problems`: ``{name: (train_val, val, train, test)}`` masks (:func:`fsdd_problems`).
    - `rel_alphas`: ridge penalties relative to the mean eigenvalue.
    - `n_classes`: number of classes.

    **Returns:**

    ``{name: {"val": [WER per alpha], "test": [WER per alpha], "alphas": [absolute alpha of
    the test readout per alpha]}}``.
    """
    from ..readout import group_stats, wta_predict, wta_ridge
    from .metrics import word_error_rate

    stats = group_stats(feats, labels, groups, n_groups, n_classes)
    means = np.asarray(feats, np.float64).mean(1)
    res = {}
    for name, (trv, val, tr, te) in problems.items():
        fits_v = wta_ridge(stats, sorted(set(groups[trv].tolist())), rel_alphas)
        fits_t = wta_ridge(stats, sorted(set(groups[tr].tolist())), rel_alphas)
        res[name] = {
            "val": [word_error_rate(wta_predict(means[val], w, b), labels[val]) for w, b, _ in fits_v],
            "test": [word_error_rate(wta_predict(means[te], w, b), labels[te]) for w, b, _ in fits_t],
            "alphas": [a for _, _, a in fits_t],
        }
    return res


def wta_choose(grid_results, problem: str) -> tuple[int, int]:
    """The operating point and penalty with the lowest validation error for ``problem``.

    **Arguments:**

    - `grid_results`: one result of :func:`wta_evaluate` per operating point.
    - `problem`: a problem name, e.g. ``"official"``.

    **Returns:**

    ``(point index, alpha index)``; ties go to the earlier point and then to the larger alpha
    (the later one in ``rel_alphas``, listed in increasing order). Test errors play no part.
    """
    best = None
    for gi, r in enumerate(grid_results):
        for ai, v in enumerate(r[problem]["val"]):
            key = (v, -ai)
            if best is None or key < best[0]:
                best = (key, gi, ai)
    if best is None:
        raise ValueError(f"wta_choose: no validation result for problem={problem!r}")
    return best[1], best[2]


def wta_scan(points, make_feats, inputs, labels, groups, n_groups: int, problems, rel_alphas,
             *, desc: str = "grid") -> tuple[dict, list]:
    """Validation and test word error rates of every operating point for every problem, with
    the winner-take-all ridge readout (:func:`wta_evaluate`), and the choice made on validation.

    **Arguments:**

    - `points`: the operating points (any objects; returned as chosen).
    - `make_feats(point, x)`: the features ``(n_utt, n_frames, n_features)`` of all utterances
      from the inputs ``x``, which are ``inputs[problem]``: each problem's own standardisation
      (:func:`fsdd_problem_inputs`); the features are computed once per distinct input array.
    - `labels`, `groups`, `n_groups`, `problems`, `rel_alphas`: as for :func:`wta_evaluate`.
    - `desc`: the progress bar's label.

    **Returns:**

    ``(summary, results)``: per problem the point and penalty chosen on validation
    (:func:`wta_choose`) with its validation and test WER, and the raw results per point.
    """
    from tqdm.auto import tqdm

    from ..readout import blas_threads

    by_inputs = {}  # id of an input array -> (the array, the problems standardised with it)
    for prob in problems:
        by_inputs.setdefault(id(inputs[prob]), (inputs[prob], {}))[1][prob] = problems[prob]
    results = []
    for pt in tqdm(points, desc=desc, leave=False):
        res = {}
        for x, probs in by_inputs.values():
            feats = make_feats(pt, x)
            with blas_threads(1):
                res.update(wta_evaluate(feats, labels, groups, n_groups, probs, rel_alphas))
        results.append(res)
    summary = {}
    for prob in problems:
        gi, ai = wta_choose(results, prob)
        summary[prob] = {"point": points[gi], "rel_alpha": rel_alphas[ai],
                         "val_wer": results[gi][prob]["val"][ai],
                         "test_wer": results[gi][prob]["test"][ai]}
    return summary, results


def speaker_mean(summary) -> float:
    """Mean test WER over the leave-one-speaker-out problems (``speaker_*``) of a
    :func:`wta_scan` summary."""
    return float(np.mean([v["test_wer"] for k, v in summary.items() if k.startswith("speaker_")]))
