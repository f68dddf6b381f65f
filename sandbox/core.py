"""The request/response shape every sandbox service handles, independent of how it is reached.

A service is a plain object with `async handle(request) -> SandboxResponse`. Two faces expose it: aiohttp routes for
real HTTP on 127.0.0.1 (`sandbox.http`) and an `httpx.MockTransport` for in-process tests (`sandbox.transport`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.http_transport import json_bytes, parse_json


@dataclass(frozen=True)
class SandboxRequest:
    """One HTTP request as a service sees it. `path` has no query string; header names are lower case."""

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=lambda: {})
    headers: Mapping[str, str] = field(default_factory=lambda: {})
    body: bytes = b""
    base_url: str = ""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        return parse_json(self.body) if self.body else None


@dataclass
class SandboxResponse:
    """One HTTP response. Use `json_response` for JSON bodies."""

    status: int
    headers: dict[str, str] = field(default_factory=lambda: {})
    body: bytes = b""

    def json(self) -> Any:
        return parse_json(self.body) if self.body else None


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> SandboxResponse:
    """A JSON response with Graph's content type."""
    merged = {"content-type": "application/json; odata.metadata=minimal; charset=utf-8", **(headers or {})}
    return SandboxResponse(status=status, headers=merged, body=json_bytes(payload))


class Service(Protocol):
    """Anything that answers sandbox requests."""

    async def handle(self, request: SandboxRequest) -> SandboxResponse: ...


class InvalidToken(Exception):
    """A bearer token failed validation; the message says why (never the token itself)."""


TokenVerifier = Callable[[str], Mapping[str, Any]]
"""Validates a bearer token and returns its claims, or raises InvalidToken."""

Handler = Callable[[SandboxRequest], Awaitable[SandboxResponse]]
