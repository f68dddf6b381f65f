"""Grade one student: "grade Alice 85 on Essay 2". Exact and plain → written at once; anything fuzzy, scaled or over
the maximum → a confirmation card that parks the exact planned write behind a single-use nonce."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from bot import messages
from bot.actions import targeting
from bot.actions.answers import error_card, result_card
from bot.actions.context import ActionContext
from bot.actions.pending import park, take
from bot.actions.scaling import PointsProblem, scale_points
from bot.actions.writes import Change, Then, apply, plan_from
from bot.cards.actions import CardAction, Verb
from bot.cards.views import ConfirmView
from bot.commands.model import Grade
from bot.graph.ids import ClassId
from bot.graph.models import Assignment, EducationUser
from bot.turn import Reply

PENDING_GRADE = "grade"

ResumeConfirmed = Callable[[ActionContext, dict[str, Any]], Awaitable[Reply]]
"""Finishes a write another action parked under `PENDING_GRADE` with `"action": <name>` in its payload."""

_RESUMERS: dict[str, ResumeConfirmed] = {}


def resume_confirmed_with(action: str, resume: ResumeConfirmed) -> None:
    """Let another action (return, reassign, excuse) park its confirmations behind [Confirm]/[Cancel] too.

    Args:
        action: the name the parked payload carries under "action" (a grade's own payload has none).
        resume: called by `confirmed` with the payload, once, for the teacher who parked it.
    """
    _RESUMERS[action] = resume


async def run(ctx: ActionContext, command: Grade) -> Reply:
    """The teacher sees the saved grade with [Return] [Add feedback] [Undo], or a card asking first."""
    found = await targeting.find_writable(
        ctx,
        command,
        student=command.student,
        assignment=command.assignment,
        class_hint=command.class_hint,
        needs_points=True,
    )
    if isinstance(found, Reply):
        return found
    student, assignment = found.student, found.assignment
    assert student is not None and assignment is not None  # the command names both
    scaled = scale_points(command.points, assignment.max_points)
    if isinstance(scaled, PointsProblem):  # pragma: no cover - refuse_assignment caught credit-only already
        return error_card(ctx, messages.assignment_is_credit_only(assignment.display_name))
    doubts = list(found.doubts)
    if scaled.scaled:
        doubts.append(messages.because_scaled(command.points.text, scaled.points, scaled.max_points))
    if scaled.over_max:
        doubts.append(messages.because_over_max(scaled.points, scaled.max_points))
    change = await plan(
        ctx, found.education_class.id, assignment, student, points=scaled.points, feedback=command.feedback
    )
    if isinstance(change, Reply):
        return change
    if doubts:
        return await ask(ctx, change, doubts)
    return await write(ctx, change)


async def plan(
    ctx: ActionContext,
    class_id: ClassId,
    assignment: Assignment,
    student: EducationUser,
    *,
    points: Decimal | None,
    feedback: str | None,
    then: Then | None = None,
) -> Change | Reply:
    """The write for one student's submission, from its current (cached) outcomes."""
    submission = await ctx.services.submissions.find(ctx.client, ctx.teacher_key, class_id, assignment.id, student.id)
    if submission is None:
        return error_card(ctx, messages.no_submission(student.display_name, assignment.display_name))
    return plan_from(
        submission,
        class_id=class_id,
        assignment_id=assignment.id,
        student_id=student.id,
        student_name=student.display_name,
        assignment_name=assignment.display_name,
        max_points=assignment.max_points,
        set_points=points is not None,
        points=float(points) if points is not None else None,
        set_feedback=feedback is not None,
        feedback=feedback,
        then=then,
    )


async def ask(ctx: ActionContext, change: Change, doubts: list[str]) -> Reply:
    """A confirmation card: student, assignment, old → new and why we ask; the write waits behind a nonce."""
    nonce = await park(ctx, PENDING_GRADE, change.model_dump(mode="json"))
    old = messages.points_of(change.old_points, change.max_points) if change.old_points is not None else None
    new = messages.points_of(change.points, change.max_points) if change.set_points else messages.feedback_only()
    view = ConfirmView(
        student=change.student_name,
        assignment=change.assignment_name,
        old_value=old,
        new_value=new,
        reasons=doubts[:10],
        confirm_button=CardAction(verb=Verb.GRADE_CONFIRM, nonce=nonce, class_id=change.class_id),
        cancel_button=CardAction(verb=Verb.GRADE_CANCEL, nonce=nonce, class_id=change.class_id),
    )
    return ctx.card(view)


async def write(ctx: ActionContext, change: Change) -> Reply:
    """Write now and show what changed."""
    [applied] = await apply(ctx, [change], action="grade")
    return await result_card(ctx, applied)


async def confirmed(ctx: ActionContext, action: CardAction) -> Reply:
    """[Confirm] on a confirmation card: the parked write, exactly as shown, once."""
    payload = await take(ctx, PENDING_GRADE, action.nonce or "")
    if payload is None:
        return error_card(ctx, messages.confirmation_expired())
    resume = _RESUMERS.get(str(payload.get("action", "")))
    if resume is not None:
        return await resume(ctx, payload)
    return await write(ctx, Change.model_validate(payload))


async def cancelled(ctx: ActionContext, action: CardAction) -> Reply:
    """[Cancel] on a confirmation card: the parked write is dropped."""
    await take(ctx, PENDING_GRADE, action.nonce or "")
    return error_card(ctx, messages.cancelled())
