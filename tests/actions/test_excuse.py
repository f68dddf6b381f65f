"""Excusing a student: always a confirmation first (it deletes feedback and rubric); written only on [Confirm]."""

from __future__ import annotations

from typing import Any

from bot.actions import confirmations, excuse
from bot.cards.actions import CardAction, Verb, parse_card_action
from bot.commands import parse_command
from bot.commands.model import Excuse
from tests.actions.conftest import BIOLOGY, Turns, buttons, card_text, graph_writes


def command(text: str) -> Excuse:
    parsed = parse_command(text)
    assert isinstance(parsed, Excuse), parsed
    return parsed


def click(data: dict[str, Any]) -> CardAction:
    action = parse_card_action(data)
    assert isinstance(action, CardAction), action
    return action


async def test_excuse_asks_first_and_writes_nothing_without_the_click(turns: Turns) -> None:
    turns.stack.graph.reset_request_log()
    reply = await excuse.run(turns.context(), command("excuse Alice Smith from Lab 3 in Biology 101"))
    text = card_text(reply)
    assert "removes the feedback and rubric" in text and "Alice Smith" in text and "Lab 3" in text
    assert turns.submission("Alice Smith", "Lab 3").status == "working"
    assert graph_writes(turns.stack) == 0


async def test_confirm_excuses_once(turns: Turns) -> None:
    ctx = turns.context()
    reply = await excuse.run(ctx, command("excuse Alice Smith from Lab 3 in Biology 101"))
    confirm = click(buttons(reply)[Verb.GRADE_CONFIRM.value])
    result = await confirmations.confirmed(ctx, confirm)
    assert turns.submission("Alice Smith", "Lab 3").status == "excused"
    assert "excused" in card_text(result)
    replay = await confirmations.confirmed(ctx, confirm)
    assert "expired or was already used" in card_text(replay)


async def test_excuse_removes_feedback(turns: Turns) -> None:
    ctx = turns.context()
    reply = await excuse.run(ctx, command("excuse Mary-Jane O'Connor from Essay 2 in Biology 101"))
    await confirmations.confirmed(ctx, click(buttons(reply)[Verb.GRADE_CONFIRM.value]))
    submission = turns.submission("Mary-Jane O'Connor")
    feedback = submission.outcome("feedback")
    assert submission.status == "excused"
    assert feedback is not None and feedback.feedback is None


async def test_cancel_writes_nothing(turns: Turns) -> None:
    ctx = turns.context()
    reply = await excuse.run(ctx, command("excuse Alice Smith from Lab 3 in Biology 101"))
    cancelled = await confirmations.cancelled(ctx, click(buttons(reply)[Verb.GRADE_CANCEL.value]))
    assert "nothing was changed" in card_text(cancelled)
    again = await confirmations.confirmed(ctx, click(buttons(reply)[Verb.GRADE_CONFIRM.value]))
    assert "expired or was already used" in card_text(again)
    assert turns.submission("Alice Smith", "Lab 3").status == "working"


async def test_another_teacher_cannot_confirm_it(turns: Turns) -> None:
    reply = await excuse.run(turns.context(), command("excuse Alice Smith from Lab 3 in Biology 101"))
    confirm = click(buttons(reply)[Verb.GRADE_CONFIRM.value])
    stolen = await confirmations.confirmed(turns.context("Marcus Oyelaran"), confirm)
    assert "expired or was already used" in card_text(stolen)
    assert turns.submission("Alice Smith", "Lab 3").status == "working"


async def test_already_excused_says_so(turns: Turns) -> None:
    turns.stack.graph.reset_request_log()
    reply = await excuse.run(turns.context(), command("excuse Sam Patel from Essay 2 in Biology 101"))
    assert "already excused" in card_text(reply)
    assert Verb.GRADE_CONFIRM.value not in buttons(reply)
    assert graph_writes(turns.stack) == 0


async def test_excuse_button_asks_first_too(turns: Turns) -> None:
    ctx = turns.context()
    stack = turns.stack
    button = {
        "verb": Verb.SUBMISSION_EXCUSE.value,
        "action_key": "k1",
        "class_id": stack.class_id(BIOLOGY),
        "assignment_id": stack.assignment_id(BIOLOGY, "Lab 3"),
        "student_id": stack.user_id("Carol Diaz"),
    }
    reply = await excuse.on_submission_excuse(ctx, click(button))
    assert turns.submission("Carol Diaz", "Lab 3").status == "submitted"
    await confirmations.confirmed(ctx, click(buttons(reply)[Verb.GRADE_CONFIRM.value]))
    assert turns.submission("Carol Diaz", "Lab 3").status == "excused"


async def test_forged_excuse_for_another_class_is_refused(turns: Turns) -> None:
    stack = turns.stack
    history = stack.class_id("10C History")
    school = stack.graph.school
    victim = school.submissions_of(school.assignments_of(history)[0].id)[0]
    before = victim.status
    forged = {
        "verb": Verb.SUBMISSION_EXCUSE.value,
        "action_key": "forged",
        "class_id": history,
        "assignment_id": victim.assignmentId,
        "submission_id": victim.id,
    }
    stack.graph.reset_request_log()
    reply = await excuse.on_submission_excuse(turns.context(), click(forged))
    assert "Only this class's teachers" in card_text(reply)
    assert Verb.GRADE_CONFIRM.value not in buttons(reply)
    assert victim.status == before and graph_writes(stack) == 0
