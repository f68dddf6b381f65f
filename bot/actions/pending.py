"""Single-use nonces for what waits on a teacher's click: a command paused on "Which Alex?" or a planned write
paused on a confirmation. Stored, not kept in memory, so any instance can finish it and a replay is refused."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any, cast

from bot.actions.context import ActionContext

PENDING_TTL = timedelta(minutes=15)
_NAMESPACE = "pending"


async def park(ctx: ActionContext, kind: str, payload: dict[str, Any]) -> str:
    """Store what a click will resume and return the nonce the button carries.

    Args:
        ctx: the turn; the nonce is bound to its teacher.
        kind: what the payload is ("command", "grade", ...), checked again when it is taken.
        payload: JSON-able data (student records allowed: it is stored, never logged).

    Returns:
        A URL-safe nonce, valid for `PENDING_TTL`, usable once.
    """
    nonce = secrets.token_urlsafe(18)
    document = {
        "kind": kind,
        "tenant_id": ctx.actor.tenant_id,
        "user_id": ctx.actor.user_id,
        "payload": payload,
    }
    await ctx.services.store.put(_NAMESPACE, nonce, document, expected_version=0, ttl=PENDING_TTL)
    return nonce


async def take(ctx: ActionContext, kind: str, nonce: str) -> dict[str, Any] | None:
    """Consume a nonce: the payload once, for the teacher who parked it; None when used, expired or foreign.

    Someone else's click (a forged or replayed card) neither gets the payload nor uses the nonce up.
    """
    store = ctx.services.store
    peeked = await store.get(_NAMESPACE, nonce)
    if peeked is None or not _belongs(peeked.value, kind, ctx):
        return None
    document = await store.consume(_NAMESPACE, nonce)
    if document is None or not _belongs(document.value, kind, ctx):
        return None
    payload = cast(dict[str, Any], document.value).get("payload")
    return cast(dict[str, Any], payload) if isinstance(payload, dict) else None


def _belongs(value: object, kind: str, ctx: ActionContext) -> bool:
    if not isinstance(value, dict):
        return False
    document = cast(dict[str, Any], value)
    return (
        document.get("kind") == kind
        and document.get("tenant_id") == ctx.actor.tenant_id
        and document.get("user_id") == ctx.actor.user_id
    )
