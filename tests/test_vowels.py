"""Hillenbrand et al. (1995) vowel loader: counts, skipping, splits, bad inputs, phonetics."""

import hashlib
import re
from importlib import resources

import numpy as np
import pytest

from physnn.tasks import vowels as V

SHA256 = "05a4a69e2c6b0f444077245b1427d12bc86f8d7a32ae7a4b63f7e06e5712e4b1"


def _independent_table():
    """Parse the packaged file here, separately from the loader (layout from PROVENANCE.md)."""
    path = resources.files("physnn").joinpath("data/hillenbrand1995/vowdata.dat")
    rows = {}
    for line in path.read_bytes().decode("ascii").split("\r\n"):
        if re.match(r"^[mwbg]\d\d[a-z]{2}\s", line):
            name, *vals = line.split()
            assert len(vals) == 15
            rows[name] = [int(v) for v in vals]
    return rows


RAW = _independent_table()


def test_packaged_file_is_the_original():
    path = resources.files("physnn").joinpath("data/hillenbrand1995/vowdata.dat")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == SHA256
    prov = resources.files("physnn").joinpath("data/hillenbrand1995/PROVENANCE.md").read_text()
    assert "0787a1ab4007217f0ad2a756e0d1c4385f676fd2" in prov
    assert "(c) 1995 James Hillenbrand" in prov


def test_database_layout():
    assert len(RAW) == 1668
    talkers = {n[:3] for n in RAW}
    assert len(talkers) == 139
    per_group = {g: len({t for t in talkers if t[0] == g}) for g in "mwbg"}
    assert per_group == {"m": 45, "w": 48, "b": 27, "g": 19}
    for t in talkers:
        assert sorted(n[3:] for n in RAW if n[:3] == t) == sorted(V.ALL_VOWELS)
    # Zeros (unmeasured) at steady state: F2 10, F3 41, F4 243; none in duration, f0, F1.
    zeros = (np.array(list(RAW.values())) == 0).sum(axis=0)
    assert list(zeros[:6]) == [0, 0, 0, 10, 41, 243]


def test_vowel_table():
    assert len(V.VOWELS) == 12 and V.ALL_VOWELS == tuple(V.VOWELS)
    assert V.VOWELS["iy"][0] == "heed" and V.VOWELS["uw"][0] == "who'd"
    assert len(V.ROMERA_VOWELS) == 7 and set(V.ROMERA_VOWELS) <= set(V.ALL_VOWELS)


@pytest.mark.parametrize(
    ("groups", "vowels", "features", "when", "cols"),
    [
        (("w",), V.ROMERA_VOWELS, ("F1", "F2"), "steady", (2, 3)),
        (("w",), V.ALL_VOWELS, ("F1", "F2"), "steady", (2, 3)),
        (("m", "w", "b", "g"), V.ALL_VOWELS, ("F1", "F2", "F3", "F4"), "steady", (2, 3, 4, 5)),
        (("b", "g"), ("iy", "uw"), ("F2", "F1"), "50", (10, 9)),
        (("m",), V.ALL_VOWELS, ("F1", "F2", "F3"), "80", (12, 13, 14)),
    ],
)
def test_counts_match_independent_parse(groups, vowels, features, when, cols):
    d = V.load_vowels(groups, vowels, features, when)
    chosen = {n: r for n, r in RAW.items() if n[0] in groups and n[3:] in vowels}
    expected = {n: [r[c] for c in cols] for n, r in chosen.items() if all(r[c] for c in cols)}
    assert len(d) == len(expected)
    assert d.n_skipped == len(chosen) - len(expected) == len(d.skipped)
    assert set(d.skipped) == set(chosen) - set(expected)
    assert d.features.dtype == np.float64 and d.features.shape == (len(expected), len(features))
    assert d.feature_names == tuple(features) and d.vowels == tuple(vowels)
    for tok, row, lab, spk in zip(d.tokens, d.features, d.labels, d.speakers, strict=True):
        assert list(row) == expected[tok]
        assert d.vowels[lab] == tok[3:] and spk == tok[:3]
    assert np.all(d.features > 0)


def test_default_is_women_romera_vowels():
    d = V.load_vowels()
    # 48 women x 7 vowels; w49ah and w41aw have an unmeasured steady-state F2.
    assert len(d) == 48 * 7 - 2 and d.n_skipped == 2
    assert set(d.skipped) == {"w49ah", "w41aw"}
    assert d.n_speakers == 48 and all(s.startswith("w") for s in d.speakers)
    assert d.labels.min() == 0 and d.labels.max() == 6


def test_load_romera_37_speakers():
    d = V.load_romera()
    assert d.n_speakers == 37 and len(d) == 37 * 7 == 259
    assert sum(d.counts().values()) == 259 and set(d.counts().values()) == {37}
    assert np.all(d.features > 0)
    dropped = set(V.load_vowels().speakers) - set(d.speakers)
    assert dropped == {"w03", "w08", "w20", "w21", "w25", "w28", "w32", "w39", "w41", "w42", "w49"}
    # Same speakers at another time point.
    d50 = V.load_romera(when="50")
    assert set(d50.speakers) == set(d.speakers) and len(d50) + d50.n_skipped == 48 * 7


def test_string_and_int_shorthands():
    a = V.load_vowels("w", ("iy", "uw"), "F1", 50)
    b = V.load_vowels(("w",), ("iy", "uw"), ("F1",), "50")
    np.testing.assert_array_equal(a.features, b.features)


def test_phonetics_sanity():
    d = V.load_vowels(vowels=V.ALL_VOWELS)
    mean = {v: d.features[d.labels == i].mean(axis=0) for i, v in enumerate(d.vowels)}
    f1, f2 = 0, 1
    assert mean["ae"][f1] > mean["iy"][f1] + 200  # /æ/ is open, /i/ close
    assert mean["iy"][f2] > mean["uw"][f2] + 1000  # /i/ front, /u/ back
    assert mean["ah"][f1] == max(m[f1] for m in mean.values())  # /ɑ/ the most open
    assert mean["iy"][f2] == max(m[f2] for m in mean.values())  # /i/ the most front
    # Women's formants are higher than men's (shorter vocal tracts).
    men = V.load_vowels("m", V.ALL_VOWELS).features.mean(axis=0)
    assert np.all(d.features.mean(axis=0) > men)


@pytest.mark.parametrize("n_folds", [2, 5, 37])
def test_speaker_folds(n_folds):
    d = V.load_romera()
    folds = V.speaker_folds(d.speakers, n_folds=n_folds, seed=3)
    assert len(folds) == n_folds
    tested = np.concatenate([te for _, te in folds])
    assert np.array_equal(np.sort(tested), np.arange(len(d)))  # every sample tested once
    sizes = [np.unique(d.speakers[te]).size for _, te in folds]
    assert sum(sizes) == 37 and max(sizes) - min(sizes) <= 1
    for tr, te in folds:
        assert np.intersect1d(tr, te).size == 0 and tr.size + te.size == len(d)
        assert not set(d.speakers[tr]) & set(d.speakers[te])


def test_splits_deterministic_and_seed_dependent():
    s = V.load_vowels().speakers
    a = V.speaker_folds(s, 5, seed=0)
    b = V.speaker_folds(s, 5, seed=0)
    c = V.speaker_folds(s, 5, seed=1)
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x[1], y[1]) for x, y in zip(a, c, strict=True))
    tr, te = V.speaker_split(s, 0.25, seed=0)
    tr2, te2 = V.speaker_split(s, 0.25, seed=0)
    assert np.array_equal(te, te2) and np.array_equal(tr, tr2)
    assert not np.array_equal(te, V.speaker_split(s, 0.25, seed=1)[1])


def test_speaker_split():
    s = V.load_vowels().speakers
    tr, te = V.speaker_split(s, test_fraction=0.25, seed=0)
    assert np.unique(s[te]).size == 12 and np.unique(s[tr]).size == 36
    assert not set(s[tr]) & set(s[te])
    assert np.array_equal(np.sort(np.concatenate([tr, te])), np.arange(s.size))
    tr, te = V.speaker_split(["a", "a", "b"], test_fraction=0.01)
    assert len(set(np.array(["a", "a", "b"])[te])) == 1  # at least one speaker tested


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"groups": ("x",)}, ["groups", "'x'", "'w' (women)"]),
        ({"groups": ()}, ["groups", "empty"]),
        ({"vowels": ("ey",)}, ["vowels", "'ey'", "'ei' (haid)"]),
        ({"vowels": ()}, ["vowels", "empty"]),
        ({"vowels": ("iy", "iy")}, ["vowels", "iy"]),
        ({"features": ("F5",)}, ["features", "'F5'", "'F1'"]),
        ({"features": ("F4",), "when": "20"}, ["features", "'F4'", "when='20'"]),
        ({"features": ()}, ["features", "empty"]),
        ({"when": "30"}, ["when", "'30'", "'steady'"]),
        ({"drop_speakers_missing": ("f0",)}, ["drop_speakers_missing", "'f0'", "'F3'"]),
    ],
)
def test_bad_load_arguments(kwargs, words):
    with pytest.raises(ValueError) as err:
        V.load_vowels(**kwargs)
    for w in words:
        assert w in str(err.value)


def test_bad_split_arguments():
    s = V.load_vowels().speakers
    for kwargs, word in [
        ({"n_folds": 1}, "n_folds"),
        ({"n_folds": 49}, "n_folds"),
        ({"n_folds": 2.5}, "n_folds"),
        ({"seed": -1}, "seed"),
        ({"seed": 0.5}, "seed"),
    ]:
        with pytest.raises(ValueError, match=word):
            V.speaker_folds(s, **kwargs)
    for frac in (0.0, 1.0, -0.1, float("nan"), "x"):
        with pytest.raises(ValueError, match="test_fraction"):
            V.speaker_split(s, test_fraction=frac)
    with pytest.raises(ValueError, match="speakers"):
        V.speaker_folds([])
    with pytest.raises(ValueError, match="speakers"):
        V.speaker_split(["w01", "w01"])


def test_check_formants_accepts_dataset():
    d = V.load_vowels(("m", "w", "b", "g"), V.ALL_VOWELS)
    f1, f2 = V.check_formants(d.features[:, 0], d.features[:, 1])
    assert f1.dtype == np.float64 and f1.shape == (len(d),)
    assert V.check_formants(500, 1500) == (500.0, 1500.0)


@pytest.mark.parametrize(
    ("f1", "f2", "words"),
    [
        (float("nan"), 1500.0, ["f1_hz", "NaN"]),
        (500.0, [1500.0, float("nan")], ["f2_hz", "NaN", "index (1,)"]),
        (float("inf"), 1500.0, ["f1_hz", "finite", "inf"]),
        (500.0, -1500.0, ["f2_hz", "negative", "-1500"]),
        (50.0, 1500.0, ["f1_hz", "range", "50.0"]),
        (500.0, 6000.0, ["f2_hz", "range", "6000.0"]),
        (0.5, 1.5, ["f1_hz", "range", "kHz"]),
        (1500.0, 500.0, ["f1_hz", "f2_hz", "swapped"]),
        ("500", 1500.0, ["f1_hz", "real numbers"]),
        (None, 1500.0, ["f1_hz", "real numbers"]),
        ([500.0, 600.0], [1500.0, 1600.0, 1700.0], ["f1_hz", "f2_hz", "shapes"]),
    ],
)
def test_check_formants_rejects(f1, f2, words):
    with pytest.raises(ValueError) as err:
        V.check_formants(f1, f2)
    for w in words:
        assert w in str(err.value)
