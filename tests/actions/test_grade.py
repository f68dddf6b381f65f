"""Grading one student: exact → written at once; fuzzy, scaled or extra credit → confirmation first, never a write."""

from __future__ import annotations

from bot.actions import confirmations, grade
from bot.cards.actions import CardAction, Verb, parse_card_action
from bot.commands import parse_command
from bot.commands.model import Grade
from tests.actions.conftest import Turns, buttons, card_text


def command(text: str) -> Grade:
    parsed = parse_command(text)
    assert isinstance(parsed, Grade), parsed
    return parsed


def click(data: dict[str, object]) -> CardAction:
    action = parse_card_action(data)
    assert isinstance(action, CardAction), action
    return action


async def test_exact_grade_is_written_and_shown(turns: Turns) -> None:
    ctx = turns.context()
    reply = await grade.run(ctx, command("grade Alice Smith 85 on Essay 2 in Biology 101"))
    assert turns.points("Alice Smith") == 85
    text = card_text(reply)
    assert "Alice Smith — Essay 2" in text
    assert "85/100" in text and "saved, not yet returned" in text
    assert {Verb.SUBMISSION_RETURN.value, Verb.FEEDBACK_OPEN.value, Verb.UNDO.value} <= set(buttons(reply))
    lastmod = turns.submission("Alice Smith").outcome("points")
    assert lastmod is not None and lastmod.lastModifiedBy == turns.stack.user_id("Dana Whitfield")


async def test_unique_first_name_in_personal_chat_finds_the_class(turns: Turns) -> None:
    reply = await grade.run(turns.context(), command("grade Bob 90 on Essay 2 in Biology 101"))
    assert turns.points("Bob Jones") == 90, card_text(reply)


async def test_grade_with_feedback_writes_both_in_one_round_trip(turns: Turns) -> None:
    ctx = turns.context()
    await grade.run(ctx, command("grade Carol 70 on Essay 2 in Biology 101"))  # warms the caches
    turns.stack.graph.reset_request_log()
    await grade.run(ctx, command("grade Carol 77 on Essay 2 in Biology 101 with feedback: nice structure"))
    assert turns.stack.graph.request_count == 1
    feedback = turns.submission("Carol Diaz").outcome("feedback")
    assert feedback is not None and feedback.feedback is not None and feedback.feedback.text is not None
    assert feedback.feedback.text.content == "nice structure"
    assert turns.points("Carol Diaz") == 77


async def test_typo_asks_first_and_confirm_writes_exactly_once(turns: Turns) -> None:
    ctx = turns.context()
    before = turns.points("Alice Smith")
    reply = await grade.run(ctx, command("grade Alcie Smith 85 on Essay 2 in Biology 101"))
    assert turns.points("Alice Smith") == before, "nothing is written before the click"
    text = card_text(reply)
    assert "Alice Smith" in text and "Alcie" in text
    confirm = click(buttons(reply)[Verb.GRADE_CONFIRM.value])
    result = await confirmations.confirmed(ctx, confirm)
    assert turns.points("Alice Smith") == 85
    assert "85/100" in card_text(result)
    replay = await confirmations.confirmed(ctx, confirm)
    assert "expired or was already used" in card_text(replay)


async def test_scaled_points_ask_first(turns: Turns) -> None:
    ctx = turns.context()
    reply = await grade.run(ctx, command("grade Alice Smith 17/20 on Essay 2 in Biology 101"))
    assert turns.points("Alice Smith") is None
    assert "85/100" in card_text(reply)
    await confirmations.confirmed(ctx, click(buttons(reply)[Verb.GRADE_CONFIRM.value]))
    assert turns.points("Alice Smith") == 85


async def test_percentage_is_scaled_to_the_maximum(turns: Turns) -> None:
    ctx = turns.context()
    reply = await grade.run(ctx, command("grade Alice Smith 85% on Lab 3 in Biology 101"))
    assert "17/20" in card_text(reply)
    await confirmations.confirmed(ctx, click(buttons(reply)[Verb.GRADE_CONFIRM.value]))
    assert turns.points("Alice Smith", "Lab 3") == 17


async def test_extra_credit_asks_first(turns: Turns) -> None:
    ctx = turns.context()
    reply = await grade.run(ctx, command("grade Alice Smith 105 on Essay 2 in Biology 101"))
    assert "extra credit" in card_text(reply)
    assert turns.points("Alice Smith") is None


async def test_cancel_writes_nothing_and_spends_the_nonce(turns: Turns) -> None:
    ctx = turns.context()
    reply = await grade.run(ctx, command("grade Alice Smith 105 on Essay 2 in Biology 101"))
    await confirmations.cancelled(ctx, click(buttons(reply)[Verb.GRADE_CANCEL.value]))
    again = await confirmations.confirmed(ctx, click(buttons(reply)[Verb.GRADE_CONFIRM.value]))
    assert "expired or was already used" in card_text(again)
    assert turns.points("Alice Smith") is None


async def test_another_user_cannot_use_a_teachers_confirmation(turns: Turns) -> None:
    reply = await grade.run(turns.context(), command("grade Alice Smith 105 on Essay 2 in Biology 101"))
    confirm = click(buttons(reply)[Verb.GRADE_CONFIRM.value])
    stolen = await confirmations.confirmed(turns.context("Marcus Oyelaran"), confirm)
    assert "expired or was already used" in card_text(stolen)
    assert turns.points("Alice Smith") is None
    await confirmations.confirmed(turns.context(), confirm)  # the teacher's click still works
    assert turns.points("Alice Smith") == 105


async def test_two_alexes_get_a_pick_card(turns: Turns) -> None:
    reply = await grade.run(turns.context(), command("grade Alex 80 on Essay 2 in Biology 101"))
    text = card_text(reply)
    assert "Alex Kim" in text and "Alex Lee" in text
    assert turns.points("Alex Kim") is None and turns.points("Alex Lee") is None


async def test_draft_and_credit_only_are_explained(turns: Turns) -> None:
    ctx = turns.context()
    draft = await grade.run(ctx, command("grade Alice Smith 10 on Final Project Draft in Biology 101"))
    assert "not assigned yet" in card_text(draft)
    credit = await grade.run(ctx, command("grade Alice Smith 10 on Field Trip Reflection in Biology 101"))
    assert "no points to give" in card_text(credit)


async def test_warm_grade_is_one_round_trip(turns: Turns) -> None:
    ctx = turns.context()
    await grade.run(ctx, command("grade Alice Smith 80 on Essay 2 in Biology 101"))
    turns.stack.graph.reset_request_log()
    await grade.run(ctx, command("grade Bob Jones 81 on Essay 2 in Biology 101"))
    assert turns.stack.graph.request_count == 1
    assert turns.points("Bob Jones") == 81
