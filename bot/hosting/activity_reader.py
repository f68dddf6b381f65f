"""`read_activity`: the botbuilder `Activity` of an inbound JSON object, as msrest would build it, at a fraction of
the cost.

msrest's generic deserializer (what `Activity().deserialize(...)` runs) rebuilds its model table, copies every
attribute description and runs two key extractors per attribute on every call: about 13% of the bot's CPU per
activity under load (measured with py-spy in `make bench`). This reader walks the same `_attribute_map`s with a plan
computed once per model class and builds the same objects: the same attribute values, `additional_properties` for
keys the model does not know, timestamps parsed by msrest's own `deserialize_iso`, free-form fields (`value`,
`channelData`, ...) kept as the parsed JSON. Anything it is not sure of (a value of an unexpected JSON type, a
timestamp msrest would refuse) is handed to msrest itself, so odd input gets exactly msrest's answer.
`tests/hosting/test_activity_reader.py` checks the two against each other on Microsoft's documented Teams activities
and on generated ones.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, cast

import botbuilder.schema as schema  # pyright: ignore[reportMissingTypeStubs]
from msrest.serialization import Deserializer, Model  # pyright: ignore[reportMissingTypeStubs]

_MODELS: dict[str, type[Any]] = {
    name: value for name, value in vars(schema).items() if isinstance(value, type) and issubclass(value, Model)
}


class _Unsure(Exception):
    """The fast path met something it does not mirror exactly; msrest decides instead."""


def read_activity(document: Mapping[str, Any]) -> Any:
    """The `Activity` for a JSON object, or None when msrest cannot read it either."""
    try:
        return _read_model(_MODELS["Activity"], document)
    except _Unsure:
        try:
            return cast(Any, schema.Activity().deserialize(document))  # pyright: ignore[reportUnknownMemberType]
        except Exception:  # noqa: BLE001 - msrest raises several types for a malformed model
            return None


Reader = Callable[[object], object]
_Plan = tuple[tuple[tuple[str, str, Reader], ...], frozenset[str]]


def _read_model(model: type[Any], data: object) -> Any:
    if not isinstance(data, dict):
        raise _Unsure
    document: dict[str, Any] = data  # pyright: ignore[reportUnknownVariableType]
    fields, known = _plan(model)
    values: dict[str, object] = {}
    for attribute, key, read in fields:
        raw = document.get(key)
        values[attribute] = None if raw is None else read(raw)
    instance = model(**values)
    extra = document.keys() - known
    if extra:
        instance.additional_properties = {key: document[key] for key in extra}
    return instance


@functools.cache
def _plan(model: type[Any]) -> _Plan:
    """(attribute, JSON key, reader) per attribute of the model, and the JSON keys it knows."""
    attribute_map: dict[str, dict[str, str]] = model._attribute_map  # pyright: ignore[reportPrivateUsage]
    fields = tuple((name, spec["key"], _reader(spec["type"])) for name, spec in attribute_map.items())
    return fields, frozenset(spec["key"] for spec in attribute_map.values())


def _reader(kind: str) -> Reader:
    if kind.startswith("[") and kind.endswith("]"):
        return functools.partial(_read_list, _reader(kind[1:-1]))
    if kind.startswith("{") and kind.endswith("}"):
        return functools.partial(_read_dict, _reader(kind[1:-1]))
    if kind in _MODELS:
        return functools.partial(_read_model, _MODELS[kind])
    readers: dict[str, Reader] = {
        "str": _read_str,
        "bool": _read_bool,
        "int": _read_int,
        "object": _read_object,
        "iso-8601": _read_time,
    }
    if kind not in readers:
        raise ValueError(f"no reader for msrest type {kind!r}")
    return readers[kind]


def _read_list(item: Reader, value: object) -> object:
    if not isinstance(value, list):
        raise _Unsure
    elements: list[object] = value  # pyright: ignore[reportUnknownVariableType]
    return [None if element is None else item(element) for element in elements]


def _read_dict(item: Reader, value: object) -> object:
    if not isinstance(value, dict):
        raise _Unsure
    entries: dict[str, object] = value  # pyright: ignore[reportUnknownVariableType]
    return {key: None if element is None else item(element) for key, element in entries.items()}


def _read_str(value: object) -> object:
    if not isinstance(value, str):
        raise _Unsure
    return value


def _read_bool(value: object) -> object:
    if not isinstance(value, bool):
        raise _Unsure
    return value


def _read_int(value: object) -> object:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Unsure
    return value


def _read_object(value: object) -> object:
    return value  # free-form JSON (channelData, value, properties): msrest copies it; it is ours alone here


def _read_time(value: object) -> object:
    if not isinstance(value, str):
        raise _Unsure
    try:
        return Deserializer.deserialize_iso(value)  # pyright: ignore[reportUnknownMemberType]
    except Exception:  # noqa: BLE001 - msrest's own refusal, reproduced by the fallback
        raise _Unsure from None
