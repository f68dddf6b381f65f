"""Grade one student: "grade Alice 85 on Essay 2". Exact and plain → written at once; anything fuzzy, scaled or over
the maximum → a confirmation card that parks the exact planned write behind a single-use nonce."""

from __future__ import annotations

from decimal import Decimal

from bot import messages
from bot.actions import targeting
from bot.actions.answers import error_card, result_card
from bot.actions.context import ActionContext
from bot.actions.pending import park
from bot.actions.scaling import PointsProblem, scale_points
from bot.actions.writes import Change, Then, apply, plan_from
from bot.cards.actions import CardAction, Verb
from bot.cards.views import ConfirmView
from bot.commands.model import Grade
from bot.graph.ids import ClassId
from bot.graph.models import Assignment, EducationUser
from bot.turn import Reply

PENDING_GRADE = "grade"


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
