"""Returning work for revision: feedback and reassign in one batch, the student messaged, unreachable ones named."""

from __future__ import annotations

from typing import Any

from bot.actions import confirmations, reassign
from bot.cards.actions import CardAction, Verb, parse_card_action
from bot.commands import parse_command
from bot.commands.model import Reassign
from bot.graph.ids import AssignmentId, ClassId, SubmissionId
from bot.graph.models import SubmissionStatus
from bot.notify import MemoryStudentChannel
from tests.actions.conftest import BIOLOGY, Turns, batch_calls, buttons, card_text, graph_writes, texts_sent


def command(text: str) -> Reassign:
    parsed = parse_command(text)
    assert isinstance(parsed, Reassign), parsed
    return parsed


def click(data: dict[str, Any]) -> CardAction:
    action = parse_card_action(data)
    assert isinstance(action, CardAction), action
    return action


def published_feedback(turns: Turns, student: str, assignment: str = "Essay 2") -> str | None:
    outcome = turns.submission(student, assignment).outcome("feedback")
    if outcome is None or outcome.publishedFeedback is None or outcome.publishedFeedback.text is None:
        return None
    return outcome.publishedFeedback.text.content


async def test_reassign_with_feedback_publishes_it_and_messages_the_student(
    turns: Turns, student_channel: MemoryStudentChannel
) -> None:
    ctx = turns.context()
    await reassign.run(ctx, command("reassign Bob Jones on Essay 2 in Biology 101"))  # warms the caches
    turns.stack.graph.reset_request_log()
    reply = await reassign.run(
        ctx, command("reassign Alexandra Petrova's Essay 2 in Biology 101 with feedback: cite your sources")
    )
    assert batch_calls(turns.stack) == 1, "the feedback PATCH and the reassign go in one $batch"
    submission = turns.submission("Alexandra Petrova")
    assert submission.status == "reassigned"
    assert published_feedback(turns, "Alexandra Petrova") == "cite your sources"
    # The client always sends Prefer: include-unknown-enum-members, so Graph answers "reassigned", not "returned".
    read = await ctx.client.get_submission(
        ClassId(submission.classId), AssignmentId(submission.assignmentId), SubmissionId(submission.id)
    )
    assert read.status is SubmissionStatus.REASSIGNED
    [sent] = texts_sent(student_channel, submission.userId)
    assert "Essay 2" in sent and "cite your sources" in sent and submission.webUrl in sent
    text = card_text(reply)
    assert "returned for revision" in text and "cite your sources" in text and "sent a message" in text


async def test_send_back_with_a_colon_is_a_reassign_with_feedback(
    turns: Turns, student_channel: MemoryStudentChannel
) -> None:
    await reassign.run(turns.context(), command("send Essay 2 back to Bob Jones in Biology 101: needs an introduction"))
    assert turns.submission("Bob Jones").status == "reassigned"
    assert published_feedback(turns, "Bob Jones") == "needs an introduction"
    [sent] = texts_sent(student_channel, turns.stack.user_id("Bob Jones"))
    assert sent.startswith("Your teacher returned Essay 2 for revision: needs an introduction.")


async def test_reassign_without_feedback_publishes_the_existing_feedback(
    turns: Turns, student_channel: MemoryStudentChannel
) -> None:
    await reassign.run(turns.context(), command("reassign Alexandra Petrova on Essay 2 in Biology 101"))
    assert turns.submission("Alexandra Petrova").status == "reassigned"
    assert published_feedback(turns, "Alexandra Petrova") == "Clear structure; expand the conclusion."
    outcome = turns.submission("Alexandra Petrova").outcome("points")
    assert outcome is not None and outcome.publishedPoints is not None and outcome.publishedPoints.points == 88
    [sent] = texts_sent(student_channel, turns.stack.user_id("Alexandra Petrova"))
    assert "Clear structure" in sent


async def test_a_student_who_blocked_the_bot_is_named_to_the_teacher(
    turns: Turns, student_channel: MemoryStudentChannel
) -> None:
    student_id = turns.stack.user_id("Alexandra Petrova")
    student_channel.answer(student_id, 403)
    reply = await reassign.run(turns.context(), command("reassign Alexandra Petrova on Essay 2 in Biology 101"))
    assert turns.submission("Alexandra Petrova").status == "reassigned", "the write stands"
    assert "couldn't message Alexandra Petrova" in card_text(reply)
    assert student_channel.attempts[student_id] == 1


async def test_never_turned_in_asks_first(turns: Turns, student_channel: MemoryStudentChannel) -> None:
    ctx = turns.context()
    reply = await reassign.run(ctx, command("reassign Luis de la Cruz on Essay 2 in Biology 101"))
    assert "hasn't turned this in" in card_text(reply)
    assert turns.submission("Luis de la Cruz").status == "working"
    assert student_channel.attempts == {}
    await confirmations.confirmed(ctx, click(buttons(reply)[Verb.GRADE_CONFIRM.value]))
    assert turns.submission("Luis de la Cruz").status == "reassigned"
    assert len(texts_sent(student_channel, turns.stack.user_id("Luis de la Cruz"))) == 1


async def test_reassign_everyone_asks_first_then_reassigns_only_graded_work(
    turns: Turns, student_channel: MemoryStudentChannel
) -> None:
    ctx = turns.context()
    reply = await reassign.run(ctx, command("reassign Essay 2 in Biology 101"))
    assert "messages each student" in card_text(reply)
    assert turns.submission("Alexandra Petrova").status == "submitted"
    result = await confirmations.confirmed(ctx, click(buttons(reply)[Verb.GRADE_CONFIRM.value]))
    graded = ("Alexandra Petrova", "Mary-Jane O'Connor", "Nguyễn Thị Lan", "Mateo García", "Hannah Schmidt")
    for name in graded:
        assert turns.submission(name).status == "reassigned", name
        assert len(texts_sent(student_channel, turns.stack.user_id(name))) == 1
    assert turns.submission("Alice Smith").status == "submitted"
    assert "Returned 5 submissions of Essay 2 for revision." in card_text(result)


async def test_reassign_form_then_button_uses_the_typed_feedback(
    turns: Turns, student_channel: MemoryStudentChannel
) -> None:
    ctx = turns.context()
    submission = turns.submission("Mary-Jane O'Connor")
    opener = CardAction(
        verb=Verb.REASSIGN_OPEN,
        class_id=ClassId(submission.classId),
        assignment_id=AssignmentId(submission.assignmentId),
        submission_id=SubmissionId(submission.id),
    )
    form = await reassign.on_reassign_open(ctx, click(opener.to_data()))
    assert "Check your citations." in str(form.cards[0]), "the form starts with the current feedback"
    data = buttons(form)[Verb.SUBMISSION_REASSIGN.value] | {"feedback": "add a bibliography"}
    reply = await reassign.on_submission_reassign(ctx, click(data))
    assert submission.status == "reassigned"
    assert published_feedback(turns, "Mary-Jane O'Connor") == "add a bibliography"
    [sent] = texts_sent(student_channel, submission.userId)
    assert "add a bibliography" in sent
    assert "returned for revision" in card_text(reply)


async def test_forged_reassign_for_another_class_is_refused(
    turns: Turns, student_channel: MemoryStudentChannel
) -> None:
    stack = turns.stack
    history = stack.class_id("10C History")
    school = stack.graph.school
    victim = school.submissions_of(school.assignments_of(history)[0].id)[0]
    before = victim.status
    forged = {
        "verb": Verb.SUBMISSION_REASSIGN.value,
        "action_key": "forged",
        "class_id": history,
        "assignment_id": victim.assignmentId,
        "student_id": victim.userId,
        "feedback": "gotcha",
    }
    stack.graph.reset_request_log()
    reply = await reassign.on_submission_reassign(turns.context(), click(forged))
    assert "Only this class's teachers" in card_text(reply)
    assert victim.status == before and graph_writes(stack) == 0
    assert student_channel.attempts == {}


async def test_a_student_id_from_another_class_is_refused(turns: Turns) -> None:
    stack = turns.stack
    outsider = stack.user_id("Jack Murphy")  # 7B English only
    forged = {
        "verb": Verb.SUBMISSION_REASSIGN.value,
        "action_key": "forged",
        "class_id": stack.class_id(BIOLOGY),
        "assignment_id": stack.assignment_id(BIOLOGY, "Essay 2"),
        "student_id": outsider,
    }
    stack.graph.reset_request_log()
    reply = await reassign.on_submission_reassign(turns.context(), click(forged))
    assert "no longer exists" in card_text(reply)
    assert graph_writes(stack) == 0
