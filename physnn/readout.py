r"""Closed-form linear readouts for reservoir computing, and the metrics used to score them.

A reservoir (a simulated physical device) maps an input sequence to a feature matrix
$X \in \mathbb{R}^{n \times p}$ (one row per sample, e.g. per time step), and only a linear
readout $\hat Y = X W + \mathbf{1} b^\top$ is trained, by ridge regression:

$$W(\alpha) = \operatorname*{arg\,min}_W \; \lVert X_c W - Y_c \rVert_F^2
  + \alpha \lVert W \rVert_F^2 = (X_c^\top X_c + \alpha I)^{-1} X_c^\top Y_c,
  \qquad b = \bar y - W^\top \bar x,$$

where $X_c = X - \mathbf{1}\bar x^\top$ and $Y_c = Y - \mathbf{1}\bar y^\top$ are centred, so the
intercept $b$ is not regularised.

- :func:`ridge_fit` solves this in float64 with NumPy (a float32 solve on reservoir states is not
  accurate enough: NARMA10 NMSE degrades from 0.35 to 0.5), chooses $\alpha$ by cross-validation
  and returns a :class:`RidgeReadout`, an :class:`equinox.Module` usable under ``jax.jit``.
- :func:`ridge_solve` is the same estimator in JAX, differentiable with respect to the features,
  the targets and $\alpha$, for end-to-end training of a device with a closed-form readout.
- :func:`nmse`, :func:`nrmse` and :func:`accuracy` are the metrics used across the library, and
  :func:`cv_folds` is the (deterministic, seeded) fold split used by the cross-validation:
  shuffled and stratified by class for a classification, contiguous blocks in time order for a
  regression, whole groups when ``groups`` are given. A :class:`CVWarning` says when the
  cross-validated score is far below the training score.
- :func:`group_stats`, :func:`wta_ridge` and :func:`wta_predict` are the winner-take-all
  classifier of sequences of frames (every frame trained on its sequence's class, a sequence
  classified by its time-averaged outputs), solved from per-group sums so that many training
  sets share one pass over the features; :func:`blas_threads` limits OpenBLAS's threads around
  many small solves.
"""

from __future__ import annotations

import contextlib
import ctypes
import numbers
import re
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
from jaxtyping import Array

__all__ = [
    "RidgeReadout",
    "ridge_fit",
    "ridge_solve",
    "cv_folds",
    "CVWarning",
    "nmse",
    "nrmse",
    "accuracy",
    "group_stats",
    "wta_ridge",
    "wta_predict",
    "blas_threads",
]

# Default ridge grid, relative to the mean eigenvalue trace(X_c^T X_c) / n_features.
_DEFAULT_RELATIVE_ALPHAS = np.logspace(-8, 4, 25)


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


def _no_tracer(name: str, value, func: str):
    if isinstance(value, jax.core.Tracer):
        raise TypeError(
            f"{func}: {name} is a JAX tracer; {func} solves in float64 NumPy and cannot run "
            "inside jax.jit/jax.grad. Use physnn.readout.ridge_solve for a differentiable "
            "closed-form readout."
        )


def _real_array(name: str, value, func: str) -> np.ndarray:
    _no_tracer(name, value, func)
    a = np.asarray(value)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or _is_label_dtype(a.dtype)):
        raise ValueError(f"{func}: {name} must be a real numeric array, got dtype {a.dtype}")
    if np.iscomplexobj(a):
        raise ValueError(f"{func}: {name} must be real, got complex dtype {a.dtype}")
    return a


def _require_finite(name: str, a: np.ndarray, func: str):
    bad = ~np.isfinite(a)
    count = int(bad.sum())
    if count:
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{func}: {name} contains {count} non-finite values (NaN/inf); the first is at index "
            f"{first} of shape {a.shape}. A ridge readout needs finite {name}: drop or impute "
            "those samples (a diverging simulation usually shows up here first)"
        )


def _check_features(features, func: str) -> np.ndarray:
    a = _real_array("features", features, func)
    if a.ndim == 1:
        raise ValueError(
            f"{func}: features has shape {a.shape}; expected a 2-D array (n_samples, n_features). "
            "For one feature per sample use features[:, None]; for a single sample use "
            "features[None, :]"
        )
    if a.ndim != 2:
        raise ValueError(
            f"{func}: features has shape {a.shape}; expected a 2-D array (n_samples, n_features) "
            "(flatten any time/batch axes into the sample axis first, e.g. "
            "features.reshape(-1, features.shape[-1]))"
        )
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(
            f"{func}: features has shape {a.shape}; expected at least one sample and one feature"
        )
    a = a.astype(np.float64)
    _require_finite("features", a, func)
    return a


def _is_label_dtype(dtype) -> bool:
    return np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.bool_)


def _check_targets(targets, n_samples: int, classify, func: str):
    """Returns (Y (n, m) float64, classify, classes or None, labels index or None, scalar)."""
    t = _real_array("targets", targets, func)
    if t.ndim not in (1, 2):
        raise ValueError(
            f"{func}: targets has shape {t.shape}; expected (n_samples,) or "
            "(n_samples, n_outputs)"
        )
    if t.shape[0] != n_samples:
        raise ValueError(
            f"{func}: targets has {t.shape[0]} samples (shape {t.shape}) but features has "
            f"{n_samples}; both need the same n_samples along axis 0"
        )
    if classify is None:
        classify = t.ndim == 1 and _is_label_dtype(t.dtype)
    if not classify:
        y = t.astype(np.float64)
        _require_finite("targets", y, func)
        scalar = t.ndim == 1
        return (y[:, None] if scalar else y), False, None, None, scalar
    if t.ndim != 1:
        raise ValueError(
            f"{func}: classify=True needs targets of shape (n_samples,) holding integer class "
            f"labels; got shape {t.shape}"
        )
    if not _is_label_dtype(t.dtype):
        _require_finite("targets", t, func)
        if np.any(t != np.round(t)):
            raise ValueError(
                f"{func}: classify=True needs integer class labels, but targets (dtype {t.dtype}) "
                "has non-integer values"
            )
    t = t.astype(np.int64)
    classes, index = np.unique(t, return_inverse=True)
    if classes.size < 2:
        raise ValueError(
            f"{func}: classify=True needs at least 2 classes in targets, got only "
            f"{classes.tolist()}"
        )
    onehot = np.zeros((n_samples, classes.size), np.float64)
    onehot[np.arange(n_samples), index] = 1.0
    return onehot, True, tuple(int(c) for c in classes), index, False


def _check_alpha(name: str, value, func: str) -> float:
    _no_tracer(name, value, func)
    a = np.asarray(value)
    if a.ndim != 0 or not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
        raise ValueError(f"{func}: {name}={value!r} must be a real scalar >= 0")
    x = float(a)
    if not np.isfinite(x) or x < 0:
        raise ValueError(f"{func}: {name}={x!r} must be finite and >= 0 (ridge penalty)")
    return x


def _check_folds(folds, n_samples: int, func: str = "cv_folds") -> int:
    if isinstance(folds, bool) or not isinstance(folds, numbers.Integral):
        raise ValueError(f"{func}: folds={folds!r} must be an integer >= 2")
    folds = int(folds)
    if folds < 2:
        raise ValueError(f"{func}: folds={folds} must be >= 2 for cross-validation")
    if folds > n_samples:
        raise ValueError(
            f"{func}: folds={folds} is larger than n_samples={n_samples}; expected "
            f"2 <= folds <= n_samples"
        )
    return folds


# --------------------------------------------------------------------------------------------
# Folds
# --------------------------------------------------------------------------------------------


def cv_folds(n_samples: int, folds: int = 5, groups=None, *, labels=None,
             seed: int = 0) -> list[np.ndarray]:
    r"""Deterministic $k$-fold split of ``range(n_samples)`` into validation index sets.

    With ``labels`` (class labels, and no ``groups``) the folds are **shuffled and
    stratified**: the samples of each class are permuted (by ``numpy.random.default_rng(seed)``)
    and dealt to the folds in turn, each class starting where the previous one stopped, so that
    every fold holds each class in proportion (to within one sample) and the fold sizes differ by
    at most one. This is the default for classification in :func:`ridge_fit`: with rows sorted
    by class, contiguous blocks would hold out whole classes.

    Without ``groups`` or ``labels`` the folds are **contiguous blocks** in sample order
    (``np.array_split(np.arange(n_samples), folds)``), never shuffled: consecutive reservoir
    states are strongly correlated, so a shuffled split would validate on samples that are
    practically copies of training samples. (No gap is left between blocks; with washout-length
    memory the leakage at the $2(k-1)$ block boundaries is negligible for long series.)

    With ``groups`` (one label per sample, e.g. a speaker or utterance id) whole groups are
    assigned to folds, so **no group is in two folds**: groups, in order of first appearance,
    are sorted by size (largest first, stable) and each is given to the fold that currently has
    the fewest samples (lowest fold index on ties). Every fold receives at least one group.

    The folds partition ``range(n_samples)``: every sample is validated exactly once.

    **Arguments:**

    - `n_samples`: number of samples.
    - `folds`: number of folds $k$, with $2 \le k \le$ `n_samples` (and $k \le$ number of groups).
    - `groups`: optional array of shape ``(n_samples,)`` of hashable group labels.
    - `labels`: optional class labels of shape ``(n_samples,)`` for stratified, shuffled folds
      (ignored when `groups` is given: whole groups are then kept together).
    - `seed`: the seed of the shuffle of stratified folds (an integer).

    **Returns:**

    A list of ``folds`` sorted integer arrays, the validation indices of each fold.
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) or n_samples < 1:
        raise ValueError(f"cv_folds: n_samples={n_samples!r} must be a positive integer")
    n_samples = int(n_samples)
    folds = _check_folds(folds, n_samples)
    if groups is None and labels is not None:
        return _stratified_folds(_check_groups(labels, n_samples, "cv_folds"), folds, seed)
    if groups is None:
        return [np.asarray(f, dtype=np.int64) for f in np.array_split(np.arange(n_samples), folds)]
    g = _check_groups(groups, n_samples, "cv_folds")
    uniq, first, inverse, counts = np.unique(
        g, return_index=True, return_inverse=True, return_counts=True
    )
    if uniq.size < folds:
        raise ValueError(
            f"cv_folds: groups has {uniq.size} distinct groups but folds={folds}; group-wise "
            "cross-validation needs at least as many groups as folds (lower folds)"
        )
    by_appearance = np.argsort(first, kind="stable")
    order = by_appearance[np.argsort(-counts[by_appearance], kind="stable")]
    fold_of_group = np.empty(uniq.size, dtype=np.int64)
    load = np.zeros(folds, dtype=np.int64)
    for gi in order:
        f = int(np.argmin(load))  # argmin returns the lowest index on ties
        fold_of_group[gi] = f
        load[f] += counts[gi]
    fold_of_sample = fold_of_group[inverse.reshape(-1)]
    return [np.flatnonzero(fold_of_sample == f) for f in range(folds)]


def _check_groups(groups, n_samples: int, func: str) -> np.ndarray:
    _no_tracer("groups", groups, func)
    g = np.asarray(groups)
    if g.shape != (n_samples,):
        raise ValueError(
            f"{func}: groups has shape {g.shape}; expected ({n_samples},), one group label per "
            "sample"
        )
    return g


# --------------------------------------------------------------------------------------------
# Spectral ridge solver (float64 NumPy)
# --------------------------------------------------------------------------------------------


class _Spectral:
    r"""A centred ridge problem diagonalised once: $W(\alpha) = L\,\mathrm{diag}(1/(s+\alpha))\,R$.

    Primal ($p \le n$): $X_c^\top X_c = V S V^\top$, $L = V$, $R = V^\top X_c^\top Y_c$.
    Dual ($p > n$): $X_c X_c^\top = U S U^\top$, $L = X_c^\top U$, $R = U^\top Y_c$, using
    $(X_c^\top X_c + \alpha I)^{-1} X_c^\top = X_c^\top (X_c X_c^\top + \alpha I)^{-1}$.
    """

    def __init__(self, s, left, right, x_mean, y_mean):
        s = np.clip(s, 0.0, None)  # round-off can make tiny eigenvalues negative
        self.s, self.left, self.right = s, left, right
        self.x_mean, self.y_mean = x_mean, y_mean
        scale = s.max() if s.size else 0.0
        # Directions with s + alpha below round-off level are dropped (pseudo-inverse at alpha=0).
        self.tol = scale * max(left.shape) * np.finfo(np.float64).eps

    @classmethod
    def from_data(cls, x, y, fit_intercept: bool):
        n, p = x.shape
        x_mean = x.mean(0) if fit_intercept else np.zeros(p)
        y_mean = y.mean(0) if fit_intercept else np.zeros(y.shape[1])
        xc, yc = x - x_mean, y - y_mean
        if p <= n:
            return cls.from_gram(xc.T @ xc, xc.T @ yc, x_mean, y_mean)
        s, u = np.linalg.eigh(xc @ xc.T)
        return cls(s, xc.T @ u, u.T @ yc, x_mean, y_mean)

    @classmethod
    def from_gram(cls, gram, xty, x_mean, y_mean):
        s, v = np.linalg.eigh(gram)
        return cls(s, v, v.T @ xty, x_mean, y_mean)

    def filter(self, alpha: float) -> np.ndarray:
        d = self.s + alpha
        out = np.zeros_like(d)
        keep = d > self.tol
        out[keep] = 1.0 / d[keep]
        return out

    def weights(self, alpha: float) -> np.ndarray:
        return (self.left * self.filter(alpha)) @ self.right

    def bias(self, w: np.ndarray) -> np.ndarray:
        return self.y_mean - self.x_mean @ w


def _stratified_folds(labels, folds: int, seed) -> list[np.ndarray]:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"cv_folds: seed={seed!r} must be an integer")
    rng = np.random.default_rng(int(seed))
    _, inverse = np.unique(labels, return_inverse=True)
    fold_of = np.empty(labels.shape[0], dtype=np.int64)
    start = 0
    for c in range(inverse.max() + 1):
        members = rng.permutation(np.flatnonzero(inverse == c))
        fold_of[members] = (start + np.arange(members.size)) % folds
        start = (start + members.size) % folds
    return [np.flatnonzero(fold_of == k).astype(np.int64) for k in range(folds)]


class CVWarning(UserWarning):
    """:func:`ridge_fit`'s cross-validated score is far below its training score: the readout
    overfits, or the folds hold out what the training never saw (e.g. whole classes or
    speakers)."""


def _check_generalisation(x, y, label_index, spec, alpha, cv, func):
    """Warn (:class:`CVWarning`) when the cross-validated score at the chosen alpha is far below
    the training score. Classification: the CV accuracy is less than halfway from chance
    (1 / number of classes) to the training accuracy. Regression: the CV mean squared error is
    more than 10 times the training one and more than 1 % of the targets' variance (so that
    near-perfect fits do not warn)."""
    w = spec.weights(alpha)
    pred = x @ w + spec.bias(w)
    train_mse = float(np.mean((pred - y) ** 2))
    _, cv_mse, cv_acc = cv
    if label_index is not None:
        chance = 1.0 / y.shape[1]
        train_acc = float(np.mean(np.argmax(pred, axis=1) == label_index))
        if train_acc > chance and cv_acc - chance < 0.5 * (train_acc - chance):
            warnings.warn(
                f"{func}: cross-validated accuracy {cv_acc:.3f} is far below the training "
                f"accuracy {train_acc:.3f} (chance {chance:.3f}) at alpha={alpha:.3g}: the "
                "readout overfits, or the folds hold out what training never saw; check the "
                "features, or pass groups= to validate on unseen groups on purpose",
                CVWarning, stacklevel=3)
    else:
        var = float(np.mean((y - y.mean(0)) ** 2))
        if cv_mse > 10 * train_mse and cv_mse > 0.01 * var:
            warnings.warn(
                f"{func}: cross-validated mean squared error {cv_mse:.3g} is more than 10 times "
                f"the training error {train_mse:.3g} at alpha={alpha:.3g}: the readout overfits "
                "(too many features for the samples?)", CVWarning, stacklevel=3)


def _cv_path(x, y, label_index, alphas, folds, fit_intercept):
    """Pooled validation MSE (and accuracy if label_index is given) for every alpha."""
    n, p = x.shape
    m = y.shape[1]
    sq_err = np.zeros(alphas.size)
    correct = np.zeros(alphas.size)
    primal = p <= n - max(len(f) for f in folds)
    if primal:
        # Down-date sufficient statistics instead of rebuilding each training Gram matrix: one
        # pass over the data in total. The data are shifted by the global means first so that
        # re-centring each training set from raw sums loses no precision.
        shift_x = x.mean(0) if fit_intercept else np.zeros(p)
        shift_y = y.mean(0) if fit_intercept else np.zeros(m)
        xs, ys = x - shift_x, y - shift_y
        stats = []
        for f in folds:
            xf, yf = xs[f], ys[f]
            stats.append((xf.T @ xf, xf.T @ yf, xf.sum(0), yf.sum(0), len(f)))
        totals = [sum(st[i] for st in stats) for i in range(5)]
    for k, f in enumerate(folds):
        train = np.ones(n, dtype=bool)
        train[f] = False
        n_train = n - len(f)
        if primal:
            g, xty, sx, sy, _ = (totals[i] - stats[k][i] for i in range(5))
            if fit_intercept:
                mx, my = sx / n_train, sy / n_train
                g = g - n_train * np.outer(mx, mx)
                xty = xty - n_train * np.outer(mx, my)
            else:
                mx, my = np.zeros(p), np.zeros(m)
            spec = _Spectral.from_gram(g, xty, mx + shift_x, my + shift_y)
        else:
            spec = _Spectral.from_data(x[train], y[train], fit_intercept)
        z = (x[f] - spec.x_mean) @ spec.left
        for a, alpha in enumerate(alphas):
            # Same penalty per training sample as the final fit on all n samples.
            pred = (z * spec.filter(alpha * n_train / n)) @ spec.right + spec.y_mean
            sq_err[a] += np.sum((pred - y[f]) ** 2)
            if label_index is not None:
                correct[a] += np.sum(np.argmax(pred, axis=1) == label_index[f])
    mse = sq_err / (n * m)
    acc = correct / n if label_index is not None else None
    return mse, acc


# --------------------------------------------------------------------------------------------
# The readout
# --------------------------------------------------------------------------------------------


class RidgeReadout(eqx.Module):
    r"""A trained linear readout $y = x W + b$, as returned by :func:`ridge_fit`.

    Calling the readout gives the linear output; :meth:`predict` gives class labels
    ($\arg\max$ of the output, mapped back to the original labels) for a classifier, and
    otherwise the output in the shape of the training targets. Both work under ``jax.jit`` and
    ``jax.vmap``, on features with any leading batch axes.

    **Fields:**

    - `weights`: array of shape ``(n_features, n_outputs)``.
    - `bias`: array of shape ``(n_outputs,)``.
    - `alpha`: the ridge penalty used (static).
    - `classify`: whether the readout is a classifier (static).
    - `classes`: the original class labels, in output order, for a classifier; else ``None``.
    - `scalar_target`: whether the targets were 1-D, so that :meth:`predict` drops the output
      axis (static).
    - `cv_scores`: ``None`` if ``alpha`` was given; otherwise a tuple of
      ``(alpha, validation_mse, validation_accuracy)`` triples, one per candidate alpha, with
      ``validation_accuracy`` ``None`` for regression (static).

    The weights are computed in float64 and stored as JAX arrays, i.e. as float32 unless
    ``jax_enable_x64`` is on.
    """

    weights: Array  # (n_features, n_outputs)
    bias: Array  # (n_outputs,)
    alpha: float = eqx.field(static=True)
    classify: bool = eqx.field(static=True, default=False)
    classes: tuple[int, ...] | None = eqx.field(static=True, default=None)
    scalar_target: bool = eqx.field(static=True, default=False)
    cv_scores: tuple | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        if self.weights.ndim != 2 or self.bias.shape != (self.weights.shape[1],):
            raise ValueError(
                f"RidgeReadout: weights has shape {tuple(self.weights.shape)} and bias "
                f"{tuple(self.bias.shape)}; expected (n_features, n_outputs) and (n_outputs,)"
            )
        if self.classify and (self.classes is None or len(self.classes) != self.weights.shape[1]):
            raise ValueError(
                f"RidgeReadout: classify=True needs classes with one label per output "
                f"({self.weights.shape[1]}), got {self.classes!r}"
            )

    @property
    def n_features(self) -> int:
        return self.weights.shape[0]

    @property
    def n_outputs(self) -> int:
        return self.weights.shape[1]

    def __call__(self, features) -> Array:
        """Linear output.

        **Arguments:**

        - `features`: array of shape ``(..., n_features)``.

        **Returns:**

        Array of shape ``(..., n_outputs)``: ``features @ weights + bias``.
        """
        x = jnp.asarray(features)
        if x.ndim < 1 or x.shape[-1] != self.n_features:
            raise ValueError(
                f"RidgeReadout: features has shape {tuple(x.shape)}; expected trailing axis "
                f"n_features={self.n_features} (any leading axes are batch axes)"
            )
        if not jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(self.weights.dtype)
        return x @ self.weights + self.bias

    def predict(self, features) -> Array:
        """Predictions in the form of the training targets.

        **Arguments:**

        - `features`: array of shape ``(..., n_features)``.

        **Returns:**

        For a classifier, integer labels of shape ``(...)`` (the class with the largest output).
        Otherwise the output, of shape ``(...)`` if the training targets were 1-D and
        ``(..., n_outputs)`` if they were 2-D.
        """
        out = self(features)
        if self.classify:
            return jnp.asarray(self.classes)[jnp.argmax(out, axis=-1)]
        if self.scalar_target:
            return out[..., 0]
        return out


def ridge_fit(
    features,
    targets,
    alpha=None,
    *,
    alphas=None,
    folds: int = 5,
    groups=None,
    classify: bool | None = None,
    fit_intercept: bool = True,
    seed: int = 0,
) -> RidgeReadout:
    r"""Fit a ridge-regression readout in closed form (float64), choosing $\alpha$ by CV.

    With centred $X_c, Y_c$ (if `fit_intercept`), the readout is
    $W(\alpha) = (X_c^\top X_c + \alpha I)^{-1} X_c^\top Y_c$ and $b = \bar y - W^\top \bar x$.
    The Gram matrix is diagonalised once, $X_c^\top X_c = V\,\mathrm{diag}(s)\,V^\top$, after
    which $W(\alpha) = V\,\mathrm{diag}(1/(s+\alpha))\,V^\top X_c^\top Y_c$ costs little for every
    $\alpha$. When ``n_features > n_samples`` the equivalent dual form
    $W = X_c^\top (X_c X_c^\top + \alpha I)^{-1} Y_c$ is used, diagonalising the
    ``n_samples x n_samples`` kernel matrix instead. ``alpha = 0`` gives the minimum-norm
    least-squares solution.

    **Choosing alpha.** If `alpha` is ``None``, every candidate in `alphas` is scored by $k$-fold
    cross-validation (``k = folds``) with the folds of :func:`cv_folds`: with `groups`, whole
    groups; for classification, shuffled folds stratified by class (seeded by `seed`, so the
    same call gives the same folds); for regression, contiguous blocks of samples (time order
    is kept: neighbouring reservoir states are near copies of each other, so shuffled folds
    would validate on the training data). A training set of $n_{tr}$ samples is fitted with penalty
    $\alpha\,n_{tr}/n$, the same penalty per sample as the final fit. Predictions on the
    held-out fold are scored by the mean squared error over all entries, pooled over folds. For
    regression the alpha with the lowest validation MSE is chosen; for classification the one
    with the highest validation accuracy, ties broken by the lower MSE. Remaining exact ties go
    to the larger alpha. The readout is then refitted on all samples with the chosen alpha.

    The default grid is scale-free:
    ``alphas = np.logspace(-8, 4, 25) * trace(X_c^T X_c) / n_features``, i.e. from $10^{-8}$ to
    $10^4$ times the mean eigenvalue of the centred Gram matrix (which equals
    ``n_samples`` times the mean feature variance); if that trace is 0 the factor is 1. Explicit
    `alphas` are used as given (absolute values).

    **Classification.** With ``classify=True`` the targets are integer class labels; they are
    one-hot encoded (one output per distinct label, in sorted order), the ridge is fitted to
    the one-hot targets, and :meth:`RidgeReadout.predict` returns the label with the largest
    output.

    **Arguments:**

    - `features`: array of shape ``(n_samples, n_features)``, e.g. reservoir states with
      time and batch axes flattened into the sample axis.
    - `targets`: real array of shape ``(n_samples,)`` or ``(n_samples, n_outputs)``, or integer
      class labels of shape ``(n_samples,)`` for classification.
    - `alpha`: ridge penalty $\ge 0$; ``None`` (default) chooses it by cross-validation.
    - `alphas`: candidate penalties for the cross-validation (1-D, each $\ge 0$); only with
      ``alpha=None``. Default: the scale-free grid above.
    - `folds`: number of cross-validation folds, ``2 <= folds <= n_samples``.
    - `groups`: optional labels of shape ``(n_samples,)`` (e.g. speaker ids) for group-wise
      folds; needs at least `folds` distinct groups.
    - `classify`: treat the targets as class labels. Default: ``True`` exactly when the
      targets are 1-D with an integer (or bool) dtype.
    - `fit_intercept`: fit an unregularised bias (centring features and targets). If
      ``False`` the bias is zero and nothing is centred.
    - `seed`: seed of the shuffled, stratified folds of a classification (an integer).

    **Warns:** :class:`CVWarning` when the cross-validated score at the chosen alpha is far below
    the training score: a CV accuracy less than halfway from chance to the training accuracy,
    or a CV mean squared error more than 10 times the training one (and above 1 % of the
    targets' variance).

    **Returns:**

    A :class:`RidgeReadout`.

    **Raises:**

    ``ValueError`` (naming the parameter) for features that are not 2-D, mismatched
    ``n_samples``, non-finite features or targets, a negative alpha, ``folds`` outside
    ``[2, n_samples]``, or fewer groups than folds. ``TypeError`` when called on JAX tracers
    (use :func:`ridge_solve` inside ``jax.jit``/``jax.grad``).
    """
    func = "ridge_fit"
    x = _check_features(features, func)
    n, p = x.shape
    y, classify, classes, label_index, scalar = _check_targets(targets, n, classify, func)
    if groups is not None:
        groups = _check_groups(groups, n, func)

    cv_scores = None
    if alpha is not None:
        if alphas is not None:
            raise ValueError(
                f"{func}: got both alpha={alpha!r} and alphas; pass alpha to fix the penalty or "
                "alphas (with alpha=None) to choose it by cross-validation"
            )
        alpha = _check_alpha("alpha", alpha, func)
        spec = _Spectral.from_data(x, y, fit_intercept)
    else:
        spec = _Spectral.from_data(x, y, fit_intercept)
        if alphas is None:
            trace = float(spec.s.sum())
            grid = _DEFAULT_RELATIVE_ALPHAS * (trace / p if trace > 0 else 1.0)
        else:
            _no_tracer("alphas", alphas, func)
            grid = np.asarray(alphas, dtype=np.float64)
            if grid.ndim != 1 or grid.size == 0:
                raise ValueError(
                    f"{func}: alphas has shape {grid.shape}; expected a non-empty 1-D array of "
                    "candidate penalties"
                )
            if not np.all(np.isfinite(grid)) or np.any(grid < 0):
                raise ValueError(
                    f"{func}: alphas={grid.tolist()} must all be finite and >= 0 (ridge penalty)"
                )
        fold_idx = _cv_folds_for(n, folds, groups, func,
                                 labels=label_index if classify and groups is None else None,
                                 seed=seed)
        mse, acc = _cv_path(x, y, label_index, grid, fold_idx, fit_intercept)
        if acc is not None:
            best = np.lexsort((-grid, mse, -acc))[0]
        else:
            best = np.lexsort((-grid, mse))[0]
        alpha = float(grid[best])
        cv_scores = tuple(
            (float(grid[i]), float(mse[i]), None if acc is None else float(acc[i]))
            for i in range(grid.size)
        )
        _check_generalisation(x, y, label_index, spec, alpha, cv_scores[best], func)

    w = spec.weights(alpha)
    b = spec.bias(w)
    return RidgeReadout(
        weights=jnp.asarray(w),
        bias=jnp.asarray(b),
        alpha=alpha,
        classify=classify,
        classes=classes,
        scalar_target=scalar,
        cv_scores=cv_scores,
    )


def _cv_folds_for(n_samples, folds, groups, func, labels=None, seed=0):
    """:func:`cv_folds` with error messages attributed to ``func``."""
    try:
        return cv_folds(n_samples, folds, groups, labels=labels, seed=seed)
    except ValueError as e:
        raise ValueError(str(e).replace("cv_folds:", f"{func}:", 1)) from None


# --------------------------------------------------------------------------------------------
# Differentiable JAX solve
# --------------------------------------------------------------------------------------------


def ridge_solve(features, targets, alpha, *, fit_intercept: bool = True):
    r"""Differentiable closed-form ridge regression in JAX.

    Computes $W = (X_c^\top X_c + \alpha I)^{-1} X_c^\top Y_c$ by a Cholesky factorisation and
    $b = \bar y - W^\top \bar x$, with $X_c, Y_c$ centred when `fit_intercept`. When
    ``n_features > n_samples`` the equivalent dual system
    $W = X_c^\top (X_c X_c^\top + \alpha I)^{-1} Y_c$ is factorised instead. The result is
    differentiable (``jax.grad``, ``jax.jit``, ``jax.vmap``) with respect to `features`,
    `targets` and `alpha`, so a device can be trained end-to-end through its readout, e.g. with
    a loss ``nmse(features_val @ W + b, y_val)``.

    Unlike :func:`ridge_fit` this runs in the JAX default precision (float32 unless
    ``jax_enable_x64``): keep `alpha` well above round-off, e.g. ``>= 1e-6 * trace / p``.

    **Arguments:**

    - `features`: array of shape ``(n_samples, n_features)``.
    - `targets`: array of shape ``(n_samples,)`` or ``(n_samples, n_outputs)``.
    - `alpha`: ridge penalty, a scalar $> 0$ (the factorised matrix must be positive definite).
    - `fit_intercept`: centre the data and return the unregularised bias; otherwise the bias
      is zero.

    **Returns:**

    ``(weights, bias)``, of shapes ``(n_features, n_outputs)`` and ``(n_outputs,)``, or
    ``(n_features,)`` and ``()`` for 1-D targets.
    """
    func = "ridge_solve"
    x = jnp.asarray(features)
    y = jnp.asarray(targets)
    if x.ndim != 2:
        raise ValueError(
            f"{func}: features has shape {tuple(x.shape)}; expected (n_samples, n_features)"
        )
    if y.ndim not in (1, 2) or y.shape[0] != x.shape[0]:
        raise ValueError(
            f"{func}: targets has shape {tuple(y.shape)}; expected ({x.shape[0]},) or "
            f"({x.shape[0]}, n_outputs) to match features of shape {tuple(x.shape)}"
        )
    if not isinstance(alpha, jax.core.Tracer):
        a = np.asarray(alpha)
        if a.ndim != 0 or not np.isfinite(a) or a <= 0:
            raise ValueError(
                f"{func}: alpha={alpha!r} must be a finite scalar > 0 (Cholesky needs a positive "
                "definite system)"
            )
    dtype = jnp.result_type(x.dtype, y.dtype, float)
    x = x.astype(dtype)
    y = y.astype(dtype)
    scalar = y.ndim == 1
    if scalar:
        y = y[:, None]
    alpha = jnp.asarray(alpha, dtype)
    n, p = x.shape
    if fit_intercept:
        x_mean, y_mean = x.mean(0), y.mean(0)
    else:
        x_mean, y_mean = jnp.zeros(p, dtype), jnp.zeros(y.shape[1], dtype)
    xc, yc = x - x_mean, y - y_mean
    if p <= n:
        a_mat = xc.T @ xc + alpha * jnp.eye(p, dtype=dtype)
        w = jsl.cho_solve(jsl.cho_factor(a_mat, lower=True), xc.T @ yc)
    else:
        k_mat = xc @ xc.T + alpha * jnp.eye(n, dtype=dtype)
        w = xc.T @ jsl.cho_solve(jsl.cho_factor(k_mat, lower=True), yc)
    b = y_mean - x_mean @ w
    if scalar:
        return w[:, 0], b[0]
    return w, b


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------


def _metric_inputs(name_a, a, name_b, b, func):
    traced = isinstance(a, jax.core.Tracer) or isinstance(b, jax.core.Tracer)
    xp = jnp if traced else np
    a = xp.asarray(a)
    b = xp.asarray(b)
    if a.shape != b.shape:
        raise ValueError(
            f"{func}: {name_a} has shape {tuple(a.shape)} but {name_b} has shape "
            f"{tuple(b.shape)}; expected equal shapes (no broadcasting: (n,) vs (n, 1) would "
            "silently compare every pair)"
        )
    if a.size == 0:
        raise ValueError(f"{func}: {name_a} and {name_b} are empty")
    return xp, a, b, traced


def nmse(pred, target):
    r"""Normalised mean squared error, $\mathrm{NMSE} = \overline{(p - t)^2} / \mathrm{Var}(t)$.

    The mean and the (population) variance run over all entries, pooled. NMSE is 0 for a perfect
    prediction and 1 for predicting the target mean.

    **Arguments:**

    - `pred`: predictions, NumPy or JAX array.
    - `target`: targets of the same shape.

    **Returns:**

    A Python float, computed in float64 (or a JAX scalar when called on tracers, e.g. inside a
    ``jax.grad`` loss).

    On concrete inputs, non-finite entries (NaN or inf, e.g. from a diverged simulation) in
    ``pred`` or ``target`` and a constant ``target`` (variance zero up to rounding) raise
    ``ValueError``; on tracers (inside ``jax.jit``) they give NaN or inf.
    """
    xp, p, t, traced = _metric_inputs("pred", pred, "target", target, "nmse")
    if not traced:
        p = p.astype(np.float64)
        t = t.astype(np.float64)
        for name, a in (("pred", p), ("target", t)):
            bad = ~np.isfinite(a)
            if bad.any():
                raise ValueError(
                    f"nmse: {name} has {int(bad.sum())} non-finite entries (NaN or inf) of "
                    f"{a.size}, the first at index {tuple(int(i) for i in np.argwhere(bad)[0])}; "
                    "NMSE needs finite values"
                )
    var = xp.var(t)
    # a constant target has variance 0 up to rounding (~1e-32 of its square): treat that as 0
    if not traced and not np.sqrt(var) > 100 * np.finfo(np.float64).eps * np.max(np.abs(t)):
        raise ValueError(
            f"nmse: target has variance {float(var)!r} (zero variance up to rounding); NMSE is "
            "undefined for a constant target"
        )
    out = xp.mean((p - t) ** 2) / var
    return out if traced else float(out)


def nrmse(pred, target):
    r"""Normalised root mean squared error, $\sqrt{\overline{(p-t)^2}/\mathrm{Var}(t)}$.

    The square root of :func:`nmse`; the same conventions apply.

    **Arguments:**

    - `pred`: predictions, NumPy or JAX array.
    - `target`: targets of the same shape.

    **Returns:**

    A Python float (or a JAX scalar when called on tracers).
    """
    out = nmse(pred, target)
    return jnp.sqrt(out) if isinstance(out, jax.Array) else float(np.sqrt(out))


def accuracy(pred_labels, labels):
    r"""Fraction of correct labels, $\frac{1}{n}\sum_i [\hat\ell_i = \ell_i]$.

    **Arguments:**

    - `pred_labels`: predicted labels, e.g. from :meth:`RidgeReadout.predict` (not the raw
      outputs: take the ``argmax`` first).
    - `labels`: true labels of the same shape.

    **Returns:**

    A Python float in $[0, 1]$ (or a JAX scalar when called on tracers).
    """
    xp, p, t, traced = _metric_inputs("pred_labels", pred_labels, "labels", labels, "accuracy")
    out = xp.mean(p == t)
    return out if traced else float(out)



# --------------------------------------------------------------------------------------------
# Winner-take-all ridge over sequences of frames, from per-group statistics
# --------------------------------------------------------------------------------------------


def group_stats(feats, labels, groups, n_groups: int, n_classes: int) -> list[tuple]:
    r"""Sufficient statistics of the per-frame ridge classifier, one set per group of sequences.

    Every frame $x_{u,t}$ of sequence $u$ is a sample whose target is the one-hot label $y_u$ of
    its sequence. For the sequences of group $g$ this returns, in float64,
    $(n_g,\ \sum x,\ \sum x x^\top,\ \sum x y^\top,\ \sum y)$ over all their frames, so that the
    ridge problem of any union of groups (a training set made of speakers and repetition blocks)
    is solved by :func:`wta_ridge` from sums, with one pass over the features.

    **Arguments:**

    - `feats`: features ``(n_sequences, n_frames, n_features)`` (e.g. reservoir node states).
    - `labels`: integer class of each sequence, ``(n_sequences,)``, in ``[0, n_classes)``.
    - `groups`: integer group of each sequence, ``(n_sequences,)``, in ``[0, n_groups)``.
    - `n_groups`: number of groups (a group without sequences gets zero statistics).
    - `n_classes`: number of classes (the width of the one-hot targets).

    **Returns:**

    A list of ``n_groups`` tuples ``(n_frames_g, sum_x (p,), gram (p, p), xty (p, n_classes),
    sum_y (n_classes,))``.
    """
    f = np.asarray(feats, dtype=np.float64)
    if f.ndim != 3:
        raise ValueError(f"group_stats: feats has shape {f.shape}; expected "
                         "(n_sequences, n_frames, n_features)")
    n_utt, n_t, p = f.shape
    labels, groups = np.asarray(labels), np.asarray(groups)
    for name, a, hi in (("labels", labels, n_classes), ("groups", groups, n_groups)):
        if a.shape != (n_utt,) or (a.size and (a.min() < 0 or a.max() >= hi)):
            raise ValueError(f"group_stats: {name} has shape {a.shape} and values in "
                             f"[{a.min() if a.size else '-'}, {a.max() if a.size else '-'}]; "
                             f"expected ({n_utt},) integers in [0, {hi})")
    onehot = np.eye(n_classes)[labels]
    stats = []
    for g in range(n_groups):
        idx = groups == g
        x = f[idx].reshape(-1, p)
        sums = f[idx].sum(1)  # (n_g, p): per-sequence sums over frames
        stats.append((x.shape[0], x.sum(0), x.T @ x, sums.T @ onehot[idx], n_t * onehot[idx].sum(0)))
    return stats


def wta_ridge(stats, train_groups, rel_alphas) -> list[tuple]:
    r"""Ridge weights of the per-frame classifier trained on a union of groups, for several alphas.

    With the statistics of :func:`group_stats` summed over `train_groups`,

    $$W = (X_c^\top X_c + \alpha I)^{-1} X_c^\top Y_c, \qquad b = \bar y - \bar x W,
      \qquad \alpha = \alpha_\mathrm{rel}\,\operatorname{tr}(X_c^\top X_c) / p,$$

    the estimator of :func:`ridge_fit` with a given ``alpha`` (the same scale as its default
    grid), solved in float64 by one eigendecomposition for all alphas.

    **Arguments:**

    - `stats`: the list returned by :func:`group_stats`.
    - `train_groups`: indices of the groups to train on (a non-empty iterable).
    - `rel_alphas`: penalties relative to the mean eigenvalue, each $> 0$.

    **Returns:**

    A list, one ``(W (p, n_classes), b (n_classes,), alpha)`` per relative alpha.
    """
    train_groups = list(train_groups)
    if not train_groups:
        raise ValueError("wta_ridge: train_groups is empty; expected at least one group index")
    n = sum(stats[g][0] for g in train_groups)
    sx = sum(stats[g][1] for g in train_groups)
    gram = sum(stats[g][2] for g in train_groups)
    xty = sum(stats[g][3] for g in train_groups)
    sy = sum(stats[g][4] for g in train_groups)
    xm, ym = sx / n, sy / n
    gc = gram - n * np.outer(xm, xm)
    xyc = xty - n * np.outer(xm, ym)
    s, v = np.linalg.eigh(gc)
    s = np.clip(s, 0.0, None)
    proj = v.T @ xyc
    scale = max(s.sum() / s.size, 1e-300)
    out = []
    for ra in rel_alphas:
        w = (v / (s + ra * scale)) @ proj
        out.append((w, ym - xm @ w, ra * scale))
    return out


def wta_predict(mean_feats, w, b) -> np.ndarray:
    r"""Winner-take-all class of each sequence: $\arg\max_k\,(\bar x_u W + b)_k$, the argmax of
    the time-averaged outputs (equal to the outputs of the time-averaged features, the readout
    being linear).

    **Arguments:**

    - `mean_feats`: features averaged over the frames of each sequence, ``(n_sequences, p)``.
    - `w`, `b`: weights ``(p, n_classes)`` and bias ``(n_classes,)`` from :func:`wta_ridge`.

    **Returns:**

    The predicted classes, ``(n_sequences,)`` integers.
    """
    return np.argmax(np.asarray(mean_feats, np.float64) @ w + b, axis=-1)


_OPENBLAS_THREADS = [("openblas_get_num_threads", "openblas_set_num_threads"),
                     ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
                     ("openblas_get_num_threads64_", "openblas_set_num_threads64_")]


@contextlib.contextmanager
def blas_threads(n: int = 1):
    """Limit NumPy's OpenBLAS to ``n`` threads inside the block, and restore the previous count
    after it (what threadpoolctl does; not a dependency here).

    Why: many small ``(p, p)`` eigendecompositions (ridge solves over a grid) are slower with
    several threads on a shared, oversubscribed machine, where OpenBLAS's spinning threads made
    each 400 x 400 ``eigh`` take 3 s instead of 0.04 s (measured). Results do not depend on it.

    **Arguments:**

    - `n`: number of threads inside the block, an integer >= 1.

    Does nothing where the library cannot be found (no ``/proc``, or a BLAS other than OpenBLAS).
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"blas_threads: n={n!r}; expected an integer >= 1")
    libs = []
    try:
        with open("/proc/self/maps") as f:
            paths = sorted(set(re.findall(r"(/\S*openblas\S*\.so\S*)", f.read())))
        for path in paths:
            lib = ctypes.CDLL(path)
            for get, put in _OPENBLAS_THREADS:
                if hasattr(lib, get) and hasattr(lib, put):
                    libs.append((getattr(lib, put), getattr(lib, get)()))
                    getattr(lib, put)(int(n))
                    break
    except OSError:  # pragma: no cover - no /proc or no library: leave the threads alone
        pass
    try:
        yield
    finally:
        for put, old in libs:
            put(old)
