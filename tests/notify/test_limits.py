"""Token buckets and the retry policy, on fake time."""

from __future__ import annotations

import asyncio
from itertools import pairwise

import pytest

from bot.notify import RateLimits, RetryPolicy, TokenBucket


class FakeTime:
    """A clock that moves only when someone sleeps; concurrent sleepers never move it backwards."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now = max(self.now, self.now + seconds)
        await asyncio.sleep(0)


def test_bucket_gives_one_token_then_makes_you_wait() -> None:
    time = FakeTime()
    bucket = TokenBucket(rate=7, capacity=1, clock=time.clock)
    assert bucket.wait_time() == 0
    bucket.take()
    assert bucket.wait_time() == pytest.approx(1 / 7)
    time.now += 1 / 7
    assert bucket.wait_time() == 0


def test_bucket_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(rate=0, capacity=1, clock=FakeTime().clock)


async def test_one_conversation_gets_at_most_seven_a_second() -> None:
    time = FakeTime()
    limits = RateLimits(clock=time.clock, sleep=time.sleep)
    sent: list[float] = []
    for _ in range(20):
        await limits.acquire("tenant", "tenant.alice")
        sent.append(time.now)
    assert time.now >= 19 / 7 - 1e-6
    assert all(b - a >= 1 / 7 - 1e-6 for a, b in pairwise(sent))


async def test_other_conversations_are_not_held_up_by_a_busy_one() -> None:
    time = FakeTime()
    limits = RateLimits(clock=time.clock, sleep=time.sleep)
    for _ in range(5):
        await limits.acquire("tenant", "tenant.alice")
    before = time.now
    await limits.acquire("other-tenant", "other-tenant.bob")
    assert time.now == before


def test_retry_after_wins_over_backoff_and_everything_is_capped() -> None:
    policy = RetryPolicy(max_attempts=4, base_delay=1, max_delay=30)
    assert policy.delay(1, None) == 1
    assert policy.delay(3, None) == 4
    assert policy.delay(1, 2.5) == 2.5
    assert policy.delay(1, 600) == 30
    assert policy.delay(10, None) == 30
