"""Turning points as typed ("17/20", "85%", "85") into points on the assignment's own scale."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from bot.commands.model import Points

_CENTI = Decimal("0.01")


class PointsProblem(StrEnum):
    """Why typed points cannot be written to an assignment."""

    CREDIT_ONLY = "credit_only"
    """The assignment has no points to give."""


@dataclass(frozen=True)
class ScaledPoints:
    """Points on the assignment's scale, and how they were derived from what the teacher typed."""

    points: Decimal
    max_points: Decimal
    typed: Points
    scaled: bool
    """True when the typed value was a percentage or out of a different maximum."""

    @property
    def over_max(self) -> bool:
        return self.points > self.max_points


def scale_points(typed: Points, max_points: float | None) -> ScaledPoints | PointsProblem:
    """Scale typed points to the assignment's maximum.

    Args:
        typed: the points as the parser read them.
        max_points: the assignment's maxPoints; None for a credit-only assignment.

    Returns:
        The scaled points (rounded half-up to 2 decimals), or the reason they cannot apply.
    """
    if max_points is None:
        return PointsProblem.CREDIT_ONLY
    maximum = Decimal(str(max_points))
    if typed.percent:
        value = typed.value * maximum / Decimal(100)
    elif typed.out_of is not None and typed.out_of != maximum:
        value = typed.value * maximum / typed.out_of
    else:
        return ScaledPoints(points=typed.value, max_points=maximum, typed=typed, scaled=False)
    return ScaledPoints(
        points=value.quantize(_CENTI, rounding=ROUND_HALF_UP), max_points=maximum, typed=typed, scaled=True
    )
