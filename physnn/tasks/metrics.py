r"""Task metrics: the word error rate of isolated-word recognition, and the readout metrics.

:func:`nmse`, :func:`nrmse` and :func:`accuracy` are those of :mod:`physnn.readout`, re-exported
here so that a task's score is one import away; they are the same functions.
"""

from __future__ import annotations

from ..readout import accuracy, nmse, nrmse

__all__ = ["word_error_rate", "accuracy", "nmse", "nrmse"]


def word_error_rate(pred_labels, labels):
    r"""Word error rate of isolated-word recognition: the fraction of misclassified words.

    $\mathrm{WER} = \frac{1}{n}\sum_i [\hat\ell_i \ne \ell_i] = 1 - \text{accuracy}$. With one
    word per utterance there are no insertions or deletions, so this equals the edit-distance
    WER of continuous speech recognition; it is the figure quoted for spoken-digit recognition by
    reservoirs (Appeltant et al., Nat. Commun. 2, 468 (2011); Larger et al.,
    Phys. Rev. X 7, 011015 (2017); Torrejon et al., Nature 547, 428 (2017), as a recognition rate).

    **Arguments:**

    - `pred_labels`: predicted labels (after the ``argmax``), NumPy or JAX array.
    - `labels`: true labels of the same shape.

    **Returns:**

    A Python float in $[0, 1]$ (a JAX scalar when called on tracers).

    **Raises:**

    ``ValueError`` for arrays of different shapes or empty arrays (from
    :func:`physnn.readout.accuracy`, whose message names ``pred_labels`` and ``labels``).
    """
    try:
        acc = accuracy(pred_labels, labels)
    except ValueError as e:
        raise ValueError(str(e).replace("accuracy:", "word_error_rate:", 1)) from None
    return 1.0 - acc
