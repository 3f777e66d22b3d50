"""Timing shared by the benchmarks (standard library only: the peers' venv imports it too)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def best(fns: list[Callable[[], Any]], rounds: int) -> list[float]:
    """Fewest seconds of each of `fns` over `rounds` rounds, run in turn (so drift hits all)."""
    times = [float("inf")] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            times[i] = min(times[i], time.perf_counter() - start)
    return times
