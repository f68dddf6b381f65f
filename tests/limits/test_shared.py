"""The shared limiter: two limiters on one store (memory or a SQLite file) never exceed a key's rate together."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from datetime import timedelta
from pathlib import Path

import pytest

from bot.limits import NAMESPACE, Limit, SharedLimiter, VirtualTime, WaitTooLong
from bot.storage import Document, DocumentValue, MemoryStore, SqliteStore, StorageUnavailable, Store, VersionConflict

MICROS = 1_000_000


def peak(times: Iterable[float], seconds: float = 1.0) -> int:
    """The most moments in any window [a, a + seconds), counted in whole microseconds (as the limiter does)."""
    moments = sorted(round(t * MICROS) for t in times)
    length = round(seconds * MICROS)
    return max((sum(1 for m in moments if start <= m < start + length) for start in moments), default=0)


class WatchedStore:
    """Wraps a store: counts calls in flight (so `VirtualTime` holds still during SQLite's thread work), counts
    conflicts, and with `interleave` yields around every call so concurrent read-then-write races happen."""

    def __init__(self, inner: Store, *, interleave: bool = False) -> None:
        self.inner = inner
        self.interleave = interleave
        self.conflicts = 0
        self.in_flight = 0

    async def _yield(self) -> None:
        if self.interleave:
            await asyncio.sleep(0)

    async def get(self, namespace: str, key: str) -> Document | None:
        self.in_flight += 1
        try:
            await self._yield()
            document = await self.inner.get(namespace, key)
            await self._yield()
            return document
        finally:
            self.in_flight -= 1

    async def delete(self, namespace: str, key: str, *, expected_version: int | None = None) -> bool:
        self.in_flight += 1
        try:
            return await self.inner.delete(namespace, key, expected_version=expected_version)
        finally:
            self.in_flight -= 1

    async def put(
        self,
        namespace: str,
        key: str,
        value: DocumentValue,
        *,
        expected_version: int | None,
        ttl: timedelta | None = None,
    ) -> int:
        self.in_flight += 1
        try:
            await self._yield()
            return await self.inner.put(namespace, key, value, expected_version=expected_version, ttl=ttl)
        except VersionConflict:
            self.conflicts += 1
            raise
        finally:
            self.in_flight -= 1


@pytest.fixture
def time() -> VirtualTime:
    return VirtualTime(start=1_000.0)


@pytest.fixture
async def memory() -> AsyncIterator[MemoryStore]:
    store = MemoryStore()
    yield store
    await store.aclose()


@pytest.fixture
async def sqlite_pair(tmp_path: Path) -> AsyncIterator[tuple[SqliteStore, SqliteStore]]:
    """Two connections to one SQLite file, as two bot processes would have."""
    first = await SqliteStore.connect(tmp_path / "limits.db")
    second = await SqliteStore.connect(tmp_path / "limits.db")
    yield first, second
    await first.aclose()
    await second.aclose()


TENANT = Limit.per_second("teams:tenant", 25, smooth=True)
GRAPH = Limit.per_second("graph:tenant", 28)


async def grant_all(time: VirtualTime, limiters: list[SharedLimiter], count: int, limits: list[Limit]) -> list[float]:
    """`count` tasks spread over the limiters each acquire once; returns the clock reading when each got through."""
    granted: list[float] = []

    async def one(limiter: SharedLimiter) -> None:
        moment = await limiter.acquire(limits)
        assert time.clock() >= moment, "nobody gets through before the moment granted"
        granted.append(moment)

    async def everyone() -> None:
        await asyncio.gather(*(one(limiters[n % len(limiters)]) for n in range(count)))

    await time.run(everyone())
    return granted


async def test_two_limiters_on_one_memory_store_never_exceed_the_rate(memory: MemoryStore, time: VirtualTime) -> None:
    racy = WatchedStore(memory, interleave=True)
    limiters = [SharedLimiter(racy, clock=time.clock, sleep=time.sleep) for _ in range(2)]  # pyright: ignore[reportArgumentType]
    granted = await grant_all(time, limiters, 60, [TENANT])
    assert len(granted) == 60
    assert racy.conflicts > 0, "the limiters did race"
    assert peak(granted) <= 25
    assert time.now - 1_000.0 == pytest.approx(59 / 25, abs=0.01), "and they used the whole rate"


async def test_bursty_limits_allow_the_whole_second_at_once_but_no_more(memory: MemoryStore, time: VirtualTime) -> None:
    racy = WatchedStore(memory, interleave=True)
    limiters = [SharedLimiter(racy, clock=time.clock, sleep=time.sleep) for _ in range(2)]  # pyright: ignore[reportArgumentType]
    granted = await grant_all(time, limiters, 70, [GRAPH])
    assert peak(granted) == 28
    assert peak(granted, 10.0) <= 280


async def test_two_limiters_on_one_sqlite_file_never_exceed_the_rate(
    sqlite_pair: tuple[SqliteStore, SqliteStore], time: VirtualTime
) -> None:
    limiters = [SharedLimiter(store, clock=time.clock, sleep=time.sleep) for store in sqlite_pair]
    conversation = Limit.per_second("teams-conv:alice", 7, smooth=True)
    granted = await grant_all(time, limiters, 40, [TENANT, conversation])
    assert len(granted) == 40
    assert peak(granted) <= 7
    document = await sqlite_pair[0].get(NAMESPACE, "teams-conv:alice")
    assert document is not None, "the state lives in the shared file"


async def test_a_pause_holds_every_limiter_until_it_ends(memory: MemoryStore, time: VirtualTime) -> None:
    first = SharedLimiter(memory, clock=time.clock, sleep=time.sleep)
    second = SharedLimiter(memory, clock=time.clock, sleep=time.sleep)
    resumes = await first.pause(TENANT, 5.0)
    assert resumes == pytest.approx(1_005.0)
    assert await second.paused_until(TENANT) == pytest.approx(1_005.0)
    granted = await time.run(second.acquire([TENANT]))
    assert granted == pytest.approx(1_005.0)
    assert await second.paused_until(TENANT) is None


async def test_a_pause_set_while_waiting_sends_the_waiter_after_it(memory: MemoryStore, time: VirtualTime) -> None:
    first = SharedLimiter(memory, clock=time.clock, sleep=time.sleep)
    second = SharedLimiter(memory, clock=time.clock, sleep=time.sleep)
    await first.acquire([TENANT])
    booked_before_pause = await second.reserve([TENANT])
    assert booked_before_pause == pytest.approx(1_000.04)

    async def waiter_and_pause() -> float:
        waiting = asyncio.ensure_future(second.acquire([TENANT]))
        await asyncio.sleep(0)
        await first.pause(TENANT, 3.0)
        return await waiting

    granted = await time.run(waiter_and_pause())
    assert granted >= 1_003.0


async def test_a_shorter_pause_never_cuts_a_longer_one(memory: MemoryStore, time: VirtualTime) -> None:
    limiter = SharedLimiter(memory, clock=time.clock, sleep=time.sleep)
    await limiter.pause(TENANT, 10.0)
    assert await limiter.pause(TENANT, 1.0) == pytest.approx(1_010.0)


async def test_a_wait_longer_than_allowed_is_refused_and_books_nothing(memory: MemoryStore, time: VirtualTime) -> None:
    limiter = SharedLimiter(memory, clock=time.clock, sleep=time.sleep)
    slow = Limit.per_second("slow", 1)
    assert await limiter.reserve([slow]) == pytest.approx(1_000.0)
    with pytest.raises(WaitTooLong) as refused:
        await limiter.reserve([slow], max_wait=0.5)
    assert refused.value.wait == pytest.approx(1.0)
    assert await limiter.reserve([slow]) == pytest.approx(1_001.0), "the refused call held no moment"


async def test_a_grant_on_several_keys_fits_all_of_them(memory: MemoryStore, time: VirtualTime) -> None:
    limiter = SharedLimiter(memory, clock=time.clock, sleep=time.sleep)
    busy = Limit.per_second("teams-conv:busy", 1, smooth=True)
    other = Limit.per_second("teams-conv:other", 1, smooth=True)
    assert await limiter.reserve([TENANT, busy]) == pytest.approx(1_000.0)
    assert await limiter.reserve([TENANT, busy]) == pytest.approx(1_001.0)
    # The busy conversation's booking a second ahead does not hold up another conversation in the tenant.
    assert await limiter.reserve([TENANT, other]) == pytest.approx(1_000.04)


async def test_nonsense_requests_are_refused(memory: MemoryStore) -> None:
    limiter = SharedLimiter(memory)
    with pytest.raises(ValueError, match="never fit"):
        await limiter.reserve([GRAPH], cost=29)
    with pytest.raises(ValueError, match="once"):
        await limiter.reserve([GRAPH, GRAPH])


async def test_a_closed_store_is_reported(time: VirtualTime) -> None:
    store = MemoryStore()
    await store.aclose()
    with pytest.raises(StorageUnavailable):
        await SharedLimiter(store, clock=time.clock, sleep=time.sleep).acquire([TENANT])
