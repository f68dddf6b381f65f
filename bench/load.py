"""The parent side of the hosting benchmark: the sandbox (Entra, Graph education, Teams channel) served over HTTP on
127.0.0.1 in this process, the teachers' SSO sign-in, and the activity generators (sequential and concurrent).

The bot runs in a child process (`bench.bot_process`), so what the bot costs can be read from /proc apart from what
the sandbox and this load generator cost. All load activities reuse one channel token, as Teams does for an hour, so
this process's RSA signing does not dominate.

The sandbox may serve several tenants (schools, `SandboxWorld(..., tenants=N)`): the bot limits its Graph requests to
28 a second per tenant, so only a load from many tenants shows what one bot process can carry. `teachers()` are the
Biology 101 teachers of every tenant; `spread_grades` hands the load out round-robin over them.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
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
SIGN_IN_CONCURRENCY = 8
"""Teachers signing in at once (each sign-in is an on-behalf-of exchange the bot runs in a thread)."""

SIGN_IN_STUDENTS = ("Alice Smith", "Bob Jones", "Carol Diaz")
"""Whose grade a tenant's first, second, third teacher types before signing in (each must land unchanged)."""

STEADY_AFTER = 0.2
"""The share of an open-loop run's sending time left out of its rate (connections and caches warming up)."""

Message = tuple[TeamsUser, str]
"""Who sends a message, and its text."""


class LoadError(RuntimeError):
    """The bot answered something other than what the benchmark expected."""


@dataclass
class LoadResult:
    """A load run: how many activities, the wall seconds, each activity's latency and when each was answered (s)."""

    activities: int
    wall_seconds: float
    latencies: list[float]
    answered_at: list[float] = field(default_factory=lambda: [])
    """Open loop: when each answer came (perf_counter seconds)."""
    steady: tuple[float, float] | None = None
    """Open loop: the window over which the rate is taken (after the warm-up, up to the last message sent)."""

    @property
    def per_second(self) -> float:
        """Activities answered a second. Open loop: the answers that came within the steady window, per second of
        it (a bot that keeps up answers as fast as the load is offered; one falling behind answers fewer there).
        Closed loop: all activities over the whole run."""
        if self.steady is not None and self.steady[1] > self.steady[0]:
            start, end = self.steady
            return sum(1 for moment in self.answered_at if start <= moment < end) / (end - start)
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

    def __init__(self, tls_directory: Path, tenants: int = 1) -> None:
        """Build (not yet serve) a sandbox of `tenants` schools; tenant 0 is the seeded one."""
        self.stack = SandboxStack.build(knobs=Knobs(), tenants=tenants)
        self._tls_directory = tls_directory
        self.running: RunningStack | None = None
        self.teams = TeamsChannel(self.stack.entra, app_id=self.stack.app_id, tenant_id=self.stack.tenant_id)
        self._teams_service: RunningService | None = None
        self._channel_token = ""

    async def start(self) -> None:
        """Serve Entra and Graph (HTTPS) and the Teams channel (HTTP) on free loopback ports."""
        self.running = await serve_stack(self.stack, tls_directory=self._tls_directory)
        for index in range(self.stack.tenant_count):
            tenant = self.stack.tenant(index)
            for user in tenant.school.users:
                self.teams.user(user.id, user.displayName, tenant_id=tenant.tenant_id)
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
    def tenant_count(self) -> int:
        return self.stack.tenant_count

    def teacher_of(self, tenant: int = 0, name: str = TEACHER) -> TeamsUser:
        """A teacher of tenant `tenant` by display name, as the Teams channel knows them."""
        view = self.stack.tenant(tenant)
        return self.teams.user(view.user_id(name), name, tenant_id=view.tenant_id)

    @property
    def teacher(self) -> TeamsUser:
        """Tenant 0's Dana Whitfield, who sends the sequential load."""
        return self.teacher_of(0)

    def teachers(self) -> list[TeamsUser]:
        """The Biology 101 teachers of every tenant, tenant by tenant (tenant 0 first)."""
        found: list[TeamsUser] = []
        for index in range(self.tenant_count):
            view = self.stack.tenant(index)
            for teacher_id in view.school.class_named(CLASS).teacherIds:
                user = view.school.user(teacher_id)
                if user is not None:
                    found.append(self.teams.user(user.id, user.displayName, tenant_id=view.tenant_id))
        return found

    def tenant_index(self, user: TeamsUser) -> int:
        """Which tenant a user belongs to.

        Raises:
            KeyError: the user is in no sandbox tenant.
        """
        for index, tenant_id in enumerate(self.stack.tenant_ids):
            if tenant_id == user.tenant_id:
                return index
        raise KeyError(user.tenant_id)

    def set_latency(self, seconds: float) -> None:
        """Seconds the sandbox Graph waits before answering each request (every tenant)."""
        self.stack.graph.knobs.latency_seconds = seconds

    @property
    def graph_round_trips(self) -> int:
        """Graph HTTP requests answered since the start, all tenants (a `$batch` counts once)."""
        return self.stack.graph.request_count

    def replies(self, user: TeamsUser | None = None) -> int:
        """Message activities the bot has posted in a teacher's chat so far (tenant 0's Dana by default)."""
        return len(self.teams.personal_conversation(user or self.teacher).messages())

    async def send(self, text: str, user: TeamsUser | None = None) -> int:
        """Send one message from a teacher (tenant 0's Dana by default) with the shared channel token.

        Returns:
            The HTTP status.

        Raises:
            LoadError: the bot did not accept it.
        """
        sender = user or self.teacher
        status, _ = await self.teams.send_to_bot(self.teams.message(text, user=sender), token=self._channel_token)
        if status not in (200, 201, 202):
            raise LoadError(f"the bot answered {status} to a message")
        return status

    async def sign_in(self, user: TeamsUser | None = None, *, student: str = "Alice Smith", points: int = 85) -> None:
        """A teacher's first grade asks for sign-in; Teams then exchanges an SSO token (as in the e2e test).

        Args:
            user: the teacher (a Biology 101 teacher of any tenant); tenant 0's Dana by default.
            student: whose grade the teacher types before signing in; it must land.
            points: that grade.

        Raises:
            LoadError: no sign-in card came, the exchange was refused, or the grade did not land.
        """
        teacher = user or self.teacher
        tenant = self.tenant_index(teacher)
        await self.send(grade_text(student, points), teacher)
        chat = self.teams.personal_conversation(teacher)
        cards = [
            attachment
            for message in chat.messages()
            for attachment in message.get("attachments") or []
            if attachment.get("contentType") == OAUTH_CARD
        ]
        if not cards:
            raise LoadError(f"the bot did not ask {teacher.name} (tenant {tenant}) to sign in")
        resource = cards[-1]["content"]["tokenExchangeResource"]
        sso = self.stack.entra.mint_sso_token(teacher.aad_object_id, audience=resource["uri"])
        invoke = {
            "type": "invoke",
            "name": "signin/tokenExchange",
            "from": teacher.account(),
            "conversation": chat.account(),
            "value": {"id": resource["id"], "connectionName": "graph", "token": sso},
        }
        status, body = await self.teams.send_to_bot(invoke, token=self._channel_token)
        if status != 200:
            raise LoadError(f"the token exchange was answered {status}: {body}")
        for _ in range(100):  # the grade typed before sign-in may still be being written after the invoke's answer
            if self.points_of(student, tenant) == points:
                return
            await asyncio.sleep(0.05)
        raise LoadError(f"the grade {teacher.name} (tenant {tenant}) typed before sign-in did not land")

    async def sign_in_all(self, teachers: Sequence[TeamsUser], concurrency: int = SIGN_IN_CONCURRENCY) -> None:
        """Sign the teachers in, `concurrency` at a time; teachers of one tenant grade different students meanwhile.

        Raises:
            LoadError: a sign-in failed.
        """
        gate = asyncio.Semaphore(concurrency)
        seen: dict[str, int] = {}
        plans: list[tuple[TeamsUser, str]] = []
        for teacher in teachers:
            position = seen.get(teacher.tenant_id, 0)
            seen[teacher.tenant_id] = position + 1
            plans.append((teacher, SIGN_IN_STUDENTS[position % len(SIGN_IN_STUDENTS)]))

        async def one(teacher: TeamsUser, student: str) -> None:
            async with gate:
                await self.sign_in(teacher, student=student)

        await asyncio.gather(*(one(teacher, student) for teacher, student in plans))

    async def prepare_load(self) -> tuple[list[TeamsUser], list[list[str]]]:
        """Sign every tenant's Biology 101 teachers in and find, per tenant, the students whose grade is written at
        once (this also warms the bot's caches).

        Returns:
            The teachers (tenant 0's first) and, per teacher in the same order, their tenant's writable students.

        Raises:
            LoadError: a sign-in failed, or a tenant has fewer than 5 writable students.
        """
        teachers = self.teachers()
        await self.sign_in_all(teachers)
        firsts: dict[str, TeamsUser] = {}
        for teacher in teachers:
            firsts.setdefault(teacher.tenant_id, teacher)
        gate = asyncio.Semaphore(SIGN_IN_CONCURRENCY)

        async def writable(teacher: TeamsUser) -> list[str]:
            async with gate:
                return await self.writable_students(teacher)

        found = await asyncio.gather(*(writable(teacher) for teacher in firsts.values()))
        by_tenant = dict(zip(firsts, found, strict=True))
        for tenant, students in by_tenant.items():
            if len(students) < 5:
                raise LoadError(f"only {len(students)} students can be graded without a confirmation in {tenant}")
        return teachers, [by_tenant[teacher.tenant_id] for teacher in teachers]

    def points_of(self, student: str, tenant: int = 0) -> float | None:
        """The draft points of a student's Essay 2 in Biology 101, as the sandbox Graph holds them in a tenant."""
        view = self.stack.tenant(tenant)
        submission = view.graph.submission_for(
            view.class_id(CLASS), view.assignment_id(CLASS, ASSIGNMENT), view.user_id(student)
        )
        outcome = submission.outcome("points") if submission else None
        return outcome.points.points if outcome and outcome.points else None

    def students(self, tenant: int = 0) -> list[str]:
        """The display names of the class's students (the same names in every tenant)."""
        school = self.stack.tenant(tenant).school
        users = (school.user(user_id) for user_id in school.class_named(CLASS).studentIds)
        return [user.displayName for user in users if user is not None]

    async def writable_students(self, user: TeamsUser | None = None) -> list[str]:
        """The students whose typed grade from `user` (tenant 0's Dana by default) is written at once: one Graph
        `$batch` in the teacher's tenant, no confirmation card.

        Grades each student once; this also warms the bot's caches. Calls for different tenants may run at once.
        """
        teacher = user or self.teacher
        tenant = self.tenant_index(teacher)
        graph = self.stack.tenant(tenant).graph
        writable: list[str] = []
        for index, name in enumerate(self.students(tenant)):
            before = graph.request_count
            points = 50 + index
            await self.send(grade_text(name, points), teacher)
            if graph.request_count - before == 1 and self.points_of(name, tenant) == points:
                writable.append(name)
        return writable

    async def sequential(self, texts: list[str]) -> None:
        """Send the messages one after another from tenant 0's Dana."""
        for text in texts:
            await self.send(text)

    async def concurrent(self, texts: Sequence[str | Message], concurrency: int) -> LoadResult:
        """Send the messages with `concurrency` in flight; time each from request to the bot's HTTP answer.

        Args:
            texts: each a text sent by tenant 0's Dana, or a (teacher, text) pair (see `spread_grades`).
            concurrency: messages in flight at once.
        """
        settle_collector()
        queue: asyncio.Queue[Message] = asyncio.Queue()
        for item in texts:
            queue.put_nowait((self.teacher, item) if isinstance(item, str) else item)
        latencies: list[float] = []

        async def worker() -> None:
            while not queue.empty():
                user, text = queue.get_nowait()
                started = time.perf_counter()
                await self.send(text, user)
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return LoadResult(len(texts), time.perf_counter() - started, latencies)

    async def offered(self, texts: Sequence[str | Message], rate: float) -> LoadResult:
        """Send the messages at `rate` a second whatever the answers' pace (an open loop, as independent teachers
        type); time each from its scheduled moment to the bot's HTTP answer, so a bot that falls behind shows it in
        the latencies instead of slowing the load down (no coordinated omission).

        Args:
            texts: each a text sent by tenant 0's Dana, or a (teacher, text) pair (see `spread_grades`).
            rate: messages a second, evenly spaced.
        """
        settle_collector()
        messages = [(self.teacher, item) if isinstance(item, str) else item for item in texts]
        latencies: list[float] = []
        answered: list[float] = []
        started = time.perf_counter()

        async def one(index: int, user: TeamsUser, text: str) -> None:
            due = started + index / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            await self.send(text, user)
            answered.append(time.perf_counter())
            latencies.append(answered[-1] - due)

        await asyncio.gather(*(one(index, user, text) for index, (user, text) in enumerate(messages)))
        sending = len(messages) / rate
        steady = (started + sending * STEADY_AFTER, started + sending)
        return LoadResult(len(messages), time.perf_counter() - started, latencies, answered, steady)


def settle_collector() -> None:
    """Keep this process's garbage collector from pausing a load run it times (call it just before the run).

    The sandbox here holds every tenant's school and records every activity the bot sends: hundreds of thousands of
    objects, which a full collection walked for 100-140 ms in the middle of a run, holding back sends and answers the
    run then counted as the bot's latency. What exists before the run is frozen (out of later passes); the bot process
    is not touched.
    """
    gc.collect()
    gc.freeze()


def spread_grades(teachers: Sequence[TeamsUser], students: Sequence[Sequence[str]], count: int) -> list[Message]:
    """`count` grades handed out round-robin over `teachers`, tenants interleaved, each tenant cycling its students.

    Args:
        teachers: the senders, any order; they are interleaved so that consecutive grades go to different tenants.
        students: per teacher (same order), the students that teacher's grades cycle over (those of its tenant).
        count: how many grades.

    Returns:
        (teacher, text) pairs; with T tenants every tenant gets about `count / T` of them.

    Raises:
        ValueError: no teachers, or a teacher without students.
    """
    if not teachers or len(students) != len(teachers) or any(not names for names in students):
        raise ValueError("every teacher needs at least one student")
    by_tenant: dict[str, list[int]] = {}
    for position, teacher in enumerate(teachers):
        by_tenant.setdefault(teacher.tenant_id, []).append(position)
    columns = list(by_tenant.values())
    order = [column[row] for row in range(max(map(len, columns))) for column in columns if row < len(column)]
    sent: dict[str, int] = {}
    messages: list[Message] = []
    for index in range(count):
        position = order[index % len(order)]
        teacher = teachers[position]
        turn = sent.get(teacher.tenant_id, 0)
        sent[teacher.tenant_id] = turn + 1
        names = students[position]
        messages.append((teacher, grade_text(names[turn % len(names)], 60 + index % 40)))
    return messages


def grade_text(student: str, points: int) -> str:
    """A typed grade for a Biology 101 Essay 2 submission."""
    return f"grade {student} {points} on {ASSIGNMENT} in {CLASS}"


def grade_texts(students: list[str], count: int) -> list[str]:
    """`count` grade messages cycling through `students`, with varying points."""
    return [grade_text(students[i % len(students)], 60 + i % 40) for i in range(count)]
