"""Undo: the exact previous points and feedback come back (no points → cleared), a return is never "un-returned"
(and the teacher is told), a change is undone once, and an old [Undo] button never undoes a later change."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.actions import bulk, feedback, grade, undo
from bot.actions.context import ActionContext
from bot.cards.actions import CardAction, Verb, parse_card_action
from bot.commands import parse_command
from bot.commands.model import BulkGrade, Feedback, Grade, Undo
from bot.graph.retry import RetryPolicy
from bot.storage import AuditEntry
from bot.turn import Reply
from tests.actions.conftest import BIOLOGY, Turns, buttons, card_text


def click(data: dict[str, Any], **inputs: object) -> CardAction:
    action = parse_card_action({**data, **inputs})
    assert isinstance(action, CardAction), action
    return action


def undo_button(reply: Reply) -> CardAction:
    return click(buttons(reply)[Verb.UNDO.value])


async def graded(ctx: ActionContext, text: str) -> Reply:
    parsed = parse_command(text)
    assert isinstance(parsed, Grade), parsed
    return await grade.run(ctx, parsed)


def feedback_text(turns: Turns, student: str) -> str | None:
    outcome = turns.submission(student).outcome("feedback")
    if outcome is None or outcome.feedback is None or outcome.feedback.text is None:
        return None
    return outcome.feedback.text.content or None


async def audit(ctx: ActionContext) -> list[AuditEntry]:
    return await ctx.services.store.list_audit(tenant_id=ctx.actor.tenant_id, teacher_id=ctx.actor.user_id)


async def test_undo_of_a_first_grade_clears_the_points(turns: Turns) -> None:
    ctx = turns.context()
    await graded(ctx, "grade Alice Smith 85 on Essay 2 in Biology 101")
    reply = await undo.run(ctx, Undo())
    assert turns.points("Alice Smith") is None
    text = card_text(reply)
    assert "Alice Smith — Essay 2" in text and "Points restored." in text and "not graded" in text
    assert Verb.UNDO.value not in buttons(reply), "an undo offers no undo of itself"
    entries = await audit(ctx)
    [undo_entry] = [e for e in entries if e.action == "undo"]
    assert undo_entry.before == {"points": 85} and undo_entry.after == {"points": None}
    [original] = [e for e in entries if e.action == "grade"]
    assert original.undone_by == undo_entry.change_id


async def test_undo_restores_the_exact_previous_points_and_feedback(turns: Turns) -> None:
    ctx = turns.context()
    await graded(ctx, "grade Alexandra Petrova 70 on Essay 2 in Biology 101 with feedback: weaker than before")
    assert turns.points("Alexandra Petrova") == 70
    await undo.run(ctx, Undo())
    assert turns.points("Alexandra Petrova") == 88
    assert feedback_text(turns, "Alexandra Petrova") == "Clear structure; expand the conclusion."


async def test_undo_of_first_feedback_removes_it_and_keeps_points(turns: Turns) -> None:
    ctx = turns.context()
    parsed = parse_command("feedback for Bob Jones on Essay 2 in Biology 101: needs sources")
    assert isinstance(parsed, Feedback)
    await feedback.run(ctx, parsed)
    reply = await undo.run(ctx, Undo())
    assert feedback_text(turns, "Bob Jones") is None
    assert turns.points("Bob Jones") is None
    assert "Feedback restored." in card_text(reply)


async def test_double_click_undoes_once(turns: Turns) -> None:
    ctx = turns.context()
    await graded(ctx, "grade Carol Diaz 60 on Essay 2 in Biology 101")
    result = await graded(ctx, "grade Carol Diaz 70 on Essay 2 in Biology 101")
    button = undo_button(result)
    first = await undo.on_undo(ctx, button)
    second = await undo.on_undo(ctx, button)
    assert turns.points("Carol Diaz") == 60, "only the 70 was undone, not the 60 as well"
    assert "Points restored" in card_text(first)
    assert "already undone" in card_text(second)
    assert len([e for e in await audit(ctx) if e.action == "undo"]) == 1


async def test_an_undo_button_with_a_malformed_change_id_is_refused() -> None:
    for change in ("", "x" * 32, "../../etc", 12):
        assert not isinstance(
            parse_card_action({"verb": "undo", "action_key": "k1", "extra": {"change": change}}), CardAction
        )
    assert not isinstance(parse_card_action({"verb": "undo", "action_key": "k1"}), CardAction)


async def test_a_click_racing_a_typed_undo_undoes_once(turns: Turns) -> None:
    ctx = turns.context()
    await graded(ctx, "grade Carol Diaz 60 on Essay 2 in Biology 101")
    result = await graded(ctx, "grade Carol Diaz 70 on Essay 2 in Biology 101")
    turns.stack.graph.knobs.latency_seconds = 0.05  # both read the same latest change before either has written
    replies = await asyncio.gather(undo.on_undo(ctx, undo_button(result)), undo.run(ctx, Undo()))
    assert turns.points("Carol Diaz") == 60
    assert sum("Points restored" in card_text(r) for r in replies) == 1
    assert sum("already undone" in card_text(r) for r in replies) == 1
    assert len([e for e in await audit(ctx) if e.action == "undo"]) == 1


async def test_an_old_button_refuses_after_a_later_change(turns: Turns) -> None:
    """Decision: an [Undo] button only undoes its own change while that is still the latest; "undo" undoes the
    latest. Undoing out of order could overwrite the later change's values."""
    ctx = turns.context()
    old = await graded(ctx, "grade Alice Smith 80 on Essay 2 in Biology 101")
    await graded(ctx, "grade Bob Jones 90 on Essay 2 in Biology 101")
    refused = await undo.on_undo(ctx, undo_button(old))
    assert "earlier change" in card_text(refused)
    assert turns.points("Alice Smith") == 80 and turns.points("Bob Jones") == 90
    await undo.run(ctx, Undo())
    assert turns.points("Bob Jones") is None and turns.points("Alice Smith") == 80


async def test_an_old_button_of_an_undone_change_says_so(turns: Turns) -> None:
    ctx = turns.context()
    await graded(ctx, "grade Alice Smith 80 on Essay 2 in Biology 101")
    latest = await graded(ctx, "grade Bob Jones 90 on Essay 2 in Biology 101")
    await undo.run(ctx, Undo())  # undoes Bob's grade
    reply = await undo.on_undo(ctx, undo_button(latest))
    assert "already undone" in card_text(reply)
    assert turns.points("Alice Smith") == 80


async def test_undo_after_return_restores_points_and_says_the_student_saw_it(turns: Turns) -> None:
    ctx = turns.context()
    stack = turns.stack
    save_return = {
        "verb": Verb.GRADE_SAVE_RETURN.value,
        "action_key": "save-return",
        "class_id": stack.class_id(BIOLOGY),
        "assignment_id": stack.assignment_id(BIOLOGY, "Essay 2"),
        "student_id": stack.user_id("Alice Smith"),
    }
    await feedback.on_grade_save_return(ctx, click(save_return, points="85"))
    assert turns.submission("Alice Smith").status == "returned"
    reply = await undo.run(ctx, Undo())
    assert turns.points("Alice Smith") is None
    assert turns.submission("Alice Smith").status == "returned"
    assert "Points restored; the work was already returned, so Alice Smith has seen it." in card_text(reply)


async def test_undo_of_a_bulk_grade_restores_everyone(turns: Turns) -> None:
    ctx = turns.context()
    parsed = parse_command("grade Essay 2 in Biology 101: Alice 85, Alexandra Petrova 91, Carol 77")
    assert isinstance(parsed, BulkGrade)
    summary = await bulk.run(ctx, parsed)
    reply = await undo.on_undo(ctx, undo_button(summary))
    assert turns.points("Alice Smith") is None and turns.points("Carol Diaz") is None
    assert turns.points("Alexandra Petrova") == 88
    assert "Essay 2: restored for 3 students" in card_text(reply)


async def test_nothing_to_undo_is_a_friendly_card(turns: Turns) -> None:
    reply = await undo.run(turns.context(), Undo())
    assert "nothing to undo" in card_text(reply)


async def test_one_teacher_cannot_use_anothers_undo_button(turns: Turns) -> None:
    result = await graded(turns.context(), "grade Alice Smith 85 on Essay 2 in Biology 101")
    button = undo_button(result)
    stolen = await undo.on_undo(turns.context("Priya Raman"), button)
    assert "isn't for one of your recent changes" in card_text(stolen)
    assert turns.points("Alice Smith") == 85
    await undo.on_undo(turns.context(), button)
    assert turns.points("Alice Smith") is None


async def test_a_failed_undo_can_be_tried_again(turns: Turns) -> None:
    ctx = turns.context()
    await graded(ctx, "grade Alice Smith 85 on Essay 2 in Biology 101")
    knobs = turns.stack.graph.knobs
    knobs.throttle_status, knobs.throttle_next, knobs.retry_after = 503, 1, None
    ctx.services.graph.retry = RetryPolicy(max_attempts=0)
    failed = await undo.run(ctx, Undo())
    assert "Nothing was restored" in card_text(failed)
    assert turns.points("Alice Smith") == 85
    await undo.run(ctx, Undo())
    assert turns.points("Alice Smith") is None
