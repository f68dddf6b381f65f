"""How fast this machine runs Python right now, so figures from different runs (or machines) can be compared.

The same fixed pure-Python loop, timed in CPU seconds: on a shared VM it varies by half from one minute to the next,
and the CPU-bound figures (CPU per activity, throughput, latency under load) move with it. Taken before and after
the hosting figures; a large spread means the machine changed speed during the run.
"""

from __future__ import annotations

import statistics
import time

LOOP = 1_000_000


def reference_ms() -> float:
    """CPU milliseconds of the reference loop (the median of three)."""
    timings: list[float] = []
    for _ in range(3):
        started = time.process_time()
        total = 0
        for number in range(LOOP):
            total += number * number
        timings.append((time.process_time() - started) * 1000)
    return round(statistics.median(timings), 1)
