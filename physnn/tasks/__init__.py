"""Benchmark tasks and their data loaders."""

from . import graphs
from .fsdd import (
    FSDD_SAMPLE_RATE,
    FSDD_SPEAKERS,
    FSDDData,
    fixed_frames,
    fsdd_features,
    fsdd_speaker_folds,
    fsdd_split,
    load_fsdd,
    melspec,
    mfcc,
    mulaw_decode,
    mulaw_encode,
)
from .mackey_glass import mackey_glass
from .metrics import word_error_rate
from .narma import NARMA10_COEFFICIENTS, narma, narma10
from .parity import bit_error_rate, parity_targets, parity_task
from .santafe import SANTAFE_LENGTH, OneStepSplit, load_santafe, santafe_one_step
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
    # delay-reservoir benchmarks
    "NARMA10_COEFFICIENTS",
    "narma",
    "narma10",
    "mackey_glass",
    "SANTAFE_LENGTH",
    "OneStepSplit",
    "load_santafe",
    "santafe_one_step",
    "FSDD_SAMPLE_RATE",
    "FSDD_SPEAKERS",
    "FSDDData",
    "load_fsdd",
    "mulaw_encode",
    "mulaw_decode",
    "mfcc",
    "melspec",
    "fsdd_features",
    "fixed_frames",
    "fsdd_split",
    "fsdd_speaker_folds",
    "word_error_rate",
    # parity (Coulombe 2017, Dion 2018)
    "parity_task",
    "parity_targets",
    "bit_error_rate",
    # graph colouring (Parihar 2017)
    "graphs",
]
