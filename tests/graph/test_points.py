"""Points validation: what Graph would refuse is refused here first, with a reason the router can word."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.graph.errors import InvalidPoints
from bot.graph.points import validate_points


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0.0),
        (18, 18.0),
        (17.5, 17.5),
        ("18", 18.0),
        ("17.5", 17.5),
        (".5", 0.5),
        ("3.", 3.0),
        (Decimal("9.25"), 9.25),
        (9_999_998.99, 9_999_998.99),
        (-0.0, 0.0),
    ],
)
def test_accepted(value: object, expected: float) -> None:
    result = validate_points(value)
    assert result == expected and math.copysign(1, result) == 1


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (-1, "negative"),
        ("-0.5", "negative"),
        (float("nan"), "not_finite"),
        (float("inf"), "not_finite"),
        (Decimal("NaN"), "not_finite"),
        (Decimal("sNaN"), "not_finite"),
        (9_999_999, "too_large"),
        ("10000000", "too_large"),
        (10**400, "too_large"),
        (True, "not_a_number"),
        (False, "not_a_number"),
        (None, "not_a_number"),
        ("eighty", "not_a_number"),
        ("1e3", "not_a_number"),
        ("nan", "not_a_number"),
        ("inf", "not_a_number"),
        (" 12", "not_a_number"),
        ("1_000", "not_a_number"),
        ("١٢", "not_a_number"),
        ("0x10", "not_a_number"),
        ("", "not_a_number"),
        ([12], "not_a_number"),
    ],
)
def test_refused(value: object, reason: str) -> None:
    with pytest.raises(InvalidPoints) as caught:
        validate_points(value)
    assert caught.value.reason == reason


@given(st.floats(min_value=0, max_value=9_999_998.999, allow_nan=False, allow_infinity=False))
def test_every_finite_value_in_range_passes_unchanged(value: float) -> None:
    assert validate_points(value) == value
    assert validate_points(f"{value:.6f}") == round(value, 6)


@given(st.floats().filter(lambda v: math.isnan(v) or v < 0 or v >= 9_999_999))
def test_every_value_out_of_range_is_refused(value: float) -> None:
    with pytest.raises(InvalidPoints):
        validate_points(value)
