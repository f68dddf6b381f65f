"""The window arithmetic: a grant lands at the first moment every window and the spacing allow, never earlier."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.limits.window import MICROS, Entry, Limit, Window, earliest, fits, prune

SECOND = MICROS


def book(entries: list[Entry], limit: Limit, cost: int, not_before: int) -> int:
    at = earliest(sorted(entries), limit, cost, not_before)
    entries.append((at, cost, len(entries)))
    return at


def peak(entries: list[Entry], length: int) -> int:
    """The most units booked in any window [a, a + length)."""
    return max(sum(c for t, c, _ in entries if start <= t < start + length) for start, _, _ in entries)


def test_a_full_second_sends_the_next_grant_to_one_second_after_the_first() -> None:
    limit = Limit.per_second("k", 3)
    entries: list[Entry] = []
    assert [book(entries, limit, 1, 0) for _ in range(4)] == [0, 0, 0, SECOND]


def test_smooth_limits_space_grants_evenly() -> None:
    limit = Limit.per_second("k", 4, smooth=True)
    entries: list[Entry] = []
    assert [book(entries, limit, 1, 0) for _ in range(3)] == [0, SECOND // 4, SECOND // 2]


def test_a_grant_fits_into_a_gap_between_future_bookings() -> None:
    limit = Limit.per_second("k", 4, smooth=True)
    entries: list[Entry] = [(0, 1, 0), (SECOND, 1, 1)]
    assert book(entries, limit, 1, 0) == SECOND // 4


def test_a_grant_that_would_overfill_a_later_window_waits() -> None:
    limit = Limit.per_second("k", 2)
    entries: list[Entry] = [(SECOND // 2, 2, 0)]
    # At 0 the window [0, 1 s) would hold 3; the grant goes where the booked pair no longer shares a window.
    assert book(entries, limit, 1, 0) == SECOND + SECOND // 2


def test_a_batch_counts_all_its_units() -> None:
    limit = Limit.per_second("k", 28)
    entries: list[Entry] = []
    assert book(entries, limit, 20, 0) == 0
    assert book(entries, limit, 8, 0) == 0
    assert book(entries, limit, 1, 0) == SECOND


def test_a_cost_above_the_capacity_is_refused() -> None:
    with pytest.raises(ValueError, match="never fit"):
        earliest([], Limit.per_second("k", 5), 6, 0)


def test_rates_below_one_widen_the_window() -> None:
    limit = Limit.per_second("k", 0.5)
    entries: list[Entry] = []
    assert [book(entries, limit, 1, 0) for _ in range(2)] == [0, 2 * SECOND]


def test_old_grants_are_pruned_only_when_they_no_longer_matter() -> None:
    limit = Limit("k", (Window(7, 1.0), Window(8, 2.0)))
    entries: list[Entry] = [(0, 1, 0), (SECOND, 1, 1), (2 * SECOND + 1, 1, 2)]
    assert prune(entries, limit, 2 * SECOND) == [(SECOND, 1, 1), (2 * SECOND + 1, 1, 2)]


def test_limits_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="capacity"):
        Window(0)
    with pytest.raises(ValueError, match="rate"):
        Limit.per_second("k", 0)
    with pytest.raises(ValueError, match="key"):
        Limit("", (Window(1),))


bookings = st.lists(
    st.tuples(st.integers(0, 3 * SECOND), st.integers(1, 3)),
    min_size=1,
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(bookings, st.sampled_from([0.0, 0.2]))
def test_any_sequence_of_bookings_keeps_every_window(requests: list[tuple[int, int]], spacing: float) -> None:
    limit = Limit("k", (Window(5, 1.0), Window(7, 2.0)), spacing)
    entries: list[Entry] = []
    for not_before, cost in requests:
        at = book(entries, limit, cost, not_before)
        assert at >= not_before
        assert at == not_before or not fits(sorted(entries[:-1]), limit, cost, at - 1), "the earliest moment"
    assert peak(entries, SECOND) <= 5
    assert peak(entries, 2 * SECOND) <= 7
    times = sorted(t for t, _, _ in entries)
    assert all(b - a >= round(spacing * MICROS) for a, b in pairwise(times))
