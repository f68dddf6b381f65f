"""Return work for revision: "reassign Alice's Essay 2 with feedback: cite your sources", "send Essay 2 back to
Bob: needs an introduction", "reassign Alice on Essay 2" (no feedback), "reassign Essay 2" (everyone graded).

Card verbs: `Verb.REASSIGN_OPEN` (`on_reassign_open`) answers with the feedback form; `Verb.SUBMISSION_REASSIGN`
(`on_submission_reassign`) reassigns with the form's feedback. The feedback PATCH and the reassign go in one `$batch`
(the reassign depends on the PATCH), then each student gets a message with the feedback and a link to the work, and
the teacher's card says who could not be reached. Work not turned in, fuzzy names and "everyone" ask first
(parked with `"action": "reassign"`, finished by `confirmations.confirmed`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot import messages
from bot.actions.answers import submission_button
from bot.actions.context import ActionContext
from bot.actions.returning import (
    Target,
    ask,
    card_target,
    command_target,
    every_student,
    is_graded,
    outcome_card,
    parked,
    progress_card,
    summary_card,
    tell_students,
)
from bot.actions.writes import Change, Then, apply
from bot.cards.actions import CardAction, Verb
from bot.cards.views import ReassignFormView, ResultView
from bot.commands.model import Reassign
from bot.graph.ids import SubmissionId
from bot.graph.models import SubmissionStatus
from bot.turn import Reply

ACTION = "reassign"

_NOT_TURNED_IN = frozenset({SubmissionStatus.WORKING, SubmissionStatus.EXCUSED})


async def run(ctx: ActionContext, command: Reassign) -> Reply:
    """The teacher sees the work back with the student (with who was messaged), or a card asking first."""
    if command.student is None:
        return await _reassign_all(ctx, command)
    found = await command_target(ctx, command, command.student, command.assignment, command.class_hint)
    if isinstance(found, Reply):
        return found
    target, doubts = found
    return await _reassign_one(ctx, target, command.feedback, doubts)


async def on_reassign_open(ctx: ActionContext, action: CardAction) -> Reply:
    """[Reassign] on a card: a form with the current feedback and a [Reassign] button."""
    target = await card_target(ctx, action)
    if isinstance(target, Reply):
        return target
    change = target.change()
    view = ReassignFormView(
        title=messages.result_title(target.student_name, target.assignment.display_name),
        prompt=messages.reassign_prompt(),
        feedback=change.old_feedback,
        reassign_button=submission_button(Verb.SUBMISSION_REASSIGN, change),
    )
    return ctx.card(view)


async def on_submission_reassign(ctx: ActionContext, action: CardAction) -> Reply:
    """[Reassign] on the form (or a grade form): reassign with the typed feedback (empty keeps the current one)."""
    target = await card_target(ctx, action)
    if isinstance(target, Reply):
        return target
    return await _reassign_one(ctx, target, action.inputs.feedback, [])


async def _reassign_one(ctx: ActionContext, target: Target, feedback: str | None, doubts: list[str]) -> Reply:
    submission = target.submission
    change = target.change(set_feedback=feedback is not None, feedback=feedback, then=Then.REASSIGN)
    if submission.status is SubmissionStatus.REASSIGNED and feedback is None:
        note = messages.already_reassigned(target.student_name, target.assignment.display_name)
        return ctx.card(ResultView(title=messages.result_title(change.student_name, change.assignment_name), note=note))
    reasons = list(doubts)
    if submission.status is SubmissionStatus.WORKING:
        reasons.append(messages.because_not_turned_in(target.student_name))
    if submission.status is SubmissionStatus.EXCUSED:
        reasons.append(messages.because_excused(target.student_name))
    links = {change.submission_id: submission.web_url}
    if reasons:
        old = messages.submission_state(submission.status.value)
        new = messages.reassign_planned(feedback)
        return await ask(ctx, ACTION, [change], old=old, new=new, reasons=reasons, links=links)
    return await _write(ctx, [change], links=links)


async def _reassign_all(ctx: ActionContext, command: Reassign) -> Reply:
    """Everyone graded (turned in or returned, with points or feedback): always confirmed, since each is messaged."""
    everyone = await every_student(ctx, command)
    if isinstance(everyone, Reply):
        return everyone
    assignment = everyone.assignment
    changes: list[Change] = []
    for student_id, submission in everyone.submissions.items():
        if submission.status in (SubmissionStatus.REASSIGNED, SubmissionStatus.EXCUSED) or not is_graded(submission):
            continue
        target = everyone.target(student_id, submission)
        changes.append(
            target.change(set_feedback=command.feedback is not None, feedback=command.feedback, then=Then.REASSIGN)
        )
    if not changes:
        return ctx.card(
            ResultView(title=assignment.display_name, status=messages.nothing_graded(assignment.display_name))
        )
    reasons = [*everyone.doubts, messages.because_reassign_all(len(changes))]
    not_turned_in = [c.student_name for c in changes if c.old_status in _NOT_TURNED_IN]
    if not_turned_in:
        reasons.append(messages.because_not_turned_in_many(not_turned_in))
    new = messages.reassign_planned(command.feedback, len(changes))
    return await ask(ctx, ACTION, changes, old=None, new=new, reasons=reasons, links=everyone.links)


async def finish_confirmed(ctx: ActionContext, payload: dict[str, Any]) -> Reply:
    """[Confirm] on the card `ask` sent: write the parked payload (`bot.actions.confirmations`)."""
    changes, links = parked(payload)
    return await _write(ctx, changes, links=links)


async def _write(ctx: ActionContext, changes: Sequence[Change], *, links: Mapping[SubmissionId, str | None]) -> Reply:
    """Write, compose the teacher's answer, then message the students and add who could not be reached."""
    applied = await apply(ctx, changes, action=ACTION, progress=await progress_card(ctx, changes))
    reassigned = sum(a.ok for a in applied)
    told, unreached = await tell_students(ctx, applied, links, _student_message)
    note = messages.not_reached(unreached) if unreached else (messages.students_told(told) if told else None)
    if len(changes) == 1:
        return outcome_card(ctx, applied[0], note=note)
    return summary_card(ctx, applied, messages.reassigned_summary(changes[0].assignment_name, reassigned), note)


def _student_message(change: Change, web_url: str | None) -> str:
    feedback = change.feedback if change.set_feedback else change.old_feedback
    return messages.student_reassigned(change.assignment_name, feedback, web_url)
