"""Actions against the in-process sandbox: a real Graph education stand-in, real cards, an in-memory store."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.actions.context import ActionContext, Services
from bot.cards.renderer import CardLibrary
from bot.graph.client import EducationClient, GraphHttp
from bot.graph.ids import ClassId, TenantId, UserId
from bot.graph.retry import RetryPolicy
from bot.notify import MemoryStudentChannel, Notifier, RateLimits
from bot.settings import Settings
from bot.storage import MemoryStore
from bot.turn import Actor, Conversation, Reply
from sandbox.school import Outcome as SchoolOutcome
from sandbox.school import Submission
from sandbox.school import User as SchoolUser
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


def all_buttons(reply: Reply) -> list[dict[str, Any]]:
    """The data of every Action.Execute button on the reply's cards, in order."""
    found: list[dict[str, Any]] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "Action.Execute":  # pyright: ignore[reportUnknownMemberType]
                found.append(dict(node["data"]))  # pyright: ignore[reportUnknownArgumentType]
            for value in node.values():  # pyright: ignore[reportUnknownVariableType]
                walk(value)
        elif isinstance(node, list):
            for item in node:  # pyright: ignore[reportUnknownVariableType]
                walk(item)

    for card in reply.cards:
        walk(card)
    return found


def buttons(reply: Reply) -> dict[str, dict[str, Any]]:
    """Action.Execute buttons by verb → their data (the last one of each verb)."""
    return {str(data["verb"]): data for data in all_buttons(reply)}


# ---- bulk grade, feedback, undo


async def _no_wait(_: float) -> None:
    return None


def instant_retries(services: Services) -> None:
    """Make Graph retries (Retry-After, backoff) take no real time."""
    services.graph.retry = RetryPolicy(sleep=_no_wait)


class RecordingOutbox:
    """An Outbox that keeps what was posted, by activity id, and every update in order."""

    def __init__(self) -> None:
        self.posted: dict[str, Reply] = {}
        self.updates: list[tuple[str, Reply]] = []
        self.on_update: Callable[[Reply], Awaitable[None]] | None = None

    async def send(self, reply: Reply) -> str:
        activity_id = f"activity-{len(self.posted) + 1}"
        self.posted[activity_id] = reply
        return activity_id

    async def update(self, activity_id: str, reply: Reply) -> None:
        self.posted[activity_id] = reply
        self.updates.append((activity_id, reply))
        if self.on_update is not None:
            await self.on_update(reply)

    async def typing(self) -> None:
        return None


def enroll_students(stack: SandboxStack, count: int, class_name: str = BIOLOGY, assignment: str = "Essay 2") -> None:
    """Add `count` students to a sandbox class, each with a submitted, ungraded submission for `assignment`."""
    school = stack.graph.school
    school_class = school.class_named(class_name)
    target = school.assignment_named(school_class.id, assignment)
    for number in range(1, count + 1):
        user_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"extra-student-{class_name}-{number}"))
        name = f"Extra Student{number:02d}"
        school.users.append(
            SchoolUser(
                id=user_id,
                displayName=name,
                givenName="Extra",
                surname=f"Student{number:02d}",
                mailNickname=f"extra{number:02d}",
                userPrincipalName=f"extra{number:02d}@lakeside.invalid",
                mail=f"extra{number:02d}@lakeside.invalid",
                primaryRole="student",
            )
        )
        school_class.studentIds.append(user_id)
        school.submissions.append(
            Submission(
                id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{user_id}-{target.id}")),
                classId=school_class.id,
                assignmentId=target.id,
                userId=user_id,
                status="submitted",
                outcomes=[
                    SchoolOutcome(id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{user_id}-feedback")), kind="feedback"),
                    SchoolOutcome(id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{user_id}-points")), kind="points"),
                ],
            )
        )
    school.model_post_init(None)


# ---- return, reassign, excuse


class FakeTime:
    """Monotonic fake time that moves only when someone sleeps (never backwards)."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now = max(self.now, self.now + seconds)
        await asyncio.sleep(0)


@pytest.fixture
def student_channel(services: Services) -> MemoryStudentChannel:
    """Installs a notifier (limits on fake time) whose messages to students land in this in-memory channel."""
    time = FakeTime()
    channel = MemoryStudentChannel(clock=time.clock)
    limits = RateLimits(clock=time.clock, sleep=time.sleep)
    services.notifier = Notifier(channel, services.store, limits=limits)
    return channel


def texts_sent(channel: MemoryStudentChannel, user_id: str) -> list[str]:
    """The texts a student received."""
    return [reply.text or "" for reply in channel.sent.get(user_id, [])]


def batch_calls(stack: SandboxStack) -> int:
    """How many `$batch` requests the sandbox answered since its log was reset."""
    return sum(1 for r in stack.graph.requests if r.path.endswith("$batch") and not r.batch_part)


def graph_writes(stack: SandboxStack) -> int:
    """How many writes (PATCH / POST, batch parts included, `$batch` envelopes left out) the sandbox answered."""
    return sum(1 for r in stack.graph.requests if r.method in ("PATCH", "POST") and not r.path.endswith("$batch"))
