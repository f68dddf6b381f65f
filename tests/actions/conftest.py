"""Actions against the in-process sandbox: a real Graph education stand-in, real cards, an in-memory store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.actions.context import ActionContext, Services
from bot.cards.renderer import CardLibrary
from bot.graph.client import EducationClient, GraphHttp
from bot.graph.ids import ClassId, TenantId, UserId
from bot.settings import Settings
from bot.storage import MemoryStore
from bot.turn import Actor, Conversation, Reply
from sandbox.school import Submission
from sandbox.stack import SandboxStack

ROOT = Path(__file__).resolve().parents[2]
TEACHER = "Dana Whitfield"
BIOLOGY = "Biology 101"


@pytest.fixture(scope="session")
def cards() -> CardLibrary:
    return CardLibrary.load(ROOT / "cards")


@pytest.fixture
def stack() -> SandboxStack:
    return SandboxStack.build()


@pytest.fixture
async def services(stack: SandboxStack, cards: CardLibrary) -> AsyncIterator[Services]:
    settings = Settings(graph_endpoint=stack.graph_url, authority_host=stack.entra.base_url)
    graph = GraphHttp.create(settings, transport=stack.graph_transport())
    store = MemoryStore()
    yield Services(settings=settings, graph=graph, store=store, cards=cards)
    await graph.aclose()
    await store.aclose()


class Turns:
    """Builds a context for any sandbox user, in personal chat or in a class channel."""

    def __init__(self, stack: SandboxStack, services: Services) -> None:
        self.stack = stack
        self.services = services

    def context(self, user: str = TEACHER, *, channel_class: str | None = None) -> ActionContext:
        user_id = self.stack.user_id(user)
        class_id = ClassId(self.stack.class_id(channel_class)) if channel_class else None
        return ActionContext(
            services=self.services,
            actor=Actor(tenant_id=TenantId(self.stack.tenant_id), user_id=UserId(user_id), name=user),
            conversation=Conversation(
                id=f"conv-{user_id}",
                kind="channel" if class_id else "personal",
                service_url="https://127.0.0.1:1/",
                channel_class_id=class_id,
            ),
            client=EducationClient(self.services.graph, self.stack.graph_token(user_id)),
        )

    def submission(self, student: str, assignment: str = "Essay 2", class_name: str = BIOLOGY) -> Submission:
        found = self.stack.graph.submission_for(
            self.stack.class_id(class_name),
            self.stack.assignment_id(class_name, assignment),
            self.stack.user_id(student),
        )
        assert found is not None
        return found

    def points(self, student: str, assignment: str = "Essay 2", class_name: str = BIOLOGY) -> float | None:
        """The draft points the sandbox holds for the student."""
        outcome = self.submission(student, assignment, class_name).outcome("points")
        return outcome.points.points if outcome is not None and outcome.points is not None else None


@pytest.fixture
def turns(stack: SandboxStack, services: Services) -> Turns:
    return Turns(stack, services)


def only_card(reply: Reply) -> dict[str, Any]:
    assert len(reply.cards) == 1
    return dict(reply.cards[0])


def card_text(reply: Reply) -> str:
    """Every text on the reply's cards, for asserting what the teacher reads."""
    texts: list[str] = [reply.text or ""]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():  # pyright: ignore[reportUnknownVariableType]
                if key in ("text", "title", "value") and isinstance(value, str):
                    texts.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:  # pyright: ignore[reportUnknownVariableType]
                walk(item)

    for card in reply.cards:
        walk(card)
    return "\n".join(texts)


def buttons(reply: Reply) -> dict[str, dict[str, Any]]:
    """Action.Execute buttons by verb → their data."""
    found: dict[str, dict[str, Any]] = {}

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "Action.Execute":  # pyright: ignore[reportUnknownMemberType]
                found[str(node["verb"])] = dict(node["data"])  # pyright: ignore[reportUnknownArgumentType]
            for value in node.values():  # pyright: ignore[reportUnknownVariableType]
                walk(value)
        elif isinstance(node, list):
            for item in node:  # pyright: ignore[reportUnknownVariableType]
                walk(item)

    for card in reply.cards:
        walk(card)
    return found
