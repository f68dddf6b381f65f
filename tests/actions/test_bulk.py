"""Bulk grading: a short list is written at once, anything doubtful is confirmed as one card, a whole class runs as a
resumable job that grades every student exactly once."""

from __future__ import annotations

import asyncio

from bot.actions import bulk, jobs
from bot.actions.context import ActionContext, Services
from bot.actions.jobs import JobConfig
from bot.actions.writes import Then, plan_from
from bot.cards.actions import CardAction, CardInputs, Verb, parse_card_action
from bot.commands import parse_command
from bot.commands.model import BulkGrade
from bot.graph.client import EducationClient
from bot.graph.ids import AssignmentId, ClassId, SubmissionId, UserId
from bot.graph.retry import RetryPolicy
from bot.storage import AuditEntry
from bot.turn import Actor, Reply
from tests.actions.conftest import (
    BIOLOGY,
    RecordingOutbox,
    Turns,
    buttons,
    card_text,
    enroll_students,
    instant_retries,
)


def command(text: str) -> BulkGrade:
    parsed = parse_command(text)
    assert isinstance(parsed, BulkGrade), parsed
    return parsed


def click(data: dict[str, object]) -> CardAction:
    action = parse_card_action(data)
    assert isinstance(action, CardAction), action
    return action


def sheet_click(turns: Turns, points: dict[str, float], assignment: str = "Essay 2") -> CardAction:
    """[Save all] on the Biology grading sheet with `points` typed by student name."""
    stack = turns.stack
    return CardAction(
        verb=Verb.SHEET_SAVE_ALL,
        class_id=ClassId(stack.class_id(BIOLOGY)),
        assignment_id=AssignmentId(stack.assignment_id(BIOLOGY, assignment)),
        inputs=CardInputs(
            sheet_points={SubmissionId(turns.submission(name, assignment).id): value for name, value in points.items()}
        ),
    )


def biology_students(turns: Turns) -> list[str]:
    school = turns.stack.graph.school
    ids = school.class_named(BIOLOGY).studentIds
    return [user.displayName for user in school.users if user.id in ids]


def ungraded_essay_students(turns: Turns) -> list[str]:
    """Biology students whose Essay 2 can take points (not excused, no points yet)."""
    return [
        name
        for name in biology_students(turns)
        if turns.submission(name).status != "excused" and turns.points(name) is None
    ]


async def audit(ctx: ActionContext) -> list[AuditEntry]:
    return await ctx.services.store.list_audit(tenant_id=ctx.actor.tenant_id, teacher_id=ctx.actor.user_id, limit=500)


def with_outbox(ctx: ActionContext, outbox: RecordingOutbox) -> ActionContext:
    return ActionContext(
        services=ctx.services, actor=ctx.actor, conversation=ctx.conversation, client=ctx.client, outbox=outbox
    )


async def test_bulk_of_three_is_written_at_once(turns: Turns) -> None:
    ctx = turns.context()
    reply = await bulk.run(ctx, command("grade Essay 2: Alice 85, Bob 90, Carol 77"))
    assert (turns.points("Alice Smith"), turns.points("Bob Jones"), turns.points("Carol Diaz")) == (85, 90, 77)
    text = card_text(reply)
    assert "Essay 2: 3 of 3 graded" in text
    assert Verb.UNDO.value in buttons(reply)
    entries = await audit(ctx)
    assert len(entries) == 3 and len({e.change_id for e in entries}) == 1


async def test_fuzzy_name_asks_once_and_writes_nothing_before_the_click(turns: Turns) -> None:
    ctx = turns.context()
    reply = await bulk.run(ctx, command("grade Essay 2 in Biology 101: Alcie 85, Bob 90, Zed Quux 70, Alex 60"))
    assert turns.points("Alice Smith") is None and turns.points("Bob Jones") is None
    text = card_text(reply)
    assert "2 students" in text
    assert "I matched “Alcie” to Alice Smith." in text
    assert "Not understood — fix and resend" in text and "Zed Quux" in text
    assert "Alex Kim" in text and "Alex Lee" in text  # the ambiguous entry is listed, not guessed
    confirm = click(buttons(reply)[Verb.GRADE_CONFIRM.value])
    assert confirm.extra == {"for": bulk.CONFIRM_FOR}
    result = await bulk.confirmed(ctx, confirm)
    assert (turns.points("Alice Smith"), turns.points("Bob Jones")) == (85, 90)
    assert turns.points("Alex Kim") is None and turns.points("Alex Lee") is None
    assert "Essay 2: 2 of 2 graded" in card_text(result)
    again = await bulk.confirmed(ctx, confirm)
    assert "expired or was already used" in card_text(again)
    assert len(await audit(ctx)) == 2


async def test_scaled_and_extra_credit_entries_are_confirmed(turns: Turns) -> None:
    ctx = turns.context()
    reply = await bulk.run(ctx, command("grade Essay 2 in Biology 101: Alice 17/20, Bob 105"))
    text = card_text(reply)
    assert "Alice Smith: 17/20 is 85/100" in text
    assert "Bob Jones: 105 is more than the 100 points maximum" in text
    assert turns.points("Alice Smith") is None
    await bulk.cancelled(ctx, click(buttons(reply)[Verb.GRADE_CANCEL.value]))
    assert turns.points("Alice Smith") is None and turns.points("Bob Jones") is None


async def test_nobody_understood_is_an_error_not_a_confirmation(turns: Turns) -> None:
    reply = await bulk.run(turns.context(), command("grade Essay 2 in Biology 101: Zed Quux 70, Alex 60"))
    assert "couldn't match anyone" in card_text(reply)
    assert Verb.GRADE_CONFIRM.value not in buttons(reply)


async def test_draft_assignment_is_refused(turns: Turns) -> None:
    reply = await bulk.run(turns.context(), command("grade Final Project Draft in Biology 101: Alice 85, Bob 90"))
    assert "not assigned yet" in card_text(reply)


async def test_per_student_failures_are_listed(turns: Turns) -> None:
    ctx = turns.context()
    await bulk.run(ctx, command("grade Essay 2 in Biology 101: Alice 1"))  # warms the caches
    turns.stack.graph.knobs.throttle_status = 503
    turns.stack.graph.knobs.throttle_next = 1
    turns.stack.graph.knobs.retry_after = None
    ctx.services.graph.retry = RetryPolicy(max_attempts=0)
    reply = await bulk.run(ctx, command("grade Essay 2 in Biology 101: Bob 90, Carol 77"))
    text = card_text(reply)
    assert "Essay 2: 1 of 2 graded" in text
    assert "1 failed: Bob Jones (Microsoft Graph was busy)" in text
    assert turns.points("Bob Jones") is None and turns.points("Carol Diaz") == 77


async def test_sheet_of_thirty_is_a_job_of_two_round_trips(turns: Turns) -> None:
    enroll_students(turns.stack, 15)
    outbox = RecordingOutbox()
    ctx = with_outbox(turns.context(), outbox)
    names = ungraded_essay_students(turns)[:30]
    assert len(names) == 30
    sheet = {name: float(50 + number) for number, name in enumerate(names)}
    await bulk.on_sheet_save_all(ctx, sheet_click(turns, {names[0]: 1.0}))  # warms roster and submission index
    turns.stack.graph.reset_request_log()

    reply = await bulk.on_sheet_save_all(ctx, sheet_click(turns, sheet))
    assert "Grading 30 students" in card_text(reply)
    [progress_id] = outbox.posted
    await turns.services.jobs.wait(_only_job(turns))
    assert turns.stack.graph.request_count == 2
    assert all(turns.points(name) == value for name, value in sheet.items())
    progress = [card_text(update) for activity, update in outbox.updates if activity == progress_id]
    assert any("20 of 30" in text for text in progress)
    assert "Essay 2: 30 of 30 graded" in card_text(outbox.posted[progress_id])


def _only_job(turns: Turns) -> str:
    running = list(turns.services.jobs.tasks)
    assert len(running) == 1, running
    return running[0]


async def test_sheet_with_nothing_changed_says_so(turns: Turns) -> None:
    ctx = turns.context()
    reply = await bulk.on_sheet_save_all(ctx, sheet_click(turns, {"Alexandra Petrova": 88.0}))
    assert "Nothing to save" in card_text(reply)


async def test_sheet_of_another_teachers_class_is_refused(turns: Turns) -> None:
    reply = await bulk.on_sheet_save_all(turns.context("Marcus Oyelaran"), sheet_click(turns, {"Alice Smith": 5.0}))
    assert "Only this class's teachers" in card_text(reply)
    assert turns.points("Alice Smith") is None


async def test_cancelled_job_resumes_and_grades_everyone_exactly_once(turns: Turns, services: Services) -> None:
    enroll_students(turns.stack, 15)
    outbox = RecordingOutbox()
    ctx = with_outbox(turns.context(), outbox)
    names = ungraded_essay_students(turns)[:30]
    sheet = {name: float(40 + number) for number, name in enumerate(names)}

    async def stop_after_first_batch(update: Reply) -> None:
        if "20 of 30" in card_text(update):
            raise asyncio.CancelledError  # the process stops half way (e.g. a restart)

    outbox.on_update = stop_after_first_batch
    await bulk.on_sheet_save_all(ctx, sheet_click(turns, sheet))
    job_id = _only_job(turns)
    task = turns.services.jobs.running(job_id)
    assert task is not None
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
    graded = [name for name in names if turns.points(name) is not None]
    assert len(graded) == 20

    outbox.on_update = None
    resumed = await jobs.resume_jobs(services, _clients(turns), outbox_factory=lambda _: outbox)
    assert resumed == [job_id]
    await turns.services.jobs.wait(job_id)
    await _assert_graded_once(ctx, turns, sheet)
    state = await jobs.load_job(services, job_id)
    assert state is not None and state.finished
    assert await jobs.resume_jobs(services, _clients(turns)) == []


async def test_throttled_job_pauses_then_resumes_exactly_once(turns: Turns, services: Services) -> None:
    instant_retries(services)
    enroll_students(turns.stack, 15)
    outbox = RecordingOutbox()
    ctx = with_outbox(turns.context(), outbox)
    names = ungraded_essay_students(turns)[:30]
    sheet = {name: float(60 + number) for number, name in enumerate(names)}
    knobs = turns.stack.graph.knobs

    async def throttle_after_first_batch(update: Reply) -> None:
        if "20 of 30" in card_text(update):
            knobs.throttle_next = 1000  # Graph answers 429 to everything for a while

    outbox.on_update = throttle_after_first_batch
    config = JobConfig(retry_delays=(0.0,), sleep=_no_sleep)
    await bulk.on_sheet_save_all(ctx, sheet_click(turns, sheet), config=config)
    job_id = _only_job(turns)
    await turns.services.jobs.wait(job_id)
    state = await jobs.load_job(services, job_id)
    assert state is not None and state.paused and not state.finished
    assert len(state.done) == 20 and not state.failed
    assert "I paused" in card_text(outbox.posted[state.progress_activity_id or ""])

    knobs.throttle_next = 0
    outbox.on_update = None
    assert await jobs.resume_jobs(services, _clients(turns), outbox_factory=lambda _: outbox) == [job_id]
    await turns.services.jobs.wait(job_id)
    await _assert_graded_once(ctx, turns, sheet)


async def test_job_interrupted_inside_a_batch_is_reconciled_from_the_audit(turns: Turns, services: Services) -> None:
    """The worst moment: the batch was written and audited, but the job's own record of it was not saved."""
    enroll_students(turns.stack, 15)
    outbox = RecordingOutbox()
    ctx = with_outbox(turns.context(), outbox)
    names = ungraded_essay_students(turns)[:30]
    sheet = {name: float(70 + number) for number, name in enumerate(names)}
    store = services.store
    real_put = store.put
    saves: list[str] = []

    async def crash_after_the_first_batch(namespace: str, key: str, value: object, **kwargs: object) -> int:
        if namespace == jobs.NAMESPACE and key != "_open" and isinstance(value, dict) and value.get("done"):
            saves.append(key)
            raise asyncio.CancelledError  # dies right after Graph and the audit, before recording the batch
        return await real_put(namespace, key, value, **kwargs)  # type: ignore[arg-type]

    store.put = crash_after_the_first_batch  # type: ignore[method-assign]
    await bulk.on_sheet_save_all(ctx, sheet_click(turns, sheet))
    job_id = _only_job(turns)
    task = turns.services.jobs.running(job_id)
    assert task is not None
    await asyncio.gather(task, return_exceptions=True)
    store.put = real_put  # type: ignore[method-assign]
    assert saves and len(await audit(ctx)) == 20

    assert await jobs.resume_jobs(services, _clients(turns), outbox_factory=lambda _: outbox) == [job_id]
    await turns.services.jobs.wait(job_id)
    await _assert_graded_once(ctx, turns, sheet)


async def _no_sleep(_: float) -> None:
    return None


def _clients(turns: Turns) -> jobs.ClientFactory:
    async def factory(actor: Actor) -> EducationClient | None:
        return EducationClient(turns.services.graph, turns.stack.graph_token(actor.user_id))

    return factory


async def _assert_graded_once(ctx: ActionContext, turns: Turns, sheet: dict[str, float]) -> None:
    assert {name: turns.points(name) for name in sheet} == sheet
    entries = [e for e in await audit(ctx) if e.action == "grade"]
    by_student: dict[UserId, int] = {}
    for entry in entries:
        by_student[entry.student_id] = by_student.get(entry.student_id, 0) + 1
    assert len(by_student) == len(sheet)
    assert set(by_student.values()) == {1}, "every student is graded exactly once"
    assert len({e.change_id for e in entries}) == 1, "one change, so one undo takes the whole job back"


async def test_a_job_is_not_resumed_for_a_teacher_without_a_token(turns: Turns, services: Services) -> None:
    enroll_students(turns.stack, 15)
    outbox = RecordingOutbox()
    ctx = with_outbox(turns.context(), outbox)
    names = ungraded_essay_students(turns)[:30]

    async def stop(update: Reply) -> None:
        if "20 of 30" in card_text(update):
            raise asyncio.CancelledError

    outbox.on_update = stop
    await bulk.on_sheet_save_all(ctx, sheet_click(turns, dict.fromkeys(names, 10.0)))
    job_id = _only_job(turns)
    task = turns.services.jobs.running(job_id)
    assert task is not None
    await asyncio.gather(task, return_exceptions=True)

    async def no_token(_: Actor) -> EducationClient | None:
        return None

    assert await jobs.resume_jobs(services, no_token) == []
    state = await jobs.load_job(services, job_id)
    assert state is not None and not state.finished and len(state.done) == 20


async def test_a_return_cut_off_before_its_audit_is_never_sent_twice(turns: Turns, services: Services) -> None:
    """A job of grade-and-return changes dies after Graph returned a batch but before anything was recorded."""
    enroll_students(turns.stack, 15)
    outbox = RecordingOutbox()
    ctx = with_outbox(turns.context(), outbox)
    names = ungraded_essay_students(turns)[:30]
    class_id = ClassId(turns.stack.class_id(BIOLOGY))
    assignment_id = AssignmentId(turns.stack.assignment_id(BIOLOGY, "Essay 2"))
    by_student = await services.submissions.all(ctx.client, ctx.teacher_key, class_id, assignment_id)
    changes = [
        plan_from(
            by_student[UserId(turns.stack.user_id(name))],
            class_id=class_id,
            assignment_id=assignment_id,
            student_id=UserId(turns.stack.user_id(name)),
            student_name=name,
            assignment_name="Essay 2",
            max_points=100,
            set_points=True,
            points=50.0,
            then=Then.RETURN,
        )
        for name in names
    ]
    store = services.store
    real_append = store.append_audit

    async def die_at_the_first_audit(entry: AuditEntry) -> int:
        raise asyncio.CancelledError

    store.append_audit = die_at_the_first_audit  # type: ignore[method-assign]
    job_id = await jobs.start_bulk_job(ctx, changes, title="Essay 2")
    task = turns.services.jobs.running(job_id)
    assert task is not None
    await asyncio.gather(task, return_exceptions=True)
    store.append_audit = real_append  # type: ignore[method-assign]
    returned_early = [name for name in names if turns.submission(name).status == "returned"]
    assert len(returned_early) == 10, "the first batch reached Graph"

    assert await jobs.resume_jobs(services, _clients(turns), outbox_factory=lambda _: outbox) == [job_id]
    await turns.services.jobs.wait(job_id)
    returns: dict[str, int] = {}
    for record in turns.stack.graph.requests:
        if record.path.endswith("/return"):
            returns[record.path] = returns.get(record.path, 0) + 1
    assert len(returns) == 30 and set(returns.values()) == {1}, "every submission was returned exactly once"
    assert all(turns.points(name) == 50 and turns.submission(name).status == "returned" for name in names)
    await _assert_graded_once(ctx, turns, dict.fromkeys(names, 50.0))
