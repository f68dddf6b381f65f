"""How fast the bot may message students: the `SendLimits` a Notifier passes, and the retry policy.

Teams allows a bot about 7 messages a second in one conversation and throttles an app that messages a tenant too
fast, so every proactive message first takes a token from its conversation's bucket and from its tenant's bucket,
and a 429 pauses the whole tenant. `RateLimits` keeps the buckets in this process (one instance);
`bot.limits.SharedSendLimits` keeps them in the store so several instances share them.
Pure apart from `asyncio` sleeping; the clock and the sleep are injected so tests run on fake time.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

Clock = Callable[[], float]
"""Monotonic seconds."""

Sleep = Callable[[float], Awaitable[None]]
"""Waits the given number of seconds."""

PER_CONVERSATION_PER_SECOND = 7.0
"""Teams' limit for one bot in one conversation."""

PER_TENANT_PER_SECOND = 25.0
"""Kept below the 30 a second a tenant tolerates, leaving room for the bot's replies to teachers."""

_EPSILON = 1e-9
"""Float slack, so a sleep of exactly the computed wait finds the token."""

RETRYABLE_STATUSES = frozenset({0, 412, 429, 502, 504})
"""Connector answers worth sending again (0: no answer came back)."""


class SendLimits(Protocol):
    """What the Notifier needs of its limits: wait for a send, pause a tenant, and the clock/sleep of backoff."""

    @property
    def clock(self) -> Clock:
        """Seconds, on the limits' time base."""
        ...

    @property
    def sleep(self) -> Sleep:
        """Waits on the limits' time base."""
        ...

    async def acquire(self, tenant_id: str, conversation_key: str) -> None:
        """Wait until one more message may go to this conversation in this tenant (and no pause holds it)."""
        ...

    async def pause(self, tenant_id: str, seconds: float) -> None:
        """Hold every message into the tenant for `seconds` (a longer pause already set is kept)."""
        ...


class TokenBucket:
    """`rate` tokens a second, holding at most `capacity`; starts full."""

    def __init__(self, rate: float, capacity: float, clock: Clock) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError("rate must be positive and capacity at least 1")
        self._rate = rate
        self._capacity = capacity
        self._clock = clock
        self._tokens = capacity
        self._at = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._at) * self._rate)
        self._at = now

    def wait_time(self) -> float:
        """Seconds until a token is available (0 when one is available now)."""
        self._refill()
        return 0.0 if self._tokens >= 1 - _EPSILON else (1 - self._tokens) / self._rate

    def take(self) -> None:
        """Use a token; call only when `wait_time()` is 0."""
        self._refill()
        self._tokens -= 1


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait before sending again.

    Attributes:
        max_attempts: sends per message, the first included.
        base_delay: the first backoff; doubled per attempt.
        max_delay: no wait (backoff or Retry-After) is longer than this.
    """

    max_attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """The wait before attempt `attempt + 1` (attempt counts from 1): Retry-After when given, else backoff."""
        wanted = retry_after if retry_after is not None and retry_after >= 0 else self.base_delay * 2 ** (attempt - 1)
        return min(wanted, self.max_delay)


class RateLimits:
    """The buckets every proactive message passes: one per conversation, one per tenant.

    Waiting is exact even with many senders at once: a sender takes both tokens only when both buckets have one,
    and otherwise sleeps for the longer wait and checks again.
    """

    def __init__(
        self,
        *,
        per_conversation: float = PER_CONVERSATION_PER_SECOND,
        per_tenant: float = PER_TENANT_PER_SECOND,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        max_buckets: int = 10_000,
    ) -> None:
        """Create the limits.

        Args:
            per_conversation: messages a second into one conversation (burst of one).
            per_tenant: messages a second into one tenant (burst of one).
            clock: monotonic seconds; injectable for tests.
            sleep: how to wait; injectable for tests.
            max_buckets: buckets kept per kind; the least recently used are dropped (a dropped bucket is full).
        """
        self._per_conversation = per_conversation
        self._per_tenant = per_tenant
        self.clock = clock
        self.sleep = sleep
        self._max = max_buckets
        self._conversations: OrderedDict[str, TokenBucket] = OrderedDict()
        self._tenants: OrderedDict[str, TokenBucket] = OrderedDict()
        self._paused: dict[str, float] = {}

    async def acquire(self, tenant_id: str, conversation_key: str) -> None:
        """Wait until one more message may go to this conversation in this tenant, and count it."""
        conversation = self._bucket(self._conversations, conversation_key, self._per_conversation)
        tenant = self._bucket(self._tenants, tenant_id, self._per_tenant)
        while True:
            paused = self._paused.get(tenant_id, 0.0) - self.clock()
            wait = max(conversation.wait_time(), tenant.wait_time(), paused)
            if wait <= 0:
                conversation.take()
                tenant.take()
                return
            await self.sleep(wait)

    async def pause(self, tenant_id: str, seconds: float) -> None:
        """Hold every message into the tenant (in this process) for `seconds`; a longer pause already set is kept."""
        now = self.clock()
        self._paused = {tenant: until for tenant, until in self._paused.items() if until > now}
        self._paused[tenant_id] = max(self._paused.get(tenant_id, now), now + max(0.0, seconds))

    def _bucket(self, buckets: OrderedDict[str, TokenBucket], key: str, rate: float) -> TokenBucket:
        bucket = buckets.get(key)
        if bucket is None:
            bucket = buckets[key] = TokenBucket(rate, 1, self.clock)
            while len(buckets) > self._max:
                buckets.popitem(last=False)
        buckets.move_to_end(key)
        return bucket
