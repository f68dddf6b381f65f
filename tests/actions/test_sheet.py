"""The grading sheet: every student's row, filters, pages, its size, and forged buttons refused before any read."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.actions import sheet, status
from bot.cards.actions import CardAction, SheetFilter, Verb, parse_card_action
from bot.cards.views import SHEET_PAGE_SIZE, GradingSheetView, SheetRow
from bot.commands import parse_command
from bot.commands.model import Sheet, Status
from bot.graph.ids import AssignmentId, ClassId, SubmissionId
from bot.turn import Reply
from sandbox.school import Submission as SeedSubmission
from tests.actions.conftest import BIOLOGY, Turns, buttons, card_text, only_card

TEAMS_CARD_LIMIT = 28 * 1024


def rows(reply: Reply) -> dict[str, dict[str, Any]]:
    """The sheet's rows by student name: status text, points box id and value."""
    found: dict[str, dict[str, Any]] = {}
    for element in only_card(reply)["body"]:
        if element.get("type") != "ColumnSet":
            continue
        cells = [column["items"][0] for column in element["columns"]]
        if cells[-1].get("type") == "Input.Number":
            found[cells[0]["text"]] = {
                "status": cells[1]["text"],
                "box": cells[2]["id"],
                "value": cells[2].get("value"),
            }
    return found


def click(data: dict[str, Any]) -> CardAction:
    action = parse_card_action(data)
    assert isinstance(action, CardAction), action
    return action


def seed(turns: Turns, assignment: str = "Essay 2") -> list[SeedSubmission]:
    return turns.stack.graph.school.submissions_of(turns.stack.assignment_id(BIOLOGY, assignment))


def name(turns: Turns, user_id: str) -> str:
    user = turns.stack.graph.school.user(user_id)
    assert user is not None
    return user.displayName


def points(sub: SeedSubmission) -> float | None:
    outcome = sub.outcome("points")
    return outcome.points.points if outcome is not None and outcome.points is not None else None


async def open_from_status(turns: Turns, text: str = "status Essay 2 in Biology 101") -> Reply:
    ctx = turns.context()
    parsed = parse_command(text)
    assert isinstance(parsed, Status)
    answer = await status.run(ctx, parsed)
    return await sheet.on_sheet_open(ctx, click(buttons(answer)[Verb.SHEET_OPEN.value]))


async def test_sheet_of_a_25_student_class_fits_one_page_under_the_size_limit(turns: Turns) -> None:
    reply = await open_from_status(turns)
    shown = rows(reply)
    assert set(shown) == {name(turns, s.userId) for s in seed(turns)}
    assert len(shown) == 25
    assert len(json.dumps(only_card(reply)).encode()) < TEAMS_CARD_LIMIT
    assert "Page 1 of" not in card_text(reply)
    assert {Verb.SHEET_SAVE_ALL.value, Verb.SHEET_FILTER.value} <= set(buttons(reply))
    assert Verb.SHEET_PAGE.value not in buttons(reply)
    assert "Grading sheet — Essay 2 (Biology 101)" in card_text(reply)


async def test_rows_show_status_and_current_points(turns: Turns) -> None:
    shown = rows(await open_from_status(turns))
    by_name = {name(turns, s.userId): s for s in seed(turns)}
    for student, row in shown.items():
        sub = by_name[student]
        assert row["box"] == f"points_{sub.id}"
        assert row["value"] == (None if sub.status == "excused" else points(sub))
    assert shown["Alexandra Petrova"]["status"] == "Graded, not returned"
    assert shown["Alice Smith"]["status"] == "To grade"
    assert shown["Alex Lee"]["status"] == "To grade (late)"
    assert shown["Luis de la Cruz"]["status"] == "Not turned in"


async def test_filters(turns: Turns) -> None:
    ctx = turns.context()
    everyone = await open_from_status(turns)
    # `buttons` keeps one button per verb; the three filter buttons share theirs, so read the ActionSet.
    filter_buttons = {a["data"]["extra"]["filter"]: a["data"] for a in only_card(everyone)["body"][1]["actions"]}
    assert set(filter_buttons) == {f.value for f in SheetFilter}

    ungraded = rows(await sheet.on_sheet_filter(ctx, click(filter_buttons["ungraded"])))
    expected = {name(turns, s.userId) for s in seed(turns) if s.status == "submitted" and points(s) is None}
    assert set(ungraded) == expected and expected

    submitted = rows(await sheet.on_sheet_filter(ctx, click(filter_buttons["submitted"])))
    assert set(submitted) == {name(turns, s.userId) for s in seed(turns) if s.status == "submitted"}
    assert "Alexandra Petrova" in submitted and "Alexandra Petrova" not in ungraded

    again = rows(await sheet.on_sheet_filter(ctx, click(filter_buttons["all"])))
    assert len(again) == 25


async def test_empty_filter_says_so(turns: Turns) -> None:
    ctx = turns.context()
    sheet_button = {
        "verb": Verb.SHEET_FILTER.value,
        "action_key": "k1",
        "class_id": turns.stack.class_id(BIOLOGY),
        "assignment_id": turns.stack.assignment_id(BIOLOGY, "Essay 1"),
        "extra": {"filter": "ungraded"},
    }
    assert not any(s.status == "submitted" and points(s) is None for s in seed(turns, "Essay 1"))  # all returned
    reply = await sheet.on_sheet_filter(ctx, click(sheet_button))
    assert rows(reply) == {}
    assert "Nothing to grade" in card_text(reply)
    assert Verb.SHEET_SAVE_ALL.value not in buttons(reply)


async def test_save_all_carries_what_the_bulk_action_needs(turns: Turns) -> None:
    reply = await open_from_status(turns, "what's ungraded in Essay 2 in Biology 101")
    save = buttons(reply)[Verb.SHEET_SAVE_ALL.value]
    assert save["class_id"] == turns.stack.class_id(BIOLOGY)
    assert save["assignment_id"] == turns.stack.assignment_id(BIOLOGY, "Essay 2")
    assert save["extra"] == {"page": 1, "filter": "ungraded"}
    alice = rows(reply)["Alice Smith"]["box"]
    submitted = click(save | {alice: "88"})
    assert submitted.verb is Verb.SHEET_SAVE_ALL
    assert dict(submitted.inputs.sheet_points) == {SubmissionId(alice.removeprefix("points_")): 88.0}


async def test_a_page_past_the_end_shows_the_last_page(turns: Turns) -> None:
    ctx = turns.context()
    paged = click(
        {
            "verb": Verb.SHEET_PAGE.value,
            "action_key": "k2",
            "class_id": turns.stack.class_id(BIOLOGY),
            "assignment_id": turns.stack.assignment_id(BIOLOGY, "Essay 2"),
            "extra": {"page": 3, "filter": "all"},
        }
    )
    reply = await sheet.on_sheet_page(ctx, paged)
    assert len(rows(reply)) == 25
    assert buttons(reply)[Verb.SHEET_SAVE_ALL.value]["extra"]["page"] == 1


def test_a_full_page_of_long_names_stays_under_the_size_limit(turns: Turns) -> None:
    many = [
        SheetRow(
            submission_id=SubmissionId(f"00000000-0000-4000-8000-{index:012d}"),
            name=f"Maximiliana Alexandrovna Worthington-Fairweather {index}",
            status="Sent back for revision (late)",
            points=99.5,
        )
        for index in range(SHEET_PAGE_SIZE + 5)
    ]
    view = GradingSheetView(
        title="Grading sheet — Unit 12 Comparative Essay on Cell Respiration (Biology 101 - Period 2)",
        class_id=ClassId("eb000918-1753-5417-834a-75b2128a2b85"),
        assignment_id=AssignmentId("398b8309-1e8f-57e7-9a19-ff27dfefed30"),
        max_points=100,
        rows=many,
    )
    card = turns.services.cards.render_view(view)
    assert len(json.dumps(card).encode()) < TEAMS_CARD_LIMIT


def typed(text: str) -> Sheet:
    command = parse_command(text)
    assert isinstance(command, Sheet), command
    return command


@pytest.mark.parametrize("text", ["sheet Essay 2 in Biology 101", "open the grading sheet for Essay 2 in Biology 101"])
async def test_typed_sheet_opens_the_named_assignment(turns: Turns, text: str) -> None:
    reply = await sheet.run(turns.context(), typed(text))
    assert len(rows(reply)) == 25


async def test_typed_sheet_in_personal_chat_asks_which_class(turns: Turns) -> None:
    reply = await sheet.run(turns.context(), typed("sheet Essay 2"))
    assert "Which class is this for?" in card_text(reply)
    assert rows(reply) == {}


async def test_credit_only_and_draft_assignments_have_no_sheet(turns: Turns) -> None:
    ctx = turns.context()
    credit = await sheet.run(ctx, typed("sheet Field Trip Reflection in Biology 101"))
    assert "has no points to give" in card_text(credit)
    draft = await sheet.run(ctx, typed("sheet Final Project Draft in Biology 101"))
    assert "not assigned yet" in card_text(draft)


async def test_forged_open_for_a_class_the_actor_does_not_teach_is_refused(turns: Turns) -> None:
    ctx = turns.context("Marcus Oyelaran")
    forged = click(
        {
            "verb": Verb.SHEET_OPEN.value,
            "action_key": "forged-2",
            "class_id": turns.stack.class_id(BIOLOGY),
            "assignment_id": turns.stack.assignment_id(BIOLOGY, "Essay 2"),
        }
    )
    reply = await sheet.on_sheet_open(ctx, forged)
    assert "Only this class's teachers can do that." in card_text(reply)
    assert rows(reply) == {}
    reads = turns.stack.graph.requests
    assert reads and all(record.path.endswith("/me/taughtClasses") for record in reads)


async def test_forged_assignment_of_another_class_is_refused_without_reading_submissions(turns: Turns) -> None:
    ctx = turns.context()
    forged = click(
        {
            "verb": Verb.SHEET_OPEN.value,
            "action_key": "forged-3",
            "class_id": turns.stack.class_id(BIOLOGY),
            "assignment_id": turns.stack.assignment_id("10C History", "Source Analysis"),
        }
    )
    reply = await sheet.on_sheet_open(ctx, forged)
    assert "no longer exists" in card_text(reply)
    assert not any("/submissions" in record.path for record in turns.stack.graph.requests)
