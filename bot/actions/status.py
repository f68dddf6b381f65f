"""Where an assignment stands: "status Essay 2", "who hasn't turned in Lab 3?", "what's ungraded in Essay 2",
"show late work". Read-only and private to the teacher (in a channel the router sends the card privately).

Card verbs handled here: `Verb.STATUS_REFRESH` (`on_status_refresh`).

How a submission is counted (`standing_of`), decided once here and shared with the grading sheet:

* excused, reassigned, returned (Graph's old `released` too) → that bucket, whatever its points;
* otherwise draft points saved → *graded* (saved, not yet returned) — unless the student turned the work in again
  after it was graded, which makes it *submitted* (to grade again);
* otherwise turned in → *submitted*; otherwise (`working`) → *not submitted*.

*Missing* is "not submitted" once the due date has passed (or at any time when there is no due date); before the due
date nobody is missing yet. A student already given points while working (a zero for no work) is graded, not missing.
*To grade* is every "submitted". *Late* is work turned in (and not excused) after the due date, returned or not.
The distribution counts the draft points of every non-excused submission that has them, in ten bins of 10% of the
maximum (plus one bin above the maximum for extra credit); credit-only assignments have no chart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum
from typing import Final

from bot import messages
from bot.actions import targeting
from bot.actions.answers import error_card
from bot.actions.context import ActionContext
from bot.cards.actions import CardAction, SheetFilter, Verb
from bot.cards.views import DistributionBin, StatusCounts, StatusView
from bot.commands.model import Status
from bot.commands.model import StatusView as Focus
from bot.graph.ids import AssignmentId, ClassId, UserId
from bot.graph.models import Assignment, AssignmentStatus, EducationClass, Submission, SubmissionStatus
from bot.roster import is_draft
from bot.turn import Reply

MAX_CLASS_ASSIGNMENTS: Final = 15
"""A class-wide status reads the submissions of at most this many assigned assignments (the latest due first)."""

DISTRIBUTION_BINS: Final = 10
_LABEL_CHARS: Final = 20


class Standing(StrEnum):
    """Where one submission stands, as the status card counts it."""

    NOT_SUBMITTED = "not_submitted"
    SUBMITTED = "submitted"
    GRADED = "graded"
    RETURNED = "returned"
    REASSIGNED = "reassigned"
    EXCUSED = "excused"


# --------------------------------------------------------------------------------------------- pure computation


def draft_points(submission: Submission) -> float | None:
    """The teacher's saved (draft) points on a submission, or None when it has none."""
    outcome = submission.points_outcome
    if outcome is None or outcome.points is None:
        return None
    return outcome.points.points


def standing_of(submission: Submission) -> Standing:
    """Which status bucket a submission counts in (see the module docstring)."""
    status = submission.status
    if status is SubmissionStatus.EXCUSED:
        return Standing.EXCUSED
    if status is SubmissionStatus.REASSIGNED:
        return Standing.REASSIGNED
    if status in (SubmissionStatus.RETURNED, SubmissionStatus.RELEASED):
        return Standing.RETURNED
    turned_in = status is SubmissionStatus.SUBMITTED or (
        status is SubmissionStatus.UNKNOWN and submission.submitted_date_time is not None
    )
    if draft_points(submission) is not None and not _resubmitted_after_grading(submission):
        return Standing.GRADED
    return Standing.SUBMITTED if turned_in else Standing.NOT_SUBMITTED


def _resubmitted_after_grading(submission: Submission) -> bool:
    outcome = submission.points_outcome
    graded_at = outcome.points.graded_date_time if outcome is not None and outcome.points is not None else None
    submitted_at = submission.submitted_date_time
    return (
        submission.status is SubmissionStatus.SUBMITTED
        and graded_at is not None
        and submitted_at is not None
        and submitted_at > graded_at
    )


def needs_grading(submission: Submission) -> bool:
    """Whether the work is turned in and waits for points (never graded, or turned in again since)."""
    return standing_of(submission) is Standing.SUBMITTED


def is_late(submission: Submission, due: datetime | None) -> bool:
    """Whether the work was turned in after the due date (excused and not-turned-in work is never late)."""
    if due is None or submission.submitted_date_time is None:
        return False
    if standing_of(submission) in (Standing.NOT_SUBMITTED, Standing.EXCUSED):
        return False
    return submission.submitted_date_time > due


def is_missing(submission: Submission, due: datetime | None, now: datetime) -> bool:
    """Whether the work is not turned in although it is due (no due date: not turned in at all)."""
    if standing_of(submission) is not Standing.NOT_SUBMITTED:
        return False
    return due is None or now > due


def count_standings(submissions: Iterable[Submission]) -> StatusCounts:
    """How many submissions are in each status bucket."""
    tally = dict.fromkeys(Standing, 0)
    for submission in submissions:
        tally[standing_of(submission)] += 1
    return StatusCounts(**{standing.value: count for standing, count in tally.items()})


def distribution(points: Iterable[float], max_points: float | None) -> list[DistributionBin]:
    """Bins of 10% of the maximum, highest first; a bin above the maximum only when some points exceed it.

    Args:
        points: the points to chart.
        max_points: the assignment's maximum; None (credit only) or not positive gives no chart.

    Returns:
        The bins (empty when there is no maximum). Their counts add up to the number of `points`.
    """
    if max_points is None or max_points <= 0:
        return []
    top = Decimal(str(max_points))
    counts = [0] * DISTRIBUTION_BINS
    over = 0
    for value in points:
        exact = Decimal(str(value))
        if exact > top:
            over += 1
            continue
        index = int((exact * DISTRIBUTION_BINS / top).to_integral_value(rounding=ROUND_FLOOR))
        counts[min(max(index, 0), DISTRIBUTION_BINS - 1)] += 1
    bins = [
        DistributionBin(label=_bin_label(top, index), count=counts[index])
        for index in reversed(range(DISTRIBUTION_BINS))
    ]
    if over:
        bins.insert(0, DistributionBin(label=messages.status_bin_over(messages.format_points(top)), count=over))
    return bins


def _bin_label(top: Decimal, index: int) -> str:
    low = top * index / DISTRIBUTION_BINS
    high = top * (index + 1) / DISTRIBUTION_BINS
    label = messages.status_bin(messages.format_points(low), messages.format_points(high))
    if len(label) > _LABEL_CHARS:
        label = messages.status_bin_percent(index * 100 // DISTRIBUTION_BINS, (index + 1) * 100 // DISTRIBUTION_BINS)
    return label


@dataclass
class Tally:
    """What the status card shows of one assignment (or several), by student id."""

    counts: StatusCounts = field(default_factory=StatusCounts)
    missing: list[UserId] = field(default_factory=list[UserId])
    ungraded: list[UserId] = field(default_factory=list[UserId])
    late: list[UserId] = field(default_factory=list[UserId])
    points: list[float] = field(default_factory=list[float])


def tally(submissions: Iterable[Submission], assignment: Assignment, now: datetime) -> Tally:
    """Count and list an assignment's submissions (pure: no I/O).

    Args:
        submissions: the assignment's submissions (students without an id are skipped in the lists).
        assignment: the assignment (its due date decides missing and late).
        now: the current time (aware).

    Returns:
        Counts by status, the ids of missing, to-grade and late students, and the points to chart.
    """
    result = Tally()
    due = assignment.due_date_time
    subs = list(submissions)
    result.counts = count_standings(subs)
    for submission in subs:
        student = submission.student_id
        if student is not None:
            if is_missing(submission, due, now):
                result.missing.append(student)
            if needs_grading(submission):
                result.ungraded.append(student)
            if is_late(submission, due):
                result.late.append(student)
        points = draft_points(submission)
        if points is not None and standing_of(submission) is not Standing.EXCUSED:
            result.points.append(points)
    return result


def turned_in(counts: StatusCounts) -> int:
    """How many students turned the work in (submitted, graded, returned or reassigned)."""
    return counts.submitted + counts.graded + counts.returned + counts.reassigned


def add_counts(first: StatusCounts, second: StatusCounts) -> StatusCounts:
    """The two counts added bucket by bucket."""
    return StatusCounts(**{name: getattr(first, name) + getattr(second, name) for name in StatusCounts.model_fields})


# --------------------------------------------------------------------------------------------- shared look-ups


async def taught_class(ctx: ActionContext, class_id: ClassId) -> EducationClass | None:
    """The class if the actor teaches it (from the roster cache), else None: the check every card verb makes first.

    Args:
        ctx: the turn.
        class_id: the class id a (possibly forged) button carries.

    Returns:
        The class, or None when the actor does not teach it.

    Raises:
        GraphError: reading the taught classes failed.
    """
    classes = await ctx.services.roster.taught_classes(ctx.client, ctx.teacher_key)
    return next((c for c in classes if c.id == class_id), None)


async def class_assignment(
    ctx: ActionContext, education_class: EducationClass, assignment_id: AssignmentId
) -> Assignment | None:
    """The class's assignment with this id (from the roster cache), or None when the class has no such assignment.

    Raises:
        GraphError: reading the assignments failed.
    """
    assignments = await ctx.services.roster.assignments(ctx.client, ctx.teacher_key, education_class.id)
    return next((a for a in assignments if a.id == assignment_id), None)


async def student_names(ctx: ActionContext, class_id: ClassId) -> dict[UserId, str]:
    """The class's students' display names by id (from the roster cache)."""
    students = await ctx.services.roster.students(ctx.client, ctx.teacher_key, class_id)
    return {s.id: s.display_name or s.mail_nickname or s.id for s in students}


# --------------------------------------------------------------------------------------------- actions


async def run(ctx: ActionContext, command: Status) -> Reply:
    """The teacher sees counts by status, who is missing / to grade / late and the grade distribution."""
    found = await targeting.find(
        ctx, command, student=None, assignment=command.assignment, class_hint=command.class_hint
    )
    if isinstance(found, Reply):
        return found
    if found.assignment is None:
        return await class_status(ctx, found.education_class, command.view)
    if is_draft(found.assignment):
        return error_card(ctx, messages.assignment_is_draft(found.assignment.display_name))
    return await assignment_status(ctx, found.education_class, found.assignment, command.view)


async def on_status_refresh(ctx: ActionContext, action: CardAction) -> Reply:
    """[Refresh] on a status card: the same status read afresh from Graph (only for the class's teachers)."""
    assert action.class_id is not None  # parse_card_action requires it for this verb
    education_class = await taught_class(ctx, action.class_id)
    if education_class is None:
        return error_card(ctx, messages.only_teachers())
    focus = _focus(action.extra.get("view"))
    ctx.services.submissions.forget(ctx.teacher_key, education_class.id)
    if action.assignment_id is None:
        return await class_status(ctx, education_class, focus)
    assignment = await class_assignment(ctx, education_class, action.assignment_id)
    if assignment is None:
        return error_card(ctx, messages.graph_not_found())
    if is_draft(assignment):
        return error_card(ctx, messages.assignment_is_draft(assignment.display_name))
    return await assignment_status(ctx, education_class, assignment, focus)


def _focus(value: object) -> Focus:
    return Focus(value) if isinstance(value, str) and value in {f.value for f in Focus} else Focus.ALL


async def assignment_status(
    ctx: ActionContext, education_class: EducationClass, assignment: Assignment, focus: Focus = Focus.ALL
) -> Reply:
    """The status card of one assignment.

    Args:
        ctx: the turn (the actor must teach the class; Graph answers 403 otherwise).
        education_class: the class.
        assignment: one of its (non-draft) assignments.
        focus: which list the teacher asked about (the others are left off); ALL shows every list and the chart.

    Returns:
        The status card with [Open grading sheet] and [Refresh].

    Raises:
        GraphError: reading the roster or the submissions failed.
    """
    submissions, names = await asyncio.gather(
        ctx.services.submissions.all(ctx.client, ctx.teacher_key, education_class.id, assignment.id),
        student_names(ctx, education_class.id),
    )
    now = ctx.services.clock()
    result = tally(submissions.values(), assignment, now)
    subject = messages.status_subject(assignment.display_name, education_class.display_name)
    due = assignment.due_date_time
    if focus is Focus.MISSING and due is not None and now <= due:
        title = messages.status_not_due(subject, due, result.counts.not_submitted)
    else:
        title = messages.status_title(subject, focus.value, _focus_count(result, focus))
    view = StatusView(
        title=title,
        counts=result.counts,
        missing=_names(result.missing, names) if focus in (Focus.ALL, Focus.MISSING) else [],
        ungraded=_names(result.ungraded, names) if focus in (Focus.ALL, Focus.UNGRADED) else [],
        late=_names(result.late, names) if focus in (Focus.ALL, Focus.LATE) else [],
        distribution=distribution(result.points, assignment.max_points) if focus is Focus.ALL else [],
        refresh_button=_refresh(education_class.id, assignment.id, focus),
        sheet_button=CardAction(
            verb=Verb.SHEET_OPEN,
            class_id=education_class.id,
            assignment_id=assignment.id,
            extra={"filter": _sheet_filter(focus).value},
        ),
    )
    return ctx.card(view)


async def class_status(ctx: ActionContext, education_class: EducationClass, focus: Focus = Focus.ALL) -> Reply:
    """The status card across a class's assigned assignments (the latest due first, at most 15).

    Args:
        ctx: the turn (the actor must teach the class).
        education_class: the class.
        focus: which list the teacher asked about.

    Returns:
        One card adding up every assigned assignment; names are shown with their assignment. No chart (the
        assignments have different scales) and no grading-sheet button.

    Raises:
        GraphError: reading the roster or the submissions failed.
    """
    assignments = await ctx.services.roster.assignments(ctx.client, ctx.teacher_key, education_class.id)
    assigned = _latest_assigned(assignments)
    if not assigned:
        return error_card(ctx, messages.status_no_assigned_work(education_class.display_name))
    shown = assigned[:MAX_CLASS_ASSIGNMENTS]
    reads = [
        ctx.services.submissions.all(ctx.client, ctx.teacher_key, education_class.id, assignment.id)
        for assignment in shown
    ]
    names, per_assignment = await asyncio.gather(student_names(ctx, education_class.id), asyncio.gather(*reads))
    now = ctx.services.clock()
    counts = StatusCounts()
    missing: list[str] = []
    ungraded: list[str] = []
    late: list[str] = []
    for assignment, submissions in zip(shown, per_assignment, strict=True):
        result = tally(submissions.values(), assignment, now)
        counts = add_counts(counts, result.counts)
        missing += _named_with(result.missing, names, assignment.display_name)
        ungraded += _named_with(result.ungraded, names, assignment.display_name)
        late += _named_with(result.late, names, assignment.display_name)
    listed = {Focus.MISSING: len(missing), Focus.UNGRADED: len(ungraded), Focus.LATE: len(late)}
    subject = messages.status_class_subject(education_class.display_name)
    view = StatusView(
        title=messages.status_title(subject, focus.value, listed.get(focus, turned_in(counts))),
        counts=counts,
        missing=missing if focus in (Focus.ALL, Focus.MISSING) else [],
        ungraded=ungraded if focus in (Focus.ALL, Focus.UNGRADED) else [],
        late=late if focus in (Focus.ALL, Focus.LATE) else [],
        refresh_button=_refresh(education_class.id, None, focus),
    )
    note = messages.status_capped(len(shown), len(assigned)) if len(assigned) > len(shown) else None
    return ctx.card(view, text=note)


def _latest_assigned(assignments: Sequence[Assignment]) -> list[Assignment]:
    assigned = [a for a in assignments if a.status is AssignmentStatus.ASSIGNED]
    # Latest due first; no due date after every dated one.
    return sorted(assigned, key=lambda a: (a.due_date_time is not None, a.due_date_time or datetime.min), reverse=True)


def _focus_count(result: Tally, focus: Focus) -> int:
    return {
        Focus.MISSING: len(result.missing),
        Focus.UNGRADED: len(result.ungraded),
        Focus.LATE: len(result.late),
    }.get(focus, turned_in(result.counts))


def _sheet_filter(focus: Focus) -> SheetFilter:
    if focus is Focus.UNGRADED:
        return SheetFilter.UNGRADED
    if focus is Focus.SUBMITTED:
        return SheetFilter.SUBMITTED
    return SheetFilter.ALL


def _refresh(class_id: ClassId, assignment_id: AssignmentId | None, focus: Focus) -> CardAction:
    return CardAction(
        verb=Verb.STATUS_REFRESH, class_id=class_id, assignment_id=assignment_id, extra={"view": focus.value}
    )


def _name_of(student: UserId, names: Mapping[UserId, str]) -> str:
    return names.get(student) or messages.former_student()


def _names(students: Iterable[UserId], names: Mapping[UserId, str]) -> list[str]:
    return sorted((_name_of(s, names) for s in students), key=str.casefold)


def _named_with(students: Iterable[UserId], names: Mapping[UserId, str], assignment: str) -> list[str]:
    return [messages.name_on_assignment(name, assignment) for name in _names(students, names)]
