"""Feedback on one student's work ("feedback for Alice on Essay 2: great thesis") — points untouched — and the
saves of the feedback and grade forms (points and/or feedback, optionally then returned).

Card verbs handled here:
- `Verb.FEEDBACK_OPEN` → `on_feedback_open`: the feedback form for the submission, holding its current feedback;
- `Verb.GRADE_SAVE` → `on_grade_save` and `Verb.GRADE_SAVE_RETURN` → `on_grade_save_return` (feedback form and grade
  form): `inputs.points` and/or `inputs.feedback`, checked again here; over the maximum → grade's confirmation;
- `Verb.GRADE_CONFIRM` / `Verb.GRADE_CANCEL` whose `extra["for"]` is "feedback" (`CONFIRM_FOR`) → `confirmed` /
  `cancelled` (a fuzzy name in a typed feedback command).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from bot import messages
from bot.actions import grade, targeting
from bot.actions.answers import error_card, result_card
from bot.actions.context import ActionContext
from bot.actions.pending import park, take
from bot.actions.writes import Change, Then, apply, plan_from
from bot.cards.actions import CardAction, ExtraValue, Verb
from bot.cards.views import ConfirmView, FeedbackFormView
from bot.commands.model import Feedback
from bot.graph.errors import InvalidPoints
from bot.graph.ids import ClassId
from bot.graph.models import Assignment, EducationUser, Submission, SubmissionStatus
from bot.graph.points import validate_points
from bot.turn import Reply

PENDING_FEEDBACK = "feedback"
CONFIRM_FOR = "feedback"
"""`extra["for"]` of the feedback confirmation's buttons: the router sends those clicks to `confirmed` / `cancelled`."""

_SHOWN_CHARS = 300


async def run(ctx: ActionContext, command: Feedback) -> Reply:
    """The teacher sees the saved feedback with [Return] [Add feedback] [Undo], or a card asking first."""
    found = await targeting.find_writable(
        ctx,
        command,
        student=command.student,
        assignment=command.assignment,
        class_hint=command.class_hint,
        needs_points=False,
    )
    if isinstance(found, Reply):
        return found
    student, assignment = found.student, found.assignment
    assert student is not None and assignment is not None  # the command names both
    change = await grade.plan(ctx, found.education_class.id, assignment, student, points=None, feedback=command.text)
    if isinstance(change, Reply):
        return change
    if found.doubts:
        return await _ask(ctx, change, list(found.doubts))
    return await _write(ctx, change)


async def confirmed(ctx: ActionContext, action: CardAction) -> Reply:
    """[Confirm] on a feedback confirmation: the parked feedback, exactly as shown, once."""
    payload = await take(ctx, PENDING_FEEDBACK, action.nonce or "")
    if payload is None:
        return error_card(ctx, messages.confirmation_expired())
    return await _write(ctx, Change.model_validate(payload))


async def cancelled(ctx: ActionContext, action: CardAction) -> Reply:
    """[Cancel] on a feedback confirmation: nothing is written."""
    await take(ctx, PENDING_FEEDBACK, action.nonce or "")
    return error_card(ctx, messages.cancelled())


async def on_feedback_open(ctx: ActionContext, action: CardAction) -> Reply:
    """[Add feedback]: a form holding the submission's current feedback, with [Save feedback] [Save & return]."""
    target = await _target(ctx, action)
    if isinstance(target, Reply):
        return target
    change = _plan(target)
    view = FeedbackFormView(
        title=messages.feedback_form_title(target.student.display_name, target.assignment.display_name),
        prompt=messages.feedback_form_prompt(),
        feedback=(change.old_feedback or "")[:5000] or None,
        save_button=_form_button(Verb.GRADE_SAVE, target),
        save_return_button=None
        if target.submission.status is SubmissionStatus.EXCUSED
        else _form_button(Verb.GRADE_SAVE_RETURN, target),
    )
    return ctx.card(view)


async def on_grade_save(ctx: ActionContext, action: CardAction) -> Reply:
    """[Save] on a grade or feedback form: the points and/or feedback typed, saved (not returned)."""
    return await _save(ctx, action, then=None)


async def on_grade_save_return(ctx: ActionContext, action: CardAction) -> Reply:
    """[Save & return]: the points and/or feedback typed, saved, then the work returned to the student."""
    return await _save(ctx, action, then=Then.RETURN)


@dataclass(frozen=True)
class _Target:
    class_id: ClassId
    assignment: Assignment
    student: EducationUser
    submission: Submission


async def _target(ctx: ActionContext, action: CardAction) -> _Target | Reply:
    """The submission a (possibly forged) button names, checked against what the teacher can see."""
    class_id, assignment_id = action.class_id, action.assignment_id
    if class_id is None or assignment_id is None:
        return error_card(ctx, messages.graph_not_found())
    roster, key = ctx.services.roster, ctx.teacher_key
    if not any(c.id == class_id for c in await roster.taught_classes(ctx.client, key)):
        return error_card(ctx, messages.only_teachers())
    assignment = next((a for a in await roster.assignments(ctx.client, key, class_id) if a.id == assignment_id), None)
    if assignment is None:
        return error_card(ctx, messages.graph_not_found())
    refusal = targeting.refuse_assignment(ctx, assignment, needs_points=False)
    if refusal is not None:
        return refusal
    submissions = await ctx.services.submissions.all(ctx.client, key, class_id, assignment_id)
    if action.submission_id is not None:
        submission = next((s for s in submissions.values() if s.id == action.submission_id), None)
        if submission is not None and action.student_id is not None and submission.student_id != action.student_id:
            submission = None
    else:
        submission = submissions.get(action.student_id) if action.student_id is not None else None
    if submission is None or submission.student_id is None:
        return error_card(ctx, messages.graph_not_found())
    students = await roster.students(ctx.client, key, class_id)
    student = next((s for s in students if s.id == submission.student_id), None) or EducationUser(
        id=submission.student_id, display_name=messages.unknown_student()
    )
    return _Target(class_id, assignment, student, submission)


def _plan(
    target: _Target, *, points: float | None = None, feedback: str | None = None, then: Then | None = None
) -> Change:
    return plan_from(
        target.submission,
        class_id=target.class_id,
        assignment_id=target.assignment.id,
        student_id=target.student.id,
        student_name=target.student.display_name,
        assignment_name=target.assignment.display_name,
        max_points=target.assignment.max_points,
        set_points=points is not None,
        points=points,
        set_feedback=feedback is not None,
        feedback=feedback,
        then=then,
    )


async def _save(ctx: ActionContext, action: CardAction, *, then: Then | None) -> Reply:
    target = await _target(ctx, action)
    if isinstance(target, Reply):
        return target
    typed_points, feedback = action.inputs.points, action.inputs.feedback
    if typed_points is None and feedback is None and then is None:
        return error_card(ctx, messages.nothing_to_save())
    points: float | None = None
    if typed_points is not None:
        refusal = targeting.refuse_assignment(ctx, target.assignment, needs_points=True)
        if refusal is not None:
            return refusal
        try:
            points = validate_points(typed_points)
        except InvalidPoints as problem:
            return error_card(ctx, messages.invalid_points(problem.reason))
    change = _plan(target, points=points, feedback=feedback, then=then)
    maximum = target.assignment.max_points
    if points is not None and maximum is not None and points > maximum:
        reason = messages.because_over_max(Decimal(str(points)), Decimal(str(maximum)))
        return await grade.ask(ctx, change, [reason])
    return await _write(ctx, change)


async def _write(ctx: ActionContext, change: Change) -> Reply:
    action = "feedback" if change.set_feedback and not change.set_points and change.then is None else "grade"
    [applied] = await apply(ctx, [change], action=action)
    return await result_card(ctx, applied)


async def _ask(ctx: ActionContext, change: Change, doubts: list[str]) -> Reply:
    """A confirmation showing the old and new feedback and why we ask; the write waits behind a nonce."""
    nonce = await park(ctx, PENDING_FEEDBACK, change.model_dump(mode="json"))
    extra: dict[str, ExtraValue] = {"for": CONFIRM_FOR}
    view = ConfirmView(
        student=change.student_name,
        assignment=change.assignment_name,
        old_value=_shown(change.old_feedback),
        new_value=_shown(change.feedback) or messages.feedback_only(),
        reasons=doubts[:10],
        confirm_button=CardAction(verb=Verb.GRADE_CONFIRM, nonce=nonce, class_id=change.class_id, extra=extra),
        cancel_button=CardAction(verb=Verb.GRADE_CANCEL, nonce=nonce, class_id=change.class_id, extra=extra),
    )
    return ctx.card(view)


def _shown(text: str | None) -> str | None:
    if not text:
        return None
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1].rstrip() + "…"


def _form_button(verb: Verb, target: _Target) -> CardAction:
    return CardAction(
        verb=verb,
        class_id=target.class_id,
        assignment_id=target.assignment.id,
        submission_id=target.submission.id,
        student_id=target.student.id,
    )
