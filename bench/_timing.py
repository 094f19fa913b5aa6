"""Timing shared by the benchmarks."""

from __future__ import annotations

import time


def best_time(function, repeats: int):
    """Call ``function`` ``repeats`` times and return (minimum seconds, last result)."""
    best = float("inf")
    result = None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - started)
    return best, result
