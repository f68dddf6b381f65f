"""`read_activity` builds exactly what msrest's `Activity().deserialize` builds, for documented and generated input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botbuilder.schema import Activity
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.hosting.activity_reader import read_activity

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "specs" / "examples" / "teams"


def _documented() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(EXAMPLES.glob("*.json")):
        example = json.loads(path.read_text(encoding="utf-8"))
        for field in ("activity", "as_documented"):
            if isinstance(example.get(field), dict) and "type" in example[field]:
                found[f"{path.stem}:{field}"] = example[field]
    return found


def _msrest(document: dict[str, Any]) -> Any:
    try:
        return Activity().deserialize(document)
    except Exception:  # noqa: BLE001 - msrest's refusal is what the reader must reproduce
        return None


def _shape(model: Any) -> Any:
    """Everything a model holds, recursively: attributes, `additional_properties` and the value types."""
    if model is None or isinstance(model, (str, bool, int, float)):
        return model
    if isinstance(model, list):
        return [_shape(item) for item in model]
    if isinstance(model, dict):
        return {key: _shape(value) for key, value in model.items()}
    if hasattr(model, "_attribute_map"):
        fields = {name: _shape(getattr(model, name)) for name in model._attribute_map}
        return {"model": type(model).__name__, "fields": fields, "extra": _shape(model.additional_properties)}
    return (type(model).__name__, model.isoformat() if hasattr(model, "isoformat") else repr(model))


def test_every_documented_teams_activity_is_read() -> None:
    assert len(_documented()) >= 10


@pytest.mark.parametrize("name", sorted(_documented()))
def test_documented_activities_read_as_msrest_reads_them(name: str) -> None:
    document = _documented()[name]
    read = read_activity(document)
    assert read is not None
    assert _shape(read) == _shape(_msrest(document))
    assert read.serialize() == _msrest(document).serialize()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
fields = st.sampled_from(
    ["type", "id", "text", "timestamp", "localTimestamp", "from", "recipient", "conversation", "entities",
     "attachments", "channelData", "value", "replyToId", "membersAdded", "suggestedActions", "semanticAction",
     "serviceUrl", "channelId", "unknownThing", "localTimezone", "listenFor", "textHighlights"]
)  # fmt: skip
times = st.sampled_from(
    ["2017-10-29T00:51:05.9908157Z", "2026-11-23T01:02:03-07:00", "2026-11-23", "not a time", "2026-11-23T01:02:03Z"]
)
accounts = st.fixed_dictionaries({"id": st.text(max_size=4)}, optional={"name": st.text(max_size=4), "x": json_values})


@settings(max_examples=300, deadline=None)
@given(
    base=st.sampled_from(sorted(_documented())),
    changes=st.dictionaries(fields, json_values | times | accounts | st.lists(accounts, max_size=2), max_size=4),
)
def test_generated_activities_read_as_msrest_reads_them(base: str, changes: dict[str, Any]) -> None:
    document = {**_documented()[base], **changes}
    read = read_activity(document)
    expected = _msrest(document)
    assert (read is None) == (expected is None)
    if expected is not None:
        assert _shape(read) == _shape(expected)
