r"""Lyon's passive cochlear model (the cochleagram front end of Torrejon et al. 2017).

The model (Lyon 1982; Slaney 1988, Apple ATG Technical Report #13; Slaney's AuditoryToolbox
``LyonPassiveEar``) turns a waveform $x[n]$ sampled at $f_s$ into the firing probabilities of
$N$ auditory-nerve channels, from the base of the cochlea (high frequencies) to the apex (low):

1. **Filter cascade.** An outer/middle-ear pre-emphasis (a zero at 300 Hz) and a compensating
   section (a zero at DC, a pole pair near $f_s/2$), then $N$ second-order sections in
   cascade, each a tap of the basilar membrane:
   $y_k = H_k(z)\,y_{k-1}$, $H(z) = (a_0 + a_1 z^{-1} + a_2 z^{-2}) / (1 + b_1 z^{-1} + b_2 z^{-2})$.
   Stage $k$ has a pole pair at the centre frequency $f_k$ with quality
   $Q_k = f_k / B(f_k)$, $B(f) = \sqrt{f^2 + E_b^2}\,/\,Q_\mathrm{ear}$ ($E_b$ = 1000 Hz), poles at
   $r e^{\pm i\theta}$, $r = e^{-\pi f_k / (Q_k f_s)}$,
   $\theta = 2\pi (f_k/f_s)\sqrt{1 - 1/(4 Q_k^2)}$; a zero pair at
   $f_k + 1.5\,\mathrm{step}\,B(f_k)$ with quality $5 f_z / B(f_k)$; DC gain $f_{k-1}/f_k$.
   The channels are ``step_factor`` bandwidths apart:
   $Q_\mathrm{ear}\,\mathrm{asinh}(f_k/E_b) = Q_\mathrm{ear}\,\mathrm{asinh}(f_\mathrm{top}/E_b)
   - k\,\mathrm{step}$, from just below $f_s/2$ down to where $Q_k$ falls to 1/2.
2. **Half-wave rectification** (inner hair cells): $u_k = \max(0, y_k)$.
3. **Automatic gain control** (adaptation), four stages $i$ with targets
   $T_i$ = 3.2, 1.6, 0.8, 0.4 x 10^-3 and time constants $\tau_i$ = 0.64, 0.16, 0.04, 0.01 s,
   $\varepsilon_i = 1 - e^{-1/(\tau_i f_s)}$, each coupled to the neighbouring channels:
   $o_k[n] = |u_k[n]|\,(1 - s_k[n-1])$,
   $s_k[n] = \min\!\big(0.9,\ \varepsilon\,o_k[n]/T + \tfrac{1-\varepsilon}{3}
   (s_{k-1} + s_k + s_{k+1})[n-1]\big)$.
   In a steady state $o = u / (1 + u/T)$: compressive for $T \lesssim u \lesssim 9T$ per stage
   (above, the gain is pinned at 0.1 and the stage is linear again).
4. **Channel difference** (``differ``, a lateral inhibition that sharpens the place response):
   $d_k = \max(0, o_{k-1} - o_k)$.
5. **Decimation** by $D$ = ``decimation``: a two-pole low-pass with unit DC gain and a double
   real pole at $1 - \varepsilon_d$, $\varepsilon_d = 1 - e^{-1/(\tau_d f_s)}$, time constant
   $\tau_d = \tau_f D / f_s$ ($\tau_f$ = ``tau_factor``); frame $m$ is its value at sample
   $(m+1) D - 1$ (causal), so ``n_frames = len(wave) // D``.

The outputs of the two front sections are dropped; channel $j$ of the result is the tap after
cascade stage $j + 1$, centre frequency :func:`lyon_channel_frequencies` ``[j]`` (decreasing).
At 8 kHz with the defaults ($Q_\mathrm{ear}$ = 8, step = 0.25) there are 64 channels from 3811 Hz
down to 79 Hz; at 16 kHz, 86 (the figure of the ``lyon`` package's README).

Implementation: the second-order sections and the AGC run in the compiled C kernels of the PyPI
package ``lyon`` 1.0.0 (github.com/sciforce/lyon, Apache 2.0: Slaney's ``soscascade.c``,
``agc.c``, ``sosfilters.c`` and a Python port of ``DesignLyonFilters.m`` / ``LyonPassiveEar.m``).
``LyonCalc.lyon_passive_ear`` calls the kernels once per output frame from Python (about 14 s
for the 3000 FSDD utterances); :func:`lyon_cochleagram` runs each kernel once over the whole
waveform with the same recursions in the same order, including the toolbox's "test hack" that
zeroes the two front channels at the first sample of every decimation window, and returns the
same numbers (tested equal to the package, bit for bit). The package's wheel is tagged
pure-Python but ships an x86-64 Linux ``liblyon.so``: other platforms must build it from the
package's sources (``make -C c_src lib``).

References: R. F. Lyon, "A computational model of filtering, detection, and compression in the
cochlea", Proc. IEEE ICASSP 1982, 1282-1285; M. Slaney, "Lyon's cochlear model", Apple Computer
Technical Report #13 (1988); M. Slaney, "Auditory Toolbox", Interval Research Technical Report
#1998-010.
"""

from __future__ import annotations

import functools
import math
import numbers

import numpy as np

__all__ = ["lyon_cochleagram", "lyon_channel_frequencies", "lyon_decimation"]

# AGC targets and time constants (s) of LyonPassiveEar.m, fastest-adapting stage last.
_AGC_TARGETS = (0.0032, 0.0016, 0.0008, 0.0004)
_AGC_TAUS = (0.64, 0.16, 0.04, 0.01)
_EB = 1000.0  # Hz, corner of the bandwidth law B(f) = sqrt(f^2 + Eb^2) / ear_q
_FRAME_S = 0.010  # default frame spacing, as the MFCC front end's 10 ms hop


def lyon_decimation(sr: int) -> int:
    """The default decimation factor: ``round(sr * 10 ms)`` samples, 10 ms frames (80 at 8 kHz,
    100 frames per second, the hop of :func:`physnn.tasks.fsdd.mfcc`)."""
    return max(1, int(round(_check_int("sr", sr, 1, "lyon_decimation") * _FRAME_S)))


def _check_int(name, value, lo, func) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lo:
        raise ValueError(f"{func}: {name}={value!r} must be an integer >= {lo}")
    return int(value)


def _check_positive(name, value, func, lo=0.0) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if isinstance(value, bool) or not math.isfinite(v) or v <= lo:
        raise ValueError(f"{func}: {name}={value!r} must be a finite number > {lo}")
    return v


def _check_bool(name, value, func) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{func}: {name}={value!r} must be True or False")
    return bool(value)


@functools.lru_cache(maxsize=1)
def _calc():
    try:
        from lyon.calc import LyonCalc
    except ImportError as e:
        raise ImportError(
            "the Lyon cochlear front end needs the package 'lyon' (pip install 'lyon>=1.0')"
        ) from e
    try:
        return LyonCalc()
    except OSError as e:
        raise OSError(
            f"the 'lyon' package could not load its compiled kernels ({e}); its wheel ships an "
            "x86-64 Linux liblyon.so only: on other platforms build it from the package sources "
            "(github.com/sciforce/lyon: make -C c_src lib) and copy it next to lyon/calc.py"
        ) from None


def _step(ear_q: float, step_factor) -> float:
    # The toolbox's default: channels a quarter of a bandwidth apart at ear_q = 8.
    return ear_q / 32.0 if step_factor is None else step_factor


@functools.lru_cache(maxsize=16)
def _design(sr: int, ear_q: float, step_factor: float, func: str):
    from lyon.utils import design_lyon_filters

    # The channel count of DesignLyonFilters.m, checked first: the design fails below 2 (it
    # copies the second stage's DC gain to the first).
    top = sr / 2 - 0.5 * step_factor * math.hypot(sr / 2, _EB) / ear_q
    low = _EB / math.sqrt(4 * ear_q**2 - 1)  # where the stage Q falls to 1/2
    n = math.floor(ear_q * (math.asinh(top / _EB) - math.asinh(low / _EB)) / step_factor) if top > 0 else 0
    filters, cf = design_lyon_filters(sr, ear_q, step_factor) if n >= 2 else (None, np.zeros(0))
    if cf.size < 2:
        raise ValueError(
            f"{func}: sr={sr}, ear_q={ear_q}, step_factor={step_factor} leave no cascade channel "
            "(need 2: the band from sr/2 down to where the stage Q falls to 1/2 spans fewer than "
            "two steps); use a higher sr or a smaller step_factor"
        )
    filters = np.ascontiguousarray(filters, dtype=np.float64)
    cf = np.asarray(cf, dtype=np.float64)
    filters.setflags(write=False)
    cf.setflags(write=False)
    return filters, cf


def _options(func, sr, ear_q, step_factor):
    sr = _check_int("sr", sr, 1, func)
    ear_q = _check_positive("ear_q", ear_q, func, lo=0.5)  # a stage Q of 1/2 needs ear_q > 1/2
    step = _check_positive("step_factor", _step(ear_q, step_factor), func)
    return sr, ear_q, step


def lyon_channel_frequencies(sr: int = 8000, *, ear_q: float = 8.0, step_factor: float | None = None):
    r"""Centre frequencies (Hz, decreasing) of the channels of :func:`lyon_cochleagram`:
    $f_k = E_b \sinh(\mathrm{asinh}(f_\mathrm{top}/E_b) - k\,\mathrm{step}/Q_\mathrm{ear})$,
    $k = 1 \dots N$, $E_b$ = 1000 Hz. Arguments as :func:`lyon_cochleagram`; returns a read-only
    float64 array ``(n_channels,)``."""
    sr, ear_q, step = _options("lyon_channel_frequencies", sr, ear_q, step_factor)
    return _design(sr, ear_q, step, "lyon_channel_frequencies")[1]


def _check_wave(wave, decimation: int, func: str) -> np.ndarray:
    x = np.asarray(wave)
    if x.dtype.kind not in "iuf":
        raise ValueError(f"{func}: wave must be a real 1-D array of samples, got dtype {x.dtype}")
    if x.ndim != 1 or x.size < decimation:
        raise ValueError(
            f"{func}: wave has shape {x.shape}; expected a 1-D array of at least decimation="
            f"{decimation} samples (one frame)"
        )
    x = np.ascontiguousarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{func}: wave must be finite (no NaN or inf)")
    return x


def lyon_cochleagram(
    wave,
    sr: int = 8000,
    *,
    decimation: int | None = None,
    ear_q: float = 8.0,
    step_factor: float | None = None,
    differ: bool = True,
    agc: bool = True,
    tau_factor: float = 3.0,
) -> np.ndarray:
    """Lyon's passive cochleagram of one waveform (the model of this module's docstring),
    float32 ``(n_frames, n_channels)``, ``n_frames = len(wave) // decimation``.

    **Arguments:**

    - `wave`: 1-D real samples, full scale 1 (the AGC targets are absolute levels, so the
      scale matters: FSDD's :func:`~physnn.tasks.fsdd.load_fsdd` waves are in [-1, 1)).
    - `sr`: sample rate, Hz.
    - `decimation`: samples per output frame (default :func:`lyon_decimation`: 10 ms, 80 at
      8 kHz).
    - `ear_q`: quality factor of the cochlear stages (> 1/2; 8 in the toolbox; smaller: broader
      filters, fewer channels).
    - `step_factor`: channel spacing in filter bandwidths (default ``ear_q / 32``, 0.25).
    - `differ`: take the half-wave rectified difference of neighbouring channels (step 4).
    - `agc`: apply the four-stage automatic gain control (step 3).
    - `tau_factor`: time constant of the decimation low-pass in frames (3: 30 ms at the default
      decimation).

    **Returns:**

    Non-negative float32 array; channel ``j`` has centre frequency
    ``lyon_channel_frequencies(sr, ear_q=ear_q, step_factor=step_factor)[j]`` (decreasing).
    A silent input gives exact zeros. Typical FSDD speech gives values up to about 1e-3.

    **Raises:**

    `ValueError` naming the argument: a wave that is not a finite real 1-D array of at least
    one frame, a non-integer or non-positive ``sr``/``decimation``, ``ear_q <= 1/2``, a
    non-positive ``step_factor``/``tau_factor``, a non-boolean ``differ``/``agc``, or options
    that leave no channel.
    """
    func = "lyon_cochleagram"
    sr, ear_q, step = _options(func, sr, ear_q, step_factor)
    df = lyon_decimation(sr) if decimation is None else _check_int("decimation", decimation, 1, func)
    tau_factor = _check_positive("tau_factor", tau_factor, func)
    differ = _check_bool("differ", differ, func)
    agc = _check_bool("agc", agc, func)
    x = _check_wave(wave, df, func)
    filters, _ = _design(sr, ear_q, step, func)
    return _cochleagram(x, sr, df, filters, differ, agc, tau_factor).astype(np.float32)


@functools.lru_cache(maxsize=16)
def _decimation_filter(sr: int, df: int, tau_factor: float) -> np.ndarray:
    from lyon.utils import epsilon_from_tau, set_gain

    eps = epsilon_from_tau(df / sr * tau_factor, sr)
    filt = set_gain(np.array([0, 0, 1, -2 * (1 - eps), (1 - eps) ** 2], dtype=np.float64), 1, 0, sr)
    return np.ascontiguousarray(filt[:, None])


@functools.lru_cache(maxsize=16)
def _agc_params(sr: int) -> np.ndarray:
    from lyon.utils import epsilon_from_tau

    return np.array([[t, epsilon_from_tau(tau, sr)] for t, tau in zip(_AGC_TARGETS, _AGC_TAUS, strict=True)],
                    dtype=np.float64)


def _cochleagram(x, sr, df, filters, differ, agc, tau_factor) -> np.ndarray:
    """LyonPassiveEar over the whole waveform at once, float64 ``(n_frames, n_channels)``.

    The package's loop runs soscascade, agc and sosfilters on one decimation window at a time,
    carrying their states; every kernel is a per-sample recursion, so one call over all samples
    gives the same values, provided the per-window "test hack" (zero the two front channels at
    each window's first sample, before the AGC) is applied at every window start.
    """
    calc = _calc()
    n_frames = x.size // df
    out, _ = calc.soscascade(np.ascontiguousarray(x[: n_frames * df]), filters)
    np.maximum(out, 0.0, out=out)  # half-wave rectification
    out[::df, :2] = 0.0
    if agc:
        out, _ = calc.agc(out, _agc_params(sr))
    if differ:
        out[:, 1:] = out[:, :-1] - out[:, 1:]
        np.maximum(out, 0.0, out=out)
    if df > 1:
        out, _ = calc.sosfilters(out, _decimation_filter(sr, df, tau_factor))
    return out[df - 1 :: df, 2:]
