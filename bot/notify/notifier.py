"""Proactive messages to students ("Your teacher returned Essay 2 for revision ..."), rate-limited and retried.

The transport is a `StudentChannel`: the Bot Framework one (written at the edge) opens a 1:1 conversation with the
student through the connector; tests use `MemoryStudentChannel`. A student who blocked or uninstalled the bot (403)
is remembered in the store's "blocked" namespace, so later notifications skip them without a send.

A 429 pauses every send into the tenant (on every instance, with `bot.limits.SharedSendLimits`) for its Retry-After
or the backoff. A message that still fails after the bounded attempts is a dead letter (`bot.limits.DeadLetters`:
who, why, when; never the text) and a `Failed` result, which the teacher's card reports as "not reached".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from bot.graph.ids import TenantId, UserId
from bot.limits.dead_letters import DeadLetters
from bot.notify.limits import RETRYABLE_STATUSES, RateLimits, RetryPolicy, SendLimits
from bot.storage import StorageUnavailable, Store
from bot.turn import Reply

logger = logging.getLogger(__name__)

BLOCKED_NAMESPACE = "blocked"
BLOCKED_TTL = timedelta(days=7)
"""How long a blocked student is skipped before the bot tries them again (they may reinstall it)."""


@dataclass(frozen=True)
class Delivery:
    """The connector's answer to one send: its HTTP status (0 when no answer came back) and any Retry-After."""

    status: int
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class ChannelError(Exception):
    """The send got no answer at all (connection refused, timed out); treated like a retryable status."""


class StudentChannel(Protocol):
    """Sends one message into a student's personal chat with the bot."""

    async def send_personal(self, tenant_id: TenantId, user_id: UserId, reply: Reply) -> Delivery:
        """Send `reply` to the student's 1:1 conversation with the bot (creating it when needed).

        Args:
            tenant_id: the student's tenant.
            user_id: the student's Entra object id.
            reply: what to send.

        Returns:
            The connector's answer; failures are answers too (403 when the student blocked the bot).

        Raises:
            ChannelError: no answer came back.
        """
        ...


@dataclass(frozen=True)
class Delivered:
    """The student got the message."""

    attempts: int = 1


@dataclass(frozen=True)
class Blocked:
    """The student blocked or uninstalled the bot (now, or earlier and remembered); not retried."""


@dataclass(frozen=True)
class Failed:
    """The message could not be delivered; `reason` is for logs, never shown to students."""

    reason: str


NotifyResult = Delivered | Blocked | Failed


class Notifier:
    """Sends messages to students within Teams' rate limits, retrying what is worth retrying."""

    def __init__(
        self,
        channel: StudentChannel,
        store: Store,
        *,
        limits: SendLimits | None = None,
        retry: RetryPolicy | None = None,
        blocked_ttl: timedelta = BLOCKED_TTL,
        max_concurrency: int = 16,
        dead_letters: DeadLetters | None = None,
    ) -> None:
        """Create a notifier.

        Args:
            channel: the transport.
            store: where blocked students (and, by default, dead letters) are remembered.
            limits: the rate limits (with the clock and sleep used for backoff too): `bot.limits.SharedSendLimits`
                when several instances send; in-process `RateLimits()` when None.
            retry: the retry policy; `RetryPolicy()` when None.
            blocked_ttl: how long a blocked student is skipped.
            max_concurrency: sends under way at once in `notify_all`.
            dead_letters: where undeliverable messages are recorded; `DeadLetters(store)` when None.
        """
        self._channel = channel
        self._store = store
        self.limits: SendLimits = limits or RateLimits()
        self.dead_letters = dead_letters or DeadLetters(store)
        self._retry = retry or RetryPolicy()
        self._blocked_ttl = blocked_ttl
        self._max_concurrency = max(1, max_concurrency)

    async def notify(self, tenant_id: TenantId, student_id: UserId, message: Reply) -> NotifyResult:
        """Send one student a message.

        Args:
            tenant_id: the student's tenant.
            student_id: the student's Entra object id.
            message: what the student reads.

        Returns:
            Delivered, Blocked (403 now or remembered from before; never retried) or Failed(reason) after the
            bounded retries of 429/412/502/504 and of sends that got no answer (then also a dead letter).
        """
        if await self.is_blocked(tenant_id, student_id):
            return Blocked()
        attempt = 0
        while True:
            attempt += 1
            try:
                await self.limits.acquire(tenant_id, f"{tenant_id}.{student_id}")
            except StorageUnavailable:  # shared limits live in the store: without it, do not risk throttling
                return await self._failed(tenant_id, student_id, "rate limits unavailable", attempt - 1)
            try:
                delivery = await self._channel.send_personal(tenant_id, student_id, message)
            except ChannelError:
                delivery = Delivery(status=0)
            if delivery.ok:
                return Delivered(attempts=attempt)
            if delivery.status == 403:
                key = _key(tenant_id, student_id)
                await self._store.put(
                    BLOCKED_NAMESPACE, key, {"blocked": True}, expected_version=None, ttl=self._blocked_ttl
                )
                return Blocked()
            if delivery.status not in RETRYABLE_STATUSES:
                return await self._failed(tenant_id, student_id, f"status {delivery.status}", attempt)
            delay = self._retry.delay(attempt, delivery.retry_after)
            # A 429 pauses every send into the tenant (the next acquire waits it out); other answers wait here.
            paused = delivery.status == 429 and await self._pause(tenant_id, delay)
            if attempt >= self._retry.max_attempts:
                reason = f"status {delivery.status} after {attempt} attempts"
                return await self._failed(tenant_id, student_id, reason, attempt)
            if not paused:
                await self.limits.sleep(delay)

    async def _pause(self, tenant_id: TenantId, seconds: float) -> bool:
        """Pause the tenant's sends; False when the store holding the pause is unavailable."""
        try:
            await self.limits.pause(tenant_id, seconds)
        except StorageUnavailable:
            logger.warning("could not pause notifications after a 429: the store is unavailable")
            return False
        return True

    async def _failed(self, tenant_id: TenantId, student_id: UserId, reason: str, attempts: int) -> Failed:
        """Record a dead letter (best effort: a store outage must not hide the failure from the teacher)."""
        try:
            await self.dead_letters.record(tenant_id, student_id, reason=reason, attempts=attempts)
        except StorageUnavailable:
            logger.warning("could not record an undelivered student notification: the store is unavailable")
        return Failed(reason=reason)

    async def notify_all(self, tenant_id: TenantId, messages: Mapping[UserId, Reply]) -> dict[UserId, NotifyResult]:
        """Send each student their message, several at once, within the limits.

        Args:
            tenant_id: the students' tenant.
            messages: what each student reads, by student id.

        Returns:
            Each student's result, by student id.
        """
        gate = asyncio.Semaphore(self._max_concurrency)

        async def one(student_id: UserId, message: Reply) -> NotifyResult:
            async with gate:
                return await self.notify(tenant_id, student_id, message)

        ids = list(messages)
        results = await asyncio.gather(*(one(student_id, messages[student_id]) for student_id in ids))
        outcome = dict(zip(ids, results, strict=True))
        logger.info(
            "student notifications: sent=%d blocked=%d failed=%d",
            sum(isinstance(r, Delivered) for r in results),
            sum(isinstance(r, Blocked) for r in results),
            sum(isinstance(r, Failed) for r in results),
        )
        return outcome

    async def is_blocked(self, tenant_id: TenantId, student_id: UserId) -> bool:
        """Whether the student blocked the bot recently (so messages to them are skipped)."""
        return await self._store.get(BLOCKED_NAMESPACE, _key(tenant_id, student_id)) is not None

    async def unblock(self, tenant_id: TenantId, student_id: UserId) -> None:
        """Forget that the student blocked the bot (call when they install it again)."""
        await self._store.delete(BLOCKED_NAMESPACE, _key(tenant_id, student_id))


def _key(tenant_id: str, student_id: str) -> str:
    return f"{tenant_id}.{student_id}"


@dataclass
class MemoryStudentChannel:
    """An in-memory `StudentChannel` for tests: records what each student got and answers from a script.

    `answers[user_id]` lists the statuses (or Deliveries) to answer that student's sends with, in order; when it
    runs out every send is delivered (201). `sent` holds the delivered messages, `attempts` every send per student,
    `sent_at` the clock's time of each send.
    """

    clock: Callable[[], float] | None = None
    answers: dict[str, list[Delivery]] = field(default_factory=dict[str, list[Delivery]])
    sent: dict[str, list[Reply]] = field(default_factory=dict[str, list[Reply]])
    attempts: dict[str, int] = field(default_factory=dict[str, int])
    sent_at: list[float] = field(default_factory=list[float])

    def answer(self, user_id: str, *deliveries: Delivery | int) -> None:
        """Script the next answers for a student's sends (an int is a status without Retry-After)."""
        queue = self.answers.setdefault(user_id, [])
        queue.extend(d if isinstance(d, Delivery) else Delivery(status=d) for d in deliveries)

    async def send_personal(self, tenant_id: TenantId, user_id: UserId, reply: Reply) -> Delivery:
        """Record the attempt and answer from the script (default: delivered)."""
        self.attempts[user_id] = self.attempts.get(user_id, 0) + 1
        self.sent_at.append(self.clock() if self.clock else 0.0)
        queue = self.answers.get(user_id) or []
        delivery = queue.pop(0) if queue else Delivery(status=201)
        if delivery.ok:
            self.sent.setdefault(user_id, []).append(reply)
        return delivery
