"""How far can a synchronisation-pattern classifier go on the Romera vowel folds, in principle?

Readout (a) of ``experiments/romera2018_vowels.py`` reads the class from which oscillator (if
any) locks to tone A (F1) and which to tone B (F2). Replace the simulated oscillators by *ideal*
locking windows: oscillator j locks a tone whose normalised frequency u lies within
|u - c_j| <= w (the nearest centre wins where windows overlap), the same four windows for both
tones, as in the device. Fit the four centres and the common half-width w to the training
speakers of each fold by random-restart local search, decode patterns with the majority table of
the training tokens, and score the held-out speakers of the same 5 folds (seed 0).

Two input maps: the experiment's fixed min-max map of (F1, F2) to the band, and a free linear
map (per-formant scale and offset, fitted too). This is a bound for the *architecture*, not a
device result: the simulated coupled oscillators do not realise overlapping windows (nearby
oscillators pull each other into mutual locking).

Run: ``python scripts/romera_window_bound.py`` (about a minute).
"""

import numpy as np

from physnn.tasks import load_romera, speaker_folds


def patterns(u, centres, w):
    d = np.abs(u[:, :, None] - centres[None, None, :])  # (n, 2 tones, 4 oscillators)
    inside = d <= w
    j = np.where(inside.any(-1), np.argmin(np.where(inside, d, np.inf), -1), 4)
    return j[:, 0] * 5 + j[:, 1]


def table_and_accuracy(p, y):
    counts = np.zeros((25, 7))
    np.add.at(counts, (p, y), 1)
    return counts.argmax(1), counts.max(1).sum() / len(y)


def fit(x, y, free_map, rng, restarts, iters=60):
    lo, hi = x.min(0), x.max(0)
    best = (-1.0, None)
    for _ in range(restarts):
        c, w = np.sort(rng.uniform(0, 1, 4)), rng.uniform(0.03, 0.2)
        s = rng.uniform(0.6, 1.4, 2) if free_map else np.ones(2)
        o = rng.uniform(-0.3, 0.3, 2) if free_map else np.zeros(2)
        for _ in range(iters):
            cc, ww = c + rng.normal(0, 0.03, 4), abs(w + rng.normal(0, 0.01))
            ss = s + rng.normal(0, 0.05, 2) if free_map else s
            oo = o + rng.normal(0, 0.03, 2) if free_map else o
            u = ss * ((x - lo) / (hi - lo) - 0.5) + 0.5 + oo
            acc = table_and_accuracy(patterns(u, cc, ww), y)[1]
            if acc >= best[0]:
                best = (acc, (cc, ww, ss, oo))
                c, w, s, o = cc, ww, ss, oo
    return best[1], lo, hi


def main():
    data = load_romera()
    x, y = data.features.astype(float), data.labels
    folds = speaker_folds(data.speakers, n_folds=5, seed=0)
    for free_map in (False, True):
        rng = np.random.default_rng(1)
        train, test = [], []
        for tr, te in folds:
            (c, w, s, o), lo, hi = fit(x[tr], y[tr], free_map, rng, 300 if free_map else 150)
            u_tr, u_te = (s * ((x[i] - lo) / (hi - lo) - 0.5) + 0.5 + o for i in (tr, te))
            tab, acc = table_and_accuracy(patterns(u_tr, c, w), y[tr])
            train.append(acc)
            test.append(np.mean(tab[patterns(u_te, c, w)] == y[te]))
        name = "free linear map" if free_map else "fixed min-max map"
        print(f"ideal windows, {name}: train {np.mean(train):.3f}, test {np.mean(test):.3f} "
              f"(folds {np.round(test, 3).tolist()})")


if __name__ == "__main__":
    main()
