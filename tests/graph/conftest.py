"""Shared Graph test fakes: an in-process Graph (httpx.MockTransport), documented examples, fake time."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.graph.client import EducationClient, GraphHttp
from bot.graph.retry import RetryPolicy
from bot.settings import Settings

SPECS = Path(__file__).parents[2] / ".." / "shared" / "specs"
EXAMPLES = SPECS / "examples" / "graph"
BASE = "https://graph.microsoft.com/v1.0"
TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.secret-teacher-token"

Answer = httpx.Response | Callable[[httpx.Request], httpx.Response]


def example(name: str) -> dict[str, Any]:
    """One of Microsoft's documented examples (examples/graph/<name>.json)."""
    return json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def example_response(name: str) -> httpx.Response:
    """The documented response of an example as an httpx.Response (stale Content-length dropped)."""
    documented = example(name)["response"]
    headers = {k: v for k, v in documented["headers"].items() if k.lower() != "content-length"}
    return httpx.Response(documented["status"], headers=headers, json=documented["body"])


def graph_error(
    status: int, code: str, message: str = "failed", headers: dict[str, str] | None = None
) -> httpx.Response:
    """A Graph OData error response."""
    body = {"error": {"code": code, "message": message, "innerError": {"request-id": f"req-{status}"}}}
    return httpx.Response(status, headers=headers or {}, json=body)


@dataclass
class FakeGraph:
    """A Graph stand-in: answers by (method, path under /v1.0); repeats the last answer; records what it saw."""

    routes: dict[tuple[str, str], list[Answer]] = field(default_factory=dict)
    seen: list[httpx.Request] = field(default_factory=list)

    def add(self, method: str, path: str, *answers: Answer) -> None:
        self.routes[(method, path)] = list(answers)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        path = request.url.raw_path.decode().split("?", 1)[0].removeprefix("/v1.0")
        answers = self.routes.get((request.method, path))
        if not answers:
            return graph_error(404, "ResourceNotFound", f"no fake route for {request.method} {path}")
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        return answer(request) if callable(answer) else answer

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)


@dataclass
class FakeTime:
    """A clock that only moves when the code under test sleeps; records every sleep."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)
    wall: datetime = datetime(2025, 2, 13, 10, 0, 0, tzinfo=UTC)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now

    def policy(self, *, budget: float = 6.0, attempts: int = 4, jitter: float = 0.5) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=attempts,
            budget_seconds=budget,
            sleep=self.sleep,
            random=lambda: jitter,
            clock=self.clock,
            now=lambda: self.wall,
        )


@pytest.fixture
def settings() -> Settings:
    return Settings(graph_endpoint="https://graph.microsoft.com", _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def fake() -> FakeGraph:
    return FakeGraph()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
async def http(settings: Settings, fake: FakeGraph, fake_time: FakeTime) -> AsyncIterator[GraphHttp]:
    graph_http = GraphHttp.create(settings, transport=fake.transport, retry=fake_time.policy())
    yield graph_http
    await graph_http.aclose()


@pytest.fixture
def client(http: GraphHttp) -> EducationClient:
    return EducationClient(http, TOKEN)
