"""Sliding windows over booked grants: the pure arithmetic behind `SharedLimiter` (no I/O, no clock).

A key's state is the list of grants booked on it: `(at, cost, tag)` with `at` in whole microseconds (integers, so
window edges compare exactly on every instance). A `Limit` says what the key allows: at most `capacity` units in any
window `[a, a + seconds)`, for each of its windows, and optionally a minimum spacing between two grants (which turns a
burst into an even stream: 7 a second becomes one every 1/7 s).

`earliest` finds the first moment at or after a lower bound where one more grant of `cost` fits. Grants may be booked
in the future (a waiting sender holds its moment), and a new grant may land between booked ones, so one sender held
back by its own busy conversation never holds up the rest of the tenant.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate

MICROS = 1_000_000
"""Microseconds in a second."""

Entry = tuple[int, int, int]
"""One booked grant: (at in microseconds, cost in units, tag naming the booking)."""


@dataclass(frozen=True)
class Window:
    """At most `capacity` units in any `seconds`-long window."""

    capacity: int
    seconds: float = 1.0

    def __post_init__(self) -> None:
        if self.capacity < 1 or not self.seconds > 0:
            raise ValueError("a window needs a capacity of at least 1 and a positive length")

    @property
    def micros(self) -> int:
        """The window's length in microseconds."""
        return max(1, round(self.seconds * MICROS))


@dataclass(frozen=True)
class Limit:
    """What one shared key allows: every window holds, and grants are at least `spacing` seconds apart.

    Every instance must use the same Limit for a key (they prune the key's history by it).
    """

    key: str
    windows: tuple[Window, ...]
    spacing: float = 0.0

    def __post_init__(self) -> None:
        if not self.key or not self.windows or self.spacing < 0:
            raise ValueError("a limit needs a key, at least one window and a non-negative spacing")

    @classmethod
    def per_second(cls, key: str, rate: float, *, smooth: bool = False, extra: Iterable[Window] = ()) -> Limit:
        """`rate` units in any one second (or one unit per 1/rate s when the rate is below 1).

        Args:
            key: the shared key, e.g. "teams:{tenant}".
            rate: units a second; must be positive.
            smooth: also space grants 1/rate s apart (no bursts).
            extra: further windows the key must respect (e.g. 8 in 2 s).

        Returns:
            The limit.

        Raises:
            ValueError: the rate is not positive.
        """
        if not rate > 0 or math.isinf(rate):
            raise ValueError("a rate must be positive and finite")
        base = Window(math.floor(rate), 1.0) if rate >= 1 else Window(1, 1 / rate)
        return cls(key, (base, *extra), 1 / rate if smooth else 0.0)

    @property
    def capacity(self) -> int:
        """The largest cost one grant can have (the smallest window capacity)."""
        return min(window.capacity for window in self.windows)

    @property
    def horizon(self) -> int:
        """How far back (microseconds) a booked grant can still matter."""
        return max(max(window.micros for window in self.windows), self.spacing_micros)

    @property
    def spacing_micros(self) -> int:
        """The spacing in microseconds."""
        return round(self.spacing * MICROS)


def prune(entries: Iterable[Entry], limit: Limit, now: int) -> list[Entry]:
    """The entries that can still share a window (or spacing) with a grant at `now` or later, in time order."""
    cutoff = now - limit.horizon
    return sorted(entry for entry in entries if entry[0] > cutoff)


def fits(entries: Sequence[Entry], limit: Limit, cost: int, at: int) -> bool:
    """Whether a grant of `cost` at `at` keeps every window of `limit` (and its spacing); `entries` in time order."""
    times = [entry[0] for entry in entries]
    spacing = limit.spacing_micros
    if spacing:
        nearest = bisect_right(times, at - spacing)  # the first grant after `at - spacing`
        if nearest < len(times) and times[nearest] < at + spacing:
            return False
    sums = [0, *accumulate(entry[1] for entry in entries)]
    for window in limit.windows:
        length = window.micros
        # The windows holding `at` start in (at - length, at]; the fullest starts at a grant or at `at` itself.
        first = bisect_right(times, at - length)
        last = bisect_right(times, at)
        for start in [*times[first:last], at]:
            inside = sums[bisect_left(times, start + length)] - sums[bisect_left(times, start)]
            if inside + cost > window.capacity:
                return False
    return True


def earliest(entries: Sequence[Entry], limit: Limit, cost: int, not_before: int) -> int:
    """The first moment at or after `not_before` where a grant of `cost` fits.

    Args:
        entries: the key's booked grants, in time order.
        limit: what the key allows.
        cost: units the grant uses, at most `limit.capacity`.
        not_before: the lower bound, microseconds.

    Returns:
        The moment, microseconds.

    Raises:
        ValueError: `cost` is below 1 or above the limit's capacity (it would never fit).
    """
    if not 1 <= cost <= limit.capacity:
        raise ValueError(f"a grant of {cost} can never fit a limit of {limit.capacity}")
    if fits(entries, limit, cost, not_before):
        return not_before
    # A grant that does not fit at a moment starts to fit only where some booked grant stops counting against it.
    shifts = {window.micros for window in limit.windows}
    if limit.spacing_micros:
        shifts.add(limit.spacing_micros)
    candidates = sorted({entry[0] + shift for entry in entries for shift in shifts if entry[0] + shift > not_before})
    for candidate in candidates:
        if fits(entries, limit, cost, candidate):
            return candidate
    raise AssertionError("unreachable: past every booked grant's horizon a grant always fits")  # pragma: no cover
