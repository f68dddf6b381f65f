"""Undo the teacher's last change ("undo", or [Undo] on a result card): the exact previous points (none → cleared)
and feedback come back; a return cannot be taken back, and the reply says so.

Card verbs handled here: `Verb.UNDO` → `on_undo` (the button names the change the card showed, `extra.change`; the
audit log says whose change it is, so a forged or foreign change id finds nothing of the clicking teacher's).

An [Undo] button undoes only the change it was shown with, and only while that is still the teacher's latest change:
after a later change an old button refuses (undoing out of order would overwrite the later values) and points to
"undo", which always undoes the latest change. A change is undone once: a per-change lock taken before writing and
`Store.mark_undone` after it keep a double click (or "undo" racing a click) from undoing twice; a lock whose undo
wrote nothing is released so the teacher can try again.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot import messages
from bot.actions.answers import error_card
from bot.actions.context import ActionContext
from bot.actions.writes import Applied, Change, apply, plan_from
from bot.cards.actions import CardAction
from bot.cards.views import ResultView
from bot.commands.model import Undo
from bot.graph.errors import GraphError
from bot.graph.ids import SubmissionId, UserId
from bot.graph.models import SubmissionStatus
from bot.storage import UNDO_ACTION, AuditEntry, VersionConflict
from bot.turn import Reply

_LOCKS = "undo_lock"
_LOCK_TTL = timedelta(minutes=10)
_SEARCH_DEPTH = 200
_SEEN_STATUSES = frozenset({SubmissionStatus.RETURNED, SubmissionStatus.REASSIGNED})


async def run(ctx: ActionContext, command: Undo) -> Reply:
    """The teacher sees what was restored (and what could not be), or that there is nothing to undo."""
    del command  # "undo" carries nothing: it always means the latest change
    entries = await ctx.services.store.last_change(ctx.actor.tenant_id, ctx.actor.user_id)
    if not entries:
        return ctx.card(ResultView(title=messages.nothing_to_undo()))
    return await _undo(ctx, entries)


async def on_undo(ctx: ActionContext, action: CardAction) -> Reply:
    """[Undo] on a result card: undoes that card's change if it is still the latest, once."""
    wanted = str(action.extra.get("change", ""))
    entries = await ctx.services.store.last_change(ctx.actor.tenant_id, ctx.actor.user_id)
    if entries and entries[0].change_id == wanted:
        return await _undo(ctx, entries)
    mine = await _recent_entries_of(ctx, wanted)
    if not mine:  # another teacher's change, a forged id, or one too old to undo
        return error_card(ctx, messages.undo_unknown_change())
    if any(entry.undone_by is not None for entry in mine):
        return error_card(ctx, messages.undo_already_done())
    return error_card(ctx, messages.undo_not_latest())


@dataclass(frozen=True)
class _Restore:
    changes: list[Change]
    seen_by: list[str]
    """Students who already saw the work (it was returned): restoring draft values does not take that back."""
    missing: list[str]


async def _undo(ctx: ActionContext, entries: Sequence[AuditEntry]) -> Reply:
    store = ctx.services.store
    change_id = entries[0].change_id
    undo_id = uuid.uuid4().hex
    try:
        await store.put(_LOCKS, change_id, {"undo_change_id": undo_id}, expected_version=0, ttl=_LOCK_TTL)
    except VersionConflict:
        return error_card(ctx, messages.undo_already_done())
    try:
        restore = await _plan(ctx, entries)
        if not restore.changes:
            await store.mark_undone(change_id, undo_id)
            who = restore.seen_by[0] if len(restore.seen_by) == 1 else messages.n_students(len(restore.seen_by))
            return ctx.card(ResultView(title=messages.undo_status_only(who)))
        applied = await apply(ctx, restore.changes, action=UNDO_ACTION, change_id=undo_id)
    except GraphError:
        await store.delete(_LOCKS, change_id)
        raise
    if not any(a.ok for a in applied):
        await store.delete(_LOCKS, change_id)
        first = applied[0].error
        return error_card(
            ctx, messages.undo_failed(), next_step=messages.graph_error_hint(first.status if first else None)
        )
    await store.mark_undone(change_id, undo_id)
    return ctx.card(_view(applied, restore))


async def _plan(ctx: ActionContext, entries: Sequence[AuditEntry]) -> _Restore:
    """One restoring write per submission the change touched, from each audit entry's `before`."""
    first_by_submission: dict[SubmissionId, AuditEntry] = {}
    for entry in entries:  # a submission's earliest entry holds its value from before the change
        first_by_submission.setdefault(entry.submission_id, entry)
    changes: list[Change] = []
    seen_by: list[str] = []
    missing: list[str] = []
    roster, index, key = ctx.services.roster, ctx.services.submissions, ctx.teacher_key
    for entry in first_by_submission.values():
        students = {s.id: s.display_name for s in await roster.students(ctx.client, key, entry.class_id)}
        assignments = {a.id: a for a in await roster.assignments(ctx.client, key, entry.class_id)}
        name = students.get(entry.student_id, messages.unknown_student())
        returned_by_change = "status" in entry.before and entry.after.get("status") != entry.before.get("status")
        restore_points, restore_feedback = "points" in entry.before, "feedback" in entry.before
        if not restore_points and not restore_feedback:
            if returned_by_change:
                seen_by.append(name)
            continue
        submission = await index.find(ctx.client, key, entry.class_id, entry.assignment_id, entry.student_id)
        if submission is None:
            missing.append(name)
            continue
        if returned_by_change or submission.status in _SEEN_STATUSES:
            seen_by.append(name)
        assignment = assignments.get(entry.assignment_id)
        changes.append(
            plan_from(
                submission,
                class_id=entry.class_id,
                assignment_id=entry.assignment_id,
                student_id=UserId(entry.student_id),
                student_name=name,
                assignment_name=assignment.display_name if assignment else "",
                max_points=assignment.max_points if assignment else None,
                set_points=restore_points,
                points=_number(entry.before.get("points")),
                set_feedback=restore_feedback,
                feedback=_text(entry.before.get("feedback")),
            )
        )
    return _Restore(changes, seen_by, missing)


def _view(applied: Sequence[Applied], restore: _Restore) -> ResultView:
    restored = [a for a in applied if a.ok]
    failures = [messages.bulk_failure(a.change.student_name, a.error.status if a.error else None) for a in applied]
    failures = [f for a, f in zip(applied, failures, strict=True) if not a.ok]
    failures += [messages.bulk_failure(name, 404) for name in restore.missing]
    sentence = messages.undo_restored(
        points=any(a.change.set_points for a in restored), feedback=any(a.change.set_feedback for a in restored)
    )
    seen = [name for name in restore.seen_by if any(a.change.student_name == name for a in restored)]
    if seen:
        who = seen[0] if len(seen) == 1 else ""
        note = messages.undo_already_returned(sentence, who, len(seen))
    else:
        note = messages.undo_done(sentence)
    if failures:
        note = f"{note} {messages.bulk_failures(failures)}"
    if len(restored) == 1:
        change = restored[0].change
        return ResultView(
            title=messages.result_title(change.student_name, change.assignment_name or "—"),
            points=_points_shown(change) if change.set_points else None,
            status=messages.status_after_write(restored[0].status.value if restored[0].status else None),
            feedback=change.feedback if change.set_feedback else None,
            note=note,
        )
    assignment = next((a.change.assignment_name for a in restored if a.change.assignment_name), "—")
    return ResultView(title=messages.undo_title_many(assignment, len(restored)), note=note)


def _points_shown(change: Change) -> str:
    old = messages.points_of(change.old_points, change.max_points) if change.old_points is not None else None
    new = messages.points_of(change.points, change.max_points) if change.points is not None else messages.no_points()
    return messages.change_of(old, new)


async def _recent_entries_of(ctx: ActionContext, change_id: str) -> list[AuditEntry]:
    """The audit entries of `change_id` among the teacher's own recent ones (none: not theirs, or too old)."""
    recent = await ctx.services.store.list_audit(
        tenant_id=ctx.actor.tenant_id, teacher_id=ctx.actor.user_id, limit=_SEARCH_DEPTH
    )
    return [entry for entry in recent if entry.change_id == change_id]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
