"""Student notifications across instances: Teams' rates hold together, a 429 pauses every instance, dead letters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.graph.ids import TenantId, UserId
from bot.limits import DeadLetters, SharedLimiter, SharedSendLimits, VirtualTime
from bot.notify.limits import RateLimits, RetryPolicy
from bot.notify.notifier import Delivered, Delivery, Failed, MemoryStudentChannel, Notifier
from bot.storage import MemoryStore, SqliteStore, Store
from bot.turn import Reply
from tests.limits.test_shared import WatchedStore, peak

TENANT = TenantId("tenant-1")
TEXT = "Your teacher returned Essay 2 for revision."


@dataclass
class TimedChannel(MemoryStudentChannel):
    """Records who was sent to, and when, for every send that went out."""

    log: list[tuple[str, float]] = field(default_factory=list[tuple[str, float]])

    async def send_personal(self, tenant_id: TenantId, user_id: UserId, reply: Reply) -> Delivery:
        self.log.append((user_id, self.clock() if self.clock else 0.0))
        return await super().send_personal(tenant_id, user_id, reply)


@pytest.fixture
def time() -> VirtualTime:
    return VirtualTime(start=100.0)


@pytest.fixture
async def memory() -> AsyncIterator[MemoryStore]:
    store = MemoryStore()
    yield store
    await store.aclose()


def instance(store: Store, time: VirtualTime, channel: MemoryStudentChannel, **kwargs: object) -> Notifier:
    """One bot instance's notifier: its own limiter object over the shared store."""
    limits = SharedSendLimits(SharedLimiter(store, clock=time.clock, sleep=time.sleep))
    return Notifier(channel, store, limits=limits, **kwargs)  # type: ignore[arg-type]


def students(first: int, count: int) -> dict[UserId, Reply]:
    return {UserId(f"student-{n}"): Reply(text=TEXT) for n in range(first, first + count)}


async def fan_out_from_two_instances(store: Store, time: VirtualTime, channel: TimedChannel) -> None:
    first, second = instance(store, time, channel), instance(store, time, channel)

    async def both() -> None:
        results = await asyncio.gather(
            first.notify_all(TENANT, students(0, 60)),
            second.notify_all(TENANT, students(60, 60)),
            *(first.notify(TENANT, UserId("keen"), Reply(text=TEXT)) for _ in range(5)),
            *(second.notify(TENANT, UserId("keen"), Reply(text=TEXT)) for _ in range(5)),
        )
        assert all(isinstance(r, Delivered) for batch in results[:2] for r in batch.values())  # type: ignore[union-attr]

    await time.run(both())
    assert len(channel.log) == 130
    assert peak(moment for _, moment in channel.log) <= 25
    keen = [moment for user, moment in channel.log if user == "keen"]
    assert peak(keen) <= 7
    assert peak(keen, 2.0) <= 8


async def test_two_instances_on_one_memory_store_stay_within_teams_limits(
    memory: MemoryStore, time: VirtualTime
) -> None:
    await fan_out_from_two_instances(memory, time, TimedChannel(clock=time.clock))


async def test_two_instances_on_one_sqlite_file_stay_within_teams_limits(tmp_path: Path) -> None:
    first = WatchedStore(await SqliteStore.connect(tmp_path / "bot.db"))
    second = WatchedStore(await SqliteStore.connect(tmp_path / "bot.db"))
    time = VirtualTime(start=100.0, busy=lambda: first.in_flight + second.in_flight > 0)
    channel = TimedChannel(clock=time.clock)
    one = instance(first, time, channel)  # pyright: ignore[reportArgumentType]
    other = instance(second, time, channel)  # pyright: ignore[reportArgumentType]

    async def both() -> None:
        await asyncio.gather(one.notify_all(TENANT, students(0, 20)), other.notify_all(TENANT, students(20, 20)))

    await time.run(both())
    assert len(channel.log) == 40
    assert peak(moment for _, moment in channel.log) <= 25
    await first.inner.aclose()
    await second.inner.aclose()


async def test_a_429_pauses_every_instance_for_the_tenant(memory: MemoryStore, time: VirtualTime) -> None:
    channel = TimedChannel(clock=time.clock)
    channel.answer("student-0", Delivery(status=429, retry_after=5.0))
    first, second = instance(memory, time, channel), instance(memory, time, channel)

    async def both() -> None:
        await asyncio.gather(first.notify_all(TENANT, students(0, 30)), second.notify_all(TENANT, students(30, 30)))

    await time.run(both())
    throttled_at = next(moment for user, moment in channel.log if user == "student-0")
    later = sorted(moment for _, moment in channel.log if moment > throttled_at)
    assert later, "sending resumed"
    assert later[0] >= throttled_at + 5.0, "no instance sent into the tenant during the pause"
    assert len(channel.sent) == 60, "everyone got their message in the end"


async def test_a_429_pauses_only_its_own_tenant(memory: MemoryStore, time: VirtualTime) -> None:
    channel = TimedChannel(clock=time.clock)
    channel.answer("student-0", Delivery(status=429, retry_after=30.0))
    notifier = instance(memory, time, channel)

    async def later(tenant: TenantId, user: str) -> None:
        await time.sleep(0.5)
        await notifier.notify(tenant, UserId(user), Reply(text=TEXT))

    async def three() -> None:
        await asyncio.gather(
            notifier.notify(TENANT, UserId("student-0"), Reply(text=TEXT)),
            later(TENANT, "student-5"),
            later(TenantId("tenant-2"), "student-9"),
        )

    await time.run(three())
    sent = dict(channel.log[1:])
    assert sent["student-9"] == pytest.approx(100.5), "the other tenant went at once"
    assert sent["student-5"] >= 130.0, "the throttled tenant waited out the pause"


async def test_undeliverable_messages_become_dead_letters_after_the_attempts(
    memory: MemoryStore, time: VirtualTime
) -> None:
    channel = TimedChannel(clock=time.clock)
    channel.answer("student-1", *([502] * 10))
    at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    letters = DeadLetters(memory, now=lambda: at)
    notifier = instance(memory, time, channel, retry=RetryPolicy(max_attempts=3), dead_letters=letters)

    results = await time.run(notifier.notify_all(TENANT, students(0, 3)))

    assert isinstance(results[UserId("student-1")], Failed)
    assert channel.attempts["student-1"] == 3
    recorded = await DeadLetters(memory).recent(TENANT)
    assert [(d.user_id, d.attempts, d.at) for d in recorded] == [("student-1", 3, at)]
    assert "502" in recorded[0].reason
    assert TEXT not in recorded[0].model_dump_json(), "the message text is not kept"


async def test_a_refused_message_is_a_dead_letter_at_once(memory: MemoryStore, time: VirtualTime) -> None:
    channel = TimedChannel(clock=time.clock)
    channel.answer("student-0", 400)
    notifier = instance(memory, time, channel)
    result = await time.run(notifier.notify(TENANT, UserId("student-0"), Reply(text=TEXT)))
    assert isinstance(result, Failed)
    assert [d.reason for d in await notifier.dead_letters.recent(TENANT)] == ["status 400"]


async def test_dead_letters_keep_the_most_recent(memory: MemoryStore) -> None:
    letters = DeadLetters(memory, max_entries=2)
    for n in range(3):
        await letters.record(TENANT, f"student-{n}", reason="status 502 after 4 attempts", attempts=4)
    assert [d.user_id for d in await letters.recent(TENANT)] == ["student-2", "student-1"]
    assert await letters.recent(TenantId("other")) == []


async def test_without_the_limits_store_a_message_fails_instead_of_risking_throttling(
    memory: MemoryStore, time: VirtualTime
) -> None:
    gone = MemoryStore()
    await gone.aclose()
    channel = TimedChannel(clock=time.clock)
    limits = SharedSendLimits(SharedLimiter(gone, clock=time.clock, sleep=time.sleep))
    notifier = Notifier(channel, memory, limits=limits)
    result = await time.run(notifier.notify(TENANT, UserId("student-0"), Reply(text=TEXT)))
    assert result == Failed(reason="rate limits unavailable")
    assert channel.log == []
    assert [d.user_id for d in await notifier.dead_letters.recent(TENANT)] == ["student-0"]


async def test_the_single_instance_limits_pause_the_tenant_too(memory: MemoryStore, time: VirtualTime) -> None:
    channel = TimedChannel(clock=time.clock)
    channel.answer("student-0", Delivery(status=429, retry_after=4.0))
    notifier = Notifier(channel, memory, limits=RateLimits(clock=time.clock, sleep=time.sleep))
    results = await time.run(notifier.notify_all(TENANT, students(0, 10)))
    assert all(isinstance(r, Delivered) for r in results.values())
    throttled_at = channel.log[0][1]
    assert all(moment >= throttled_at + 4.0 for _, moment in channel.log[1:] if moment > throttled_at)
