"""Grade several students at once: "grade Essay 2: Alice 85, Bob 90, Carol 77", or [Save all] on a grading sheet.

The assignment is resolved once and every name inside its class. Anything fuzzy, ambiguous, unknown, scaled or over
the maximum → ONE confirmation card listing every doubt, with the exact planned writes parked behind a nonce (the
entries that were not understood are listed and left out). Otherwise the writes go out in `$batch` calls of 20 and
the teacher reads one summary ("Essay 2: 28 of 30 graded; 2 failed: ..."). From `JobConfig.threshold` students on
(30), the writing runs as a resumable job with a progress card (see `bot.actions.jobs`).

Card verbs handled here:
- `Verb.SHEET_SAVE_ALL` → `on_sheet_save_all` (points typed on the grading sheet, by submission id);
- `Verb.GRADE_CONFIRM` / `Verb.GRADE_CANCEL` whose `extra["for"]` is "bulk" (`CONFIRM_FOR`) → `confirmed` /
  `cancelled`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from bot import messages
from bot.actions import targeting
from bot.actions.answers import error_card
from bot.actions.context import ActionContext
from bot.actions.jobs import JobConfig, start_bulk_job, summary_of, write_batches
from bot.actions.pending import park, take
from bot.actions.scaling import PointsProblem, scale_points
from bot.actions.targeting import refuse_assignment
from bot.actions.writes import Change, plan_from
from bot.cards.actions import CardAction, ExtraValue, Verb
from bot.cards.views import ConfirmView, ResultView
from bot.commands.model import BulkGrade
from bot.graph.errors import InvalidPoints
from bot.graph.ids import ClassId, SubmissionId, UserId
from bot.graph.models import Assignment, EducationUser, Submission
from bot.graph.points import validate_points
from bot.roster import Ambiguous, NotFound, Resolved, resolve_assignment, resolve_student
from bot.turn import Reply

PENDING_BULK = "bulk"
CONFIRM_FOR = "bulk"
"""`extra["for"]` of the bulk confirmation's buttons: the router sends those clicks to `confirmed` / `cancelled`."""

MAX_REASONS = 10
_MAX_TEXT = 2000


@dataclass
class _Plan:
    """What a bulk request turned into: the writes, the doubts to confirm and the entries left out."""

    changes: list[Change] = field(default_factory=list[Change])
    doubts: list[str] = field(default_factory=list[str])
    not_understood: list[str] = field(default_factory=list[str])


async def run(ctx: ActionContext, command: BulkGrade, *, config: JobConfig | None = None) -> Reply:
    """The teacher sees one summary card (or a progress card for a whole class), or one card asking first."""
    command = await _with_likely_class(ctx, command)
    found = await targeting.find(
        ctx, command, student=None, assignment=command.assignment, class_hint=command.class_hint
    )
    if isinstance(found, Reply):
        return found
    assignment = found.assignment
    assert assignment is not None  # the command names it
    refusal = refuse_assignment(ctx, assignment, needs_points=True)
    if refusal is not None:
        return refusal
    class_id = found.education_class.id
    students = await ctx.services.roster.students(ctx.client, ctx.teacher_key, class_id)
    submissions = await ctx.services.submissions.all(ctx.client, ctx.teacher_key, class_id, assignment.id)
    plan = _Plan(doubts=list(found.doubts))
    seen: set[UserId] = set()
    for entry in command.entries:
        student = _settle_student(plan, students, entry.student)
        if student is None:
            continue
        if student.id in seen:
            plan.not_understood.append(messages.bulk_not_understood(messages.bulk_listed_twice(student.display_name)))
            continue
        seen.add(student.id)
        scaled = scale_points(entry.points, assignment.max_points)
        if isinstance(scaled, PointsProblem):  # pragma: no cover - refuse_assignment caught credit-only already
            return error_card(ctx, messages.assignment_is_credit_only(assignment.display_name))
        if scaled.scaled:
            reason = messages.because_scaled(entry.points.text, scaled.points, scaled.max_points)
            plan.doubts.append(messages.bulk_doubt(student.display_name, reason))
        _add_change(plan, class_id, assignment, student, submissions.get(student.id), scaled.points)
    return await _decide(ctx, plan, assignment.display_name, class_id, config)


async def on_sheet_save_all(ctx: ActionContext, action: CardAction, *, config: JobConfig | None = None) -> Reply:
    """[Save all] on a grading sheet: every changed points box is written (or confirmed first), one summary."""
    assert action.class_id is not None and action.assignment_id is not None  # parse_card_action requires them
    class_id, assignment_id = action.class_id, action.assignment_id
    taught = await ctx.services.roster.taught_classes(ctx.client, ctx.teacher_key)
    if not any(c.id == class_id for c in taught):
        return error_card(ctx, messages.only_teachers())
    assignments = await ctx.services.roster.assignments(ctx.client, ctx.teacher_key, class_id)
    assignment = next((a for a in assignments if a.id == assignment_id), None)
    if assignment is None:
        return error_card(ctx, messages.graph_not_found())
    refusal = refuse_assignment(ctx, assignment, needs_points=True)
    if refusal is not None:
        return refusal
    students = {s.id: s for s in await ctx.services.roster.students(ctx.client, ctx.teacher_key, class_id)}
    submissions = await ctx.services.submissions.all(ctx.client, ctx.teacher_key, class_id, assignment.id)
    by_id: Mapping[SubmissionId, Submission] = {s.id: s for s in submissions.values()}
    plan = _Plan()
    for submission_id, typed in action.inputs.sheet_points.items():
        submission = by_id.get(submission_id)
        if submission is None or submission.student_id is None:
            plan.not_understood.append(messages.bulk_not_understood(messages.sheet_row_unknown()))
            continue
        current = submission.points_outcome
        if current is not None and current.points is not None and current.points.points == typed:
            continue  # unchanged on the sheet: nothing to write
        student = students.get(submission.student_id) or EducationUser(
            id=submission.student_id, display_name=messages.unknown_student()
        )
        _add_change(plan, class_id, assignment, student, submission, Decimal(str(typed)))
    if not plan.changes and not plan.not_understood:
        return error_card(ctx, messages.sheet_nothing_changed())
    return await _decide(ctx, plan, assignment.display_name, class_id, config)


async def confirmed(ctx: ActionContext, action: CardAction, *, config: JobConfig | None = None) -> Reply:
    """[Confirm] on a bulk confirmation: the parked writes, exactly as listed, once."""
    payload = await take(ctx, PENDING_BULK, action.nonce or "")
    if payload is None:
        return error_card(ctx, messages.confirmation_expired())
    changes = [Change.model_validate(item) for item in payload.get("changes", [])]
    return await write(ctx, changes, str(payload.get("title", "")), config=config)


async def cancelled(ctx: ActionContext, action: CardAction) -> Reply:
    """[Cancel] on a bulk confirmation: the parked writes are dropped."""
    await take(ctx, PENDING_BULK, action.nonce or "")
    return error_card(ctx, messages.cancelled())


async def write(ctx: ActionContext, changes: Sequence[Change], title: str, *, config: JobConfig | None = None) -> Reply:
    """Write now (one summary card) or, for a whole class, start a job with a progress card.

    Args:
        ctx: the teacher's turn.
        changes: the planned writes.
        title: the assignment's name, for the cards.
        config: the job threshold and pacing; `JobConfig.from_settings` when None.

    Returns:
        The summary card, or (job) a short card saying the progress card follows.
    """
    config = config or JobConfig.from_settings(ctx.services.settings)
    if len(changes) >= config.threshold and ctx.outbox is not None:
        await start_bulk_job(ctx, changes, title=title, config=config)
        return ctx.card(ResultView(title=title, note=messages.bulk_job_started(title, len(changes))))
    change_id = uuid.uuid4().hex
    applied = await write_batches(ctx, changes, action="grade", change_id=change_id)
    return await summary_of(ctx, title, applied, change_id)


async def _with_likely_class(ctx: ActionContext, command: BulkGrade) -> BulkGrade:
    """In personal chat without a class named: pin the one class holding the assignment where most names match.

    "grade Essay 2: Alice 85, Bob 90" needs no "in Biology 101" when only Biology has both an Essay 2 and these
    students; a tie leaves the command as it is (targeting then asks which class).
    """
    if (command.class_hint and command.class_hint.strip()) or ctx.conversation.channel_class_id is not None:
        return command
    roster, key = ctx.services.roster, ctx.teacher_key
    classes = await roster.taught_classes(ctx.client, key)
    if len(classes) < 2:
        return command

    async def score(class_id: ClassId) -> int:
        assignments, students = await asyncio.gather(
            roster.assignments(ctx.client, key, class_id), roster.students(ctx.client, key, class_id)
        )
        if isinstance(resolve_assignment(assignments, command.assignment), NotFound):
            return -1
        return sum(1 for entry in command.entries if isinstance(resolve_student(students, entry.student), Resolved))

    scores = await asyncio.gather(*(score(c.id) for c in classes))
    best = max(scores)
    if best <= 0 or scores.count(best) != 1:
        return command
    return command.model_copy(update={"class_hint": classes[scores.index(best)].id})


def _settle_student(plan: _Plan, students: Sequence[EducationUser], query: str) -> EducationUser | None:
    """The student an entry names, recording a doubt (fuzzy) or leaving it out (ambiguous, unknown)."""
    resolution = resolve_student(students, query)
    if isinstance(resolution, Resolved):
        if not resolution.exact:
            plan.doubts.append(messages.because_fuzzy_student(query, resolution.value.display_name))
        return resolution.value
    if isinstance(resolution, Ambiguous):
        names = [c.display_name for c in resolution.candidates]
        plan.not_understood.append(messages.bulk_not_understood(messages.bulk_ambiguous_student(query, names)))
        return None
    assert isinstance(resolution, NotFound)
    if len(resolution.suggestions) == 1:  # one near miss: a fuzzy match, confirmed like grade does
        suggestion = resolution.suggestions[0]
        plan.doubts.append(messages.because_fuzzy_student(query, suggestion.display_name))
        return suggestion
    names = [s.display_name for s in resolution.suggestions]
    plan.not_understood.append(messages.bulk_not_understood(messages.student_not_found(query, names)))
    return None


def _add_change(
    plan: _Plan,
    class_id: ClassId,
    assignment: Assignment,
    student: EducationUser,
    submission: Submission | None,
    points: Decimal,
) -> None:
    name = student.display_name
    if submission is None:
        plan.not_understood.append(messages.bulk_not_understood(messages.no_submission(name, assignment.display_name)))
        return
    try:
        value = validate_points(points)
    except InvalidPoints as problem:
        plan.not_understood.append(
            messages.bulk_not_understood(messages.bulk_doubt(name, messages.invalid_points(problem.reason)))
        )
        return
    if assignment.max_points is not None and value > assignment.max_points:
        reason = messages.because_over_max(Decimal(str(value)), Decimal(str(assignment.max_points)))
        plan.doubts.append(messages.bulk_doubt(name, reason))
    plan.changes.append(
        plan_from(
            submission,
            class_id=class_id,
            assignment_id=assignment.id,
            student_id=student.id,
            student_name=name,
            assignment_name=assignment.display_name,
            max_points=assignment.max_points,
            set_points=True,
            points=value,
        )
    )


async def _decide(ctx: ActionContext, plan: _Plan, title: str, class_id: ClassId, config: JobConfig | None) -> Reply:
    if not plan.changes:
        problem = messages.bulk_nothing_writable()
        listed = " ".join(plan.not_understood[:MAX_REASONS])[:_MAX_TEXT] or None
        return error_card(ctx, problem, next_step=listed)
    if plan.doubts or plan.not_understood:
        return await _ask(ctx, plan, title, class_id)
    return await write(ctx, plan.changes, title, config=config)


async def _ask(ctx: ActionContext, plan: _Plan, title: str, class_id: ClassId) -> Reply:
    """One confirmation for the whole list; the exact writes wait behind a nonce."""
    payload = {"title": title, "changes": [change.model_dump(mode="json") for change in plan.changes]}
    nonce = await park(ctx, PENDING_BULK, payload)
    reasons = [*plan.doubts, *plan.not_understood]
    if len(reasons) > MAX_REASONS:
        reasons = [*reasons[: MAX_REASONS - 1], messages.bulk_more_reasons(len(reasons) - MAX_REASONS + 1)]
    extra: dict[str, ExtraValue] = {"for": CONFIRM_FOR}
    view = ConfirmView(
        student=messages.n_students(len(plan.changes)),
        assignment=title,
        new_value=messages.bulk_summary([(c.student_name, c.points) for c in plan.changes]),
        reasons=reasons,
        confirm_button=CardAction(verb=Verb.GRADE_CONFIRM, nonce=nonce, class_id=class_id, extra=extra),
        cancel_button=CardAction(verb=Verb.GRADE_CANCEL, nonce=nonce, class_id=class_id, extra=extra),
    )
    return ctx.card(view)
