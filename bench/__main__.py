"""`make bench` (`python -m bench [--profile DIR]`): every benchmark, one table, and `build/bench.json`.

Each section runs on its own; one that fails prints "failed: <reason>" for its figures and the others still run.
`build/bench.json` holds one key per figure that was measured, numbers only (failed figures are left out).
The hosting figures use the production storage (a fresh SQLite file) unless `--storage memory://` says otherwise.
With `--profile DIR` the bot process is also profiled (cProfile) over the help and grade runs, after the figures are
taken, and its top functions are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import operator
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import actions, fanout, graph, hosting, instances, machine, parse, roster

OUTPUT = Path(__file__).resolve().parents[1] / "build" / "bench.json"

Figures = dict[str, float | str]


@dataclass(frozen=True)
class Goal:
    """A target a figure should meet, e.g. `Goal("<", 5.4)`."""

    comparison: str
    target: float

    def met(self, value: float) -> bool:
        compare = {"<": operator.lt, "<=": operator.le, ">=": operator.ge, ">": operator.gt, "==": operator.eq}
        return compare[self.comparison](value, self.target)

    def __str__(self) -> str:
        return f"{self.comparison} {self.target:g}"


@dataclass(frozen=True)
class Figure:
    """One row of the table."""

    name: str
    unit: str
    goal: Goal | None = None


FIGURES = (
    Figure("machine_reference_ms", "ms CPU"),
    Figure("machine_reference_after_ms", "ms CPU"),
    Figure("parse_median_us", "µs"),
    Figure("parse_p99_us", "µs"),
    Figure("resolve_median_us", "µs"),
    Figure("resolve_p99_us", "µs"),
    Figure("grade_cold_round_trips", "trips"),
    Figure("grade_cold_ms", "ms"),
    Figure("grade_warm_round_trips", "trips", Goal("<=", 1)),
    Figure("grade_warm_ms", "ms"),
    Figure("grade_and_return_warm_round_trips", "trips", Goal("<=", 1)),
    Figure("grade_and_return_warm_ms", "ms"),
    Figure("bulk30_round_trips", "trips", Goal("<=", 2)),
    Figure("bulk30_ms", "ms"),
    Figure("startup_s", "s"),
    Figure("activity_cpu_ms", "ms CPU", Goal("<", 5.4)),
    Figure("grade_activity_cpu_ms", "ms CPU"),
    Figure("grade_activity_round_trips", "trips", Goal("<=", 1)),
    Figure("activities_per_s", "1/s", Goal(">=", 240)),
    Figure("activity_p50_ms", "ms"),
    Figure("activity_p95_ms", "ms", Goal("<", 500)),
    Figure("closed_loop_activities_per_s", "1/s"),
    Figure("closed_loop_p95_ms", "ms"),
    Figure("activities_per_s_one_tenant", "1/s"),
    Figure("activity_p95_ms_one_tenant", "ms"),
    Figure("load_bot_cpu_pct", "% core"),
    Figure("load_parent_cpu_pct", "% core"),
    Figure("max_loop_lag_ms", "ms", Goal("<", 50)),
    Figure("loop_lags_over_50ms", "count"),
    Figure("slow_callbacks", "count", Goal("==", 0)),
    Figure("slow_callbacks_debug_mode", "count"),
    Figure("rss_mb", "MiB"),
    Figure("fanout_1000_simulated_s", "s"),
    Figure("fanout_peak_per_conversation_per_s", "1/s", Goal("<=", 7)),
    Figure("fanout_peak_per_tenant_per_s", "1/s", Goal("<=", 25)),
    Figure("instances1_activities_per_s", "1/s"),
    Figure("instances1_p95_ms", "ms"),
    Figure("instances2_activities_per_s", "1/s"),
    Figure("instances2_p95_ms", "ms"),
    Figure("instances_duplicate_writes", "count", Goal("==", 0)),
)


def _numbers(result: dict[str, float]) -> Figures:
    return {name: float(value) for name, value in result.items()}


def _sections(
    storage_url: str, profile_dir: Path | None, notes: list[str]
) -> list[tuple[str, tuple[str, ...], Callable[[], Figures]]]:
    """(section, the figures it reports, how to run it)."""

    def write_path(measure: Callable[[], tuple[dict[str, float], dict[str, str]]]) -> Callable[[], Figures]:
        def run() -> Figures:
            figures, how = measure()
            notes.extend(f"{name}: measured through {text}" for name, text in how.items())
            return _numbers(figures)

        return run

    return [
        ("machine", ("machine_reference_ms",), lambda: {"machine_reference_ms": machine.reference_ms()}),
        ("parse", ("parse_median_us", "parse_p99_us"), lambda: _numbers(parse.run())),
        ("roster", ("resolve_median_us", "resolve_p99_us"), lambda: _numbers(roster.run())),
        (
            "graph",
            ("grade_cold_round_trips", "grade_cold_ms", "grade_warm_round_trips", "grade_warm_ms"),
            lambda: _numbers(graph.run()),
        ),
        (
            "save & return",
            ("grade_and_return_warm_round_trips", "grade_and_return_warm_ms"),
            write_path(lambda: asyncio.run(actions.save_and_return())),
        ),
        ("bulk", ("bulk30_round_trips", "bulk30_ms"), write_path(lambda: asyncio.run(actions.bulk30()))),
        (
            "fan-out",
            ("fanout_1000_simulated_s", "fanout_peak_per_conversation_per_s", "fanout_peak_per_tenant_per_s"),
            lambda: _numbers(fanout.run()),
        ),
        (
            "hosting",
            hosting.FIGURES,
            lambda: hosting.run(storage_url=storage_url, profile_dir=profile_dir, notes=notes),
        ),
        ("machine", ("machine_reference_after_ms",), lambda: {"machine_reference_after_ms": machine.reference_ms()}),
        ("instances", instances.FIGURES, lambda: instances.run(notes)),
    ]


def _shown(value: float | str) -> str:
    if isinstance(value, str):
        return value
    return f"{value:.3f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:.1f}"


def _table(results: Figures) -> str:
    rows = [("figure", "value", "unit", "goal", "")]
    for figure in FIGURES:
        value = results.get(figure.name, "failed: not measured")
        verdict = ""
        if figure.goal is not None and not isinstance(value, str):
            verdict = "ok" if figure.goal.met(value) else "MISSED"
        rows.append((figure.name, _shown(value), figure.unit, str(figure.goal or ""), verdict))
    widths = [max(len(row[column]) for row in rows if not row[1].startswith("failed")) for column in range(5)]
    lines: list[str] = []
    for row in rows:
        if row[1].startswith("failed"):
            lines.append(f"{row[0]:<{widths[0]}}  {row[1]}")
            continue
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run every section, print the table and write build/bench.json; exit 1 if any figure failed."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--profile", type=Path, metavar="DIR", help="also profile the bot process; write .prof here")
    parser.add_argument(
        "--storage",
        default="sqlite",
        help='the bot\'s STORAGE_URL for the hosting figures; "sqlite" (default, as in production) = a fresh file',
    )
    parser.add_argument("--output", type=Path, default=OUTPUT, help=f"the JSON file (default {OUTPUT})")
    arguments = parser.parse_args(argv)
    notes: list[str] = []
    results: Figures = {}
    started = time.perf_counter()
    for section, names, measure in _sections(arguments.storage, arguments.profile, notes):
        section_started = time.perf_counter()
        print(f"[bench] {section} ...", file=sys.stderr, flush=True)
        try:
            measured = measure()
        except Exception as error:  # noqa: BLE001 - one failed section must not stop the others
            measured = {name: f"failed: {type(error).__name__}: {error}"[:300] for name in names}
        for name in names:
            results[name] = measured.get(name, "failed: not reported")
        print(f"[bench] {section} done in {time.perf_counter() - section_started:.1f} s", file=sys.stderr, flush=True)
    print()
    print(_table(results))
    for note in notes:
        print(f"note: {note}")
    print(f"({time.perf_counter() - started:.0f} s)")
    numbers = {name: round(value, 3) for name, value in results.items() if not isinstance(value, str)}
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(numbers, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {arguments.output}")
    return 0 if len(numbers) == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
