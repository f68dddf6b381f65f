"""Returning work: one student, every graded submission, from a result card; never-turned-in work asks first."""

from __future__ import annotations

from typing import Any

from bot.actions import confirmations, grade, returning
from bot.cards.actions import CardAction, Verb, parse_card_action
from bot.commands import parse_command
from bot.commands.model import Grade, Return
from bot.notify import MemoryStudentChannel
from sandbox.school import PointsGrade
from tests.actions.conftest import (
    BIOLOGY,
    RecordingOutbox,
    Turns,
    batch_calls,
    buttons,
    card_text,
    enroll_students,
    graph_writes,
    texts_sent,
)


def command(text: str) -> Return:
    parsed = parse_command(text)
    assert isinstance(parsed, Return), parsed
    return parsed


def click(data: dict[str, Any]) -> CardAction:
    action = parse_card_action(data)
    assert isinstance(action, CardAction), action
    return action


def status(turns: Turns, student: str, assignment: str = "Essay 2") -> str:
    return turns.submission(student, assignment).status


def published_points(turns: Turns, student: str, assignment: str = "Essay 2") -> float | None:
    outcome = turns.submission(student, assignment).outcome("points")
    return outcome.publishedPoints.points if outcome and outcome.publishedPoints else None


def set_draft_points(turns: Turns, student: str, points: float, assignment: str = "Essay 2") -> None:
    outcome = turns.submission(student, assignment).outcome("points")
    assert outcome is not None
    outcome.points = PointsGrade(points=points)


async def test_return_one_student_publishes_points_and_feedback(turns: Turns) -> None:
    ctx = turns.context()
    reply = await returning.run(ctx, command("return Essay 2 to Mary-Jane O'Connor in Biology 101"))
    assert status(turns, "Mary-Jane O'Connor") == "returned"
    assert published_points(turns, "Mary-Jane O'Connor") == 92
    feedback = turns.submission("Mary-Jane O'Connor").outcome("feedback")
    assert feedback is not None and feedback.publishedFeedback is not None
    assert (
        feedback.publishedFeedback.text is not None
        and feedback.publishedFeedback.text.content == "Check your citations."
    )
    text = card_text(reply)
    assert "92/100" in text and "returned to the student" in text and "Check your citations." in text


async def test_return_all_returns_only_graded_work(turns: Turns) -> None:
    ctx = turns.context()
    reply = await returning.run(ctx, command("return Essay 2 in Biology 101"))
    assert status(turns, "Alexandra Petrova") == "returned"
    assert status(turns, "Mary-Jane O'Connor") == "returned"
    assert published_points(turns, "Alexandra Petrova") == 88
    for untouched in ("Alice Smith", "Bob Jones", "Kai Nakamura"):
        assert status(turns, untouched) == "submitted"
    assert status(turns, "Luis de la Cruz") == "working"
    assert status(turns, "Will") == "reassigned"
    assert status(turns, "Sam Patel") == "excused"
    assert "Returned 2 submissions of Essay 2; 12 not graded yet were left alone." in card_text(reply)


async def test_return_all_of_many_goes_in_batches_of_twenty(turns: Turns) -> None:
    enroll_students(turns.stack, 22)
    for number in range(1, 23):
        set_draft_points(turns, f"Extra Student{number:02d}", 50 + number)
    outbox = RecordingOutbox()
    ctx = turns.context()
    ctx.outbox = outbox
    turns.stack.graph.reset_request_log()
    reply = await returning.run(ctx, command("return Essay 2 in Biology 101"))
    assert batch_calls(turns.stack) == 2
    assert all(status(turns, f"Extra Student{n:02d}") == "returned" for n in range(1, 23))
    assert published_points(turns, "Extra Student22") == 72
    assert "Returned 24 submissions of Essay 2" in card_text(reply)
    assert outbox.posted, "a progress card is shown while the batches run"
    assert "24" in card_text(outbox.posted["activity-1"])


async def test_regraded_returned_work_is_returned_again_with_the_new_points(turns: Turns) -> None:
    set_draft_points(turns, "Hannah Schmidt", 80)
    await returning.run(turns.context(), command("return Essay 2 to Hannah Schmidt in Biology 101"))
    assert published_points(turns, "Hannah Schmidt") == 80


async def test_already_returned_says_so_and_writes_nothing(turns: Turns) -> None:
    ctx = turns.context()
    turns.stack.graph.reset_request_log()
    reply = await returning.run(ctx, command("return Essay 2 to Hannah Schmidt in Biology 101"))
    assert "already returned" in card_text(reply)
    assert graph_writes(turns.stack) == 0


async def test_return_all_when_everything_is_returned_writes_nothing(turns: Turns) -> None:
    ctx = turns.context()
    await returning.run(ctx, command("return Essay 2 in Biology 101"))
    turns.stack.graph.reset_request_log()
    reply = await returning.run(ctx, command("return Essay 2 in Biology 101"))
    assert "already returned" in card_text(reply)
    assert graph_writes(turns.stack) == 0


async def test_never_turned_in_asks_first_then_returns_on_confirm(turns: Turns) -> None:
    ctx = turns.context()
    reply = await returning.run(ctx, command("return Luis de la Cruz's Essay 2 in Biology 101"))
    assert "hasn't turned this in" in card_text(reply)
    assert status(turns, "Luis de la Cruz") == "working", "nothing is written before the click"
    result = await confirmations.confirmed(ctx, click(buttons(reply)[Verb.GRADE_CONFIRM.value]))
    assert status(turns, "Luis de la Cruz") == "returned"
    assert "returned to the student" in card_text(result)


async def test_return_all_with_graded_work_not_turned_in_asks_first(turns: Turns) -> None:
    set_draft_points(turns, "Ethan Zhang", 40)
    ctx = turns.context()
    reply = await returning.run(ctx, command("return Essay 2 in Biology 101"))
    assert "Ethan Zhang hasn't turned this in" in card_text(reply)
    assert status(turns, "Alexandra Petrova") == "submitted"
    await confirmations.cancelled(ctx, click(buttons(reply)[Verb.GRADE_CANCEL.value]))
    assert status(turns, "Ethan Zhang") == "working"
    again = await returning.run(ctx, command("return Essay 2 in Biology 101"))
    result = await confirmations.confirmed(ctx, click(buttons(again)[Verb.GRADE_CONFIRM.value]))
    assert status(turns, "Ethan Zhang") == "returned" and status(turns, "Alexandra Petrova") == "returned"
    assert "Returned 3 submissions of Essay 2; 12 not graded yet were left alone." in card_text(result)


async def test_return_button_on_a_grade_result_returns_it(turns: Turns) -> None:
    ctx = turns.context()
    graded = parse_command("grade Alice Smith 85 on Essay 2 in Biology 101")
    assert isinstance(graded, Grade)
    result = await grade.run(ctx, graded)
    reply = await returning.on_submission_return(ctx, click(buttons(result)[Verb.SUBMISSION_RETURN.value]))
    assert status(turns, "Alice Smith") == "returned"
    assert published_points(turns, "Alice Smith") == 85
    assert "85/100" in card_text(reply)


async def test_forged_return_for_another_teachers_class_is_refused(turns: Turns) -> None:
    stack = turns.stack
    history = stack.class_id("10C History")
    school = stack.graph.school
    victim = school.submissions_of(school.assignments_of(history)[0].id)[0]
    forged = CardAction(
        verb=Verb.SUBMISSION_RETURN,
        class_id=history,  # pyright: ignore[reportArgumentType]
        assignment_id=victim.assignmentId,  # pyright: ignore[reportArgumentType]
        submission_id=victim.id,  # pyright: ignore[reportArgumentType]
        student_id=victim.userId,  # pyright: ignore[reportArgumentType]
    )
    before = victim.status
    stack.graph.reset_request_log()
    reply = await returning.on_submission_return(turns.context(), click(forged.to_data()))
    assert "Only this class's teachers" in card_text(reply)
    assert victim.status == before and graph_writes(stack) == 0


async def test_forged_ids_that_do_not_belong_together_are_refused(turns: Turns) -> None:
    stack = turns.stack
    english_submission = turns.submission("Jack Murphy", "Essay 2", "7B English")
    forged = CardAction(
        verb=Verb.SUBMISSION_RETURN,
        class_id=stack.class_id(BIOLOGY),  # pyright: ignore[reportArgumentType]
        assignment_id=stack.assignment_id(BIOLOGY, "Essay 2"),  # pyright: ignore[reportArgumentType]
        submission_id=english_submission.id,  # pyright: ignore[reportArgumentType]
    )
    stack.graph.reset_request_log()
    reply = await returning.on_submission_return(turns.context(), click(forged.to_data()))
    assert "no longer exists" in card_text(reply)
    assert english_submission.status == "submitted" and graph_writes(stack) == 0


async def test_students_are_told_only_when_notify_on_return_is_set(
    turns: Turns, student_channel: MemoryStudentChannel
) -> None:
    ctx = turns.context()
    await returning.run(ctx, command("return Essay 2 to Mary-Jane O'Connor in Biology 101"))
    assert student_channel.attempts == {}
    services = turns.services
    services.settings = services.settings.model_copy(update={"notify_on_return": True})
    reply = await returning.run(ctx, command("return Essay 2 to Alexandra Petrova in Biology 101"))
    [sent] = texts_sent(student_channel, turns.stack.user_id("Alexandra Petrova"))
    assert "Essay 2" in sent and turns.submission("Alexandra Petrova").webUrl in sent
    assert "sent a message" in card_text(reply)
