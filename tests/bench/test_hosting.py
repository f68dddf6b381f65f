"""The hosting run end to end with tiny counts: every figure is a number and no bot process is left behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench import hosting
from bench.load import LoadResult


def _children() -> list[int]:
    """Processes whose parent is this test process."""
    found: list[int] = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if int(text[text.rindex(")") + 2 :].split()[1]) == os.getpid():
            found.append(int(stat.parent.name))
    return found


@pytest.mark.slow
async def test_every_hosting_figure_is_measured_and_the_bot_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "HELP_MESSAGES": 60,  # the bot's CPU is read in 10 ms clock ticks: enough help turns to span several
        "GRADE_MESSAGES": 5,
        "LOAD_ACTIVITIES": 8,
        "LOAD_SECONDS": 0.1,
        "LOAD_TENANTS": 2,
        "LOAD_CONCURRENCY": 4,
        "DEBUG_ACTIVITIES": 4,
        "LOAD_LATENCY_SECONDS": 0.01,
    }.items():
        monkeypatch.setattr(hosting, name, value)
    notes: list[str] = []

    figures = await hosting.measure(notes=notes)

    failed = {name: value for name, value in figures.items() if isinstance(value, str)}
    assert not failed, (failed, notes)
    assert set(figures) == set(hosting.FIGURES)
    assert figures["grade_activity_round_trips"] == 1
    assert float(figures["activity_cpu_ms"]) > 0 and float(figures["rss_mb"]) > 10
    assert _children() == []


def test_an_open_loop_rate_counts_the_answers_of_its_steady_window() -> None:
    answered = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]
    kept_up = LoadResult(7, wall_seconds=4.0, latencies=[0.2] * 7, answered_at=answered, steady=(1.0, 3.0))
    assert kept_up.per_second == 2.0  # 1.0, 1.5, 2.0, 2.5 in [1, 3): the warm-up and the drain do not count
    behind = LoadResult(7, wall_seconds=9.0, latencies=[4.0] * 7, answered_at=[5.0] * 7, steady=(1.0, 3.0))
    assert behind.per_second == 0.0  # nothing answered while the load was offered
    assert LoadResult(5, wall_seconds=10.0, latencies=[0.2] * 5).per_second == 0.5  # closed loop: the whole run
