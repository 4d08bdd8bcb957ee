"""What the romera2018 variants (chips, glide) share with romera2018's configuration."""

from __future__ import annotations

import dataclasses
from typing import Literal


@dataclasses.dataclass(frozen=True)
class ReadoutBConfig:
    """The fields of ``romera2018``'s configuration that readout (b) and its folds depend on,
    with the same meaning and values as there; a variant's configuration extends it."""

    n_folds: int
    t1_ns: float
    dt_ns: float
    rf_amp_ma: float
    coupling: float
    temperature_k: float
    grad_steps: int
    grad_lr: float
    grad_lr_current: float
    grad_lr_coupling: float
    readout_l2: float
    readout_steps: int
    taper: Literal["hann", "none"]
    lock_slip_cycles: float
    seed: int
    vtl_augment: bool


B_KEYS = tuple(f.name for f in dataclasses.fields(ReadoutBConfig))


def b_fields(config, *extra: str) -> dict:
    """``{field: value}`` of romera2018's ``config`` for the fields of :class:`ReadoutBConfig`
    and the ``extra`` ones."""
    return {k: getattr(config, k) for k in B_KEYS + extra}
