"""Rate limits shared by every bot instance through the Store: Graph per tenant, Teams sends, dead letters.

    limiter = SharedLimiter(store)                                   # one per process
    graph = GraphHttp.create(settings, before_request=GraphTenantLimiter(limiter).before_request)
    notifier = Notifier(channel, store, limits=SharedSendLimits(limiter))

`build_limits(settings, store)` wires both from Settings.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.limits.dead_letters import DeadLetter, DeadLetters
from bot.limits.graph import GRAPH_TENANT_RATE_PER_SECOND, GraphTenantLimiter
from bot.limits.shared import NAMESPACE, Clock, SharedLimiter, Sleep, WaitTooLong
from bot.limits.teams import SharedSendLimits
from bot.limits.virtual_time import VirtualTime
from bot.limits.window import Limit, Window
from bot.settings import Settings
from bot.storage.protocol import Store


@dataclass(frozen=True)
class Limits:
    """The shared limits of one process: hand `graph.before_request` to GraphHttp and `teams` to the Notifier."""

    limiter: SharedLimiter
    graph: GraphTenantLimiter
    teams: SharedSendLimits


def build_limits(settings: Settings, store: Store, *, limiter: SharedLimiter | None = None) -> Limits:
    """Build the shared limits from settings.

    Args:
        settings: gives `graph_tenant_rate_per_second`, `teams_tenant_rate_per_second`,
            `teams_conversation_rate_per_second` and `app_tenant_id` (the Graph key when a request names no tenant).
        store: the store every instance shares.
        limiter: use this limiter (tests inject one on a fake clock); one over `store` otherwise.

    Returns:
        The limits.
    """
    shared = limiter or SharedLimiter(store)
    graph = GraphTenantLimiter(
        shared, per_second=settings.graph_tenant_rate_per_second, default_tenant=settings.app_tenant_id
    )
    teams = SharedSendLimits(
        shared,
        per_conversation=settings.teams_conversation_rate_per_second,
        per_tenant=settings.teams_tenant_rate_per_second,
    )
    return Limits(limiter=shared, graph=graph, teams=teams)


__all__ = [
    "GRAPH_TENANT_RATE_PER_SECOND",
    "NAMESPACE",
    "Clock",
    "DeadLetter",
    "DeadLetters",
    "GraphTenantLimiter",
    "Limit",
    "Limits",
    "SharedLimiter",
    "SharedSendLimits",
    "Sleep",
    "VirtualTime",
    "WaitTooLong",
    "Window",
    "build_limits",
]
