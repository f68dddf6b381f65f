"""The shipped card templates: each renders its sample and edge data into a valid Adaptive Card 1.5 for Teams."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft6Validator

from bot.cards.actions import CardAction, SheetFilter, Verb, for_user, parse_card_action, undo_action
from bot.cards.renderer import CardLibrary
from bot.cards.views import (
    VIEWS,
    CardView,
    Choice,
    ConfirmView,
    DistributionBin,
    ErrorView,
    FeedbackFormView,
    GradeFormView,
    GradingSheetView,
    HelpExample,
    HelpSection,
    HelpView,
    PickCandidate,
    PickView,
    ProgressView,
    PublicResultView,
    ReassignFormView,
    ResultView,
    SheetRow,
    StatusCounts,
    StatusView,
)
from bot.graph.ids import AssignmentId, ClassId, SubmissionId, UserId

CARDS = Path(__file__).parents[2] / "cards"
SCHEMA_PATH = Path(__file__).parents[2] / ".." / "shared" / "specs" / "adaptive-card.schema.json"
TEAMS_LIMIT = 28 * 1024

CLASS = ClassId("72a7baec-3a3d-4a1c-8d7e-0f9e1b2c3d4e")
ASSIGNMENT = AssignmentId("ad8afb28-c138-4ad7-b7f5-a6986c2655a8")
SUBMISSION = SubmissionId("aa2cb28b-9a53-4e0b-4f3b-1c9bc1a8e3c1")
STUDENT = UserId("5a1b2c3d-0000-4000-8000-000000000010")
TRICKY = 'Zoë "Zed" O\'Brien <b>${secret}</b> & <script>x</script> 🎓'
"""A name with quotes, a template expression, HTML and emoji: it must come out exactly as given."""


@pytest.fixture(scope="module")
def library() -> CardLibrary:
    return CardLibrary.load(CARDS, SCHEMA_PATH)


@pytest.fixture(scope="module")
def validator() -> Draft6Validator:
    return Draft6Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def schema_errors(validator: Draft6Validator, card: dict[str, Any]) -> list[str]:
    """Validate as `validate_json.py adaptive-card --teams` does: the root `msteams` key is removed first."""
    instance = {key: value for key, value in card.items() if key != "msteams"}
    return [f"{list(error.absolute_path)}: {error.message[:150]}" for error in validator.iter_errors(instance)]


def size(card: dict[str, Any]) -> int:
    """Bytes as the Bot Framework SDK sends it (json.dumps with default separators)."""
    return len(json.dumps(card).encode("utf-8"))


def texts(node: object) -> list[str]:
    """Every string in a card."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [text for item in node for text in texts(item)]
    if isinstance(node, dict):
        return [text for value in node.values() for text in texts(value)]
    return []


def executes(node: object) -> list[dict[str, Any]]:
    """Every Action.Execute in a card, in order."""
    found: list[dict[str, Any]] = []
    if isinstance(node, list):
        for item in node:
            found.extend(executes(item))
    elif isinstance(node, dict):
        if node.get("type") == "Action.Execute":
            found.append(node)
        for key, value in node.items():
            if key != "fallback":
                found.extend(executes(value))
    return found


def filled_inputs(node: object) -> dict[str, str]:
    """What Teams merges into a click's data: every input's value as a string, a first choice when none is set."""
    found: dict[str, str] = {}
    if isinstance(node, list):
        for item in node:
            found |= filled_inputs(item)
    elif isinstance(node, dict):
        kind = node.get("type", "")
        if kind == "Input.ChoiceSet":
            found[node["id"]] = node.get("value") or node["choices"][0]["value"]
        elif kind == "Input.Number":
            found[node["id"]] = str(node.get("value", 7))
        elif kind == "Input.Text":
            found[node["id"]] = node.get("value", "typed text")
        for value in node.values():
            found |= filled_inputs(value)
    return found


def sample_view(name: str) -> CardView:
    sample = json.loads((CARDS / "samples" / f"{name}.json").read_text(encoding="utf-8"))
    return VIEWS[name].model_validate(sample)


def button(verb: Verb, **fields: Any) -> CardAction:
    return CardAction(verb=verb, **fields)


def edge_views() -> dict[str, list[CardView]]:
    """Views with empty lists, absent optionals and a tricky name in every text field."""
    target = {"class_id": CLASS, "assignment_id": ASSIGNMENT, "submission_id": SUBMISSION}
    return {
        "result": [
            ResultView(title=TRICKY),
            ResultView(
                title=TRICKY,
                points=TRICKY,
                status=TRICKY,
                feedback=TRICKY,
                note=TRICKY,
                return_button=button(Verb.SUBMISSION_RETURN, **target),
                feedback_button=button(Verb.FEEDBACK_OPEN, **target),
                undo_button=undo_action("0123456789abcdef0123456789abcdef"),
            ),
        ],
        "result_public": [PublicResultView(summary=TRICKY)],
        "confirm": [
            ConfirmView(
                student=TRICKY,
                assignment=TRICKY,
                new_value=TRICKY,
                confirm_button=button(Verb.GRADE_CONFIRM, nonce="n1"),
                cancel_button=button(Verb.GRADE_CANCEL, nonce="n1"),
            ),
            ConfirmView(
                student=TRICKY,
                assignment=TRICKY,
                old_value=TRICKY,
                new_value=TRICKY,
                reasons=[TRICKY, "more than the 100 points maximum — extra credit?"],
                confirm_button=button(Verb.GRADE_CONFIRM, nonce="n1"),
                cancel_button=button(Verb.GRADE_CANCEL, nonce="n1"),
            ),
        ],
        "pick": [
            PickView(
                title=TRICKY,
                candidates=[PickCandidate(id="s1", label=TRICKY)],
                submit=button(Verb.PICK_STUDENT, extra={"text": TRICKY}),
            ),
            PickView(
                title=TRICKY,
                candidates=[PickCandidate(id=f"s{index}", label=f"{TRICKY} {index}") for index in range(30)],
                submit=button(Verb.PICK_CLASS),
            ),
        ],
        "error": [
            ErrorView(problem=TRICKY),
            ErrorView(problem=TRICKY, next_step=TRICKY, usage=TRICKY, help_button=button(Verb.HELP)),
        ],
        "help": [
            HelpView(
                title=TRICKY,
                sections=[HelpSection(heading=TRICKY, examples=[HelpExample(command=TRICKY, description=TRICKY)])],
            )
        ],
        "status": [
            StatusView(title=TRICKY, counts=StatusCounts()),
            StatusView(
                title=TRICKY,
                counts=StatusCounts(not_submitted=1, reassigned=2, excused=3),
                missing=[TRICKY] * 40,
                ungraded=[TRICKY],
                late=[TRICKY],
                distribution=[DistributionBin(label="0–59", count=0), DistributionBin(label="60+", count=4)],
                refresh_button=button(Verb.STATUS_REFRESH, class_id=CLASS),
                sheet_button=button(Verb.SHEET_OPEN, class_id=CLASS, assignment_id=ASSIGNMENT),
            ),
            StatusView(
                title=TRICKY,
                counts=StatusCounts(),
                distribution=[DistributionBin(label="0–59", count=0)],
            ),
        ],
        "grade_form": [
            GradeFormView(
                title=TRICKY,
                assignments=[Choice(title=TRICKY, value=ASSIGNMENT)],
                students=[Choice(title=TRICKY, value=STUDENT)],
                save_button=button(Verb.GRADE_SAVE, class_id=CLASS),
            ),
            GradeFormView(
                title=TRICKY,
                assignments=[Choice(title=TRICKY, value=ASSIGNMENT)],
                assignment_id=ASSIGNMENT,
                students=[Choice(title=TRICKY, value=STUDENT)],
                student_id=STUDENT,
                max_points=20,
                points=0,
                feedback=TRICKY,
                save_button=button(Verb.GRADE_SAVE, class_id=CLASS),
                save_return_button=button(Verb.GRADE_SAVE_RETURN, class_id=CLASS),
                reassign_button=button(Verb.SUBMISSION_REASSIGN, class_id=CLASS),
            ),
        ],
        "grading_sheet": [
            GradingSheetView(title=TRICKY, class_id=CLASS, assignment_id=ASSIGNMENT, empty_text=TRICKY),
            GradingSheetView(
                title=TRICKY,
                class_id=CLASS,
                assignment_id=ASSIGNMENT,
                filter=SheetFilter.UNGRADED,
                rows=[SheetRow(submission_id=SUBMISSION, name=TRICKY, status=TRICKY)],
            ),
        ],
        "reassign_form": [
            ReassignFormView(title=TRICKY, reassign_button=button(Verb.SUBMISSION_REASSIGN, **target)),
            ReassignFormView(
                title=TRICKY, prompt=TRICKY, feedback=TRICKY, reassign_button=button(Verb.SUBMISSION_REASSIGN, **target)
            ),
        ],
        "feedback_form": [
            FeedbackFormView(title=TRICKY, save_button=button(Verb.GRADE_SAVE, **target)),
            FeedbackFormView(
                title=TRICKY,
                prompt=TRICKY,
                feedback=TRICKY,
                save_button=button(Verb.GRADE_SAVE, **target),
                save_return_button=button(Verb.GRADE_SAVE_RETURN, **target),
            ),
        ],
        "progress": [
            ProgressView(title=TRICKY, done=0, total=0),
            ProgressView(title=TRICKY, done=0, total=30),
            ProgressView(title=TRICKY, done=30, total=30, detail=TRICKY),
            ProgressView(title=TRICKY, done=12, total=30, failed=3),
        ],
    }


EDGE_CASES = [(name, index) for name, views in edge_views().items() for index in range(len(views))]


def test_every_view_has_edge_cases() -> None:
    assert set(edge_views()) == set(VIEWS)


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_sample_renders_to_a_valid_card(library: CardLibrary, validator: Draft6Validator, name: str) -> None:
    card = library.render_view(sample_view(name))

    assert card["type"] == "AdaptiveCard"
    assert card["version"] == "1.5"
    assert schema_errors(validator, card) == []
    assert not any("${" in text for text in texts(card))
    assert size(card) < TEAMS_LIMIT


@pytest.mark.parametrize(("name", "index"), EDGE_CASES)
def test_edge_data_renders_to_a_valid_card(
    library: CardLibrary, validator: Draft6Validator, name: str, index: int
) -> None:
    view = edge_views()[name][index]

    card = library.render_view(view)

    assert schema_errors(validator, card) == []
    assert any(TRICKY in text for text in texts(card))
    assert size(card) < TEAMS_LIMIT


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_every_execute_has_a_matching_submit_fallback(library: CardLibrary, name: str) -> None:
    card = library.render_view(sample_view(name))

    for action in executes(card):
        assert action["data"]["verb"] == action["verb"]
        expected = {"type": "Action.Submit", "title": action["title"], "data": action["data"]}
        if "associatedInputs" in action:
            expected["associatedInputs"] = action["associatedInputs"]
        assert action["fallback"] == expected


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_every_button_round_trips_through_parse_card_action(library: CardLibrary, name: str) -> None:
    view = sample_view(name)
    card = library.render_view(view)

    typed = filled_inputs(card)

    for action in executes(card):
        sent = action["data"] if action.get("associatedInputs") == "None" else action["data"] | typed
        invoke = {"action": {"type": "Action.Execute", "id": "", "verb": action["verb"], "data": sent}}
        parsed = parse_card_action(invoke)
        assert isinstance(parsed, CardAction), (name, action["title"], parsed)
        assert {key: parsed.to_data().get(key) for key in action["data"]} == action["data"]
        fallback = action["fallback"]
        submitted = fallback["data"] if fallback.get("associatedInputs") == "None" else fallback["data"] | typed
        assert parse_card_action(submitted) == parsed


def test_result_buttons_carry_the_view_s_actions(library: CardLibrary) -> None:
    undo = undo_action("fedcba9876543210fedcba9876543210")
    returning = button(Verb.SUBMISSION_RETURN, class_id=CLASS, assignment_id=ASSIGNMENT, submission_id=SUBMISSION)

    card = library.render_view(ResultView(title="Alice Smith — Essay 2", return_button=returning, undo_button=undo))

    parsed = [parse_card_action(action["data"]) for action in card["actions"]]
    assert parsed == [returning, undo]
    assert [action["title"] for action in card["actions"]] == ["Return", "Undo"]


def test_confirm_shows_the_change_and_every_reason(library: CardLibrary) -> None:
    reasons = ["85/100 is scaled from 17/20", "matched “Alcie” to Alice Smith"]
    view = ConfirmView(
        student="Alice Smith",
        assignment="Essay 2",
        old_value="70/100",
        new_value="85/100",
        reasons=reasons,
        confirm_button=button(Verb.GRADE_CONFIRM, nonce="nonce-1"),
        cancel_button=button(Verb.GRADE_CANCEL, nonce="nonce-1"),
    )

    card = library.render_view(view)

    facts = {fact["title"]: fact["value"] for fact in card["body"][1]["facts"]}
    assert facts == {"Student": "Alice Smith", "Assignment": "Essay 2", "Now": "70/100", "New": "85/100"}
    assert [block["text"] for block in card["body"][2]["items"]] == [f"• {reason}" for reason in reasons]
    confirm = parse_card_action(card["actions"][0]["data"])
    assert isinstance(confirm, CardAction)
    assert confirm.nonce == "nonce-1"


def test_confirm_without_a_nonce_is_refused() -> None:
    with pytest.raises(ValueError, match="nonce"):
        ConfirmView(
            student="A",
            assignment="B",
            new_value="1",
            confirm_button=button(Verb.GRADE_CONFIRM),
            cancel_button=button(Verb.GRADE_CANCEL),
        )


def test_a_view_refuses_a_button_with_the_wrong_verb() -> None:
    with pytest.raises(ValueError, match="undo"):
        ResultView(title="x", undo_button=button(Verb.HELP))


def test_pick_with_few_candidates_has_one_button_each_carrying_the_command_and_the_choice(
    library: CardLibrary,
) -> None:
    submit = button(Verb.PICK_STUDENT, class_id=CLASS, extra={"command": "grade", "points": "18", "out_of": "20"})
    candidates = [PickCandidate(id="alex-kim", label="Alex Kim"), PickCandidate(id="alex-lee", label="Alex Lee")]

    card = library.render_view(PickView(title="Which Alex?", candidates=candidates, submit=submit))

    buttons = card["body"][1]["actions"]
    assert [action["title"] for action in buttons] == ["Alex Kim", "Alex Lee"]
    chosen = [parse_card_action(action["data"]) for action in buttons]
    assert all(isinstance(action, CardAction) for action in chosen)
    assert [action.student_id for action in chosen if isinstance(action, CardAction)] == ["alex-kim", "alex-lee"]
    assert all(action.extra == submit.extra for action in chosen if isinstance(action, CardAction))
    assert len({action["data"]["action_key"] for action in buttons}) == 2
    assert not any(element["type"] == "Input.ChoiceSet" for element in card["body"])


def test_pick_with_many_candidates_uses_a_drop_down_and_the_choice_comes_back(library: CardLibrary) -> None:
    submit = button(Verb.PICK_ASSIGNMENT, class_id=CLASS, extra={"command": "status"})
    candidates = [PickCandidate(id=f"assignment-{index}", label=f"Quiz {index}") for index in range(12)]

    card = library.render_view(PickView(title="Which quiz?", candidates=candidates, submit=submit))

    choice_set = next(element for element in card["body"] if element["type"] == "Input.ChoiceSet")
    assert choice_set["id"] == "choice"
    assert [choice["value"] for choice in choice_set["choices"]] == [f"assignment-{index}" for index in range(12)]
    submit_action = card["body"][-1]["actions"][0]
    clicked = parse_card_action(submit_action["data"] | {"choice": "assignment-7"})
    assert isinstance(clicked, CardAction)
    assert clicked.assignment_id == "assignment-7"
    assert clicked.extra == {"command": "status"}


def test_status_lists_names_shortened_and_draws_proportional_bars(library: CardLibrary) -> None:
    view = StatusView(
        title="Essay 2",
        counts=StatusCounts(submitted=3),
        missing=[f"Student {index}" for index in range(20)],
        distribution=[DistributionBin(label="A", count=2), DistributionBin(label="B", count=8)],
    )

    card = library.render_view(view)

    missing = card["body"][2]["items"]
    assert missing[0]["text"] == "Missing (20)"
    assert missing[1]["text"].count("Student") == 15
    assert missing[2]["text"] == "and 5 more"
    rows = card["body"][3]["items"][1:]
    widths = [[column["width"] for column in row["columns"]] for row in rows]
    assert widths == [["64px", 2, 6, "32px"], ["64px", 8, "32px"]]


def test_grade_form_inputs_come_back_as_the_chosen_ids_and_typed_values(library: CardLibrary) -> None:
    card = library.render_view(sample_view("grade_form"))
    ids = [element.get("id") for element in card["body"]]
    assert ids == [None, "choice_assignment", "choice_student", "points", "feedback"]
    assert card["body"][3]["label"] == "Points (out of 100)"
    assert card["body"][3]["min"] == 0
    save = card["actions"][0]
    typed = {"choice_assignment": ASSIGNMENT, "choice_student": STUDENT, "points": "17.5", "feedback": "Good"}

    clicked = parse_card_action(
        {"action": {"type": "Action.Execute", "verb": save["verb"], "data": save["data"] | typed}}
    )

    assert isinstance(clicked, CardAction)
    assert (clicked.verb, clicked.class_id, clicked.assignment_id, clicked.student_id) == (
        Verb.GRADE_SAVE,
        CLASS,
        ASSIGNMENT,
        STUDENT,
    )
    assert (clicked.inputs.points, clicked.inputs.feedback) == (17.5, "Good")


def sheet(rows: int, page: int = 1, name_length: int = 22) -> GradingSheetView:
    return GradingSheetView(
        title="Essay 2 — 7B English",
        class_id=CLASS,
        assignment_id=ASSIGNMENT,
        max_points=100,
        rows=[
            SheetRow(
                submission_id=SubmissionId(str(uuid.UUID(int=index))),
                name=f"{index:03d} " + "N" * (name_length - 4),
                status="Not submitted",
                points=88.5 if index % 2 else None,
            )
            for index in range(rows)
        ],
        page=page,
    )


def points_inputs(card: dict[str, Any]) -> list[str]:
    return [
        item["id"]
        for element in card["body"]
        if element["type"] == "ColumnSet"
        for column in element["columns"]
        for item in column["items"]
        if item["type"] == "Input.Number"
    ]


@pytest.mark.parametrize("name_length", [22, 60, 300])
def test_a_40_student_sheet_page_stays_well_under_the_teams_limit(
    library: CardLibrary, validator: Draft6Validator, name_length: int
) -> None:
    card = library.render_view(sheet(40, name_length=name_length))

    assert len(points_inputs(card)) == 40
    assert size(card) < 24 * 1024
    assert schema_errors(validator, card) == []


def test_a_200_student_sheet_is_paged_and_every_page_fits(library: CardLibrary) -> None:
    pages = [library.render_view(sheet(200, page=page)) for page in range(1, 6)]

    assert [len(points_inputs(card)) for card in pages] == [40] * 5
    assert max(size(card) for card in pages) < 24 * 1024
    all_ids = [input_id for card in pages for input_id in points_inputs(card)]
    assert len(set(all_ids)) == 200
    first, last = pages[0], pages[-1]
    assert [action["title"] for action in first["actions"]] == ["Save all", "Next page (2)"]
    assert [action["title"] for action in last["actions"]] == ["Save all", "Previous page (4)"]
    assert first["body"][2]["text"] == "Page 1 of 5"


def test_sheet_buttons_page_filter_and_save_with_the_typed_points(library: CardLibrary) -> None:
    card = library.render_view(sheet(50, page=1))
    next_page = parse_card_action(card["actions"][1]["data"])
    filters = [parse_card_action(action["data"]) for action in card["body"][1]["actions"]]
    save = card["actions"][0]
    first, second = points_inputs(card)[:2]

    saved = parse_card_action(
        {"action": {"type": "Action.Execute", "verb": save["verb"], "data": save["data"] | {first: "90", second: ""}}}
    )

    assert isinstance(next_page, CardAction)
    assert (next_page.verb, next_page.extra) == (Verb.SHEET_PAGE, {"page": 2, "filter": "all"})
    assert [action.extra["filter"] for action in filters if isinstance(action, CardAction)] == [
        "ungraded",
        "submitted",
        "all",
    ]
    assert isinstance(saved, CardAction)
    assert saved.verb is Verb.SHEET_SAVE_ALL
    assert saved.inputs.sheet_points == {first.removeprefix("points_"): 90.0}


def test_a_page_past_the_end_shows_the_last_page(library: CardLibrary) -> None:
    card = library.render_view(sheet(45, page=9))

    assert len(points_inputs(card)) == 5
    assert card["body"][2]["text"] == "Page 2 of 2"


def test_an_empty_sheet_shows_the_caller_s_text_and_no_save_button(library: CardLibrary) -> None:
    view = GradingSheetView(title="Essay 2", class_id=CLASS, assignment_id=ASSIGNMENT, empty_text="Nothing to grade.")

    card = library.render_view(view)

    assert "Nothing to grade." in texts(card)
    assert card["actions"] == []


def test_progress_bar_columns_are_proportional(library: CardLibrary) -> None:
    card = library.render_view(ProgressView(title="Grading Essay 2", done=12, total=30, failed=3))

    assert card["body"][1]["text"] == "12 of 30"
    columns = card["body"][2]["columns"]
    assert [(column["width"], column["style"]) for column in columns] == [
        (12, "good"),
        (3, "attention"),
        (15, "emphasis"),
    ]


def test_public_result_for_a_channel_shows_no_grades_and_refreshes_privately_for_the_teacher(
    library: CardLibrary, validator: Draft6Validator
) -> None:
    private = ResultView(
        title="Alice Smith — Essay 2",
        points="85/100",
        status="Saved, not yet returned",
        feedback="Great work on the thesis",
    )
    refresh = CardAction(
        verb=Verb.CARD_REFRESH, class_id=CLASS, assignment_id=ASSIGNMENT, submission_id=SUBMISSION, nonce="view-1"
    )

    card = for_user(
        library.render_view(PublicResultView(summary="Essay 2: 1 submission updated")), ["29:teacher"], refresh
    )

    dumped = json.dumps(card, ensure_ascii=False)
    for secret in ("85", "Great work", "Alice", "Saved"):
        assert secret not in dumped
    assert "Essay 2: 1 submission updated" in texts(card)
    assert card["refresh"]["userIds"] == ["29:teacher"]
    assert parse_card_action({"action": card["refresh"]["action"], "trigger": "automatic"}) == refresh
    assert schema_errors(validator, card) == []
    assert "85/100" in json.dumps(library.render_view(private))


def test_the_public_view_cannot_carry_points_or_feedback() -> None:
    with pytest.raises(ValueError, match="points"):
        PublicResultView.model_validate({"summary": "Essay 2: 1 submission updated", "points": "85/100"})


def test_rendering_does_not_change_the_view_s_data(library: CardLibrary) -> None:
    view = sample_view("status")
    before = copy.deepcopy(view.to_data())

    library.render_view(view)

    assert view.to_data() == before
