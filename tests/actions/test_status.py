"""Status: counts, missing / to-grade / late lists and the grade distribution, checked against the sandbox's state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.actions import grade, status
from bot.actions.status import Standing, distribution, is_late, is_missing, standing_of
from bot.cards.actions import CardAction, Verb, parse_card_action
from bot.commands import parse_command
from bot.commands.model import Grade, Status
from bot.graph.ids import OutcomeId, SubmissionId, UserId
from bot.graph.models import (
    Outcome,
    PointsGrade,
    PointsOutcome,
    Submission,
    SubmissionRecipient,
    SubmissionStatus,
)
from bot.turn import Reply
from sandbox.school import Submission as SeedSubmission
from tests.actions.conftest import BIOLOGY, Turns, buttons, card_text, only_card

# --------------------------------------------------------------------------------------------- reading the card


def facts(reply: Reply) -> dict[str, int]:
    """The status card's counts by their label."""
    found: dict[str, int] = {}
    for element in only_card(reply)["body"]:
        if element.get("type") == "FactSet":
            found |= {fact["title"]: int(fact["value"]) for fact in element["facts"]}
    return found


def listed(reply: Reply, heading: str) -> list[str] | None:
    """The names under a list heading ("Missing", "To grade", "Late"), or None when the card has no such list."""
    for element in only_card(reply)["body"]:
        items: list[dict[str, Any]] = element.get("items", [])
        if element.get("type") == "Container" and items and str(items[0].get("text", "")).startswith(heading + " ("):
            return str(items[1]["text"]).split(", ")
    return None


def chart(reply: Reply) -> dict[str, int]:
    """The distribution bars: label → count."""
    bars: dict[str, int] = {}
    for element in only_card(reply)["body"]:
        for item in element.get("items", []):
            if item.get("type") == "ColumnSet":
                columns = item["columns"]
                bars[columns[0]["items"][0]["text"]] = int(columns[-1]["items"][0]["text"])
    return bars


# --------------------------------------------------------------------------------------------- the sandbox's truth


def seed(turns: Turns, assignment: str, class_name: str = BIOLOGY) -> list[SeedSubmission]:
    assignment_id = turns.stack.assignment_id(class_name, assignment)
    return turns.stack.graph.school.submissions_of(assignment_id)


def due(turns: Turns, assignment: str, class_name: str = BIOLOGY) -> datetime:
    found = turns.stack.graph.school.assignment(turns.stack.assignment_id(class_name, assignment))
    assert found is not None and found.dueDateTime is not None
    return found.dueDateTime


def name(turns: Turns, user_id: str) -> str:
    user = turns.stack.graph.school.user(user_id)
    assert user is not None
    return user.displayName


def points(sub: SeedSubmission) -> float | None:
    outcome = sub.outcome("points")
    return outcome.points.points if outcome is not None and outcome.points is not None else None


def expected_counts(subs: list[SeedSubmission]) -> dict[str, int]:
    labels = {"working": "Not submitted", "submitted": "Submitted", "returned": "Returned"}
    counts = dict.fromkeys(["Not submitted", "Submitted", "Graded, not returned", "Returned"], 0)
    for sub in subs:
        if sub.status in ("reassigned", "excused"):
            label = sub.status.capitalize()
        elif sub.status in ("working", "submitted") and points(sub) is not None:
            label = "Graded, not returned"
        else:
            label = labels[sub.status]
        counts[label] = counts.get(label, 0) + 1
    return counts


def command(text: str) -> Status:
    parsed = parse_command(text)
    assert isinstance(parsed, Status), parsed
    return parsed


def click(data: dict[str, Any]) -> CardAction:
    action = parse_card_action(data)
    assert isinstance(action, CardAction), action
    return action


# --------------------------------------------------------------------------------------------- against the sandbox


async def test_counts_match_the_sandbox(turns: Turns) -> None:
    reply = await status.run(turns.context(), command("status Essay 2 in Biology 101"))
    subs = seed(turns, "Essay 2")
    assert facts(reply) == expected_counts(subs)
    assert sum(facts(reply).values()) == len(subs) == 25
    assert "Essay 2 — Biology 101" in card_text(reply)
    assert {Verb.STATUS_REFRESH.value, Verb.SHEET_OPEN.value} <= set(buttons(reply))


async def test_lists_missing_to_grade_and_late_students(turns: Turns) -> None:
    reply = await status.run(turns.context(), command("status Essay 2 in Biology 101"))
    subs, due_at = seed(turns, "Essay 2"), due(turns, "Essay 2")
    missing = sorted(
        (name(turns, s.userId) for s in subs if s.status == "working" and points(s) is None), key=str.casefold
    )
    to_grade = sorted(
        (name(turns, s.userId) for s in subs if s.status == "submitted" and points(s) is None), key=str.casefold
    )
    late = {
        name(turns, s.userId)
        for s in subs
        if s.submittedDateTime and s.submittedDateTime > due_at and s.status not in ("working", "excused")
    }
    assert listed(reply, "Missing") == missing and missing
    assert listed(reply, "To grade") == to_grade and len(to_grade) <= 15
    assert set(listed(reply, "Late") or []) == late and late
    assert "Alice Smith" in to_grade and "Hannah Schmidt" in late  # returned work turned in late is still late


async def test_distribution_bins_sum_to_the_graded_count(turns: Turns) -> None:
    reply = await status.run(turns.context(), command("status Essay 2 in Biology 101"))
    scored = [p for s in seed(turns, "Essay 2") if s.status != "excused" and (p := points(s)) is not None]
    bars = chart(reply)
    assert len(bars) == 10
    assert sum(bars.values()) == len(scored) > 0
    assert bars["90–100"] == sum(1 for p in scored if p >= 90)
    assert bars["80–90"] == sum(1 for p in scored if 80 <= p < 90)


async def test_who_has_not_turned_in_shows_only_the_missing(turns: Turns) -> None:
    reply = await status.run(turns.context(), command("who hasn't turned in Lab 3 in Biology 101?"))
    missing = sorted(
        (name(turns, s.userId) for s in seed(turns, "Lab 3") if s.status == "working" and points(s) is None),
        key=str.casefold,
    )
    assert listed(reply, "Missing") == missing
    assert f"Lab 3 — Biology 101: {len(missing)} missing" in card_text(reply)
    assert listed(reply, "To grade") is None and listed(reply, "Late") is None and chart(reply) == {}


async def test_ungraded_shows_only_what_waits_for_points(turns: Turns) -> None:
    reply = await status.run(turns.context(), command("what's ungraded in Essay 2 in Biology 101"))
    waiting = [s for s in seed(turns, "Essay 2") if s.status == "submitted" and points(s) is None]
    assert f"{len(waiting)} to grade" in card_text(reply)
    assert listed(reply, "Missing") is None
    assert buttons(reply)[Verb.SHEET_OPEN.value]["extra"] == {"filter": "ungraded"}


async def test_nobody_is_missing_before_the_due_date(turns: Turns) -> None:
    reply = await status.run(turns.context(), command("who hasn't turned in Unit 3 Quiz 2 in Biology 101"))
    working = sum(1 for s in seed(turns, "Unit 3 Quiz 2") if s.status == "working")
    assert listed(reply, "Missing") is None
    assert f"not due until 1 May 2030 — nobody is missing yet ({working} not turned in so far)" in card_text(reply)


async def test_credit_only_assignment_has_no_chart(turns: Turns) -> None:
    reply = await status.run(turns.context(), command("status Field Trip Reflection in Biology 101"))
    assert chart(reply) == {}
    assert "Grade distribution" not in card_text(reply)
    assert sum(facts(reply).values()) == len(seed(turns, "Field Trip Reflection"))


async def test_draft_assignment_is_refused(turns: Turns) -> None:
    reply = await status.run(turns.context(), command("status Final Project Draft in Biology 101"))
    assert "not assigned yet" in card_text(reply)


async def test_late_work_in_personal_chat_asks_which_class(turns: Turns) -> None:
    reply = await status.run(turns.context(), command("show late work"))
    assert "Which class is this for?" in card_text(reply)
    assert buttons(reply)[Verb.PICK_CLASS.value]["class_id"] in {
        turns.stack.class_id(BIOLOGY),
        turns.stack.class_id("7B English"),
    }


async def test_late_work_across_the_class(turns: Turns) -> None:
    reply = await status.run(turns.context(), command("show late work in class Biology 101"))
    expected: set[str] = set()
    for assignment in turns.stack.graph.school.assignments_of(turns.stack.class_id(BIOLOGY)):
        if assignment.status != "assigned" or assignment.dueDateTime is None:
            continue
        for s in seed(turns, assignment.displayName):
            if (
                s.submittedDateTime
                and s.submittedDateTime > assignment.dueDateTime
                and s.status not in ("working", "excused")
            ):
                expected.add(f"{name(turns, s.userId)} ({assignment.displayName})")
    assert set(listed(reply, "Late") or []) == expected
    assert any("(Lab 3)" in entry for entry in expected) and any("(Essay 2)" in entry for entry in expected)
    assert f"Biology 101 — all assigned work: {len(expected)} late" in card_text(reply)
    assert Verb.SHEET_OPEN.value not in buttons(reply)


async def test_status_in_a_class_channel_needs_no_class_name(turns: Turns) -> None:
    reply = await status.run(turns.context(channel_class=BIOLOGY), command("status Essay 2"))
    assert facts(reply) == expected_counts(seed(turns, "Essay 2"))


async def test_warm_index_answers_a_second_status_without_graph(turns: Turns) -> None:
    ctx = turns.context()
    await status.run(ctx, command("status Essay 2 in Biology 101"))
    turns.stack.graph.reset_request_log()
    await status.run(ctx, command("who hasn't turned in Essay 2 in Biology 101"))
    assert turns.stack.graph.request_count == 0


async def test_refresh_reads_again_and_shows_a_co_teachers_grade(turns: Turns) -> None:
    ctx = turns.context()
    first = await status.run(ctx, command("status Essay 2 in Biology 101"))
    graded_before = facts(first)["Graded, not returned"]
    co_teacher = turns.context("Priya Raman")
    parsed = parse_command("grade Alice Smith 91 on Essay 2 in Biology 101")
    assert isinstance(parsed, Grade)
    await grade.run(co_teacher, parsed)
    refreshed = await status.on_status_refresh(ctx, click(buttons(first)[Verb.STATUS_REFRESH.value]))
    assert facts(refreshed)["Graded, not returned"] == graded_before + 1
    assert "Alice Smith" not in (listed(refreshed, "To grade") or [])


async def test_forged_refresh_for_a_class_the_actor_does_not_teach_is_refused(turns: Turns) -> None:
    ctx = turns.context("Marcus Oyelaran")
    forged = click(
        {
            "verb": Verb.STATUS_REFRESH.value,
            "action_key": "forged-1",
            "class_id": turns.stack.class_id(BIOLOGY),
            "assignment_id": turns.stack.assignment_id(BIOLOGY, "Essay 2"),
        }
    )
    reply = await status.on_status_refresh(ctx, forged)
    assert "Only this class's teachers can do that." in card_text(reply)
    reads = turns.stack.graph.requests
    assert reads and all(record.path.endswith("/me/taughtClasses") for record in reads)


# --------------------------------------------------------------------------------------------- pure computation

DUE = datetime(2025, 3, 7, 23, 59, tzinfo=UTC)


def make(
    status_value: SubmissionStatus,
    *,
    submitted: datetime | None = None,
    points_value: float | None = None,
    graded: datetime | None = None,
) -> Submission:
    outcomes: list[Outcome] = []
    if points_value is not None:
        grade_value = PointsGrade(points=points_value, graded_date_time=graded)
        outcomes.append(PointsOutcome(id=OutcomeId("o1"), points=grade_value))
    return Submission(
        id=SubmissionId("s1"),
        status=status_value,
        recipient=SubmissionRecipient(user_id=UserId("u1")),
        submitted_date_time=submitted,
        outcomes=outcomes,
    )


def test_standing_of_each_status() -> None:
    early = DUE - timedelta(days=1)
    assert standing_of(make(SubmissionStatus.WORKING)) is Standing.NOT_SUBMITTED
    assert standing_of(make(SubmissionStatus.SUBMITTED, submitted=early)) is Standing.SUBMITTED
    assert standing_of(make(SubmissionStatus.SUBMITTED, submitted=early, points_value=7)) is Standing.GRADED
    assert standing_of(make(SubmissionStatus.WORKING, points_value=0)) is Standing.GRADED
    assert standing_of(make(SubmissionStatus.RETURNED, points_value=7)) is Standing.RETURNED
    assert standing_of(make(SubmissionStatus.RELEASED)) is Standing.RETURNED
    assert standing_of(make(SubmissionStatus.REASSIGNED, points_value=3)) is Standing.REASSIGNED
    assert standing_of(make(SubmissionStatus.EXCUSED)) is Standing.EXCUSED
    assert standing_of(make(SubmissionStatus.UNKNOWN, submitted=early)) is Standing.SUBMITTED
    assert standing_of(make(SubmissionStatus.UNKNOWN)) is Standing.NOT_SUBMITTED


def test_work_turned_in_again_after_grading_is_to_grade_again() -> None:
    graded_at = DUE - timedelta(days=2)
    resubmitted = make(SubmissionStatus.SUBMITTED, submitted=DUE - timedelta(days=1), points_value=5, graded=graded_at)
    assert standing_of(resubmitted) is Standing.SUBMITTED


def test_late_and_missing() -> None:
    now = DUE + timedelta(days=3)
    after = DUE + timedelta(minutes=1)
    assert is_late(make(SubmissionStatus.SUBMITTED, submitted=after), DUE)
    assert is_late(make(SubmissionStatus.RETURNED, submitted=after, points_value=1), DUE)
    assert not is_late(make(SubmissionStatus.SUBMITTED, submitted=DUE), DUE)
    assert not is_late(make(SubmissionStatus.EXCUSED, submitted=after), DUE)
    assert not is_late(make(SubmissionStatus.SUBMITTED, submitted=after), None)
    assert is_missing(make(SubmissionStatus.WORKING), DUE, now)
    assert not is_missing(make(SubmissionStatus.WORKING), DUE, DUE - timedelta(hours=1))
    assert is_missing(make(SubmissionStatus.WORKING), None, now)
    assert not is_missing(make(SubmissionStatus.WORKING, points_value=0), DUE, now)


def test_distribution_bins() -> None:
    bins = distribution([0, 1.9, 2, 19.99, 20, 12.5], 20)
    by_label = {b.label: b.count for b in bins}
    assert [b.label for b in bins][:2] == ["18–20", "16–18"] and bins[-1].label == "0–2"
    assert by_label == {"18–20": 2, "16–18": 0, "14–16": 0, "12–14": 1, "10–12": 0} | {
        "8–10": 0,
        "6–8": 0,
        "4–6": 0,
        "2–4": 1,
        "0–2": 2,
    }
    assert sum(by_label.values()) == 6


def test_distribution_extra_credit_and_odd_maxima() -> None:
    bins = distribution([105, 100, 50], 100)
    assert bins[0].label == "over 100" and bins[0].count == 1
    assert sum(b.count for b in bins) == 3
    assert distribution([1, 2], None) == []
    assert distribution([], 15)[0].label == "13.5–15"
    huge = distribution([1], 123456789.125)
    assert huge[0].label == "90–100%" and sum(b.count for b in huge) == 1
