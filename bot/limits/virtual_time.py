"""`VirtualTime`: a clock that jumps to the next sleeper's deadline whenever every task is waiting.

For tests and benchmarks of the limits: 1,000 messages at 25 a second take 40 simulated seconds and a fraction of a
real one. A sleeper wakes exactly at its deadline (the clock reads the deadline when it resumes), so what a test
records is what the limiter granted. The clock only moves after the event loop had `settle` turns in which nobody
woke, so work that never sleeps (an in-memory store) finishes at the moment it started. Work that waits on a thread
(a SQLite store) is invisible to the event loop: pass `busy` (e.g. "a store call is in flight") so the clock holds
still until it is done.

    time = VirtualTime()
    limiter = SharedLimiter(store, clock=time.clock, sleep=time.sleep)
    results = await time.run(notifier.notify_all(tenant, messages))
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class VirtualTime:
    """A fake clock plus a sleep that waits on it; `run` drives the clock until a coroutine is done."""

    def __init__(self, start: float = 0.0, *, settle: int = 20, busy: Callable[[], bool] | None = None) -> None:
        """Create a clock reading `start`.

        Args:
            start: the first reading, in seconds.
            settle: event-loop turns without progress before the clock jumps to the next deadline.
            busy: while it returns True the clock does not move (work outside the event loop is under way).
        """
        self.now = start
        self._settle = max(1, settle)
        self._busy = busy
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        """The current simulated time, in seconds."""
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Wait until the simulated clock has moved `seconds` on (0 or less: just yield)."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._order), wake))
        await wake

    async def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run `work` to its end, moving the clock whenever everything is asleep.

        Args:
            work: the coroutine to drive.

        Returns:
            What it returned.

        Raises:
            Exception: whatever it raised.
        """
        task = asyncio.ensure_future(work)
        idle = 0
        while not task.done():
            await asyncio.sleep(0)
            idle += 1
            if idle < self._settle or task.done():
                continue
            idle = 0
            if not self._sleepers or (self._busy is not None and self._busy()):
                await asyncio.sleep(0.0005)  # something waits on a thread (a SQLite store): give it real time
                continue
            deadline = self._sleepers[0][0]
            self.now = max(self.now, deadline)
            while self._sleepers and self._sleepers[0][0] <= self.now:
                _, _, wake = heapq.heappop(self._sleepers)
                if not wake.done():
                    wake.set_result(None)
        return task.result()
