"""The one place outcome writes happen: points and feedback PATCHes and the return / reassign / excuse that may
follow, packed into Graph `$batch` calls (≤ 20 parts, the action depending on its PATCHes), audited, and mirrored
into the warm submission index. Every action (grade, bulk grade, feedback, reassign, undo) goes through `apply`."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from bot.actions.context import ActionContext
from bot.graph import requests as build
from bot.graph.batch import BatchPart, BatchResult
from bot.graph.errors import GraphError
from bot.graph.ids import AssignmentId, ClassId, OutcomeId, SubmissionId, TenantId, UserId
from bot.graph.models import FeedbackOutcome, PointsOutcome, Submission, SubmissionStatus
from bot.storage import AuditEntry, StorageUnavailable

logger = logging.getLogger(__name__)

MAX_PARTS = 20


class Then(StrEnum):
    """What happens to the submission after its outcomes are written."""

    RETURN = "return"
    REASSIGN = "reassign"
    EXCUSE = "excuse"


class Change(BaseModel):
    """One submission's planned write. JSON-able, so a confirmation card can park it exactly as planned."""

    model_config = ConfigDict(frozen=True)

    class_id: ClassId
    assignment_id: AssignmentId
    submission_id: SubmissionId
    student_id: UserId
    student_name: str
    assignment_name: str
    max_points: float | None = None
    points_outcome_id: OutcomeId | None = None
    feedback_outcome_id: OutcomeId | None = None
    set_points: bool = False
    points: float | None = None
    """The new points; None with `set_points` clears them (undo of a first grade)."""
    set_feedback: bool = False
    feedback: str | None = None
    old_points: float | None = None
    old_feedback: str | None = None
    old_status: SubmissionStatus | None = None
    then: Then | None = None


@dataclass(frozen=True)
class Applied:
    """What happened to one change."""

    change: Change
    error: GraphError | None
    status: SubmissionStatus | None
    change_id: str | None = None
    """The audit change this write belongs to (what [Undo] restores); None where nothing was written here."""

    @property
    def ok(self) -> bool:
        return self.error is None


Progress = Callable[[int, int], Awaitable[None]]


def plan_from(submission: Submission, **fields: Any) -> Change:
    """A Change for `submission` with its current outcome ids and values filled in (the "old" side)."""
    points = submission.points_outcome
    feedback = submission.feedback_outcome
    old_points = points.points.points if points and points.points else None
    old_feedback = feedback.feedback.text.content if feedback and feedback.feedback and feedback.feedback.text else None
    return Change(
        submission_id=submission.id,
        points_outcome_id=points.id if points else None,
        feedback_outcome_id=feedback.id if feedback else None,
        old_points=old_points,
        old_feedback=old_feedback or None,
        old_status=submission.status,
        **fields,
    )


def _parts(index: int, change: Change) -> list[BatchPart]:
    c, a, s = change.class_id, change.assignment_id, change.submission_id
    parts: list[BatchPart] = []
    if change.set_points and change.points_outcome_id is not None:
        request = (
            build.clear_points(c, a, s, change.points_outcome_id)
            if change.points is None
            else build.update_points(c, a, s, change.points_outcome_id, change.points)
        )
        parts.append(BatchPart(f"p{index}", request))
    if change.set_feedback and change.feedback_outcome_id is not None:
        parts.append(
            BatchPart(f"f{index}", build.update_feedback(c, a, s, change.feedback_outcome_id, change.feedback or ""))
        )
    if change.then is not None:
        action = {Then.RETURN: build.return_submission, Then.REASSIGN: build.reassign, Then.EXCUSE: build.excuse}
        depends = tuple(part.id for part in parts)
        parts.append(BatchPart(f"t{index}", action[change.then](c, a, s), depends_on=depends))
    return parts


def _chunks(changes: Sequence[Change]) -> list[list[tuple[int, Change, list[BatchPart]]]]:
    """Pack changes into batches of at most 20 parts without splitting one change across batches."""
    chunks: list[list[tuple[int, Change, list[BatchPart]]]] = []
    current: list[tuple[int, Change, list[BatchPart]]] = []
    size = 0
    for index, change in enumerate(changes):
        parts = _parts(index, change)
        if current and size + len(parts) > MAX_PARTS:
            chunks.append(current)
            current, size = [], 0
        current.append((index, change, parts))
        size += len(parts)
    if current:
        chunks.append(current)
    return chunks


async def apply(
    ctx: ActionContext,
    changes: Sequence[Change],
    *,
    action: str,
    change_id: str | None = None,
    progress: Progress | None = None,
) -> list[Applied]:
    """Write the changes (one `$batch` per 20 parts), audit each success and keep the index current.

    Args:
        ctx: the teacher's turn (their delegated Graph client).
        changes: what to write; each change's parts succeed or fail together in the audit.
        action: the audit action name ("grade", "feedback", "reassign", "undo", ...).
        change_id: groups the audit entries of one teacher action (undo restores a whole change); new when None.
        progress: called with (done, total) after each batch, for progress cards.

    Returns:
        One Applied per change, in order.

    Raises:
        GraphError: a whole `$batch` call failed (nothing of that batch was written).
    """
    change_id = change_id or uuid.uuid4().hex
    applied: list[Applied] = []
    done = 0
    for chunk in _chunks(changes):
        parts = [part for _, _, chunk_parts in chunk for part in chunk_parts]
        results = {result.id: result for result in await ctx.client.batch(parts)} if parts else {}
        for _, change, chunk_parts in chunk:
            outcome = _outcome(change, [results[part.id] for part in chunk_parts], change_id)
            applied.append(outcome)
            if outcome.ok:
                try:
                    await _audit(ctx, outcome, action, change_id, [results[part.id] for part in chunk_parts])
                except StorageUnavailable:
                    # The write already happened in Graph: report it as done, never as "nothing changed".
                    logger.warning("audit entry not stored (store unavailable): action=%s change=%s", action, change_id)
            _mirror(ctx, change, {part.id[0]: results[part.id] for part in chunk_parts})
        done += len(chunk)
        if progress is not None:
            await progress(done, len(changes))
    failed = sum(1 for a in applied if not a.ok)
    # One successful write per turn is the common case (and in the audit log): INFO only for failures and bulk writes.
    level = logging.INFO if failed or len(applied) > 1 else logging.DEBUG
    logger.log(level, "outcome writes: action=%s changes=%d failed=%d", action, len(applied), failed)
    return applied


def _outcome(change: Change, results: Sequence[BatchResult], change_id: str) -> Applied:
    error = next((r.error for r in results if r.error is not None), None)
    status = change.old_status
    for result in results:
        if result.ok and result.id.startswith("t"):
            status = result.parse(Submission).status
    return Applied(change=change, error=error, status=status, change_id=change_id)


async def _audit(
    ctx: ActionContext, applied: Applied, action: str, change_id: str, results: Sequence[BatchResult]
) -> None:
    change = applied.change
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    if change.set_points:
        before["points"], after["points"] = change.old_points, change.points
    if change.set_feedback:
        before["feedback"], after["feedback"] = change.old_feedback, change.feedback
    if change.then is not None:
        before["status"] = change.old_status.value if change.old_status else None
        after["status"] = applied.status.value if applied.status else None
    request_id = next((r.headers.get("request-id") for r in results if r.headers.get("request-id")), None)
    await ctx.services.store.append_audit(
        AuditEntry(
            at=ctx.services.clock(),
            tenant_id=TenantId(ctx.actor.tenant_id),
            teacher_id=ctx.actor.user_id,
            class_id=change.class_id,
            assignment_id=change.assignment_id,
            submission_id=change.submission_id,
            student_id=change.student_id,
            action=action,
            before=before,
            after=after,
            graph_request_id=request_id,
            change_id=change_id,
        )
    )


def _mirror(ctx: ActionContext, change: Change, results: dict[str, BatchResult]) -> None:
    """Keep the warm index true to what Graph now holds, so the next grade needs no lookup."""
    index_ = ctx.services.submissions
    if change.then is Then.EXCUSE or any(not r.ok for r in results.values()):
        index_.forget(ctx.teacher_key, change.class_id)
        return
    cached = index_.peek(ctx.teacher_key, change.class_id, change.assignment_id, change.student_id)
    if cached is None:
        return
    outcomes = list(cached.outcomes)
    if "p" in results:
        written = results["p"].parse(PointsOutcome)
        outcomes = [written if isinstance(o, PointsOutcome) else o for o in outcomes]
    if "f" in results:
        written_feedback = results["f"].parse(FeedbackOutcome)
        outcomes = [written_feedback if isinstance(o, FeedbackOutcome) else o for o in outcomes]
    if "t" in results and change.then in (Then.RETURN, Then.REASSIGN):
        outcomes = [_published(o) for o in outcomes]  # return and reassign publish the draft values
    update: dict[str, Any] = {"outcomes": outcomes}
    if "t" in results:
        update["status"] = results["t"].parse(Submission).status
    index_.remember(ctx.teacher_key, change.class_id, change.assignment_id, cached.model_copy(update=update))


def _published(outcome: Any) -> Any:
    """The outcome as the student sees it after a return: the draft values published."""
    if isinstance(outcome, PointsOutcome):
        return outcome.model_copy(update={"published_points": outcome.points})
    if isinstance(outcome, FeedbackOutcome):
        return outcome.model_copy(update={"published_feedback": outcome.feedback})
    return outcome
