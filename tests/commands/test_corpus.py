"""Every utterance in tests/data/utterances.yaml parses to exactly the expected command or refusal."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.commands import (
    BulkGrade,
    Excuse,
    Feedback,
    Grade,
    Help,
    ParseError,
    Points,
    Reassign,
    Return,
    Sheet,
    SignOut,
    Status,
    Undo,
    parse_command,
)

CORPUS = Path(__file__).resolve().parents[1] / "data" / "utterances.yaml"


def _load() -> list[dict[str, Any]]:
    with CORPUS.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def _text(entry: dict[str, Any]) -> str:
    if "text_repeat" in entry:
        return str(entry["text_repeat"]["unit"]) * int(entry["text_repeat"]["times"])
    return str(entry["text"])


def _points(points: Points) -> dict[str, Any]:
    return {"points": points.value, "out_of": points.out_of, "percent": points.percent}


def _flatten(result: object) -> dict[str, Any]:
    """The parse result in the corpus's flat shape."""
    match result:
        case Grade():
            return {
                "command": "grade",
                "student": result.student,
                "assignment": result.assignment,
                **_points(result.points),
                "feedback": result.feedback,
                "class_hint": result.class_hint,
            }
        case BulkGrade():
            return {
                "command": "bulk_grade",
                "assignment": result.assignment,
                "entries": [{"student": e.student, **_points(e.points)} for e in result.entries],
                "class_hint": result.class_hint,
            }
        case Feedback():
            return {
                "command": "feedback",
                "student": result.student,
                "assignment": result.assignment,
                "text": result.text,
                "class_hint": result.class_hint,
            }
        case Return():
            return {
                "command": "return",
                "assignment": result.assignment,
                "student": result.student,
                "class_hint": result.class_hint,
            }
        case Reassign():
            return {
                "command": "reassign",
                "assignment": result.assignment,
                "student": result.student,
                "feedback": result.feedback,
                "class_hint": result.class_hint,
            }
        case Excuse():
            return {
                "command": "excuse",
                "student": result.student,
                "assignment": result.assignment,
                "class_hint": result.class_hint,
            }
        case Status():
            return {
                "command": "status",
                "assignment": result.assignment,
                "view": result.view.value,
                "class_hint": result.class_hint,
            }
        case Sheet():
            return {"command": "sheet", "assignment": result.assignment, "class_hint": result.class_hint}
        case Help():
            return {"command": "help", "topic": result.topic}
        case Undo():
            return {"command": "undo"}
        case SignOut():
            return {"command": "sign_out"}
        case ParseError():
            return {"refusal": result.reason.value, "usage": result.usage, "detail": result.detail}
        case _:
            raise AssertionError(f"unexpected result type {type(result).__name__}")


def _expected(expect: dict[str, Any]) -> dict[str, Any]:
    """Corpus expectation with points as Decimals (so "8.50" and "8.5" compare equal)."""

    def fix(d: dict[str, Any]) -> dict[str, Any]:
        out = dict(d)
        for key in ("points", "out_of"):
            if out.get(key) is not None:
                out[key] = Decimal(str(out[key]))
        if "entries" in out:
            out["entries"] = [fix(e) for e in out["entries"]]
        return out

    return fix(expect)


ENTRIES = _load()


def test_corpus_is_big_and_unique() -> None:
    texts = [_text(e) for e in ENTRIES]
    assert len(ENTRIES) >= 250
    assert len(set(texts)) == len(texts)


@pytest.mark.parametrize("entry", ENTRIES, ids=[repr(_text(e))[:60] for e in ENTRIES])
def test_utterance(entry: dict[str, Any]) -> None:
    actual = _flatten(parse_command(_text(entry)))
    expected = _expected(entry["expect"])
    if "refusal" in expected:
        # usage and detail are checked when the entry states them; the reason always.
        actual = {k: v for k, v in actual.items() if k == "refusal" or k in expected}
    assert actual == expected
