"""[Confirm] / [Cancel] on the cards that ask before a write (grade, return, reassign, excuse).

Those actions park the exact planned write under `grade.PENDING_GRADE` behind a single-use nonce; a return, reassign
or excuse payload names its action under "action" (a grade's has none). Which action finishes a parked write is this
module's one table, `FINISHERS`, keyed by that server-side name, never by anything the click carries. Bulk grades and
feedback park under their own kinds; the router sends their buttons to `bulk` and `feedback` (`extra["for"]`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from bot import messages
from bot.actions import excuse, grade, reassign, returning
from bot.actions.answers import error_card
from bot.actions.context import ActionContext
from bot.actions.pending import take
from bot.actions.writes import Change
from bot.cards.actions import CardAction
from bot.turn import Reply

Finish = Callable[[ActionContext, dict[str, Any]], Awaitable[Reply]]
"""Writes a parked payload, exactly as confirmed, and answers with its card."""

FINISHERS: Final[Mapping[str, Finish]] = {
    returning.ACTION: returning.finish_confirmed,
    reassign.ACTION: reassign.finish_confirmed,
    excuse.ACTION: excuse.finish_confirmed,
}


async def confirmed(ctx: ActionContext, action: CardAction) -> Reply:
    """[Confirm]: the parked write, exactly as shown, once, for the teacher who parked it."""
    payload = await take(ctx, grade.PENDING_GRADE, action.nonce or "")
    if payload is None:
        return error_card(ctx, messages.confirmation_expired())
    finish = FINISHERS.get(str(payload.get("action", "")))
    if finish is not None:
        return await finish(ctx, payload)
    return await grade.write(ctx, Change.model_validate(payload))


async def cancelled(ctx: ActionContext, action: CardAction) -> Reply:
    """[Cancel]: the parked write is dropped."""
    await take(ctx, grade.PENDING_GRADE, action.nonce or "")
    return error_card(ctx, messages.cancelled())
