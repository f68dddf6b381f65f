"""When and how long to wait before retrying a Graph call.

Graph asks clients to honour `Retry-After` on 429 (and it may send it on 503/504); without it we back off
exponentially with full jitter. Every logical call has a bounded number of attempts AND a total time budget: a wait
that would overrun the budget is not slept, the caller gets GraphThrottled(retry_after=wait) at once.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["RETRYABLE_STATUSES", "RetryBudget", "RetryPolicy", "parse_retry_after"]

RETRYABLE_STATUSES = frozenset({429, 503, 504})
"""Statuses that mean "not now": throttled, service unavailable, gateway timeout."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Read a Retry-After header value as seconds to wait.

    Args:
        value: "2", "2.128" (Graph sends fractions) or an HTTP-date; None when the header is absent.
        now: the current wall-clock time, to turn an HTTP-date into a delay.

    Returns:
        The non-negative wait in seconds, or None when the value is absent or unreadable.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


@dataclass(frozen=True)
class RetryPolicy:
    """How a GraphHttp retries. Inject `sleep`, `random`, `clock` and `now` in tests so nothing really waits."""

    max_attempts: int = 4
    budget_seconds: float = 6.0
    base_delay: float = 0.5
    max_delay: float = 8.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    random: Callable[[], float] = field(default=random.random)
    clock: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = _utcnow

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff after the `attempt`-th failed try (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return self.random() * ceiling

    def start(self) -> RetryBudget:
        """Open the attempt counter and time budget of one logical call."""
        return RetryBudget(self, started=self.clock())


@dataclass
class RetryBudget:
    """Attempts made and time spent by one logical call (a request with its retries, or a whole $batch)."""

    policy: RetryPolicy
    started: float
    attempts: int = 0

    def remaining(self) -> float:
        """Seconds of the budget still unspent."""
        return self.policy.budget_seconds - (self.policy.clock() - self.started)

    def wait_for(self, retry_after: float | None) -> float:
        """The wait before the next attempt: Graph's Retry-After when given, else jittered backoff."""
        return retry_after if retry_after is not None else self.policy.backoff(self.attempts)

    def can_retry(self, wait: float) -> bool:
        """True when another attempt is allowed and `wait` fits in what is left of the budget."""
        return self.attempts < self.policy.max_attempts and wait <= self.remaining()

    async def sleep(self, wait: float) -> None:
        """Wait before the next attempt (through the injected sleep)."""
        await self.policy.sleep(wait)
