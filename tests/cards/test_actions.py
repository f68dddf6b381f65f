"""The button contract: CardAction payloads, their Action.Submit twins, and the server-side check of clicks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft6Validator

from bot.cards.actions import (
    CardAction,
    CardActionError,
    CardActionErrorReason,
    Verb,
    for_user,
    parse_card_action,
    with_submit_fallbacks,
)
from bot.graph.ids import AssignmentId, ClassId, SubmissionId, UserId

SCHEMA_PATH = Path(__file__).parents[2] / ".." / "shared" / "specs" / "adaptive-card.schema.json"
EXAMPLES = Path(__file__).parents[2] / ".." / "shared" / "specs" / "examples" / "teams"
CLASS = ClassId("72a7baec-3a3d-4a1c-8d7e-0f9e1b2c3d4e")
ASSIGNMENT = AssignmentId("ad8afb28-c138-4ad7-b7f5-a6986c2655a8")
SUBMISSION = SubmissionId("aa2cb28b-9a53-4e0b-4f3b-1c9bc1a8e3c1")
TARGET = {"class_id": CLASS, "assignment_id": ASSIGNMENT, "submission_id": SUBMISSION}


def invoke(data: dict[str, Any], verb: str | None = None) -> dict[str, Any]:
    """An adaptiveCard/action invoke's value, shaped like Microsoft's documented example."""
    return {
        "action": {"type": "Action.Execute", "id": "abc", "verb": verb or data.get("verb"), "data": data},
        "trigger": "manual",
    }


def return_button(**changes: Any) -> CardAction:
    return CardAction(verb=Verb.SUBMISSION_RETURN, **(TARGET | changes))


def test_execute_data_round_trips_to_the_same_action() -> None:
    action = CardAction(
        verb=Verb.GRADE_CONFIRM, nonce="n-1", student_id=UserId("sandbox.user_7"), extra={"scaled": True}
    )

    execute = action.to_execute("Confirm")

    assert parse_card_action(invoke(execute["data"], execute["verb"])) == action
    assert parse_card_action(execute["fallback"]["data"]) == action


def test_execute_carries_its_submit_twin_as_fallback_and_both_are_valid() -> None:
    action = return_button(extra={"page": 2})
    validator = Draft6Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))

    execute = action.to_execute("Return")
    card = {"type": "AdaptiveCard", "version": "1.5", "actions": [execute, action.to_submit_fallback("Return")]}

    assert execute["type"] == "Action.Execute"
    assert execute["verb"] == "submission.return"
    assert execute["fallback"] == {"type": "Action.Submit", "title": "Return", "data": execute["data"]}
    assert execute["data"] == {
        "verb": "submission.return",
        "action_key": action.action_key,
        **TARGET,
        "extra": {"page": 2},
    }
    assert list(validator.iter_errors(card)) == []


def test_each_button_gets_its_own_action_key_and_with_changes_makes_a_new_button() -> None:
    first, second = return_button(), return_button()
    changed = first.with_changes(submission_id="other-submission")

    assert first.action_key != second.action_key
    assert changed.action_key != first.action_key
    assert (changed.verb, changed.class_id, changed.submission_id) == (first.verb, CLASS, "other-submission")


def test_a_button_cannot_be_built_with_a_malformed_id() -> None:
    with pytest.raises(ValueError, match="class_id"):
        CardAction(verb=Verb.HELP, class_id=ClassId("../../etc/passwd"))


def test_the_documented_invoke_shape_is_read() -> None:
    documented = json.loads((EXAMPLES / "invoke.adaptiveCard-action.request-format.json").read_text(encoding="utf-8"))
    value = documented["activity"]["value"]
    value["action"]["verb"] = "help"
    value["action"]["data"] = {"action_key": "k1"}

    assert parse_card_action(value) == CardAction(verb=Verb.HELP, action_key="k1")


@pytest.mark.parametrize(
    ("payload", "reason", "field"),
    [
        ({"verb": "grade.delete_everything", "action_key": "k"}, CardActionErrorReason.UNKNOWN_VERB, "verb"),
        ({"action_key": "k"}, CardActionErrorReason.UNKNOWN_VERB, "verb"),
        ({"verb": 5, "action_key": "k"}, CardActionErrorReason.UNKNOWN_VERB, "verb"),
        ({"verb": "help"}, CardActionErrorReason.MISSING_FIELD, "action_key"),
        ({"verb": "help", "action_key": "k k"}, CardActionErrorReason.MALFORMED_FIELD, "action_key"),
        ({"verb": "submission.return", "action_key": "k"}, CardActionErrorReason.MISSING_FIELD, "assignment_id"),
        (
            {"verb": "submission.return", "action_key": "k", "class_id": CLASS, "assignment_id": ASSIGNMENT},
            CardActionErrorReason.MISSING_FIELD,
            "submission_id",
        ),
        (
            {"verb": "submission.return", "action_key": "k", **TARGET, "class_id": "x' OR 1=1"},
            CardActionErrorReason.MALFORMED_FIELD,
            "class_id",
        ),
        (
            {"verb": "submission.return", "action_key": "k", **TARGET, "submission_id": "a" * 129},
            CardActionErrorReason.MALFORMED_FIELD,
            "submission_id",
        ),
        (
            {"verb": "submission.return", "action_key": "k", **TARGET, "submission_id": 42},
            CardActionErrorReason.MALFORMED_FIELD,
            "submission_id",
        ),
        ({"verb": "undo", "action_key": "k"}, CardActionErrorReason.MISSING_FIELD, "extra.change"),
        ({"verb": "grade.confirm", "action_key": "k", "nonce": "a/b"}, CardActionErrorReason.MALFORMED_FIELD, "nonce"),
        (
            {"verb": "undo", "action_key": "k", "extra": {"change": "../../x"}},
            CardActionErrorReason.MALFORMED_FIELD,
            "extra.change",
        ),
        ({"verb": "help", "action_key": "k", "extra": "x"}, CardActionErrorReason.MALFORMED_FIELD, "extra"),
        (
            {"verb": "help", "action_key": "k", "extra": {"nested": {"a": 1}}},
            CardActionErrorReason.MALFORMED_FIELD,
            "extra.nested.str",
        ),
        (
            {"verb": "sheet.filter", "action_key": "k", "class_id": CLASS, "assignment_id": ASSIGNMENT},
            CardActionErrorReason.MISSING_FIELD,
            "extra.filter",
        ),
        (
            {"verb": "sheet.filter", "action_key": "k", **TARGET, "extra": {"filter": "everyone's grades"}},
            CardActionErrorReason.MALFORMED_FIELD,
            "extra.filter",
        ),
        (
            {"verb": "sheet.page", "action_key": "k", **TARGET, "extra": {"page": "2"}},
            CardActionErrorReason.MALFORMED_FIELD,
            "extra.page",
        ),
        ({"verb": "help", "action_key": "k", "points": "eighty"}, CardActionErrorReason.BAD_POINTS, "points"),
        ({"verb": "help", "action_key": "k", "points": "-5"}, CardActionErrorReason.BAD_POINTS, "points"),
        ({"verb": "help", "action_key": "k", "points": "1e9"}, CardActionErrorReason.BAD_POINTS, "points"),
        ({"verb": "help", "action_key": "k", "points": "NaN"}, CardActionErrorReason.BAD_POINTS, "points"),
        ({"verb": "help", "action_key": "k", "points": True}, CardActionErrorReason.BAD_POINTS, "points"),
        ({"verb": "help", "action_key": "k", "points": float("inf")}, CardActionErrorReason.BAD_POINTS, "points"),
        ({"verb": "help", "action_key": "k", "points": "٨٥"}, CardActionErrorReason.BAD_POINTS, "points"),
        (
            {"verb": "sheet.save_all", "action_key": "k", **TARGET, f"points_{SUBMISSION}": "ninety"},
            CardActionErrorReason.BAD_POINTS,
            f"points_{SUBMISSION}",
        ),
        (
            {"verb": "sheet.save_all", "action_key": "k", **TARGET, "points_../x": "90"},
            CardActionErrorReason.MALFORMED_FIELD,
            "points_../x",
        ),
        ({"verb": "help", "action_key": "k", "feedback": ["a"]}, CardActionErrorReason.BAD_INPUT, "feedback"),
        ({"verb": "help", "action_key": "k", "feedback": "x" * 10_001}, CardActionErrorReason.BAD_INPUT, "feedback"),
        (
            {"verb": "pick.student", "action_key": "k", "choice": "a,b"},
            CardActionErrorReason.MALFORMED_FIELD,
            "choice",
        ),
    ],
)
def test_forged_or_malformed_payloads_are_refused(
    payload: dict[str, Any], reason: CardActionErrorReason, field: str
) -> None:
    for shape in (payload, invoke(payload, payload.get("verb") if isinstance(payload.get("verb"), str) else None)):
        assert parse_card_action(shape) == CardActionError(reason=reason, field=field)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"action": {"type": "Action.Submit", "data": {}}}, "action.type"),
        ({"action": {"type": "Action.Execute", "verb": "help", "data": "help"}}, "action.data"),
    ],
)
def test_malformed_invokes_are_refused(payload: dict[str, Any], field: str) -> None:
    assert parse_card_action(payload) == CardActionError(reason=CardActionErrorReason.NOT_AN_OBJECT, field=field)


def test_a_payload_that_is_not_an_object_is_refused() -> None:
    assert parse_card_action(["verb", "help"]) == CardActionError(reason=CardActionErrorReason.NOT_AN_OBJECT)  # type: ignore[arg-type]


def test_a_verb_in_data_that_differs_from_the_action_s_verb_is_refused() -> None:
    data = return_button().to_data()

    assert parse_card_action(invoke(data, "submission.excuse")) == CardActionError(
        reason=CardActionErrorReason.VERB_MISMATCH, field="verb"
    )


def test_inputs_merged_into_execute_data_are_extracted() -> None:
    data = CardAction(verb=Verb.GRADE_SAVE, class_id=CLASS).to_data() | {
        "choice_assignment": ASSIGNMENT,
        "choice_student": "student-1",
        "points": " 17.5 ",
        "feedback": "Well argued.\nCite sources.",
    }

    action = parse_card_action(invoke(data))

    assert isinstance(action, CardAction)
    assert (action.assignment_id, action.student_id) == (ASSIGNMENT, "student-1")
    assert (action.inputs.points, action.inputs.feedback) == (17.5, "Well argued.\nCite sources.")


def test_submit_value_gives_the_same_inputs() -> None:
    data = CardAction(verb=Verb.SUBMISSION_REASSIGN, **TARGET).to_data() | {"feedback": "Please add sources"}

    from_submit = parse_card_action(data)
    from_execute = parse_card_action(invoke(data))

    assert isinstance(from_submit, CardAction)
    assert from_submit == from_execute
    assert from_submit.inputs.feedback == "Please add sources"


def test_empty_inputs_mean_not_entered() -> None:
    data = CardAction(verb=Verb.GRADE_SAVE, **TARGET).to_data() | {"points": "", "feedback": "", "choice_student": ""}

    action = parse_card_action(data)

    assert isinstance(action, CardAction)
    assert (action.inputs.points, action.inputs.feedback, action.student_id) == (None, None, None)


def test_sheet_points_are_read_from_points_fields_and_blank_ones_skipped() -> None:
    data = CardAction(verb=Verb.SHEET_SAVE_ALL, class_id=CLASS, assignment_id=ASSIGNMENT).to_data() | {
        "points_sub-1": "90",
        "points_sub-2": "",
        "points_sub.3": 0,
        "points_sub_4": "12.25",
    }

    action = parse_card_action(invoke(data))

    assert isinstance(action, CardAction)
    assert action.inputs.sheet_points == {"sub-1": 90.0, "sub.3": 0.0, "sub_4": 12.25}


def test_a_pick_choice_fills_the_id_the_verb_picks() -> None:
    base = CardAction(verb=Verb.PICK_CLASS, extra={"command": "status", "assignment": "Essay 2"})

    action = parse_card_action(invoke(base.to_data() | {"choice": "class-42"}))

    assert isinstance(action, CardAction)
    assert (action.class_id, action.extra) == ("class-42", {"command": "status", "assignment": "Essay 2"})


def test_a_pick_without_a_choice_is_refused() -> None:
    assert parse_card_action(CardAction(verb=Verb.PICK_STUDENT).to_data()) == CardActionError(
        reason=CardActionErrorReason.MISSING_FIELD, field="student_id"
    )


def test_unknown_keys_are_ignored() -> None:
    data = return_button().to_data() | {"msteams": {"type": "messageBack"}, "unrelated": "x"}

    assert parse_card_action(data) == parse_card_action(return_button(action_key=data["action_key"]).to_data())


def test_for_user_adds_a_refresh_for_the_listed_users_only() -> None:
    card = {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "Essay 2 updated"}]}
    refresh = CardAction(verb=Verb.CARD_REFRESH, **TARGET)
    validator = Draft6Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))

    private = for_user(card, ["29:teacher-a", "29:teacher-b"], refresh)

    assert private["refresh"] == {
        "action": {"type": "Action.Execute", "verb": "card.refresh", "data": refresh.to_data()},
        "userIds": ["29:teacher-a", "29:teacher-b"],
    }
    assert private["body"] == card["body"]
    assert "refresh" not in card
    assert list(validator.iter_errors(private)) == []


def test_for_user_without_a_refresh_action_uses_a_bare_card_refresh() -> None:
    private = for_user({"type": "AdaptiveCard", "version": "1.5"}, ["29:t"])

    parsed = parse_card_action(invoke(private["refresh"]["action"]["data"]))
    assert isinstance(parsed, CardAction)
    assert parsed.verb is Verb.CARD_REFRESH


@pytest.mark.parametrize("users", [[], [f"29:u{index}" for index in range(61)]])
def test_for_user_refuses_an_empty_or_too_long_user_list(users: list[str]) -> None:
    with pytest.raises(ValueError, match="1 to 60"):
        for_user({"type": "AdaptiveCard", "version": "1.5"}, users)


def test_for_user_refuses_a_refresh_with_another_verb() -> None:
    with pytest.raises(ValueError, match=r"card\.refresh"):
        for_user({"type": "AdaptiveCard", "version": "1.5"}, ["29:t"], return_button())


def test_submit_fallbacks_skip_the_refresh_and_keep_existing_fallbacks() -> None:
    own = {"type": "Action.Submit", "title": "Old", "data": {"verb": "help"}}
    card = for_user(
        {
            "type": "AdaptiveCard",
            "version": "1.5",
            "actions": [
                {"type": "Action.Execute", "title": "Go", "verb": "help", "data": {"verb": "help"}},
                {"type": "Action.Execute", "title": "Keep", "verb": "help", "fallback": own},
            ],
        },
        ["29:t"],
    )

    result = with_submit_fallbacks(card)

    assert "fallback" not in result["refresh"]["action"]
    assert result["actions"][0]["fallback"] == {"type": "Action.Submit", "title": "Go", "data": {"verb": "help"}}
    assert result["actions"][1]["fallback"] is not own
    assert result["actions"][1]["fallback"] == own
    assert "fallback" not in card["actions"][0]
