"""The 'for scale' figures of physnn.tasks.fsdd's docstring: a ridge readout on MFCCs alone.

    python scripts/fsdd_for_scale.py

No reservoir: ``physnn.readout.ridge_fit(classify=True)`` with its default (stratified,
seeded) cross-validated penalty, on the time-averaged MFCCs and on the MFCC sequence resampled
to 10 frames, on FSDD's official split and on the six leave-one-speaker-out folds.
"""

import numpy as np

from physnn.readout import ridge_fit
from physnn.tasks.fsdd import fsdd_features, fsdd_split, load_fsdd

labels = np.asarray(load_fsdd().digits)
mean = np.stack([f.mean(0) for f in fsdd_features("mfcc")])
seq = fsdd_features(n_frames=10).reshape(len(labels), -1)


def accuracy(x, train, test):
    r = ridge_fit(x[train], labels[train], classify=True)
    return float(np.mean(np.asarray(r.predict(x[test])) == labels[test]))


official = fsdd_split("official")
per_speaker = [accuracy(seq, *fsdd_split("speaker", fold=k)) for k in range(6)]
print(f"time-averaged MFCC, official split: {100 * accuracy(mean, *official):.1f} %")
print(f"10-frame MFCC sequence, official split: {100 * accuracy(seq, *official):.1f} %")
print(f"10-frame MFCC sequence, leave one speaker out: {100 * np.mean(per_speaker):.1f} % "
      f"(per speaker {', '.join(f'{100 * a:.0f}' for a in per_speaker)} %)")
