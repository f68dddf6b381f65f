"""`python -m bench`: one table, numbers-only JSON, and a failing section does not stop the others."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import bench.__main__ as entry


def test_a_failed_section_is_reported_and_the_others_still_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken() -> entry.Figures:
        raise RuntimeError("sandbox down")

    sections = [
        ("parse", ("parse_median_us", "parse_p99_us"), broken),
        ("graph", ("grade_warm_round_trips", "bulk30_round_trips"), lambda: {"grade_warm_round_trips": 2.0}),
        ("hosting", ("activity_cpu_ms",), lambda: {"activity_cpu_ms": 4.25}),
    ]
    monkeypatch.setattr(entry, "_sections", lambda *_: sections)
    output = tmp_path / "bench.json"

    status = entry.main(["--output", str(output)])

    assert status == 1
    assert json.loads(output.read_text()) == {"grade_warm_round_trips": 2.0, "activity_cpu_ms": 4.25}
    table = capsys.readouterr().out
    assert "parse_median_us" in table and "failed: RuntimeError: sandbox down" in table
    assert "bulk30_round_trips" in table and "failed: not reported" in table
    rows = {line.split()[0]: line for line in table.splitlines() if line.strip()}
    assert rows["grade_warm_round_trips"].rstrip().endswith("MISSED")
    assert rows["activity_cpu_ms"].rstrip().endswith("ok")


def test_every_figure_measured_means_exit_status_zero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        entry, "_sections", lambda *_: [("roster", ("resolve_median_us",), lambda: {"resolve_median_us": 1.5})]
    )
    output = tmp_path / "out" / "bench.json"

    assert entry.main(["--output", str(output)]) == 0
    assert json.loads(output.read_text()) == {"resolve_median_us": 1.5}


@pytest.mark.parametrize(
    ("goal", "value", "met"),
    [(entry.Goal("<", 5.4), 5.3, True), (entry.Goal("<", 5.4), 5.4, False), (entry.Goal(">=", 240), 240, True)],
)
def test_goals(goal: entry.Goal, value: float, met: bool) -> None:
    assert goal.met(value) is met
