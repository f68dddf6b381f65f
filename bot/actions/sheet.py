"""The grading sheet: one assignment, a row per student with status, current points and a points box; filters
(to grade / turned in / everyone) and pages of 40 rows so a card stays under Teams' ~28 KB.

Card verbs handled here: `Verb.SHEET_OPEN` (`on_sheet_open`), `Verb.SHEET_FILTER` (`on_sheet_filter`) and
`Verb.SHEET_PAGE` (`on_sheet_page`). [Save all] (`Verb.SHEET_SAVE_ALL`) is the bulk-grade action's: its button carries
the class, the assignment, the page and the filter, and the card's `points_<submissionId>` boxes come back as
`action.inputs.sheet_points`. Typed: "sheet Essay 2" (`bot.commands.Sheet`, handled by `run`).

Filters: *ungraded* is work turned in that waits for points (`status.needs_grading`); *submitted* is work turned in
and not yet returned (status `submitted`, with or without points); *all* is every student with a submission.
Rows are sorted by name; students without a submission (added to the class after the assignment) have no row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from bot import messages
from bot.actions import targeting
from bot.actions.answers import error_card
from bot.actions.context import ActionContext
from bot.actions.status import (
    Standing,
    class_assignment,
    draft_points,
    is_late,
    needs_grading,
    standing_of,
    student_names,
    taught_class,
)
from bot.actions.targeting import refuse_assignment
from bot.cards.actions import CardAction, SheetFilter
from bot.cards.views import GradingSheetView, SheetRow
from bot.commands.model import Sheet
from bot.graph.ids import UserId
from bot.graph.models import Assignment, EducationClass, Submission, SubmissionStatus
from bot.turn import Reply


def shows(sheet_filter: SheetFilter, submission: Submission) -> bool:
    """Whether a submission has a row under the filter (see the module docstring)."""
    if sheet_filter is SheetFilter.UNGRADED:
        return needs_grading(submission)
    if sheet_filter is SheetFilter.SUBMITTED:
        return submission.status is SubmissionStatus.SUBMITTED
    return True


def row_status(submission: Submission, assignment: Assignment) -> str:
    """The status word a row shows ("Submitted (late)", "Graded", ...)."""
    return messages.sheet_status(standing_of(submission).value, late=is_late(submission, assignment.due_date_time))


def sheet_rows(
    submissions: Mapping[UserId, Submission],
    names: Mapping[UserId, str],
    assignment: Assignment,
    sheet_filter: SheetFilter,
) -> list[SheetRow]:
    """The rows of a sheet, sorted by name (pure: no I/O).

    Args:
        submissions: the assignment's submissions by student id.
        names: the class's students by id; a submission of someone no longer a student has no row.
        assignment: the assignment (its due date marks late work).
        sheet_filter: which rows to keep.

    Returns:
        One row per student the filter keeps, with the submission id the points box is named after.
    """
    rows = [
        SheetRow(
            submission_id=submission.id,
            name=names[student],
            status=row_status(submission, assignment),
            points=_shown_points(submission),
        )
        for student, submission in submissions.items()
        if student in names and shows(sheet_filter, submission)
    ]
    return sorted(rows, key=lambda row: (row.name.casefold(), row.submission_id))


def _shown_points(submission: Submission) -> float | None:
    points = draft_points(submission)
    if points is None or points < 0 or standing_of(submission) is Standing.EXCUSED:
        return None
    return points


async def render_sheet(
    ctx: ActionContext,
    education_class: EducationClass,
    assignment: Assignment,
    *,
    sheet_filter: SheetFilter = SheetFilter.ALL,
    page: int = 1,
) -> Reply:
    """The grading-sheet card of one assignment (also for the bulk action to show the sheet again after saving).

    Args:
        ctx: the turn (the actor must teach the class).
        education_class: the class.
        assignment: one of its assignments (drafts and credit-only assignments are refused with an error card).
        sheet_filter: which rows to show.
        page: which page of `SHEET_PAGE_SIZE` rows (the view clamps it to the last page).

    Returns:
        The sheet card, or an error card.

    Raises:
        GraphError: reading the roster or the submissions failed.
    """
    refusal = refuse_assignment(ctx, assignment, needs_points=True)
    if refusal is not None:
        return refusal
    submissions, names = await asyncio.gather(
        ctx.services.submissions.all(ctx.client, ctx.teacher_key, education_class.id, assignment.id),
        student_names(ctx, education_class.id),
    )
    rows = sheet_rows(submissions, names, assignment, sheet_filter)
    view = GradingSheetView(
        title=messages.sheet_title(assignment.display_name, education_class.display_name),
        class_id=education_class.id,
        assignment_id=assignment.id,
        max_points=assignment.max_points,
        filter=sheet_filter,
        rows=rows,
        page=max(1, page),
        empty_text=messages.sheet_empty(sheet_filter.value),
    )
    return ctx.card(view)


async def run(ctx: ActionContext, command: Sheet) -> Reply:
    """ "sheet Essay 2": the grading sheet of the named assignment, every student shown.

    Returns:
        The sheet card; or a pick card (which resumes as this same command) or an error card.

    Raises:
        NotATeacher: in a class channel whose class the actor does not teach.
        GraphError: from the reads.
    """
    found = await targeting.find(
        ctx, command, student=None, assignment=command.assignment, class_hint=command.class_hint
    )
    if isinstance(found, Reply):
        return found
    assert found.assignment is not None  # the command names one
    return await render_sheet(ctx, found.education_class, found.assignment)


async def on_sheet_open(ctx: ActionContext, action: CardAction) -> Reply:
    """[Open grading sheet]: the sheet, first page (filter from the button, everyone by default)."""
    return await _from_button(ctx, action, page=1)


async def on_sheet_filter(ctx: ActionContext, action: CardAction) -> Reply:
    """[Ungraded] / [Submitted] / [All] on a sheet: the sheet again with that filter, first page."""
    return await _from_button(ctx, action, page=1)


async def on_sheet_page(ctx: ActionContext, action: CardAction) -> Reply:
    """[Previous page] / [Next page] on a sheet: that page, same filter."""
    page = action.extra.get("page")
    return await _from_button(ctx, action, page=page if isinstance(page, int) and not isinstance(page, bool) else 1)


async def _from_button(ctx: ActionContext, action: CardAction, *, page: int) -> Reply:
    """Re-check a (possibly forged) button: the actor teaches the class, the assignment is the class's."""
    if action.class_id is None or action.assignment_id is None:
        return error_card(ctx, messages.graph_not_found())
    education_class = await taught_class(ctx, action.class_id)
    if education_class is None:
        return error_card(ctx, messages.only_teachers())
    assignment = await class_assignment(ctx, education_class, action.assignment_id)
    if assignment is None:
        return error_card(ctx, messages.graph_not_found())
    return await render_sheet(ctx, education_class, assignment, sheet_filter=_filter(action), page=page)


def _filter(action: CardAction) -> SheetFilter:
    value = action.extra.get("filter")
    if isinstance(value, str) and value in {item.value for item in SheetFilter}:
        return SheetFilter(value)
    return SheetFilter.ALL
