"""Graph round trips of the write paths that should cost one `$batch` each once the caches are warm:
[Save & return] on a grade form (`Verb.GRADE_SAVE_RETURN`) and a 30-student bulk grade.

Each measurement runs the real action code against the sandbox Graph (150 ms per request). When a handler is not
there (another part of the product still being built), the same writes go through `writes.apply` directly and the
figure's note says so.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable
from typing import Any, cast

from bench.graph import LATENCY_SECONDS, Bench
from bot.actions import writes
from bot.actions.context import ActionContext
from bot.cards.actions import CardAction, CardInputs, Verb
from bot.commands import parse_command
from bot.commands.model import BulkGrade
from bot.graph.ids import AssignmentId, ClassId, UserId
from bot.turn import Reply

CLASS = "Biology 101"
ASSIGNMENT = "Essay 2"
BULK_SIZE = 30

Notes = dict[str, str]
"""Figure name → how it was measured, when not through the intended handler."""


def _handler(module: str, name: str) -> Callable[..., Awaitable[Reply]] | None:
    """An action handler if that module defines it (None while it is still being written)."""
    try:
        loaded = importlib.import_module(f"bot.actions.{module}")
    except ImportError:
        return None
    found = getattr(loaded, name, None)
    return cast(Callable[..., Awaitable[Reply]], found) if callable(found) else None


async def _warm(bench: Bench, ctx: ActionContext) -> None:
    """One grade in the class warms the roster, the assignments and the assignment's submission index."""
    await bench.grade(ctx, f"grade Alice Smith 85 on {ASSIGNMENT} in {CLASS}")


def _ids(bench: Bench, student: str) -> tuple[ClassId, AssignmentId, UserId]:
    stack = bench.stack
    return (
        ClassId(stack.class_id(CLASS)),
        AssignmentId(stack.assignment_id(CLASS, ASSIGNMENT)),
        UserId(stack.user_id(student)),
    )


async def _change(ctx: ActionContext, bench: Bench, student: str, **fields: Any) -> writes.Change:
    """A planned write for one student from the warm index (no Graph read)."""
    class_id, assignment_id, student_id = _ids(bench, student)
    submission = ctx.services.submissions.peek(ctx.teacher_key, class_id, assignment_id, student_id)
    if submission is None:
        raise RuntimeError(f"the submission index is not warm for {student}")
    return writes.plan_from(
        submission,
        class_id=class_id,
        assignment_id=assignment_id,
        student_id=student_id,
        student_name=student,
        assignment_name=ASSIGNMENT,
        max_points=100.0,
        **fields,
    )


async def save_and_return(latency: float = LATENCY_SECONDS) -> tuple[dict[str, float], Notes]:
    """[Save & return] with points typed on a warm submission: round trips and wall milliseconds."""
    bench = Bench(latency)
    services = await bench.services()
    notes: Notes = {}
    try:
        ctx = bench.context(services)
        await _warm(bench, ctx)
        handler = _handler("feedback", "on_grade_save_return")
        class_id, assignment_id, student_id = _ids(bench, "Bob Jones")
        if handler is not None:
            action = CardAction(
                verb=Verb.GRADE_SAVE_RETURN,
                class_id=class_id,
                assignment_id=assignment_id,
                student_id=student_id,
                inputs=CardInputs(points=88.0),
            )
            _, trips, ms = await bench.counted(handler(ctx, action))
        else:
            change = await _change(ctx, bench, "Bob Jones", set_points=True, points=88.0, then=writes.Then.RETURN)
            _, trips, ms = await bench.counted(writes.apply(ctx, [change], action="grade"))
            notes["grade_and_return_warm_round_trips"] = "writes.apply (no on_grade_save_return handler yet)"
        submission = bench.stack.graph.submission_for(class_id, assignment_id, student_id)
        if submission is None or submission.status != "returned":
            raise RuntimeError("Save & return did not return the submission")
    finally:
        await services.graph.aclose()
    return {"grade_and_return_warm_round_trips": trips, "grade_and_return_warm_ms": round(ms, 1)}, notes


async def bulk30(latency: float = LATENCY_SECONDS) -> tuple[dict[str, float], Notes]:
    """A typed 30-student bulk grade with the index warm: round trips and wall milliseconds."""
    bench = Bench(latency)
    school = bench.stack.school
    seeded = [school.user(i) for i in school.class_named(CLASS).studentIds]
    extra = bench.add_students(CLASS, ASSIGNMENT, max(0, BULK_SIZE - len(seeded)))
    names = [user.displayName for user in seeded if user is not None] + extra
    services = await bench.services()
    notes: Notes = {}
    try:
        ctx = bench.context(services)
        await _warm(bench, ctx)
        students = names[:BULK_SIZE]
        handler = _handler("bulk", "run")
        if handler is not None:
            text = f"grade {ASSIGNMENT} in {CLASS}: " + ", ".join(
                f"{name} {70 + i % 30}" for i, name in enumerate(students)
            )
            command = parse_command(text)
            if not isinstance(command, BulkGrade) or len(command.entries) != BULK_SIZE:
                raise RuntimeError("the bulk command did not parse into 30 entries")
            _, trips, ms = await bench.counted(handler(ctx, command))
        else:
            changes = [
                await _change(ctx, bench, name, set_points=True, points=float(70 + i % 30))
                for i, name in enumerate(students)
            ]
            _, trips, ms = await bench.counted(writes.apply(ctx, changes, action="grade"))
            notes["bulk30_round_trips"] = "writes.apply over 30 Changes (no bulk.run handler yet)"
        class_id, assignment_id, _ = _ids(bench, "Alice Smith")
        written = sum(
            1 for i, name in enumerate(students) if _points(bench, class_id, assignment_id, name) == float(70 + i % 30)
        )
        if written != BULK_SIZE:
            raise RuntimeError(f"the bulk grade wrote {written} of {BULK_SIZE} grades (a confirmation was asked?)")
    finally:
        await services.graph.aclose()
    return {"bulk30_round_trips": trips, "bulk30_ms": round(ms, 1)}, notes


def _points(bench: Bench, class_id: ClassId, assignment_id: AssignmentId, name: str) -> float | None:
    user_id = bench.stack.user_id(name)
    submission = bench.stack.graph.submission_for(class_id, assignment_id, user_id)
    outcome = submission.outcome("points") if submission else None
    return outcome.points.points if outcome and outcome.points else None


async def measure(latency: float = LATENCY_SECONDS) -> tuple[dict[str, float], Notes]:
    """Both write paths, each on a fresh sandbox."""
    figures, notes = await save_and_return(latency)
    bulk_figures, bulk_notes = await bulk30(latency)
    return {**figures, **bulk_figures}, {**notes, **bulk_notes}


def run() -> tuple[dict[str, float], Notes]:
    """Run `measure` on a fresh event loop."""
    return asyncio.run(measure())


if __name__ == "__main__":
    results, how = run()
    for key, value in results.items():
        print(f"{key:36} {value}" + (f"   ({how[key]})" if key in how else ""))
