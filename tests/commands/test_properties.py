"""Properties of parse_command over generated text: total, typed, and never a negative or non-finite score."""

from __future__ import annotations

from typing import get_args

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.commands import BulkGrade, Command, Grade, ParseError, Points, parse_command
from bot.commands.model import MAX_POINTS

_RESULT_TYPES = (*get_args(Command), ParseError)
_WORDS = [
    "grade", "give", "set", "mark", "return", "reassign", "send", "back", "feedback", "tell", "excuse", "status",
    "who", "hasn't", "turned", "in", "help", "undo", "sign", "out", "Alice", "Bob's", "James'", "Will", "Essay",
    "Unit", "Quiz", "the", "on", "for", "to", "as", "with", "feedback:", ":", ",", "\n", "85", "8.5", "17/20", "85%",
    "-5", "−3", "0", "1e400", "nan", "inf", "9999999", "5/0", "1001%", "eighty", "five", "minus", "lots", "out of",
    "<at>Grading Assistant</at>", "@Grading", "’", "“", "?", "!", "👍", "\u200b", "\x00", "А", "DROP TABLE",
]  # fmt: skip


def _check_points(points: Points) -> None:
    assert points.value.is_finite()
    assert 0 <= points.value < MAX_POINTS
    if points.out_of is not None:
        assert points.out_of.is_finite()
        assert 0 < points.out_of < MAX_POINTS


def _check(text: str) -> None:
    result = parse_command(text)
    assert isinstance(result, _RESULT_TYPES)
    if isinstance(result, Grade):
        _check_points(result.points)
        assert result.student
        assert result.assignment
    if isinstance(result, BulkGrade):
        for entry in result.entries:
            _check_points(entry.points)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_any_text_gives_a_command_or_a_refusal(text: str) -> None:
    _check(text)


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(_WORDS), max_size=14).map(" ".join))
def test_command_like_text_never_yields_impossible_points(text: str) -> None:
    _check(text)


@settings(max_examples=50, deadline=None)
@given(st.text(min_size=1500, max_size=2500))
def test_long_text_is_handled(text: str) -> None:
    _check(text)
