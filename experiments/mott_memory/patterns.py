"""The patterns of the associative memory: 5 x 5 letters as +-1 pixels, the Hebbian rule,
corrupted cues, and the ideal digital Hopfield network as the baseline."""

from __future__ import annotations

import numpy as np

GLYPHS = {
    "E": ["#####", "#....", "####.", "#....", "#####"],
    "V": ["#...#", "#...#", ".#.#.", ".#.#.", "..#.."],
    "N": ["#...#", "##..#", "#.#.#", "#..##", "#...#"],
    "K": ["#..#.", "#.#..", "##...", "#.#..", "#..#."],
    "O": [".###.", "#...#", "#...#", "#...#", ".###."],
    "T": ["#####", "..#..", "..#..", "..#..", "..#.."],
}


def binary_sign(x):
    """+1 where ``x`` >= 0, -1 where it is negative (a pixel from a phase relation)."""
    return np.where(x < 0, -1.0, 1.0)


def letter_patterns(letters) -> np.ndarray:
    """The glyphs as +-1 vectors (``#`` = +1), shape (P, 25)."""
    unknown = [s for s in letters if s not in GLYPHS]
    if unknown:
        raise ValueError(f"mott-memory: letters={list(letters)} contains {unknown}; expected "
                         f"letters from {sorted(GLYPHS)}")
    return np.array([[1.0 if c == "#" else -1.0 for row in GLYPHS[s] for c in row]
                     for s in letters])


def check_patterns(patterns, name: str = "patterns") -> np.ndarray:
    """Validate stored patterns: a non-empty (P, N) array of +-1 with N >= 2."""
    a = np.asarray(patterns, dtype=float)
    if a.ndim != 2:
        raise ValueError(f"{name} has shape {a.shape}; expected a (P, N) array of +-1 patterns")
    if a.shape[0] == 0 or a.shape[1] < 2:
        raise ValueError(f"{name} has shape {a.shape}: an empty pattern set; expected at least one "
                         "pattern of at least two pixels")
    bad = ~np.isin(a, (-1.0, 1.0))
    if np.any(bad):
        p, i = (int(x[0]) for x in np.nonzero(bad))
        raise ValueError(f"{name}[{p}, {i}]={a[p, i]:g}; expected every pixel to be +1 or -1 "
                         "(in phase / anti-phase with the reference oscillator)")
    return a


def hebbian_weights(patterns) -> np.ndarray:
    r"""$W = \frac1N\sum_p \xi^p \xi^{p\top}$ with a zero diagonal, shape (N, N)."""
    xi = check_patterns(patterns)
    w = xi.T @ xi / xi.shape[1]
    np.fill_diagonal(w, 0.0)
    return w


def corrupt(patterns, n_flips: int, count: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """``count`` cues per pattern, each with ``n_flips`` distinct pixels flipped.

    Returns (cues (P * count, N), index of the stored pattern (P * count,))."""
    xi = check_patterns(patterns)
    n = xi.shape[1]
    if not 0 <= int(n_flips) <= n // 2:
        raise ValueError(f"mott-memory: n_flips={n_flips}; expected 0 <= n_flips <= N/2 = {n // 2}"
                         " (more flips make the cue closer to the inverse pattern)")
    cues, idx = [], []
    for p, x in enumerate(xi):
        for _ in range(int(count)):
            c = x.copy()
            c[rng.choice(n, int(n_flips), replace=False)] *= -1
            cues.append(c)
            idx.append(p)
    return np.asarray(cues).reshape(-1, n), np.asarray(idx, int)


def cue_set(patterns, flips, count, seed) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cues at every corruption level: (cues (B, N), target index (B,), flips (B,))."""
    rng = np.random.default_rng(seed)
    out = [(*corrupt(patterns, k, count, rng), k) for k in flips]
    return (np.concatenate([c for c, _, _ in out]), np.concatenate([i for _, i, _ in out]),
            np.concatenate([np.full(len(i), k) for _, i, k in out]))


def hopfield_recall(w, cues, rng, max_sweeps: int = 100) -> np.ndarray:
    """The ideal digital Hopfield network: asynchronous updates x_i <- sign(sum_j W_ij x_j) in
    random order until a sweep changes nothing (a zero field keeps the pixel); global sign by
    agreement with the cue, as for the oscillators."""
    w = np.asarray(w, float)
    x = np.array(cues, dtype=float)
    for b in range(x.shape[0]):
        for _ in range(max_sweeps):
            changed = False
            for i in rng.permutation(x.shape[1]):
                h = w[i] @ x[b]
                new = x[b, i] if h == 0 else np.sign(h)
                changed |= bool(new != x[b, i])
                x[b, i] = new
            if not changed:
                break
    return x * binary_sign(np.sum(x * cues, axis=1, keepdims=True))
