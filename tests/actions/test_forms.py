"""The grade form: assigned, points-graded assignments and the class's students to pick from, buttons that carry the
class, and refusals for a class the actor does not teach or cannot be told apart."""

from __future__ import annotations

from typing import Any

from bot.actions import forms
from bot.cards.actions import CardAction, Verb, parse_card_action
from bot.graph.ids import AssignmentId, ClassId, UserId
from bot.turn import Reply
from tests.actions.conftest import BIOLOGY, Turns, buttons, card_text, only_card


def pickers(reply: Reply) -> dict[str, dict[str, Any]]:
    """The form's inputs by id."""
    return {element["id"]: element for element in only_card(reply)["body"] if "id" in element}


def choice_titles(reply: Reply, input_id: str) -> list[str]:
    return [choice["title"] for choice in pickers(reply)[input_id]["choices"]]


def biology(turns: Turns) -> ClassId:
    return ClassId(turns.stack.class_id(BIOLOGY))


async def test_form_offers_assigned_points_assignments_and_every_student(turns: Turns) -> None:
    reply = await forms.open_form(turns.context(), biology(turns))
    school = turns.stack.graph.school
    gradable = {
        a.id for a in school.assignments_of(biology(turns)) if a.status == "assigned" and a.maxPoints is not None
    }
    offered = {choice["value"] for choice in pickers(reply)["choice_assignment"]["choices"]}
    assert offered == gradable
    assert "Essay 2 (out of 100)" in choice_titles(reply, "choice_assignment")
    assert not any("Field Trip" in title or "Draft" in title for title in choice_titles(reply, "choice_assignment"))
    school_class = school.school_class(biology(turns))
    assert school_class is not None
    students = {
        name for user_id in school_class.studentIds if (user := school.user(user_id)) and (name := user.displayName)
    }
    assert set(choice_titles(reply, "choice_student")) == students
    assert choice_titles(reply, "choice_student") == sorted(students, key=str.casefold)
    assert "Points" in pickers(reply)["points"]["label"] and "feedback" in pickers(reply)
    assert "Grade a submission — Biology 101" in card_text(reply)


async def test_buttons_carry_the_class_and_the_pickers_fill_in_the_rest(turns: Turns) -> None:
    reply = await forms.open_form(turns.context(), biology(turns))
    found = buttons(reply)
    assert {Verb.GRADE_SAVE.value, Verb.GRADE_SAVE_RETURN.value, Verb.SUBMISSION_REASSIGN.value} <= set(found)
    save = found[Verb.GRADE_SAVE.value]
    assert save["class_id"] == biology(turns)
    essay = turns.stack.assignment_id(BIOLOGY, "Essay 2")
    alice = turns.stack.user_id("Alice Smith")
    clicked = parse_card_action(
        save | {"choice_assignment": essay, "choice_student": alice, "points": "85", "feedback": "good"}
    )
    assert isinstance(clicked, CardAction), clicked
    assert (clicked.assignment_id, clicked.student_id) == (essay, alice)
    assert clicked.inputs.points == 85 and clicked.inputs.feedback == "good"


async def test_preselected_assignment_and_student(turns: Turns) -> None:
    essay = AssignmentId(turns.stack.assignment_id(BIOLOGY, "Essay 2"))
    alice = UserId(turns.stack.user_id("Alice Smith"))
    reply = await forms.open_form(turns.context(), biology(turns), assignment_id=essay, student_id=alice)
    assert pickers(reply)["choice_assignment"]["value"] == essay
    assert pickers(reply)["choice_student"]["value"] == alice
    outsider = UserId(turns.stack.user_id("Emma Thompson"))  # 7B English, not Biology
    other = await forms.open_form(turns.context(), biology(turns), student_id=outsider)
    assert "value" not in pickers(other)["choice_student"]


async def test_several_classes_and_none_named_asks_which(turns: Turns) -> None:
    reply = await forms.open_form(turns.context(), None)
    text = card_text(reply)
    assert "Which class? You teach 7B English, Biology 101." in text
    assert "choice_assignment" not in pickers(reply)


async def test_class_named_or_from_the_channel(turns: Turns) -> None:
    named = await forms.open_form(turns.context(), None, class_hint="7B English")
    assert "Grade a submission — 7B English" in card_text(named)
    assert "Quiz 1 (out of 20)" in choice_titles(named, "choice_assignment")
    assert "Poetry Draft" not in " ".join(choice_titles(named, "choice_assignment"))
    channel = await forms.open_form(turns.context(channel_class=BIOLOGY), None)
    assert "Grade a submission — Biology 101" in card_text(channel)
    unknown = await forms.open_form(turns.context(), None, class_hint="Astrophysics")
    assert "I couldn't tell which of your classes" in card_text(unknown)


async def test_forged_class_is_refused_before_any_roster_read(turns: Turns) -> None:
    reply = await forms.open_form(turns.context("Marcus Oyelaran"), biology(turns))
    assert "Only this class's teachers can do that." in card_text(reply)
    reads = turns.stack.graph.requests
    assert reads and all(record.path.endswith("/me/taughtClasses") for record in reads)
    from_channel = await forms.open_form(turns.context("Marcus Oyelaran", channel_class=BIOLOGY), None)
    assert "Only this class's teachers can do that." in card_text(from_channel)


async def test_one_maximum_shown_only_when_every_assignment_shares_it(turns: Turns) -> None:
    mixed = await forms.open_form(turns.context(), biology(turns))
    assert pickers(mixed)["points"]["label"] == "Points"
    quiz = turns.stack.graph.school.assignment(turns.stack.assignment_id("7B English", "Quiz 1"))
    assert quiz is not None
    quiz.maxPoints = 100  # now both of 7B English's assigned assignments are out of 100
    shared = await forms.open_form(turns.context(), None, class_hint="7B English")
    assert pickers(shared)["points"]["label"] == "Points (out of 100)"
