"""The notifier: rate limits hold, throttling is retried, blocked students are remembered and never retried."""

from __future__ import annotations

from collections.abc import AsyncIterator
from itertools import pairwise

import pytest

from bot.graph.ids import TenantId, UserId
from bot.notify import (
    BLOCKED_NAMESPACE,
    Blocked,
    ChannelError,
    Delivered,
    Delivery,
    Failed,
    MemoryStudentChannel,
    Notifier,
    RateLimits,
    RetryPolicy,
)
from bot.settings import Settings
from bot.storage import MemoryStore
from bot.turn import Reply
from tests.notify.test_limits import FakeTime

TENANT = TenantId("tenant-1")
ALICE = UserId("alice")


@pytest.fixture
def time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def channel(time: FakeTime) -> MemoryStudentChannel:
    return MemoryStudentChannel(clock=time.clock)


@pytest.fixture
async def store() -> AsyncIterator[MemoryStore]:
    store = MemoryStore()
    yield store
    await store.aclose()


@pytest.fixture
def notifier(channel: MemoryStudentChannel, store: MemoryStore, time: FakeTime) -> Notifier:
    return Notifier(channel, store, limits=RateLimits(clock=time.clock, sleep=time.sleep), retry=RetryPolicy())


def message(text: str = "Your teacher returned Essay 2 for revision.") -> Reply:
    return Reply(text=text)


async def test_twenty_messages_to_one_student_take_at_least_2_7_seconds(
    notifier: Notifier, channel: MemoryStudentChannel, time: FakeTime
) -> None:
    results = [await notifier.notify(TENANT, ALICE, message(f"message {n}")) for n in range(20)]
    assert all(isinstance(r, Delivered) for r in results)
    assert len(channel.sent[ALICE]) == 20
    assert time.now >= 2.7
    gaps = [b - a for a, b in pairwise(channel.sent_at)]
    assert min(gaps) >= 1 / 7 - 1e-6


async def test_a_hundred_students_in_one_tenant_stay_within_25_a_second(
    notifier: Notifier, channel: MemoryStudentChannel, time: FakeTime
) -> None:
    messages = {UserId(f"student-{n}"): message() for n in range(100)}
    results = await notifier.notify_all(TENANT, messages)
    assert set(results) == set(messages)
    assert all(isinstance(r, Delivered) for r in results.values())
    assert sum(len(v) for v in channel.sent.values()) == 100
    times = sorted(channel.sent_at)
    # No 26 sends fit in any one-second window.
    assert all(times[i + 25] - times[i] >= 1.0 - 1e-6 for i in range(len(times) - 25))
    assert time.now >= 99 / 25 - 1e-6


async def test_throttled_then_delivered_honours_retry_after(
    notifier: Notifier, channel: MemoryStudentChannel, time: FakeTime
) -> None:
    channel.answer(ALICE, Delivery(status=429, retry_after=3.0))
    result = await notifier.notify(TENANT, ALICE, message())
    assert result == Delivered(attempts=2)
    assert channel.attempts[ALICE] == 2
    assert len(channel.sent[ALICE]) == 1
    assert time.now >= 3.0


async def test_blocked_student_is_reported_remembered_and_never_retried(
    notifier: Notifier, channel: MemoryStudentChannel, store: MemoryStore
) -> None:
    channel.answer(ALICE, 403)
    assert await notifier.notify(TENANT, ALICE, message()) == Blocked()
    assert channel.attempts[ALICE] == 1
    assert await store.get(BLOCKED_NAMESPACE, f"{TENANT}.{ALICE}") is not None
    assert await notifier.notify(TENANT, ALICE, message()) == Blocked()
    assert channel.attempts[ALICE] == 1, "a remembered block skips the send"
    await notifier.unblock(TENANT, ALICE)
    assert isinstance(await notifier.notify(TENANT, ALICE, message()), Delivered)


async def test_retries_are_bounded(notifier: Notifier, channel: MemoryStudentChannel) -> None:
    channel.answer(ALICE, *([502] * 10))
    result = await notifier.notify(TENANT, ALICE, message())
    assert isinstance(result, Failed) and "502" in result.reason
    assert channel.attempts[ALICE] == RetryPolicy().max_attempts
    assert ALICE not in channel.sent


async def test_other_errors_are_not_retried(notifier: Notifier, channel: MemoryStudentChannel) -> None:
    channel.answer(ALICE, 400)
    result = await notifier.notify(TENANT, ALICE, message())
    assert isinstance(result, Failed)
    assert channel.attempts[ALICE] == 1


async def test_no_answer_is_retried(store: MemoryStore, time: FakeTime) -> None:
    class Flaky(MemoryStudentChannel):
        async def send_personal(self, tenant_id: TenantId, user_id: UserId, reply: Reply) -> Delivery:
            if not self.attempts:
                self.attempts[user_id] = 1
                raise ChannelError("connection reset")
            return await super().send_personal(tenant_id, user_id, reply)

    flaky = Flaky()
    notifier = Notifier(flaky, store, limits=RateLimits(clock=time.clock, sleep=time.sleep))
    assert await notifier.notify(TENANT, ALICE, message()) == Delivered(attempts=2)
    assert len(flaky.sent[ALICE]) == 1


def test_notify_on_return_is_off_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_ON_RETURN", raising=False)
    assert Settings().notify_on_return is False
    monkeypatch.setenv("NOTIFY_ON_RETURN", "true")
    assert Settings().notify_on_return is True
