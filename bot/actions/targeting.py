"""From the names a teacher typed to the class, student and assignment an action works on — or to the card that
asks which one ("Which Alex?"), never a guess."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bot import messages
from bot.actions.answers import error_card
from bot.actions.context import ActionContext
from bot.actions.pending import park
from bot.cards.actions import CardAction, Verb
from bot.cards.views import PickCandidate, PickView
from bot.commands.model import Command
from bot.graph.models import Assignment, EducationClass, EducationUser
from bot.roster import Ambiguous, NotFound, Resolved, Target, is_credit_only, is_draft, locate
from bot.roster.resolver import Resolution
from bot.turn import Reply

PENDING_COMMAND = "command"


@dataclass(frozen=True)
class Found:
    """What the command is about. `doubts` are the reasons to confirm before writing (fuzzy matches)."""

    education_class: EducationClass
    student: EducationUser | None
    assignment: Assignment | None
    doubts: tuple[str, ...] = field(default=())


async def find_writable(
    ctx: ActionContext,
    command: Command,
    *,
    student: str | None,
    assignment: str | None,
    class_hint: str | None,
    needs_points: bool,
) -> Found | Reply:
    """`find`, then refuse an assignment nothing can be written to (a draft; credit-only when points are needed)."""
    found = await find(ctx, command, student=student, assignment=assignment, class_hint=class_hint)
    if isinstance(found, Reply) or found.assignment is None:
        return found
    refusal = refuse_assignment(ctx, found.assignment, needs_points=needs_points)
    return refusal if refusal is not None else found


def refuse_assignment(ctx: ActionContext, assignment: Assignment, *, needs_points: bool) -> Reply | None:
    """The error card for an assignment nothing can be written to (draft; credit-only when points are needed)."""
    if is_draft(assignment):
        return error_card(ctx, messages.assignment_is_draft(assignment.display_name))
    if needs_points and is_credit_only(assignment):
        return error_card(ctx, messages.assignment_is_credit_only(assignment.display_name))
    return None


class NotATeacher(Exception):
    """The acting user does not teach the class the command is about."""


async def find(
    ctx: ActionContext, command: Command, *, student: str | None, assignment: str | None, class_hint: str | None
) -> Found | Reply:
    """Resolve the command's names in the teacher's classes.

    Returns:
        `Found`, or a Reply to send instead: a pick card (several candidates, or a typo with several
        suggestions) or an error card (nothing close).

    Raises:
        NotATeacher: the message came from a class channel whose class the user does not teach.
        GraphError: from the roster reads.
    """
    located = await locate(
        ctx.client,
        ctx.teacher_key,
        student=student,
        assignment=assignment,
        hint=class_hint,
        channel_class_id=ctx.conversation.channel_class_id,
        cache=ctx.services.roster,
    )
    if isinstance(located, Ambiguous):
        return await _pick(ctx, command, Verb.PICK_CLASS, messages.which_class(), located.candidates)
    if isinstance(located, NotFound):
        if ctx.conversation.channel_class_id is not None and not class_hint:
            raise NotATeacher
        return await _pick_or_error(
            ctx, command, Verb.PICK_CLASS, located.suggestions, messages.which_class(), messages.class_not_found()
        )
    return await _within_class(ctx, command, located)


async def _within_class(ctx: ActionContext, command: Command, target: Target) -> Found | Reply:
    doubts: list[str] = []
    chosen_student: EducationUser | None = None
    chosen_assignment: Assignment | None = None
    if target.student is not None:
        outcome = await _settle(ctx, command, Verb.PICK_STUDENT, target.student, kind="student")
        if not isinstance(outcome, tuple):
            return outcome
        chosen_student, doubt = outcome
        doubts += doubt
    if target.assignment is not None:
        outcome = await _settle(ctx, command, Verb.PICK_ASSIGNMENT, target.assignment, kind="assignment")
        if not isinstance(outcome, tuple):
            return outcome
        chosen_assignment, doubt = outcome
        doubts += doubt
    if not target.class_.exact:
        doubts.append(messages.because_fuzzy_class(target.education_class.display_name))
    return Found(target.education_class, chosen_student, chosen_assignment, tuple(doubts))


async def _settle(
    ctx: ActionContext, command: Command, verb: Verb, resolution: Resolution[Any], *, kind: str
) -> tuple[Any, list[str]] | Reply:
    """A resolved thing plus the doubt to confirm (if fuzzy), or the card to send instead."""
    if isinstance(resolution, Resolved):
        value = resolution.value
        if resolution.exact:
            return value, []
        return value, [_fuzzy(kind, _query(command, kind), value.display_name)]
    if isinstance(resolution, Ambiguous):
        title = (messages.which_student if kind == "student" else messages.which_assignment)(resolution.query)
        return await _pick(ctx, command, verb, title, resolution.candidates)
    query = resolution.query
    suggestions = resolution.suggestions
    if len(suggestions) == 1:
        # A typo with one near miss: treat as a fuzzy match, which is always confirmed before anything is written.
        return suggestions[0], [_fuzzy(kind, query, suggestions[0].display_name)]
    names = [s.display_name for s in suggestions]
    if kind == "student":
        problem = messages.student_not_found(query, names)
    else:
        problem = messages.assignment_not_found(query, names)
    return await _pick_or_error(ctx, command, verb, suggestions, problem, problem)


def _fuzzy(kind: str, query: str, name: str) -> str:
    if kind == "student":
        return messages.because_fuzzy_student(query, name)
    return messages.because_fuzzy_assignment(query, name)


def _query(command: Command, kind: str) -> str:
    return str(getattr(command, kind, "") or "")


async def _pick_or_error(
    ctx: ActionContext, command: Command, verb: Verb, candidates: Sequence[Any], title: str, problem: str
) -> Reply:
    if candidates:
        return await _pick(ctx, command, verb, title, candidates)
    return error_card(ctx, problem, next_step=messages.help_hint())


async def _pick(ctx: ActionContext, command: Command, verb: Verb, title: str, candidates: Sequence[Any]) -> Reply:
    """A card with one button per candidate; a click re-runs the parked command with that id pinned."""
    nonce = await park(ctx, PENDING_COMMAND, command.model_dump(mode="json"))
    pick_field = {Verb.PICK_STUDENT: "student_id", Verb.PICK_CLASS: "class_id", Verb.PICK_ASSIGNMENT: "assignment_id"}
    first = candidates[0]
    submit = CardAction(verb=verb, nonce=nonce, **{pick_field[verb]: first.id})
    view = PickView(
        title=title,
        candidates=[PickCandidate(id=c.id, label=_label(c)) for c in candidates[:100]],
        submit=submit,
    )
    return ctx.card(view)


def _label(candidate: EducationUser | Assignment | EducationClass) -> str:
    if isinstance(candidate, EducationUser) and candidate.mail_nickname:
        return f"{candidate.display_name} ({candidate.mail_nickname})"
    return candidate.display_name or candidate.id
