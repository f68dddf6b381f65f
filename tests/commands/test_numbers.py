"""Points phrases: digits, fractions, percentages, number words, and the refusals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.commands import ParseError, ParseErrorReason, Points, parse_points
from bot.commands.numbers import words_to_int


@pytest.mark.parametrize(
    ("text", "value", "out_of", "percent"),
    [
        ("85", "85", None, False),
        ("8.5", "8.5", None, False),
        ("+7", "7", None, False),
        ("92.", "92", None, False),
        ("17/20", "17", "20", False),
        ("17 / 20", "17", "20", False),
        ("17 out of 20", "17", "20", False),
        ("85%", "85", None, True),
        ("85 percent", "85", None, True),
        ("1000%", "1000", None, True),
        ("85 points", "85", None, False),
        ("eighty five", "85", None, False),
        ("Eighty-Five out of a hundred", "85", "100", False),
        ("9999998", "9999998", None, False),
    ],
)
def test_valid_points_keep_the_shape_typed(text: str, value: str, out_of: str | None, percent: bool) -> None:
    points = parse_points(text)
    assert isinstance(points, Points)
    assert (points.value, points.out_of, points.percent) == (
        Decimal(value),
        Decimal(out_of) if out_of else None,
        percent,
    )
    assert points.text == text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("-5", ParseErrorReason.NEGATIVE_POINTS),
        ("-five", ParseErrorReason.NEGATIVE_POINTS),
        ("nan", ParseErrorReason.INVALID_POINTS),
        ("-nan", ParseErrorReason.INVALID_POINTS),
        ("inf", ParseErrorReason.INVALID_POINTS),
        ("1e400", ParseErrorReason.INVALID_POINTS),
        ("9999999", ParseErrorReason.INVALID_POINTS),
        ("5/0", ParseErrorReason.INVALID_POINTS),
        ("5/-1", ParseErrorReason.INVALID_POINTS),
        ("1000.01%", ParseErrorReason.INVALID_POINTS),
        ("5/10%", ParseErrorReason.INVALID_POINTS),
        ("1,5", ParseErrorReason.INVALID_POINTS),
        ("lots", ParseErrorReason.INVALID_POINTS),
        ("", ParseErrorReason.INVALID_POINTS),
    ],
)
def test_refused_points_say_why(text: str, reason: ParseErrorReason) -> None:
    result = parse_points(text, usage="grade Alice 85 on Essay 2")
    assert isinstance(result, ParseError)
    assert result.reason is reason
    assert result.usage == "grade Alice 85 on Essay 2"


@pytest.mark.parametrize(
    ("text", "value"),
    [("zero", 0), ("seven", 7), ("nineteen", 19), ("forty", 40), ("ninety-nine", 99), ("a hundred", 100)],
)
def test_number_words(text: str, value: int) -> None:
    assert words_to_int(text) == value


@pytest.mark.parametrize("text", ["twenty twenty", "ten five", "hundred one", "lots", ""])
def test_not_number_words(text: str) -> None:
    assert words_to_int(text) is None
