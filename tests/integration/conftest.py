"""The bot's production code against the in-process sandbox: real Entra tokens, the real Graph education stand-in."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.graph.client import EducationClient, GraphHttp
from bot.graph.retry import RetryPolicy
from bot.settings import Settings
from sandbox.stack import SandboxStack


class Recorder:
    """Collects the sleeps a retry policy asks for, so nothing really waits."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


@pytest.fixture
def stack() -> SandboxStack:
    return SandboxStack.build()


@pytest.fixture
def settings(stack: SandboxStack) -> Settings:
    return Settings(graph_endpoint=stack.graph_url, authority_host=stack.entra.base_url)


@pytest.fixture
def sleeps() -> Recorder:
    return Recorder()


@pytest.fixture
async def graph_http(stack: SandboxStack, settings: Settings, sleeps: Recorder) -> AsyncIterator[GraphHttp]:
    http = GraphHttp.create(settings, transport=stack.graph_transport(), retry=RetryPolicy(sleep=sleeps.sleep))
    yield http
    await http.aclose()


@pytest.fixture
def teacher(stack: SandboxStack, graph_http: GraphHttp) -> EducationClient:
    """Dana Whitfield, who teaches Biology 101 and 7B English."""
    return EducationClient(graph_http, stack.graph_token(stack.user_id("Dana Whitfield")))
