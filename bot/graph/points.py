"""Checks on the points a teacher gives, made before anything is sent to Graph."""

from __future__ import annotations

import math
import re
from decimal import Decimal

from bot.graph.errors import InvalidPoints

__all__ = ["MAX_POINTS_EXCLUSIVE", "validate_points"]

MAX_POINTS_EXCLUSIVE = 9_999_999.0
"""Graph's limit: "Points must be less than 9999999 when using PointsGradeType"."""

_PLAIN_DECIMAL = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def validate_points(value: object) -> float:
    """Return `value` as points Graph will accept.

    Args:
        value: an int, float or Decimal, or a string holding a plain decimal such as "18" or "17.5".

    Returns:
        The points as a float (never -0.0).

    Raises:
        InvalidPoints: `reason` is "not_a_number" (bool, None, "1e3", "eighty", ...), "not_finite" (NaN, infinity),
            "negative", or "too_large" (9,999,999 or more).
    """
    if isinstance(value, bool):
        raise InvalidPoints("not_a_number")
    if isinstance(value, str):
        if not _PLAIN_DECIMAL.fullmatch(value):
            raise InvalidPoints("not_a_number")
        number = float(value)
    elif isinstance(value, int | float | Decimal):
        try:
            number = float(value)
        except OverflowError:
            raise InvalidPoints("too_large") from None
        except ValueError:  # Decimal("sNaN")
            raise InvalidPoints("not_finite") from None
    else:
        raise InvalidPoints("not_a_number")
    if math.isnan(number) or math.isinf(number):
        raise InvalidPoints("not_finite")
    if number < 0:
        raise InvalidPoints("negative")
    if number >= MAX_POINTS_EXCLUSIVE:
        raise InvalidPoints("too_large")
    return number + 0.0
