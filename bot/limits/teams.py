"""Teams send limits shared by every instance: per conversation and per tenant, with a tenant-wide pause on 429.

Teams allows a bot about 7 messages a second in one conversation (and 8 in 2 s) and throttles an app that messages
a tenant too fast; the per-tenant default of 25 a second stays below the 30 a tenant tolerates. Both are smooth
(one message every 1/rate s) so no instance bursts. When the connector answers 429, `pause` stops every instance's
sends to that tenant until the Retry-After (or backoff) has passed; they then resume at the same paced rate.

    limits = SharedSendLimits(SharedLimiter(store))
    notifier = Notifier(channel, store, limits=limits)
"""

from __future__ import annotations

from bot.limits.shared import Clock, SharedLimiter, Sleep
from bot.limits.window import Limit, Window

PER_CONVERSATION_PER_SECOND = 7.0
"""Teams' limit for one bot in one conversation."""

PER_CONVERSATION_PER_TWO_SECONDS = 8
"""Teams' second per-conversation limit: 8 messages in any 2 seconds."""

PER_TENANT_PER_SECOND = 25.0
"""Kept below the 30 a second a tenant tolerates, leaving room for the bot's replies to teachers."""


class SharedSendLimits:
    """The `SendLimits` a `Notifier` uses when several instances send: all counting in one store."""

    def __init__(
        self,
        limiter: SharedLimiter,
        *,
        per_conversation: float = PER_CONVERSATION_PER_SECOND,
        per_tenant: float = PER_TENANT_PER_SECOND,
    ) -> None:
        """Create the limits.

        Args:
            limiter: the shared limiter (its clock and sleep are used for every wait, backoff included).
            per_conversation: messages a second into one conversation, evenly spaced (at most 8 in 2 s too).
            per_tenant: messages a second into one tenant, evenly spaced.
        """
        self._limiter = limiter
        self._per_conversation = per_conversation
        self._per_tenant = per_tenant

    @property
    def clock(self) -> Clock:
        """The limiter's clock."""
        return self._limiter.clock

    @property
    def sleep(self) -> Sleep:
        """The limiter's sleep."""
        return self._limiter.sleep

    def tenant_limit(self, tenant_id: str) -> Limit:
        """The shared limit of all messages into a tenant."""
        return Limit.per_second(f"teams:{tenant_id}", self._per_tenant, smooth=True)

    def conversation_limit(self, conversation_key: str) -> Limit:
        """The shared limit of messages into one conversation."""
        extra = (Window(PER_CONVERSATION_PER_TWO_SECONDS, 2.0),) if self._per_conversation * 2 > 8 else ()
        return Limit.per_second(f"teams-conv:{conversation_key}", self._per_conversation, smooth=True, extra=extra)

    async def acquire(self, tenant_id: str, conversation_key: str) -> None:
        """Wait until one more message may go to this conversation in this tenant (and no pause holds it).

        Raises:
            StorageUnavailable: the store holding the limits failed.
        """
        await self._limiter.acquire([self.tenant_limit(tenant_id), self.conversation_limit(conversation_key)])

    async def pause(self, tenant_id: str, seconds: float) -> None:
        """Stop every instance's messages into the tenant for `seconds` (a longer pause already set is kept).

        Raises:
            StorageUnavailable: the store holding the limits failed.
        """
        await self._limiter.pause(self.tenant_limit(tenant_id), seconds)
