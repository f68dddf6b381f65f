"""Typed views of untyped JSON values (activity fields, JWKS documents) so strict code never handles Unknown."""

from __future__ import annotations

from typing import Any, cast


def as_object(value: object) -> dict[str, Any]:
    """`value` if it is a JSON object (dict), else an empty dict."""
    return cast(dict[str, Any], value) if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    """`value` if it is a JSON array (list), else an empty list."""
    return cast(list[Any], value) if isinstance(value, list) else []
