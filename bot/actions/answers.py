"""Cards every action answers with: the result of a write (with next steps) and an error with the next step."""

from __future__ import annotations

from bot import messages
from bot.actions.context import ActionContext
from bot.actions.writes import Applied, Change
from bot.cards.actions import CardAction, Verb, undo_action
from bot.cards.views import ErrorView, ResultView
from bot.graph.errors import GraphError
from bot.graph.models import SubmissionStatus
from bot.turn import Reply


def error_view(problem: str, *, next_step: str | None = None, usage: str | None = None) -> ErrorView:
    """What went wrong, what to do next, the closest correct usage, and [Help]."""
    return ErrorView(
        problem=problem,
        next_step=next_step,
        usage=messages.try_instead(usage) if usage else None,
        help_button=CardAction(verb=Verb.HELP),
    )


def error_card(ctx: ActionContext, problem: str, *, next_step: str | None = None, usage: str | None = None) -> Reply:
    """`error_view` as a reply."""
    return ctx.card(error_view(problem, next_step=next_step, usage=usage))


async def result_card(ctx: ActionContext, applied: Applied) -> Reply:
    """ "Alice Smith — Essay 2: 85/100, saved, not yet returned" with [Return] [Add feedback] [Undo]."""
    change = applied.change
    if not applied.ok:
        return error_card(ctx, messages.write_failed(change.student_name), next_step=_graph_hint(applied.error))
    points = None
    if change.set_points:
        new = messages.points_of(change.points, change.max_points)
        old = messages.points_of(change.old_points, change.max_points) if change.old_points is not None else None
        points = messages.change_of(old, new)
    status = applied.status.value if applied.status else None
    returned = applied.status in (SubmissionStatus.RETURNED, SubmissionStatus.REASSIGNED, SubmissionStatus.EXCUSED)
    undo_button = None
    if applied.change_id is not None:  # [Undo] restores exactly this change (the audit knows its before-values)
        undo_button = undo_action(applied.change_id)
    view = ResultView(
        title=messages.result_title(change.student_name, change.assignment_name),
        points=points,
        status=messages.status_after_write(status),
        feedback=change.feedback if change.set_feedback else None,
        return_button=None if returned else submission_button(Verb.SUBMISSION_RETURN, change),
        feedback_button=submission_button(Verb.FEEDBACK_OPEN, change),
        undo_button=undo_button,
    )
    return ctx.card(view)


def submission_button(verb: Verb, change: Change) -> CardAction:
    """A button acting on the change's submission (ids only: a click needs no conversation state)."""
    return CardAction(
        verb=verb,
        class_id=change.class_id,
        assignment_id=change.assignment_id,
        submission_id=change.submission_id,
        student_id=change.student_id,
    )


def _graph_hint(error: GraphError | None) -> str | None:
    return messages.graph_error_hint(error.status if error else None)
