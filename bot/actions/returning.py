"""Return graded work: "return Essay 2" (every graded submission), "return Alice's Essay 2" / "return Essay 2 to
Bob" (one student), and [Return] on a result card (`Verb.SUBMISSION_RETURN`, handled by `on_submission_return`).

Returning publishes the draft points and feedback. Work the student never turned in is returned only after a
[Confirm] (parked under `grade.PENDING_GRADE` with `"action": "return"`, so `confirmations.confirmed` finishes it).
Also home of what reassign and excuse share: checking a card's ids (`card_target`), finding one student's submission
(`command_target`), parking a confirmation (`ask`) and messaging students (`tell_students`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot import messages
from bot.actions import grade, targeting
from bot.actions.answers import error_card, submission_button
from bot.actions.context import ActionContext
from bot.actions.pending import park
from bot.actions.writes import MAX_PARTS, Applied, Change, Progress, Then, apply, plan_from
from bot.cards.actions import CardAction, Verb
from bot.cards.views import ConfirmView, ProgressView, ResultView
from bot.commands.model import Command, Reassign, Return
from bot.graph.ids import ClassId, SubmissionId, TenantId, UserId
from bot.graph.models import Assignment, Submission, SubmissionStatus
from bot.notify import Delivered
from bot.turn import Reply

ACTION = "return"

NOT_TURNED_IN = frozenset({SubmissionStatus.WORKING, SubmissionStatus.REASSIGNED})
"""Statuses of work the student has not turned in (again): returning or reassigning it asks first."""


@dataclass(frozen=True)
class Target:
    """One student's submission an action works on, checked to be in a class the teacher teaches."""

    class_id: ClassId
    assignment: Assignment
    submission: Submission
    student_id: UserId
    student_name: str

    def change(self, **fields: Any) -> Change:
        """The planned write for this submission (current outcome values on the "old" side)."""
        return plan_from(
            self.submission,
            class_id=self.class_id,
            assignment_id=self.assignment.id,
            student_id=self.student_id,
            student_name=self.student_name,
            assignment_name=self.assignment.display_name,
            max_points=self.assignment.max_points,
            **fields,
        )


# --------------------------------------------------------------------------------------------- handlers


async def run(ctx: ActionContext, command: Return) -> Reply:
    """The teacher sees the returned work (published points and feedback), a summary, or a card asking first."""
    if command.student is None:
        return await _return_all(ctx, command)
    found = await command_target(ctx, command, command.student, command.assignment, command.class_hint)
    if isinstance(found, Reply):
        return found
    target, doubts = found
    return await _return_one(ctx, target, doubts)


async def on_submission_return(ctx: ActionContext, action: CardAction) -> Reply:
    """[Return] on a result card: the same as "return Alice's Essay 2", for the submission the button names."""
    target = await card_target(ctx, action)
    if isinstance(target, Reply):
        return target
    return await _return_one(ctx, target, [])


async def _return_one(ctx: ActionContext, target: Target, doubts: list[str]) -> Reply:
    submission = target.submission
    change = target.change(then=Then.RETURN)
    if submission.status is SubmissionStatus.RETURNED and not unpublished(submission):
        view = published_view(change, submission.status, note=messages.already_returned(*_names(change)))
        return ctx.card(view)
    reasons = list(doubts)
    if submission.status in NOT_TURNED_IN:
        reasons.append(messages.because_not_turned_in(target.student_name))
    if submission.status is SubmissionStatus.EXCUSED:
        reasons.append(messages.because_excused(target.student_name))
    links = {change.submission_id: submission.web_url}
    if reasons:
        old = messages.submission_state(submission.status.value)
        return await ask(ctx, ACTION, [change], old=old, new=messages.return_planned(), reasons=reasons, links=links)
    return await _write(ctx, [change], links=links)


async def _return_all(ctx: ActionContext, command: Return) -> Reply:
    everyone = await every_student(ctx, command)
    if isinstance(everyone, Reply):
        return everyone
    assignment = everyone.assignment
    changes: list[Change] = []
    not_turned_in: list[str] = []
    left_alone = already = 0
    for student_id, submission in everyone.submissions.items():
        status = submission.status
        if status not in (SubmissionStatus.SUBMITTED, SubmissionStatus.WORKING, SubmissionStatus.RETURNED):
            continue
        if not is_graded(submission):
            left_alone += status is SubmissionStatus.SUBMITTED
            continue
        if status is SubmissionStatus.RETURNED and not unpublished(submission):
            already += 1
            continue
        target = everyone.target(student_id, submission)
        changes.append(target.change(then=Then.RETURN))
        if status is SubmissionStatus.WORKING:
            not_turned_in.append(target.student_name)
    if not changes:
        problem = messages.all_already_returned if already else messages.nothing_graded
        return ctx.card(ResultView(title=assignment.display_name, status=problem(assignment.display_name)))
    links = everyone.links
    extra = {"left_alone": left_alone}
    doubts = list(everyone.doubts)
    if not_turned_in:
        doubts.append(messages.because_not_turned_in_many(not_turned_in))
    if doubts:
        new = messages.return_planned(len(changes))
        return await ask(ctx, ACTION, changes, old=None, new=new, reasons=doubts, links=links, extra=extra)
    return await _write(ctx, changes, links=links, left_alone=left_alone)


async def finish_confirmed(ctx: ActionContext, payload: dict[str, Any]) -> Reply:
    """[Confirm] on the card `ask` sent: write the parked payload (`bot.actions.confirmations`)."""
    changes, links = parked(payload)
    return await _write(ctx, changes, links=links, left_alone=int(payload.get("left_alone", 0)))


async def _write(
    ctx: ActionContext, changes: Sequence[Change], *, links: Mapping[SubmissionId, str | None], left_alone: int = 0
) -> Reply:
    applied = await apply(ctx, changes, action=ACTION, progress=await progress_card(ctx, changes))
    unreached: list[str] = []
    told = 0
    if ctx.services.settings.notify_on_return:
        told, unreached = await tell_students(ctx, applied, links, _student_message)
    note = messages.not_reached(unreached) if unreached else (messages.students_told(told) if told else None)
    if len(changes) == 1:
        return outcome_card(ctx, applied[0], note=note)
    return summary_card(
        ctx,
        applied,
        messages.returned_summary(changes[0].assignment_name, sum(a.ok for a in applied), left_alone),
        note,
    )


def _student_message(change: Change, web_url: str | None) -> str:
    return messages.student_returned(change.assignment_name, web_url)


# ----------------------------------------------------------------------------------- shared by reassign and excuse


def is_graded(submission: Submission) -> bool:
    """Whether the teacher has written points or feedback on the submission (draft values)."""
    points = submission.points_outcome
    feedback = submission.feedback_outcome
    has_points = points is not None and points.points is not None and points.points.points is not None
    has_feedback = (
        feedback is not None
        and feedback.feedback is not None
        and feedback.feedback.text is not None
        and bool(feedback.feedback.text.content)
    )
    return has_points or has_feedback


def unpublished(submission: Submission) -> bool:
    """Whether the draft points or feedback differ from what the student sees."""
    points = submission.points_outcome
    if points is not None:
        draft = points.points.points if points.points else None
        shown = points.published_points.points if points.published_points else None
        if draft != shown:
            return True
    feedback = submission.feedback_outcome
    if feedback is not None:
        draft_text = feedback.feedback.text.content if feedback.feedback and feedback.feedback.text else None
        shown_text = (
            feedback.published_feedback.text.content
            if feedback.published_feedback and feedback.published_feedback.text
            else None
        )
        if (draft_text or None) != (shown_text or None):
            return True
    return False


@dataclass(frozen=True)
class EveryStudent:
    """An assignment's submissions with the students' names: what "return Essay 2" / "reassign Essay 2" act on."""

    assignment: Assignment
    class_id: ClassId
    submissions: dict[UserId, Submission]
    names: dict[UserId, str]
    doubts: tuple[str, ...]

    def target(self, student_id: UserId, submission: Submission) -> Target:
        name = self.names.get(student_id, messages.student_not_in_roster())
        return Target(self.class_id, self.assignment, submission, student_id, name)

    @property
    def links(self) -> dict[SubmissionId, str | None]:
        return {s.id: s.web_url for s in self.submissions.values()}


async def every_student(ctx: ActionContext, command: Return | Reassign) -> EveryStudent | Reply:
    """Resolve the command's assignment (no student) and read all its submissions and the students' names."""
    found = await targeting.find_writable(
        ctx, command, student=None, assignment=command.assignment, class_hint=command.class_hint, needs_points=False
    )
    if isinstance(found, Reply):
        return found
    assignment = found.assignment
    assert assignment is not None  # the command names it
    class_id = found.education_class.id
    submissions = await ctx.services.submissions.all(ctx.client, ctx.teacher_key, class_id, assignment.id)
    names = await student_names(ctx, class_id)
    return EveryStudent(assignment, class_id, submissions, names, found.doubts)


async def command_target(
    ctx: ActionContext, command: Command, student: str, assignment: str, class_hint: str | None
) -> tuple[Target, list[str]] | Reply:
    """One student's submission from typed names, with the doubts to confirm (fuzzy matches).

    Returns:
        The target and its doubts, or the pick / error card to send instead (draft assignment, no submission).

    Raises:
        NotATeacher: as `targeting.find`.
        GraphError: from the reads.
    """
    found = await targeting.find(ctx, command, student=student, assignment=assignment, class_hint=class_hint)
    if isinstance(found, Reply):
        return found
    chosen, chosen_assignment = found.student, found.assignment
    assert chosen is not None and chosen_assignment is not None  # both were named
    refusal = targeting.refuse_assignment(ctx, chosen_assignment, needs_points=False)
    if refusal is not None:
        return refusal
    class_id = found.education_class.id
    submission = await ctx.services.submissions.find(
        ctx.client, ctx.teacher_key, class_id, chosen_assignment.id, chosen.id
    )
    if submission is None:
        return error_card(ctx, messages.no_submission(chosen.display_name, chosen_assignment.display_name))
    target = Target(class_id, chosen_assignment, submission, chosen.id, chosen.display_name)
    return target, list(found.doubts)


async def card_target(ctx: ActionContext, action: CardAction) -> Target | Reply:
    """The submission a button names, re-checked: a class the actor teaches, its assignment, its submission.

    Card data can be forged, so every id is looked up again among what the actor's own token can see.

    Returns:
        The target, or an error card (nothing is written): not the actor's class, or ids that do not belong together.

    Raises:
        GraphError: from the reads (a Graph 403 is the final word on access).
    """
    roster = ctx.services.roster
    taught = await roster.taught_classes(ctx.client, ctx.teacher_key)
    if action.class_id is None or all(c.id != action.class_id for c in taught):
        return error_card(ctx, messages.only_teachers())
    class_id = action.class_id
    assignments = await roster.assignments(ctx.client, ctx.teacher_key, class_id)
    assignment = next((a for a in assignments if a.id == action.assignment_id), None)
    if assignment is None:
        return error_card(ctx, messages.graph_not_found())
    submissions = await ctx.services.submissions.all(ctx.client, ctx.teacher_key, class_id, assignment.id)
    if action.student_id is not None:
        submission = submissions.get(action.student_id)
    else:
        submission = next((s for s in submissions.values() if s.id == action.submission_id), None)
    if submission is None or submission.student_id is None:
        return error_card(ctx, messages.graph_not_found())
    if action.submission_id is not None and submission.id != action.submission_id:
        return error_card(ctx, messages.graph_not_found())
    names = await student_names(ctx, class_id)
    student_id = submission.student_id
    return Target(class_id, assignment, submission, student_id, names.get(student_id, messages.student_not_in_roster()))


async def student_names(ctx: ActionContext, class_id: ClassId) -> dict[UserId, str]:
    """The class's students' display names by id (cached roster)."""
    students = await ctx.services.roster.students(ctx.client, ctx.teacher_key, class_id)
    return {s.id: s.display_name or messages.student_not_in_roster() for s in students}


async def ask(
    ctx: ActionContext,
    action_name: str,
    changes: Sequence[Change],
    *,
    old: str | None,
    new: str,
    reasons: Sequence[str],
    links: Mapping[SubmissionId, str | None],
    extra: Mapping[str, Any] | None = None,
) -> Reply:
    """A confirmation card for planned changes; [Confirm] hands them to `action_name`'s resume, once.

    Args:
        ctx: the turn.
        action_name: the name `confirmations.FINISHERS` knows it by.
        changes: the planned writes, parked exactly as planned.
        old: the current state shown as "Now" (None for several submissions).
        new: the planned state shown as "New".
        reasons: why we ask (at most 10 are shown).
        links: each submission's webUrl by submission id (for the student messages after the write).
        extra: more JSON-able values the resume needs.

    Returns:
        The confirmation card.
    """
    payload: dict[str, Any] = {
        **(extra or {}),
        "action": action_name,
        "changes": [c.model_dump(mode="json") for c in changes],
        "links": {c.submission_id: links.get(c.submission_id) for c in changes},
    }
    nonce = await park(ctx, grade.PENDING_GRADE, payload)
    first = changes[0]
    student = first.student_name if len(changes) == 1 else messages.students_count(len(changes))
    view = ConfirmView(
        student=student,
        assignment=first.assignment_name,
        old_value=old,
        new_value=new,
        reasons=list(reasons)[:10],
        confirm_button=CardAction(verb=Verb.GRADE_CONFIRM, nonce=nonce, class_id=first.class_id),
        cancel_button=CardAction(verb=Verb.GRADE_CANCEL, nonce=nonce, class_id=first.class_id),
    )
    return ctx.card(view)


def parked(payload: Mapping[str, Any]) -> tuple[list[Change], dict[SubmissionId, str | None]]:
    """The changes and links `ask` parked."""
    raw_changes: list[Any] = payload.get("changes") or []
    raw_links: dict[str, Any] = payload.get("links") or {}
    changes = [Change.model_validate(c) for c in raw_changes]
    links = {SubmissionId(str(k)): (v if isinstance(v, str) else None) for k, v in raw_links.items()}
    return changes, links


async def tell_students(
    ctx: ActionContext,
    applied: Sequence[Applied],
    links: Mapping[SubmissionId, str | None],
    message: Callable[[Change, str | None], str],
) -> tuple[int, list[str]]:
    """Message each student whose write succeeded; call only after the teacher's answer is composed.

    Args:
        ctx: the turn (its tenant is the students' tenant).
        applied: the writes; failed ones are skipped.
        links: each submission's webUrl by submission id.
        message: the student's text for their change and link.

    Returns:
        How many students were reached, and the names of those who could not be (blocked the bot, or failed).
        (0, []) when no notifier is configured.
    """
    notifier = ctx.services.notifier
    done = [a.change for a in applied if a.ok]
    if notifier is None or not done:
        return 0, []
    texts = {c.student_id: Reply(text=message(c, links.get(c.submission_id))) for c in done}
    results = await notifier.notify_all(TenantId(ctx.actor.tenant_id), texts)
    names = {c.student_id: c.student_name for c in done}
    unreached = [names[s] for s, result in results.items() if not isinstance(result, Delivered)]
    return len(results) - len(unreached), unreached


async def progress_card(ctx: ActionContext, changes: Sequence[Change]) -> Progress | None:
    """A progress card updated after each `$batch`, when the job takes more than one batch and an outbox exists."""
    outbox = ctx.outbox
    if outbox is None or len(changes) <= MAX_PARTS:
        return None
    title = changes[0].assignment_name
    activity_id = await outbox.send(ctx.card(ProgressView(title=title, done=0, total=len(changes))))

    async def update(done: int, total: int) -> None:
        await outbox.update(activity_id, ctx.card(ProgressView(title=title, done=done, total=total)))

    return update


def published_view(change: Change, status: SubmissionStatus | None, *, note: str | None = None) -> ResultView:
    """What the student now sees: published points and feedback, and the status."""
    feedback = change.feedback if change.set_feedback else change.old_feedback
    points = change.points if change.set_points else change.old_points
    returned = status in (SubmissionStatus.RETURNED, SubmissionStatus.REASSIGNED)
    return ResultView(
        title=messages.result_title(change.student_name, change.assignment_name),
        points=messages.points_of(points, change.max_points) if returned and points is not None else None,
        status=messages.status_after_write(status.value if status else None),
        feedback=feedback if returned and feedback else None,
        note=note,
        feedback_button=submission_button(Verb.FEEDBACK_OPEN, change) if returned else None,
    )


def outcome_card(ctx: ActionContext, applied: Applied, *, note: str | None = None) -> Reply:
    """One submission's result: its published state, or why nothing was changed."""
    if not applied.ok:
        hint = messages.graph_error_hint(applied.error.status if applied.error else None)
        return error_card(ctx, messages.write_failed(applied.change.student_name), next_step=hint)
    return ctx.card(published_view(applied.change, applied.status, note=note))


def summary_card(ctx: ActionContext, applied: Sequence[Applied], summary: str, note: str | None) -> Reply:
    """Several submissions' result: the summary sentence, who failed and who could not be messaged."""
    failed = [a.change.student_name for a in applied if not a.ok]
    notes = [messages.writes_failed(failed)] if failed else []
    if note:
        notes.append(note)
    title = applied[0].change.assignment_name
    return ctx.card(ResultView(title=title, status=summary, note=" ".join(notes) or None))


def _names(change: Change) -> tuple[str, str]:
    return change.student_name, change.assignment_name
