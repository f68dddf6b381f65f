"""The Graph self-limit: every instance together sends a tenant fewer Graph requests than the Assignments quota.

Microsoft documents about 350-500 requests per 10 seconds per app per tenant for the education (Assignments)
service. The default, 28 a second (280 per 10 s), is 80% of the lower figure; `GRAPH_TENANT_RATE_PER_SECOND` changes
it. Graph counts each part of a `$batch` as a request, so a batch books one unit per part. When the next free moment
is further away than what is left of the turn's retry budget, the caller gets `GraphThrottled(retry_after)` at once
(the router turns it into one sentence) instead of a turn that hangs.

    limiter = GraphTenantLimiter(SharedLimiter(store), per_second=settings.graph_tenant_rate_per_second)
    http = GraphHttp.create(settings, before_request=limiter.before_request)
"""

from __future__ import annotations

from bot.graph.errors import GraphThrottled
from bot.limits.shared import SharedLimiter, WaitTooLong
from bot.limits.window import Limit

GRAPH_TENANT_RATE_PER_SECOND = 28.0
"""80% of the lower documented Assignments quota (350 per 10 s per app per tenant)."""

DEFAULT_TENANT = "default"
"""The key used for requests whose tenant the caller did not name (a single-tenant bot has one tenant anyway)."""


class GraphTenantLimiter:
    """Books each Graph request (each `$batch` part) on the shared "graph:{tenant}" key before it is sent."""

    def __init__(
        self,
        limiter: SharedLimiter,
        *,
        per_second: float = GRAPH_TENANT_RATE_PER_SECOND,
        default_tenant: str = DEFAULT_TENANT,
    ) -> None:
        """Create the Graph self-limit.

        Args:
            limiter: the shared limiter (its store is shared by every instance).
            per_second: requests a second per tenant, all instances together; bursts up to that many are allowed.
            default_tenant: the tenant assumed when a request names none (e.g. the app's own tenant).
        """
        self._limiter = limiter
        self._per_second = per_second
        self._default_tenant = default_tenant or DEFAULT_TENANT
        self._capacity = Limit.per_second("graph:-", per_second).capacity

    def limit(self, tenant_id: str | None) -> Limit:
        """The shared limit of a tenant's Graph requests."""
        return Limit.per_second(f"graph:{tenant_id or self._default_tenant}", self._per_second)

    async def before_request(self, tenant_id: str | None, cost: int, max_wait: float) -> None:
        """Wait for the tenant's next free moment for `cost` requests; GraphHttp calls this before every attempt.

        Args:
            tenant_id: the tenant the request is made in; None for the default tenant.
            cost: how many requests Graph will count (the number of parts of a `$batch`, else 1). A cost above the
                per-second cap books the whole cap (a `$batch` holds at most 20 parts).
            max_wait: seconds left of the caller's retry budget.

        Raises:
            GraphThrottled: the wait would be longer than `max_wait`; `retry_after` is the wait.
            StorageUnavailable: the store holding the limits failed.
        """
        units = min(max(1, cost), self._capacity)
        try:
            await self._limiter.acquire([self.limit(tenant_id)], cost=units, max_wait=max(0.0, max_wait))
        except WaitTooLong as too_long:
            raise GraphThrottled(
                "the bot is holding back its Graph requests to stay within the tenant's quota",
                retry_after=too_long.wait,
            ) from None
