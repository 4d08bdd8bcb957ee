r"""Santa Fe laser data (competition set A) and the one-step-ahead prediction task.

Data
----
``physnn/data/santafe_laser_A/santafe_laser_A.txt``: the intensity of a chaotic far-infrared NH3
laser, 10,093 samples, integers 0-255 (see the ``PROVENANCE.md`` next to it). Points 0-999 are the
competition's series A (86, 141, 95, 41, ...), points 1000-1099 its continuation. Source: Weigend &
Gershenfeld (eds.), *Time Series Prediction: Forecasting the Future and Understanding the Past*,
Addison-Wesley (1994); the laser: Hübner, Weiss, Abraham & Tang in the same volume. Free for research,
no explicit licence, not re-licensed by physnn.

Task
----
One-step-ahead prediction, the delay-reservoir benchmark of Appeltant et al., Nat. Commun. 2, 468
(2011) and Larger et al., Phys. Rev. X 7, 011015 (2017): from the inputs $u(0..k)$ predict
$y(k) = u(k+1)$, scored by the NMSE (:func:`physnn.readout.nmse`) on a test segment that follows
the training segment in time. :func:`santafe_one_step` returns that split.
"""

from __future__ import annotations

import functools
import numbers
import os
from dataclasses import dataclass
from importlib import resources

import numpy as np

__all__ = ["SANTAFE_LENGTH", "OneStepSplit", "load_santafe", "santafe_one_step", "santafe_path"]

#: Number of samples in the packaged series.
SANTAFE_LENGTH = 10_093
_PARTS = {"full": slice(0, None), "A": slice(0, 1000), "continuation": slice(1000, 1100)}


def santafe_path() -> str:
    """Path of the packaged data file ``physnn/data/santafe_laser_A/santafe_laser_A.txt``."""
    return os.fspath(resources.files("physnn").joinpath("data", "santafe_laser_A", "santafe_laser_A.txt"))


@functools.lru_cache(maxsize=4)
def _read(path: str) -> np.ndarray:
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"Santa Fe laser data file not found: {path!r} (expected the 10,093-line text file "
            "shipped in physnn/data/santafe_laser_A/; reinstall physnn or pass path=)"
        )
    values = np.loadtxt(path, dtype=np.float64, ndmin=1)
    if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError(f"{path!r} must hold one finite number per line, got shape {values.shape}")
    values.setflags(write=False)
    return values


def load_santafe(part: str = "full", *, path: str | os.PathLike | None = None) -> np.ndarray:
    """Load the Santa Fe laser series (raw intensities 0-255) as a float64 array.

    Args:
        part: ``"full"`` (all 10,093 points), ``"A"`` (the competition's first 1000) or
            ``"continuation"`` (the 100 points after them, which the competition asked for).
        path: read this file instead of the packaged one (one number per line).

    Returns:
        A new float64 array of shape ``(10093,)``, ``(1000,)`` or ``(100,)``.

    Raises:
        FileNotFoundError: the data file is missing; the message names the path.
        ValueError: unknown ``part``.
    """
    if part not in _PARTS:
        raise ValueError(f"part={part!r} is not a part of the series; valid options: {list(_PARTS)}")
    p = santafe_path() if path is None else os.fspath(path)
    return _read(p)[_PARTS[part]].copy()


@dataclass(frozen=True, eq=False)
class OneStepSplit:
    """Inputs and one-step-ahead targets, ``y[k] = u[k+1]`` of the underlying series.

    Attributes:
        u_train: inputs, shape ``(washout + n_train,)``; the first ``washout`` are for warming
            up the reservoir and are meant to be left out of the readout fit.
        y_train: targets, same shape.
        u_test: inputs, shape ``(n_test,)``; they continue ``u_train`` in time (run the reservoir
            on ``concatenate([u_train, u_test])``).
        y_test: targets, same shape.
        washout: number of leading training samples not to fit.
        offset, scale: the normalisation, ``normalised = (raw - offset) / scale``.
        start: index of ``u_train[0]`` in the full series.
    """

    u_train: np.ndarray
    y_train: np.ndarray
    u_test: np.ndarray
    y_test: np.ndarray
    washout: int
    offset: float
    scale: float
    start: int

    def denormalise(self, values) -> np.ndarray:
        """Map normalised values (e.g. predictions) back to raw intensities."""
        return np.asarray(values, dtype=np.float64) * self.scale + self.offset


def _int_at_least(name: str, value, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lo:
        raise ValueError(f"{name}={value!r} must be an integer >= {lo}")
    return int(value)


def santafe_one_step(
    n_train: int = 3800,
    n_test: int = 1000,
    *,
    washout: int = 200,
    normalise: bool | str = True,
    start: int = 0,
    path: str | os.PathLike | None = None,
) -> OneStepSplit:
    """The one-step-ahead prediction split of the Santa Fe laser series.

    The inputs are ``s[start : start + washout + n_train + n_test]`` of the series ``s`` and the
    targets the same window shifted by one sample (``y[k] = s[k + 1]``); the first
    ``washout + n_train`` pairs are the training part (``washout`` of them for warm-up only),
    the next ``n_test`` the test part. The defaults use samples 0-5000 of the 10,093.

    Normalisation (statistics from the training inputs only, so nothing leaks from the test part):

    - ``True`` or ``"max"`` (default): divide by the maximum of the training inputs, which maps the
      8-bit intensities to [0, 1] (the maximum is 255 for the default split); a common scaling for
      delay reservoirs, whose input mask sets the drive amplitude anyway.
    - ``"zscore"``: subtract the mean and divide by the standard deviation of the training inputs.
    - ``False`` or ``None``: raw intensities (0-255) as float64.

    The NMSE is unchanged by any of these (it is scale-free); the raw values are
    ``split.denormalise(normalised)``.

    Raises:
        ValueError: naming the parameter, for non-integer or negative sizes, a split that needs
            more samples than the series has, or an unknown ``normalise``.
        FileNotFoundError: the data file is missing.
    """
    n_train = _int_at_least("n_train", n_train, 1)
    n_test = _int_at_least("n_test", n_test, 1)
    washout = _int_at_least("washout", washout, 0)
    start = _int_at_least("start", start, 0)
    if normalise is True:
        normalise = "max"
    elif normalise is False or normalise is None:
        normalise = "none"
    if normalise not in ("max", "zscore", "none"):
        raise ValueError(
            f"normalise={normalise!r} is not a normalisation; valid options: True or 'max' (divide "
            "by the training maximum), 'zscore', False or None (raw)"
        )
    s = load_santafe(path=path)
    n_in = washout + n_train + n_test
    if start + n_in + 1 > s.size:
        raise ValueError(
            f"start={start} + washout={washout} + n_train={n_train} + n_test={n_test} + 1 (the last "
            f"target) = {start + n_in + 1} samples exceed the series length {s.size}"
        )
    u = s[start : start + n_in]
    y = s[start + 1 : start + n_in + 1]
    n_fit = washout + n_train
    train_u = u[:n_fit]
    if normalise == "max":
        offset, scale = 0.0, float(np.max(train_u))
    elif normalise == "zscore":
        offset, scale = float(np.mean(train_u)), float(np.std(train_u))
    else:
        offset, scale = 0.0, 1.0
    if not scale > 0:
        raise ValueError(f"normalise={normalise!r}: the training inputs give scale {scale!r}; need > 0")
    u = (u - offset) / scale
    y = (y - offset) / scale
    return OneStepSplit(
        u_train=u[:n_fit].copy(),
        y_train=y[:n_fit].copy(),
        u_test=u[n_fit:].copy(),
        y_test=y[n_fit:].copy(),
        washout=washout,
        offset=offset,
        scale=scale,
        start=start,
    )
