"""parse_command behaviour beyond the corpus: options, limits, model guarantees."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from bot.commands import (
    MAX_TEXT_CHARS,
    USAGE,
    BulkGrade,
    Grade,
    ParseError,
    ParseErrorReason,
    Points,
    Undo,
    parse_command,
)


def test_every_usage_example_is_itself_a_valid_command() -> None:
    for key, usage in USAGE.items():
        result = parse_command(usage)
        assert not isinstance(result, ParseError), key
        assert result.kind == key


def test_refusals_carry_the_usage_of_the_command_they_were_closest_to() -> None:
    assert parse_command("excuse Alice") == ParseError(
        reason=ParseErrorReason.MISSING_ASSIGNMENT, usage=USAGE["excuse"]
    )
    assert parse_command("banana split") == ParseError(reason=ParseErrorReason.UNKNOWN_COMMAND, usage=USAGE["help"])


def test_bot_names_are_configurable_and_removed_anywhere() -> None:
    assert parse_command("<at>Marker Bot</at> undo", bot_names=("Marker Bot",)) == Undo()
    result = parse_command("grade Alice 85 on Essay 2 <at>Marker Bot</at>", bot_names=("Marker Bot",))
    assert isinstance(result, Grade)
    assert result.assignment == "Essay 2"
    assert parse_command("@Marker Bot", bot_names=("Marker Bot",)) == ParseError(reason=ParseErrorReason.ONLY_MENTION)


def test_length_limit_is_checked_on_the_raw_text() -> None:
    command = "grade Alice 85 on Essay 2"
    at_limit = command + " " * (MAX_TEXT_CHARS - len(command))
    assert isinstance(parse_command(at_limit), Grade)
    assert parse_command(at_limit + " ") == ParseError(reason=ParseErrorReason.TOO_LONG)


def test_long_feedback_below_the_limit_is_kept_whole() -> None:
    feedback = "Good work. " * 150
    result = parse_command(f"grade Alice 85 on Essay 2 with feedback: {feedback}")
    assert isinstance(result, Grade)
    assert result.feedback == feedback.strip()


def test_points_keep_what_was_typed() -> None:
    result = parse_command("grade Alice 17 out of 20 on Quiz 1")
    assert isinstance(result, Grade)
    assert result.points == Points(value=Decimal(17), out_of=Decimal(20), percent=False, text="17 out of 20")


def test_look_alike_letters_are_kept_not_folded() -> None:
    cyrillic_a = "\u0410"
    result = parse_command(f"grade {cyrillic_a}lice 85 on Essay 2")
    assert isinstance(result, Grade)
    assert result.student == f"{cyrillic_a}lice"
    assert result.student != "Alice"


def test_names_are_nfc_normalised() -> None:
    result = parse_command("grade Zoe\u0308 85 on Essay 2")
    assert isinstance(result, Grade)
    assert result.student == "Zo\u00eb"


def test_commands_are_frozen() -> None:
    result = parse_command("grade Alice 85 on Essay 2")
    assert isinstance(result, Grade)
    with pytest.raises(ValidationError):
        result.student = "Bob"  # pyright: ignore[reportAttributeAccessIssue]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"value": Decimal(-1), "text": "-1"},
        {"value": Decimal("NaN"), "text": "NaN"},
        {"value": Decimal(1), "out_of": Decimal(0), "text": "1/0"},
        {"value": Decimal(50), "out_of": Decimal(100), "percent": True, "text": "50/100%"},
        {"value": Decimal(1001), "percent": True, "text": "1001%"},
    ],
)
def test_points_model_refuses_impossible_values(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Points.model_validate(kwargs)


def test_bulk_grade_keeps_order_and_each_points_shape() -> None:
    result = parse_command("grade Quiz 1:\nAlice 17/20\nBob 90%\nCarol 8.5")
    assert isinstance(result, BulkGrade)
    assert [(e.student, e.points.value, e.points.out_of, e.points.percent) for e in result.entries] == [
        ("Alice", Decimal(17), Decimal(20), False),
        ("Bob", Decimal(90), None, True),
        ("Carol", Decimal("8.5"), None, False),
    ]


def test_a_single_grade_followed_by_a_colon_is_not_read_as_a_bulk_grade() -> None:
    result = parse_command("grade Alice 85 on Essay 2: Good 95")
    assert isinstance(result, Grade)
    assert (result.student, result.points.value) == ("Alice", Decimal(85))
