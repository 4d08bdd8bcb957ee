"""The tokens of romera2018: the steady (F1, F2) of 37 women x 7 vowels (Hillenbrand et al.
1995, :func:`physnn.tasks.load_romera`), the speaker-independent folds, the padding that gives
every fold one compiled solve, and the speakers' formant-scale spread that the augmentation of
both readouts draws from."""

from __future__ import annotations

import numpy as np

from physnn.tasks import load_romera, speaker_folds


def load_folds(config):
    """``(x, y, speakers, folds, n_pad)`` of a run: the steady (F1, F2) of :func:`load_romera`
    (float32, Hz), labels, speaker ids, the speaker-independent folds of ``config`` (``n_folds``,
    ``seed``) and the largest training set (the padded size that gives every fold one compiled
    step)."""
    data = load_romera()
    folds = speaker_folds(data.speakers, n_folds=config.n_folds, seed=config.seed)
    return (data.features.astype(np.float32), data.labels, np.asarray(data.speakers), folds,
            max(len(tr) for tr, _ in folds))


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


def check_vtl_sigma(vtl_sigma):
    """``vtl_sigma``, the relative spread of the speaker-scale augmentation, if it is >= 0."""
    if not (np.isfinite(vtl_sigma) and vtl_sigma >= 0):
        raise ValueError(f"romera2018: vtl_sigma = {vtl_sigma!r}; expected a relative spread >= 0 "
                         "(e.g. 0.04)")
    return vtl_sigma
