"""Vowel formants of Hillenbrand, Getty, Clark & Wheeler (1995), and speaker-independent splits.

Data
----
``physnn/data/hillenbrand1995/vowdata.dat`` is the authors' measurement file, unchanged (see the
``PROVENANCE.md`` next to it: (c) 1995 James Hillenbrand, free for research, no explicit open
license, not re-licensed by physnn; cite J. Acoust. Soc. Am. 97(5), 3099 (1995)). It holds 1668
"hVd" tokens: 139 talkers (45 men ``m``, 48 women ``w``, 27 boys ``b``, 19 girls ``g``) × 12
vowels, with F1-F4 at the vowel's steady state and F1-F3 at 20/50/80 % of its duration. A formant
that could not be measured is stored as 0; :func:`load_vowels` skips such tokens and reports how
many it skipped.

Which seven vowels did Romera et al. use?
-----------------------------------------
Romera et al., Nature 563, 230 (2018) (arXiv:1711.02704) classify seven vowels from F1 and F2 of
37 female speakers of this database. Their exact list could **not** be checked against the paper
text while this module was written (no access to it), so :data:`ROMERA_VOWELS` is a
reconstruction, chosen as

    ("ae", "ah", "aw", "eh", "er", "ih", "iy")   # had hod hawed head heard hid heed

for two independent reasons:

1. **It reproduces the "37 speakers".** The database has 48 women, not 37. Dropping every woman
   with an unmeasured steady-state F1, F2 or F3 in any of these seven vowels leaves exactly 37
   (w03 w08 w20 w21 w25 w28 w32 w39 w41 w42 w49 go; see :func:`load_romera`). Only 70 of the 792
   seven-vowel subsets give 37 under that rule, and no subset does when only F1/F2 are required.
2. **It is the head of the database's own vowel list.** The distribution's readme lists the
   vowels alphabetically as ae ah aw eh er ey ih iy oa oo uh uw; the data code the "hayed" vowel
   ``ei``, not ``ey``. The first eight codes minus the one with no files are exactly this set.

Phonetically the set spans the vowel space (high front /i/, low /æ/ and /ɑ/, back /ɔ/, central
rhotic /ɝ/) and keeps the hard pairs /æ/-/ɛ/ and /ɑ/-/ɔ/ that make a seven-class F1-F2 task far
from trivial. For scale: a Gaussian (QDA) classifier on steady-state F1-F2 scores 89 % on
:func:`load_romera` with 5 speaker-disjoint folds (``speaker_folds(..., seed=0)``), of the order
of the recognition rate (about 88 %) reported for the hardware; over all 792 seven-vowel subsets
of the 48 women the same classifier ranges from 71 % to 93 %, so the set matters. It was not
chosen for its score. Check it against the paper's Methods and figures before quoting a
comparison; :data:`ALL_VOWELS` and any other subset can be passed to :func:`load_vowels`.

Splits
------
Tokens of one speaker are strongly correlated, so :func:`speaker_folds` and
:func:`speaker_split` split by speaker: no speaker is ever on both sides.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np

__all__ = [
    "VOWELS",
    "ALL_VOWELS",
    "ROMERA_VOWELS",
    "ROMERA_SPEAKER_RULE",
    "GROUPS",
    "WHEN",
    "VowelData",
    "load_vowels",
    "load_romera",
    "speaker_folds",
    "speaker_split",
    "check_formants",
    "FORMANT_RANGE_HZ",
]

#: The 12 vowel codes of the database -> (hVd word, IPA), in the paper's order.
VOWELS: dict[str, tuple[str, str]] = {
    "iy": ("heed", "i"),
    "ih": ("hid", "ɪ"),
    "ei": ("haid", "e"),
    "eh": ("head", "ɛ"),
    "ae": ("had", "æ"),
    "ah": ("hod", "ɑ"),
    "aw": ("hawed", "ɔ"),
    "oa": ("hoed", "o"),
    "oo": ("hood", "ʊ"),
    "uw": ("who'd", "u"),
    "uh": ("hud", "ʌ"),
    "er": ("heard", "ɝ"),
}
ALL_VOWELS: tuple[str, ...] = tuple(VOWELS)
#: Reconstruction of Romera et al. (2018)'s seven vowels; see the module docstring for why.
ROMERA_VOWELS: tuple[str, ...] = ("ae", "ah", "aw", "eh", "er", "ih", "iy")
#: Formants that must be measured (steady state) in all seven vowels for a woman to be kept by
#: :func:`load_romera`; this rule leaves 37 of the 48 women.
ROMERA_SPEAKER_RULE: tuple[str, ...] = ("F1", "F2", "F3")

GROUPS: dict[str, str] = {"m": "men", "w": "women", "b": "boys", "g": "girls"}
#: Time points: the steady state, or 20/50/80 % of the vowel's duration.
WHEN: tuple[str, ...] = ("steady", "20", "50", "80")

# Column (0-based, after the token name) of each feature in vowdata.dat, per time point.
_COLUMNS: dict[str, dict[str, int]] = {
    "steady": {"duration": 0, "f0": 1, "F1": 2, "F2": 3, "F3": 4, "F4": 5},
    "20": {"duration": 0, "f0": 1, "F1": 6, "F2": 7, "F3": 8},
    "50": {"duration": 0, "f0": 1, "F1": 9, "F2": 10, "F3": 11},
    "80": {"duration": 0, "f0": 1, "F1": 12, "F2": 13, "F3": 14},
}
_N_COLUMNS = 15
_TOKEN = re.compile(r"^([mwbg])(\d\d)([a-z]{2})$")

#: Plausible range of F1 and F2 for :func:`check_formants`, in Hz.
FORMANT_RANGE_HZ: tuple[float, float] = (100.0, 5000.0)


@dataclass(frozen=True, eq=False)
class VowelData:
    """Selected tokens. Row ``i`` is token ``tokens[i]`` spoken by ``speakers[i]``.

    Attributes:
        features: float64 array (n, n_features); formants and f0 in Hz, duration in ms.
        labels: int array (n,), indices into ``vowels``.
        speakers: str array (n,), speaker ids such as ``"w01"``.
        tokens: str array (n,), the database's token names such as ``"w01ae"``.
        vowels: the vowel codes, in label order.
        feature_names: names of the feature columns, e.g. ``("F1", "F2")``.
        groups: the speaker groups selected.
        when: the time point of the formants (``"steady"``, ``"20"``, ``"50"`` or ``"80"``).
        n_skipped: tokens of the selected groups and vowels that were left out, because a
            selected feature was unmeasured (0) or, with ``drop_speakers_missing``, because their
            speaker was dropped.
        skipped: the names of those tokens.
    """

    features: np.ndarray
    labels: np.ndarray
    speakers: np.ndarray
    tokens: np.ndarray
    vowels: tuple[str, ...]
    feature_names: tuple[str, ...]
    groups: tuple[str, ...]
    when: str
    n_skipped: int
    skipped: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def n_speakers(self) -> int:
        return int(np.unique(self.speakers).size)

    def counts(self) -> dict[str, int]:
        """Number of tokens per vowel code."""
        n = np.bincount(self.labels, minlength=len(self.vowels))
        return {v: int(c) for v, c in zip(self.vowels, n, strict=True)}


@functools.lru_cache(maxsize=1)
def _raw() -> tuple[tuple[str, ...], np.ndarray]:
    """All 1668 tokens of vowdata.dat: (names, int array (1668, 15))."""
    path = resources.files("physnn").joinpath("data", "hillenbrand1995", "vowdata.dat")
    names: list[str] = []
    values: list[list[int]] = []
    for line in path.read_text(encoding="ascii").splitlines():
        parts = line.split()
        if not parts or not _TOKEN.match(parts[0]):
            continue  # header
        if len(parts) != 1 + _N_COLUMNS:
            raise RuntimeError(f"vowdata.dat: malformed line for token {parts[0]!r}: {line!r}")
        names.append(parts[0])
        values.append([int(p) for p in parts[1:]])
    table = np.asarray(values, dtype=np.int64)
    table.setflags(write=False)
    return tuple(names), table


def _as_codes(name: str, value, valid: Sequence[str], describe: str) -> tuple[str, ...]:
    """Validate a sequence of codes (a single string counts as one code)."""
    if isinstance(value, str):
        value = (value,)
    try:
        codes = tuple(value)
    except TypeError:
        raise ValueError(
            f"{name}={value!r} must be a sequence of codes; valid options: {describe}"
        ) from None
    if not codes:
        raise ValueError(f"{name}=() selects nothing (empty selection); valid options: {describe}")
    for c in codes:
        if not isinstance(c, str) or c not in valid:
            raise ValueError(f"{name}: unknown value {c!r}; valid options: {describe}")
    dup = sorted({c for c in codes if codes.count(c) > 1})
    if dup:
        raise ValueError(f"{name}={codes!r} repeats {dup}; give each code once")
    return codes


def _as_when(when) -> str:
    w = str(when) if isinstance(when, int) and not isinstance(when, bool) else when
    if w not in WHEN:
        raise ValueError(
            f"when={when!r} is not a time point; valid options: 'steady' (steady-state "
            "formants) or '20', '50', '80' (percent of vowel duration)"
        )
    return w


def load_vowels(
    groups: Sequence[str] | str = ("w",),
    vowels: Sequence[str] | str = ROMERA_VOWELS,
    features: Sequence[str] | str = ("F1", "F2"),
    when: str = "steady",
    *,
    drop_speakers_missing: Sequence[str] | None = None,
) -> VowelData:
    """Load tokens of the Hillenbrand et al. (1995) database.

    Args:
        groups: speaker groups, any of ``"m"`` (men), ``"w"`` (women), ``"b"`` (boys),
            ``"g"`` (girls). Default: women.
        vowels: vowel codes (see :data:`VOWELS`); their order defines the labels.
            Default: :data:`ROMERA_VOWELS`.
        features: columns to return, any of ``"F1" "F2" "F3"`` (and ``"F4"`` at the steady state
            only), ``"f0"`` (Hz, steady state) and ``"duration"`` (ms).
        when: ``"steady"`` for the steady-state measurements, or ``"20"``, ``"50"``, ``"80"``
            for formants sampled at that percentage of the vowel's duration.
        drop_speakers_missing: optional formant names; a speaker with any of them unmeasured
            (at ``when``) in any selected vowel is left out entirely. ``("F1", "F2", "F3")``
            with the defaults gives the 37 women of :func:`load_romera`.

    Tokens with a selected feature equal to 0 (unmeasured) are skipped; see
    ``VowelData.n_skipped`` and ``VowelData.skipped``. Rows are ordered by group (as given),
    talker number, then vowel (as given).

    Raises:
        ValueError: unknown or repeated group, vowel or feature code, an unknown ``when``, an
            empty selection, or a selection in which every token is skipped.
    """
    groups = _as_codes(
        "groups", groups, tuple(GROUPS), ", ".join(f"{k!r} ({v})" for k, v in GROUPS.items())
    )
    vowels = _as_codes(
        "vowels", vowels, ALL_VOWELS, ", ".join(f"{k!r} ({w})" for k, (w, _) in VOWELS.items())
    )
    when = _as_when(when)
    cols = _COLUMNS[when]
    feat_help = ", ".join(repr(k) for k in cols) + f" (at when={when!r})"
    features = _as_codes("features", features, tuple(cols), feat_help)
    required: tuple[str, ...] = ()
    if drop_speakers_missing is not None:
        formants = tuple(k for k in cols if k.startswith("F"))
        required = _as_codes(
            "drop_speakers_missing",
            drop_speakers_missing,
            formants,
            ", ".join(repr(k) for k in formants) + f" (at when={when!r})",
        )

    names, table = _raw()
    group_rank = {g: i for i, g in enumerate(groups)}
    vowel_rank = {v: i for i, v in enumerate(vowels)}
    selected = []
    for i, name in enumerate(names):
        g, talker, v = _TOKEN.match(name).groups()
        if g in group_rank and v in vowel_rank:
            selected.append((group_rank[g], int(talker), vowel_rank[v], i))
    selected.sort()
    idx = np.asarray([s[3] for s in selected], dtype=np.int64)
    sel_names = [names[i] for i in idx]
    speakers = np.asarray([n[:3] for n in sel_names])
    labels = np.asarray([s[2] for s in selected], dtype=np.int64)

    keep = np.all(table[np.ix_(idx, [cols[f] for f in features])] != 0, axis=1)
    if required:
        complete = np.all(table[np.ix_(idx, [cols[f] for f in required])] != 0, axis=1)
        incomplete_speakers = np.unique(speakers[~complete])
        keep &= ~np.isin(speakers, incomplete_speakers)

    skipped = tuple(n for n, k in zip(sel_names, keep, strict=True) if not k)
    if not np.any(keep):
        raise ValueError(
            f"empty selection: groups={groups!r}, vowels={vowels!r}, features={features!r}, "
            f"when={when!r}, drop_speakers_missing={drop_speakers_missing!r} leave no token "
            f"({len(skipped)} skipped)"
        )
    data = table[np.ix_(idx[keep], [cols[f] for f in features])].astype(np.float64)
    return VowelData(
        features=data,
        labels=labels[keep],
        speakers=speakers[keep],
        tokens=np.asarray(sel_names)[keep],
        vowels=vowels,
        feature_names=features,
        groups=groups,
        when=when,
        n_skipped=len(skipped),
        skipped=skipped,
    )


def load_romera(features: Sequence[str] | str = ("F1", "F2"), when: str = "steady") -> VowelData:
    """Romera et al. (2018)-style task: 37 women × :data:`ROMERA_VOWELS` = 259 tokens.

    Women with an unmeasured steady-state F1, F2 or F3 in any of the seven vowels are dropped
    (:data:`ROMERA_SPEAKER_RULE`), which leaves 37 of 48. This speaker rule and the vowel set are
    reconstructions; see the module docstring.
    """
    if _as_when(when) != "steady":
        # The speaker rule is defined on steady-state measurements; apply it there, then load the
        # requested time point for the same speakers.
        ref = load_romera()
        data = load_vowels(("w",), ROMERA_VOWELS, features, when)
        keep = np.isin(data.speakers, np.unique(ref.speakers))
        dropped = tuple(t for t, k in zip(data.tokens, keep, strict=True) if not k)
        return VowelData(
            features=data.features[keep],
            labels=data.labels[keep],
            speakers=data.speakers[keep],
            tokens=data.tokens[keep],
            vowels=data.vowels,
            feature_names=data.feature_names,
            groups=data.groups,
            when=data.when,
            n_skipped=data.n_skipped + len(dropped),
            skipped=tuple(sorted(data.skipped + dropped)),
        )
    return load_vowels(
        ("w",), ROMERA_VOWELS, features, "steady", drop_speakers_missing=ROMERA_SPEAKER_RULE
    )


def _as_speakers(speakers) -> np.ndarray:
    s = np.asarray(speakers)
    if s.ndim != 1 or s.size == 0:
        raise ValueError(
            f"speakers must be a non-empty 1-D array of speaker ids (one per sample), got shape "
            f"{s.shape}"
        )
    return s


def _as_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed={seed!r} must be a non-negative integer")
    return int(seed)


def speaker_folds(speakers, n_folds: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Speaker-independent K-fold split.

    Speakers are shuffled with ``seed`` and dealt into ``n_folds`` folds of near-equal size
    (sizes differ by at most one speaker). Each fold's test set is every sample of its speakers.

    Args:
        speakers: per-sample speaker ids, e.g. ``VowelData.speakers``.
        n_folds: number of folds, 2 <= n_folds <= number of distinct speakers.
        seed: non-negative integer; the same seed gives the same folds.

    Returns:
        ``n_folds`` pairs ``(train_idx, test_idx)`` of sorted int64 sample indices. No speaker
        is in both halves of a pair, and every sample is in exactly one ``test_idx``.
    """
    s = _as_speakers(speakers)
    seed = _as_seed(seed)
    unique = np.unique(s)
    if (
        isinstance(n_folds, bool)
        or not isinstance(n_folds, int | np.integer)
        or not 2 <= n_folds <= unique.size
    ):
        raise ValueError(
            f"n_folds={n_folds!r} must be an integer in [2, {unique.size}] "
            f"(the number of distinct speakers)"
        )
    order = np.random.default_rng(seed).permutation(unique.size)
    folds = []
    for part in np.array_split(unique[order], int(n_folds)):
        test = np.isin(s, part)
        folds.append((np.flatnonzero(~test), np.flatnonzero(test)))
    return folds


def speaker_split(
    speakers, test_fraction: float = 0.25, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Speaker-independent train/test split.

    ``round(test_fraction * n_speakers)`` speakers (at least 1, at most all but one), drawn with
    ``seed``, go to the test set with all their samples.

    Returns:
        ``(train_idx, test_idx)``, sorted int64 sample indices with no speaker in both.
    """
    s = _as_speakers(speakers)
    seed = _as_seed(seed)
    unique = np.unique(s)
    if unique.size < 2:
        raise ValueError(f"speakers has {unique.size} distinct speaker; a split needs at least 2")
    try:
        frac = float(test_fraction)
    except (TypeError, ValueError):
        frac = float("nan")
    if isinstance(test_fraction, bool) or not 0.0 < frac < 1.0:
        raise ValueError(f"test_fraction={test_fraction!r} must be a number in (0, 1)")
    n_test = min(max(int(round(frac * unique.size)), 1), unique.size - 1)
    test_speakers = np.random.default_rng(seed).permutation(unique)[:n_test]
    test = np.isin(s, test_speakers)
    return np.flatnonzero(~test), np.flatnonzero(test)


def _formant_array(name: str, value) -> np.ndarray:
    try:
        a = np.asarray(value)
    except Exception as e:  # pragma: no cover - exotic inputs
        raise ValueError(f"{name}={value!r} must be a real number in Hz ({e})") from None
    if a.dtype.kind not in "iuf":
        raise ValueError(
            f"{name}={value!r} must be real numbers in Hz, got dtype {a.dtype} "
            f"(Python type {type(value).__name__})"
        )
    return a.astype(np.float64)


def _first_bad(a: np.ndarray, bad: np.ndarray) -> str:
    """Describe the first offending entry of ``a``."""
    pos = np.argwhere(bad)[0]
    v = float(a[tuple(pos)])
    if a.ndim == 0:
        return f"{v!r}"
    return f"{v!r} at index {tuple(int(p) for p in pos)}"


def check_formants(f1_hz, f2_hz) -> tuple[np.ndarray, np.ndarray]:
    """Validate F1 and F2 (Hz) given to a vowel model; return them as float64 arrays.

    Accepts scalars or arrays of matching (broadcastable) shape. Checks, for each argument, that
    the values are real numbers, finite (no NaN or inf), not negative, and within the plausible
    human range :data:`FORMANT_RANGE_HZ` (100-5000 Hz), and that F1 < F2 (formants are numbered
    in increasing frequency; the reverse usually means swapped arguments). Call it on concrete
    inputs, outside ``jax.jit``.

    Raises:
        ValueError: naming the argument and the first offending value.
    """
    lo, hi = FORMANT_RANGE_HZ
    arrays = {}
    for name, value in (("f1_hz", f1_hz), ("f2_hz", f2_hz)):
        a = _formant_array(name, value)
        if np.any(np.isnan(a)):
            raise ValueError(f"{name} is NaN: {name}={_first_bad(a, np.isnan(a))}")
        if np.any(~np.isfinite(a)):
            bad = ~np.isfinite(a)
            raise ValueError(f"{name} must be finite, got {name}={_first_bad(a, bad)}")
        if np.any(a < 0):
            raise ValueError(
                f"{name} must not be negative (a frequency in Hz), "
                f"got {name}={_first_bad(a, a < 0)}"
            )
        out = (a < lo) | (a > hi)
        if np.any(out):
            raise ValueError(
                f"{name} is outside the plausible formant range [{lo:g}, {hi:g}] Hz, got "
                f"{name}={_first_bad(a, out)} (convert kHz or normalised units to Hz)"
            )
        arrays[name] = a
    f1, f2 = arrays["f1_hz"], arrays["f2_hz"]
    try:
        b1, b2 = np.broadcast_arrays(f1, f2)
    except ValueError:
        raise ValueError(
            f"f1_hz and f2_hz have incompatible shapes {f1.shape} and {f2.shape}"
        ) from None
    swapped = b1 >= b2
    if np.any(swapped):
        pos = tuple(np.argwhere(swapped)[0])
        where = f" at index {tuple(int(p) for p in pos)}" if b1.ndim else ""
        raise ValueError(
            f"f1_hz must be below f2_hz{where}, got f1_hz={float(b1[pos])!r}, "
            f"f2_hz={float(b2[pos])!r} (were the arguments swapped?)"
        )
    return f1, f2
