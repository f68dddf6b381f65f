"""Excuse a student from an assignment: "excuse Alice from Lab 3", or [Excuse] on a card (`Verb.SUBMISSION_EXCUSE`,
handled by `on_submission_excuse`).

Excusing deletes the submission's feedback and rubric selections, so it ALWAYS asks first: the planned excuse is
parked with `"action": "excuse"` under `grade.PENDING_GRADE`; [Confirm] (`Verb.GRADE_CONFIRM`,
`confirmations.confirmed`) writes it once, [Cancel] (`confirmations.cancelled`) drops it.
"""

from __future__ import annotations

from typing import Any

from bot import messages
from bot.actions.context import ActionContext
from bot.actions.returning import Target, ask, card_target, command_target, outcome_card, parked
from bot.actions.writes import Then, apply
from bot.cards.actions import CardAction
from bot.cards.views import ResultView
from bot.commands.model import Excuse
from bot.graph.models import SubmissionStatus
from bot.turn import Reply

ACTION = "excuse"


async def run(ctx: ActionContext, command: Excuse) -> Reply:
    """The teacher sees a confirmation card (excusing removes feedback and rubric); nothing is written yet."""
    found = await command_target(ctx, command, command.student, command.assignment, command.class_hint)
    if isinstance(found, Reply):
        return found
    target, doubts = found
    return await _ask(ctx, target, doubts)


async def on_submission_excuse(ctx: ActionContext, action: CardAction) -> Reply:
    """[Excuse] on a card: the same confirmation, for the submission the button names."""
    target = await card_target(ctx, action)
    if isinstance(target, Reply):
        return target
    return await _ask(ctx, target, [])


async def _ask(ctx: ActionContext, target: Target, doubts: list[str]) -> Reply:
    change = target.change(then=Then.EXCUSE)
    if target.submission.status is SubmissionStatus.EXCUSED:
        note = messages.already_excused(target.student_name, target.assignment.display_name)
        return ctx.card(ResultView(title=messages.result_title(change.student_name, change.assignment_name), note=note))
    old = messages.submission_state(target.submission.status.value)
    reasons = [*doubts, messages.because_excuse()]
    links = {change.submission_id: target.submission.web_url}
    return await ask(ctx, ACTION, [change], old=old, new=messages.excuse_planned(), reasons=reasons, links=links)


async def finish_confirmed(ctx: ActionContext, payload: dict[str, Any]) -> Reply:
    """[Confirm] on the card `ask` sent: write the parked payload (`bot.actions.confirmations`)."""
    changes, _ = parked(payload)
    applied = await apply(ctx, changes[:1], action=ACTION)
    return outcome_card(ctx, applied[0])
