"""Does the vowel network need to read the start of a glide, or does its late state carry it?

``romera2018-glide`` reads readout (b)'s observables over both halves of the presentation while
the tones sweep from the 20 % formants to the 80 % ones. An ablation, not a selection (it chooses
nothing, so it runs on the test speakers): the same training with the observables of the second
half only, when the tones are between the 50 % and the 80 % formants. For scale, QDA on the
formants at one moment scores 89.2 % (20 %), 78.8 % (80 %) and 87.2 % (at 65 %, the middle of the
second half, interpolated), and 95.0 % on the 20 % and 80 % pairs together.

What it printed on 2026-12-01 (2 cores, AMD EPYC, 5 min; before the fix of (b)'s training solver,
whose compiled step solved the 0 K network as an SDE): seeds 0-4 score 84.7, 84.5, 83.9,
84.3 and 83.8 % (train 86.8-88.3 %): mean **84.2 %**, standard deviation 0.3 %, against 91.8 %
with both halves. Read late, the network knows no more than a snapshot of the late formants
(QDA at 65 %: 87.2 %): its state keeps little of where the glide started, and it is reading it
twice that uses the movement.

Run: ``python -m experiments.romera2018.probes.glide_probe [SEED ...]`` (default seeds 0-4, about a minute a
seed on 2 cores). Prints the test accuracy per seed and the mean, to set beside the record's
91.8 % (both halves, seeds 0-4) and 88.7 % (steady tones, both halves).
"""

import dataclasses
import sys

import numpy as np

import experiments.romera2018.glide as rg
from experiments.romera2018 import data as vdata
from experiments.romera2018 import gradient, measure
from physnn.tasks import speaker_folds


def main(argv):
    seeds = [int(s) for s in argv] or [0, 1, 2, 3, 4]
    config = dataclasses.replace(rg.FULL, feature_windows=((0.5, 1.0),))
    x, _, y, spk = rg.load_tokens(config)
    folds = speaker_folds(spk, n_folds=config.n_folds, seed=config.seed)
    n_pad = max(len(tr) for tr, _ in folds)
    means = []
    for seed in seeds:
        cfg = rg.variant_config(config, seed)
        test, train = [], []
        for tr, te in folds:
            sigma = vdata.formant_scale_spread(x[tr], y[tr], spk[tr])
            m, _ = gradient.train_gradient(rg.variant_model(x[tr], cfg, "glide"), x[tr], y[tr], cfg,
                                           n_pad=n_pad, vtl_sigma=sigma)
            pred = measure.predict_formants(m, x)
            test.append(np.mean(pred[te] == y[te]))
            train.append(np.mean(pred[tr] == y[tr]))
        means.append(np.mean(test))
        print(f"glide, second half only, seed {seed}: test {np.mean(test):.3f} (train {np.mean(train):.3f}; "
              f"folds {np.round(test, 3).tolist()})", flush=True)
    print(f"seeds {seeds}: test mean {np.mean(means):.3f}, standard deviation {np.std(means):.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
