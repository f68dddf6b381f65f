"""The parent side of the hosting benchmark: the sandbox (Entra, Graph education, Teams channel) served over HTTP on
127.0.0.1 in this process, the teacher's SSO sign-in, and the activity generators (sequential and concurrent).

The bot runs in a child process (`bench.bot_process`), so what the bot costs can be read from /proc apart from what
the sandbox and this load generator cost. All load activities reuse one channel token, as Teams does for an hour, so
this process's RSA signing does not dominate.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from sandbox.graph import Knobs
from sandbox.http import RunningService, serve
from sandbox.run import bot_settings
from sandbox.stack import RunningStack, SandboxStack, serve_stack
from sandbox.teams import TeamsChannel, TeamsUser

TEACHER = "Dana Whitfield"
CLASS = "Biology 101"
ASSIGNMENT = "Essay 2"
OAUTH_CARD = "application/vnd.microsoft.card.oauth"


class LoadError(RuntimeError):
    """The bot answered something other than what the benchmark expected."""


@dataclass
class LoadResult:
    """A concurrent run: how many activities, the wall seconds, and each activity's latency in seconds."""

    activities: int
    wall_seconds: float
    latencies: list[float]

    @property
    def per_second(self) -> float:
        return self.activities / self.wall_seconds

    def percentile(self, fraction: float) -> float:
        """The latency below which `fraction` of the activities were answered, in seconds."""
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]

    @property
    def median(self) -> float:
        return statistics.median(self.latencies)


class SandboxWorld:
    """The sandbox services for the bot in the child process; `await start()`, then `await stop()` (always)."""

    def __init__(self, tls_directory: Path) -> None:
        self.stack = SandboxStack.build(knobs=Knobs())
        self._tls_directory = tls_directory
        self.running: RunningStack | None = None
        self.teams = TeamsChannel(self.stack.entra, app_id=self.stack.app_id, tenant_id=self.stack.tenant_id)
        self._teams_service: RunningService | None = None
        self._channel_token = ""

    async def start(self) -> None:
        """Serve Entra and Graph (HTTPS) and the Teams channel (HTTP) on free loopback ports."""
        self.running = await serve_stack(self.stack, tls_directory=self._tls_directory)
        for user in self.stack.school.users:
            self.teams.user(user.id, user.displayName, tenant_id=self.stack.tenant_id)
        self._teams_service = await serve(self.teams)
        self.teams.base_url = self._teams_service.url
        self._channel_token = self.stack.entra.mint_channel_token(self.stack.app_id, self.teams.service_url)

    async def stop(self) -> None:
        """Stop every service this world started."""
        await self.teams.aclose()
        if self._teams_service is not None:
            await self._teams_service.stop()
        if self.running is not None:
            await self.running.stop()

    def bot_settings(self, *, port: int, storage_url: str) -> dict[str, Any]:
        """The bot's Settings fields for this sandbox (as `sandbox.run` builds them), secrets in plain text.

        Raises:
            RuntimeError: the world is not started.
        """
        if self.running is None:
            raise RuntimeError("start the sandbox first")
        settings = bot_settings(self.running, bot_port=port, storage_url=storage_url)
        return {
            name: value.get_secret_value() if isinstance(value, SecretStr) else value
            for name, value in settings.model_dump().items()
        }

    def bot_environment(self) -> dict[str, str]:
        """What MSAL (requests) and httpx in the bot need to trust the sandbox's CA.

        Raises:
            RuntimeError: the world is not started.
        """
        if self.running is None:
            raise RuntimeError("start the sandbox first")
        ca = str(self.running.tls.ca_path.resolve())
        return {"SSL_CERT_FILE": ca, "REQUESTS_CA_BUNDLE": ca}

    def point_at(self, bot_url: str) -> None:
        """Send activities to the bot at `bot_url`."""
        self.teams.bot_url = f"{bot_url}/api/messages"

    @property
    def teacher(self) -> TeamsUser:
        return self.teams.user(self.stack.user_id(TEACHER), TEACHER)

    def set_latency(self, seconds: float) -> None:
        """Seconds the sandbox Graph waits before answering each request."""
        self.stack.graph.knobs.latency_seconds = seconds

    @property
    def graph_round_trips(self) -> int:
        """Graph HTTP requests answered since the start (a `$batch` counts once)."""
        return self.stack.graph.request_count

    def replies(self) -> int:
        """Message activities the bot has posted in the teacher's chat so far."""
        return len(self.teams.personal_conversation(self.teacher).messages())

    async def send(self, text: str) -> int:
        """Send one message from the teacher with the shared channel token; return the HTTP status.

        Raises:
            LoadError: the bot did not accept it.
        """
        status, _ = await self.teams.send_to_bot(self.teams.message(text, user=self.teacher), token=self._channel_token)
        if status not in (200, 201, 202):
            raise LoadError(f"the bot answered {status} to a message")
        return status

    async def sign_in(self) -> None:
        """The teacher's first grade asks for sign-in; Teams then exchanges an SSO token (as in the e2e test).

        Raises:
            LoadError: no sign-in card came, the exchange was refused, or the grade did not land.
        """
        await self.send(f"grade Alice Smith 85 on {ASSIGNMENT} in {CLASS}")
        chat = self.teams.personal_conversation(self.teacher)
        cards = [
            attachment
            for message in chat.messages()
            for attachment in message.get("attachments") or []
            if attachment.get("contentType") == OAUTH_CARD
        ]
        if not cards:
            raise LoadError("the bot did not ask the teacher to sign in")
        resource = cards[-1]["content"]["tokenExchangeResource"]
        sso = self.stack.entra.mint_sso_token(self.teacher.aad_object_id, audience=resource["uri"])
        invoke = {
            "type": "invoke",
            "name": "signin/tokenExchange",
            "from": self.teacher.account(),
            "conversation": chat.account(),
            "value": {"id": resource["id"], "connectionName": "graph", "token": sso},
        }
        status, body = await self.teams.send_to_bot(invoke, token=self._channel_token)
        if status != 200:
            raise LoadError(f"the token exchange was answered {status}: {body}")
        for _ in range(100):  # the grade typed before sign-in may still be being written after the invoke's answer
            if self.points_of("Alice Smith") == 85:
                return
            await asyncio.sleep(0.05)
        raise LoadError("the grade typed before sign-in did not land")

    def points_of(self, student: str) -> float | None:
        """The draft points of a student's Essay 2 in Biology 101, as the sandbox Graph holds them."""
        stack = self.stack
        submission = stack.graph.submission_for(
            stack.class_id(CLASS), stack.assignment_id(CLASS, ASSIGNMENT), stack.user_id(student)
        )
        outcome = submission.outcome("points") if submission else None
        return outcome.points.points if outcome and outcome.points else None

    def students(self) -> list[str]:
        """The display names of the class's students."""
        school = self.stack.school
        users = (school.user(user_id) for user_id in school.class_named(CLASS).studentIds)
        return [user.displayName for user in users if user is not None]

    async def writable_students(self) -> list[str]:
        """The students whose typed grade is written at once (one Graph `$batch`, no confirmation card).

        Grades each student once; this also warms the bot's caches.
        """
        writable: list[str] = []
        for index, name in enumerate(self.students()):
            before = self.graph_round_trips
            points = 50 + index
            await self.send(grade_text(name, points))
            if self.graph_round_trips - before == 1 and self.points_of(name) == points:
                writable.append(name)
        return writable

    async def sequential(self, texts: list[str]) -> None:
        """Send the messages one after another."""
        for text in texts:
            await self.send(text)

    async def concurrent(self, texts: list[str], concurrency: int) -> LoadResult:
        """Send the messages with `concurrency` in flight; time each from request to the bot's HTTP answer."""
        queue: asyncio.Queue[str] = asyncio.Queue()
        for text in texts:
            queue.put_nowait(text)
        latencies: list[float] = []

        async def worker() -> None:
            while not queue.empty():
                text = queue.get_nowait()
                started = time.perf_counter()
                await self.send(text)
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return LoadResult(len(texts), time.perf_counter() - started, latencies)


def grade_text(student: str, points: int) -> str:
    """A typed grade for a Biology 101 Essay 2 submission."""
    return f"grade {student} {points} on {ASSIGNMENT} in {CLASS}"


def grade_texts(students: list[str], count: int) -> list[str]:
    """`count` grade messages cycling through `students`, with varying points."""
    return [grade_text(students[i % len(students)], 60 + i % 40) for i in range(count)]
