"""Benchmark tasks and their data loaders."""

from .vowels import (
    ALL_VOWELS,
    ROMERA_VOWELS,
    VOWELS,
    VowelData,
    check_formants,
    load_romera,
    load_vowels,
    speaker_folds,
    speaker_split,
)

__all__ = [
    "ALL_VOWELS",
    "ROMERA_VOWELS",
    "VOWELS",
    "VowelData",
    "check_formants",
    "load_romera",
    "load_vowels",
    "speaker_folds",
    "speaker_split",
]
