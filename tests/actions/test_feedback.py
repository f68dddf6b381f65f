"""Feedback: typed or from the form, points untouched; the form saves (points and/or feedback, then return) are
checked again on the server; fuzzy names and extra credit are confirmed first."""

from __future__ import annotations

from typing import Any

from bot.actions import confirmations, feedback
from bot.cards.actions import CardAction, Verb, parse_card_action
from bot.commands import parse_command
from bot.commands.model import Feedback
from bot.turn import Reply
from tests.actions.conftest import BIOLOGY, Turns, buttons, card_text


def command(text: str) -> Feedback:
    parsed = parse_command(text)
    assert isinstance(parsed, Feedback), parsed
    return parsed


def click(data: dict[str, Any], **inputs: object) -> CardAction:
    """A click on a button with the card's inputs merged in, as Teams sends it."""
    action = parse_card_action({**data, **inputs})
    assert isinstance(action, CardAction), action
    return action


def feedback_text(turns: Turns, student: str, assignment: str = "Essay 2") -> str | None:
    outcome = turns.submission(student, assignment).outcome("feedback")
    if outcome is None or outcome.feedback is None or outcome.feedback.text is None:
        return None
    return outcome.feedback.text.content


async def open_form(turns: Turns, student: str) -> Reply:
    """[Add feedback] as it appears on a result card for `student`'s Essay 2."""
    stack = turns.stack
    data = {
        "verb": Verb.FEEDBACK_OPEN.value,
        "action_key": "open-form",
        "class_id": stack.class_id(BIOLOGY),
        "assignment_id": stack.assignment_id(BIOLOGY, "Essay 2"),
        "submission_id": turns.submission(student).id,
        "student_id": stack.user_id(student),
    }
    return await feedback.on_feedback_open(turns.context(), click(data))


async def test_typed_feedback_is_written_and_points_untouched(turns: Turns) -> None:
    ctx = turns.context()
    reply = await feedback.run(ctx, command("feedback for Alexandra Petrova on Essay 2 in Biology 101: great thesis"))
    assert feedback_text(turns, "Alexandra Petrova") == "great thesis"
    assert turns.points("Alexandra Petrova") == 88
    text = card_text(reply)
    assert "Alexandra Petrova — Essay 2" in text and "great thesis" in text
    [entry] = await ctx.services.store.list_audit(tenant_id=ctx.actor.tenant_id)
    assert entry.action == "feedback" and entry.before == {"feedback": "Clear structure; expand the conclusion."}


async def test_fuzzy_name_asks_first(turns: Turns) -> None:
    ctx = turns.context()
    reply = await feedback.run(ctx, command("feedback for Alcie Smith on Essay 2 in Biology 101: great thesis"))
    assert feedback_text(turns, "Alice Smith") is None, "nothing is written before the click"
    assert "Alcie" in card_text(reply) and "great thesis" in card_text(reply)
    confirm = click(buttons(reply)[Verb.GRADE_CONFIRM.value])
    assert confirm.extra == {"for": feedback.CONFIRM_FOR}
    await feedback.confirmed(ctx, confirm)
    assert feedback_text(turns, "Alice Smith") == "great thesis"
    again = await feedback.confirmed(ctx, confirm)
    assert "expired or was already used" in card_text(again)


async def test_cancel_writes_nothing(turns: Turns) -> None:
    ctx = turns.context()
    reply = await feedback.run(ctx, command("feedback for Alcie Smith on Essay 2 in Biology 101: great thesis"))
    await feedback.cancelled(ctx, click(buttons(reply)[Verb.GRADE_CANCEL.value]))
    await feedback.confirmed(ctx, click(buttons(reply)[Verb.GRADE_CONFIRM.value]))
    assert feedback_text(turns, "Alice Smith") is None


async def test_feedback_on_a_credit_only_assignment_is_fine(turns: Turns) -> None:
    ctx = turns.context()
    await feedback.run(ctx, command("feedback for Alice Smith on Field Trip Reflection in Biology 101: lovely"))
    assert feedback_text(turns, "Alice Smith", "Field Trip Reflection") == "lovely"


async def test_form_opens_with_the_current_feedback(turns: Turns) -> None:
    form = await open_form(turns, "Mary-Jane O'Connor")
    text = card_text(form)
    assert "Feedback for Mary-Jane O'Connor — Essay 2" in text
    assert "Check your citations." in text
    assert {Verb.GRADE_SAVE.value, Verb.GRADE_SAVE_RETURN.value} <= set(buttons(form))


async def test_form_save_writes_feedback_only(turns: Turns) -> None:
    form = await open_form(turns, "Mary-Jane O'Connor")
    save = click(buttons(form)[Verb.GRADE_SAVE.value], feedback="Much better citations.")
    reply = await feedback.on_grade_save(turns.context(), save)
    assert feedback_text(turns, "Mary-Jane O'Connor") == "Much better citations."
    assert turns.points("Mary-Jane O'Connor") == 92
    assert turns.submission("Mary-Jane O'Connor").status == "submitted"
    assert "Much better citations." in card_text(reply)


async def test_form_save_and_return_writes_points_and_feedback_then_returns(turns: Turns) -> None:
    form = await open_form(turns, "Bob Jones")
    save = click(buttons(form)[Verb.GRADE_SAVE_RETURN.value], feedback="Well argued.", points="91")
    reply = await feedback.on_grade_save_return(turns.context(), save)
    assert turns.points("Bob Jones") == 91
    assert feedback_text(turns, "Bob Jones") == "Well argued."
    assert turns.submission("Bob Jones").status == "returned"
    assert "returned to the student" in card_text(reply)


async def test_form_points_over_the_maximum_ask_first(turns: Turns) -> None:
    ctx = turns.context()
    form = await open_form(turns, "Bob Jones")
    reply = await feedback.on_grade_save(ctx, click(buttons(form)[Verb.GRADE_SAVE.value], points="120"))
    assert "extra credit" in card_text(reply)
    assert turns.points("Bob Jones") is None
    await confirmations.confirmed(ctx, click(buttons(reply)[Verb.GRADE_CONFIRM.value]))
    assert turns.points("Bob Jones") == 120


async def test_form_refuses_points_too_large_and_empty_saves(turns: Turns) -> None:
    ctx = turns.context()
    form = await open_form(turns, "Bob Jones")
    huge = await feedback.on_grade_save(ctx, click(buttons(form)[Verb.GRADE_SAVE.value], points="99999999"))
    assert "too large" in card_text(huge)
    empty = await feedback.on_grade_save(ctx, click(buttons(form)[Verb.GRADE_SAVE.value]))
    assert "Nothing to save" in card_text(empty)
    assert turns.points("Bob Jones") is None


async def test_forged_clicks_are_refused(turns: Turns) -> None:
    stack = turns.stack
    form = await open_form(turns, "Bob Jones")
    save = buttons(form)[Verb.GRADE_SAVE.value]
    stranger = await feedback.on_grade_save(turns.context("Marcus Oyelaran"), click(save, points="10"))
    assert "Only this class's teachers" in card_text(stranger)
    other = turns.submission("Alice Smith", "Lab 3").id  # a real submission, but of another assignment
    forged = await feedback.on_grade_save(turns.context(), click({**save, "submission_id": other}, points="10"))
    assert "no longer exists" in card_text(forged)
    mismatched = {**save, "student_id": stack.user_id("Carol Diaz")}  # Bob's submission, Carol's id
    assert "no longer exists" in card_text(await feedback.on_grade_save(turns.context(), click(mismatched, points="1")))
    assert turns.points("Bob Jones") is None and turns.points("Alice Smith", "Lab 3") is None
