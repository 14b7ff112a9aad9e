"""Timing helper shared by the benchmark scripts (imported as a sibling module)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def best_of(fn: Callable[[], Any], repeats: int,
            warmup: bool = False) -> tuple[tuple[float, float], Any]:
    """Best wall time and best CPU time of ``repeats`` calls of ``fn``, and the last output.

    CPU time (all threads of the process, summed) is less disturbed than wall time by other
    processes on a shared machine. ``warmup`` calls ``fn`` once first, untimed (numba JIT in
    the peers).
    """
    if warmup:
        fn()
    walls, cpus, out = [], [], None
    for _ in range(max(1, repeats)):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return (min(walls), min(cpus)), out
