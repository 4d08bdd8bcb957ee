"""Timing shared by the benchmark scripts (imported from the scripts' own folder)."""

from __future__ import annotations

import time

import jax


def best_of(f, *args, repeats: int, warmup: bool = False) -> float:
    """The shortest of ``repeats`` wall times of ``f(*args)``, each waited for to the end
    (``jax.block_until_ready``); with ``warmup``, after one untimed call (compilation)."""
    if warmup:
        jax.block_until_ready(f(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(f(*args))
        times.append(time.perf_counter() - start)
    return min(times)
