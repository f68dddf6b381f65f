"""Two bot instances on one PostgreSQL database behind the sandbox, as a scaled-out deployment runs them.

Both are built as in production (`create_assistant_app`) with the same settings except PORT: one STORAGE_URL, one
TOKEN_CACHE_KEY. A redelivered activity is handled once whichever instances get it; a teacher signed in through one
is served by the other; a bulk grade whose instance dies half way is finished by the next instance to start, every
student graded once — also while Graph throttles (a 5-second 429 storm here; SOAK=1 runs a 60-second one).
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.actions import jobs
from bot.auth.obo import GraphToken
from bot.graph.client import EducationClient
from bot.graph.ids import TenantId, UserId
from bot.storage import AuditEntry, Store
from bot.turn import Actor
from sandbox.instances import BotInstance, Sandbox, deliver, new_token_cache_key, start_instance, start_sandbox
from sandbox.teams import TeamsUser
from tests.actions.conftest import enroll_students
from tests.pg import CLUSTER, PostgresServer, create_isolated, drop_isolated

BIOLOGY = "Biology 101"
ESSAY = "Essay 2"
WAIT = 30.0
"""Upper bound of any single wait here, so a broken run fails instead of hanging."""


@pytest.fixture(scope="session")
def postgres_server() -> PostgresServer:
    return CLUSTER.shared()


@pytest.fixture
async def storage_url(postgres_server: PostgresServer) -> AsyncIterator[str]:
    url = await create_isolated(postgres_server)
    yield url
    await drop_isolated(postgres_server, url)


@pytest.fixture(scope="session")
def tls_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tls")


@pytest.fixture
async def sandbox(tls_directory: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Sandbox]:
    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)  # restored after the test; start_sandbox sets its own
    started = await start_sandbox(tls_directory=tls_directory)
    yield started
    await started.stop()


class Deployment:
    """Bot instances sharing one database and one token cache key; stops whatever is still running at the end."""

    def __init__(self, sandbox: Sandbox, storage_url: str) -> None:
        self.sandbox = sandbox
        self.storage_url = storage_url
        self.token_cache_key = new_token_cache_key()
        self.running: list[BotInstance] = []

    async def start(self, *, token_cache_key: str | None = None) -> BotInstance:
        instance = await start_instance(
            self.sandbox, storage_url=self.storage_url, token_cache_key=token_cache_key or self.token_cache_key
        )
        self.running.append(instance)
        return instance

    async def stop(self, instance: BotInstance) -> None:
        self.running.remove(instance)
        await instance.stop()

    async def stop_all(self) -> None:
        for instance in list(self.running):
            await self.stop(instance)


@pytest.fixture
async def deployment(sandbox: Sandbox, storage_url: str) -> AsyncIterator[Deployment]:
    made = Deployment(sandbox, storage_url)
    yield made
    await made.stop_all()


# ---------------------------------------------------------------------------------------------- helpers


def teacher(sandbox: Sandbox, name: str = "Dana Whitfield") -> TeamsUser:
    return sandbox.teams.user(sandbox.stack.user_id(name), name)


async def sign_in_through(sandbox: Sandbox, instance: BotInstance, user: TeamsUser) -> None:
    """The teacher asks something that needs Graph through `instance`; the channel does Teams' SSO exchange."""
    sandbox.teams.bot_url = instance.messages_url
    status, _ = await deliver(sandbox, instance, sandbox.teams.message(f"status {ESSAY} in {BIOLOGY}", user=user))
    assert status < 300
    await asyncio.wait_for(sandbox.teams.drain(), WAIT)
    assert sandbox.stack.entra.token_requests["on_behalf_of"] == 1


def oauth_cards(sandbox: Sandbox, user: TeamsUser) -> int:
    chat = sandbox.teams.personal_conversation(user)
    return sum(
        1
        for message in chat.messages()
        for attachment in message.get("attachments") or []
        if attachment.get("contentType") == "application/vnd.microsoft.card.oauth"
    )


def points_of(sandbox: Sandbox, student: str) -> float | None:
    stack = sandbox.stack
    submission = stack.graph.submission_for(
        stack.class_id(BIOLOGY), stack.assignment_id(BIOLOGY, ESSAY), stack.user_id(student)
    )
    assert submission is not None
    outcome = submission.outcome("points")
    return outcome.points.points if outcome and outcome.points else None


def graph_writes(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.stack.graph.requests if r.method in ("PATCH", "POST", "PUT", "DELETE"))


async def audit_of(store: Store, sandbox: Sandbox, user: TeamsUser) -> list[AuditEntry]:
    return await store.list_audit(
        tenant_id=TenantId(sandbox.stack.tenant_id), teacher_id=UserId(user.aad_object_id), limit=500
    )


# ---------------------------------------------------------------------------------------------- one activity, two


async def test_the_same_activity_delivered_to_both_instances_is_handled_once(
    sandbox: Sandbox, deployment: Deployment
) -> None:
    a, b = await deployment.start(), await deployment.start()
    dana = teacher(sandbox)
    await sign_in_through(sandbox, a, dana)
    teams, graph = sandbox.teams, sandbox.stack.graph

    # What one delivery of a grade writes, as a yardstick.
    graph.reset_request_log()
    await deliver(sandbox, a, teams.message(f"grade Bob Jones 90 on {ESSAY} in {BIOLOGY}", user=dana))
    one_delivery = graph_writes(sandbox)

    graph.reset_request_log()
    activity = teams.complete(teams.message(f"grade Carol Diaz 70 on {ESSAY} in {BIOLOGY}", user=dana))
    results = await asyncio.gather(deliver(sandbox, a, activity), deliver(sandbox, b, activity))
    redelivered = await deliver(sandbox, b, activity)

    carol = sandbox.stack.user_id("Carol Diaz")
    entries = [e for e in await audit_of(b.assistant.services.store, sandbox, dana) if e.student_id == carol]
    assert all(status < 300 for status, _ in [*results, redelivered])
    assert points_of(sandbox, "Carol Diaz") == 70
    assert one_delivery >= 1
    assert graph_writes(sandbox) == one_delivery
    assert len(entries) == 1


# ---------------------------------------------------------------------------------------------- the shared sign-in


async def test_a_teacher_signed_in_through_one_instance_is_served_by_the_other(
    sandbox: Sandbox, deployment: Deployment
) -> None:
    a, b = await deployment.start(), await deployment.start()
    dana = teacher(sandbox)
    await sign_in_through(sandbox, a, dana)
    cards_before = oauth_cards(sandbox, dana)

    sandbox.teams.bot_url = b.messages_url
    status, _ = await deliver(
        sandbox, b, sandbox.teams.message(f"grade Bob Jones 90 on {ESSAY} in {BIOLOGY}", user=dana)
    )

    submission = sandbox.stack.graph.submission_for(
        sandbox.stack.class_id(BIOLOGY), sandbox.stack.assignment_id(BIOLOGY, ESSAY), sandbox.stack.user_id("Bob Jones")
    )
    assert status < 300
    assert points_of(sandbox, "Bob Jones") == 90
    assert submission is not None
    outcome = submission.outcome("points")
    assert outcome is not None and outcome.lastModifiedBy == dana.aad_object_id
    assert oauth_cards(sandbox, dana) == cards_before, "no second sign-in"
    assert sandbox.stack.entra.token_requests["on_behalf_of"] == 1, "B used the token A cached"


async def test_an_instance_with_another_token_cache_key_asks_the_teacher_to_sign_in_again(
    sandbox: Sandbox, deployment: Deployment
) -> None:
    a = await deployment.start()
    misconfigured = await deployment.start(token_cache_key=new_token_cache_key())
    dana = teacher(sandbox)
    await sign_in_through(sandbox, a, dana)
    cards_before = oauth_cards(sandbox, dana)
    sandbox.teams.auto_sso = False

    await deliver(
        sandbox, misconfigured, sandbox.teams.message(f"grade Bob Jones 90 on {ESSAY} in {BIOLOGY}", user=dana)
    )

    assert points_of(sandbox, "Bob Jones") is None
    assert oauth_cards(sandbox, dana) == cards_before + 1


# ------------------------------------------------------------------------------------------ a job outlives its instance


class JobKiller:
    """Wraps an instance's store: when the job first records a finished batch, its task dies (as its process would)."""

    def __init__(self, store: Store, *, on_job_created: Callable[[], None] | None = None) -> None:
        self.store = store
        self.real_put = store.put
        self.on_job_created = on_job_created
        self.killed: asyncio.Event = asyncio.Event()
        self.job_id: str | None = None

    async def put(self, namespace: str, key: str, value: Any, **kwargs: Any) -> int:
        version = await self.real_put(namespace, key, value, **kwargs)
        if namespace != jobs.NAMESPACE or key == "_open" or not isinstance(value, dict):
            return version
        if kwargs.get("expected_version") == 0 and self.on_job_created is not None:
            self.on_job_created()
        if value.get("done") and not value.get("in_flight") and self.job_id is None:
            self.job_id = key
            self.killed.set()
            raise asyncio.CancelledError  # recorded the first batch, then the process went away
        return version


@dataclass
class Handover:
    """A bulk grade that A started and B finished."""

    sheet: dict[str, float]
    teacher: TeamsUser
    successor: BotInstance
    graded_before_the_kill: int


def ungraded_students(sandbox: Sandbox, count: int) -> list[str]:
    school = sandbox.stack.graph.school
    ids = set(school.class_named(BIOLOGY).studentIds)
    names = [user.displayName for user in school.users if user.id in ids]
    stack = sandbox.stack
    ungraded = [
        name
        for name in names
        if (
            submission := stack.graph.submission_for(
                stack.class_id(BIOLOGY), stack.assignment_id(BIOLOGY, ESSAY), stack.user_id(name)
            )
        )
        is not None
        and submission.status != "excused"
        and points_of(sandbox, name) is None
    ]
    assert len(ungraded) >= count
    return ungraded[:count]


def client_factory(instance: BotInstance) -> jobs.ClientFactory:
    """What the app hands `resume_jobs`: a Graph client on the teacher's cached token."""
    assistant = instance.assistant

    async def client_for(actor: Actor) -> EducationClient | None:
        token = await assistant.credentials.graph_token(actor)
        return EducationClient(assistant.services.graph, token.access_token) if isinstance(token, GraphToken) else None

    return client_for


async def run_job_across_instances(
    sandbox: Sandbox,
    deployment: Deployment,
    monkeypatch: pytest.MonkeyPatch,
    *,
    storm: Callable[[], Coroutine[Any, Any, None]] | None = None,
) -> Handover:
    """Start a 30-student bulk grade on A, kill A after its first batch, start B: B finishes it."""
    enroll_students(sandbox.stack, 15)
    a = await deployment.start()
    dana = teacher(sandbox)
    await sign_in_through(sandbox, a, dana)
    sheet = {name: float(40 + number) for number, name in enumerate(ungraded_students(sandbox, 30))}
    storm_task: list[asyncio.Task[None]] = []

    def start_storm() -> None:
        if storm is not None and not storm_task:
            storm_task.append(asyncio.get_running_loop().create_task(storm()))

    try:
        killer = JobKiller(a.assistant.services.store, on_job_created=start_storm)
        monkeypatch.setattr(a.assistant.services.store, "put", killer.put)
        text = f"grade {ESSAY} in {BIOLOGY}: " + ", ".join(f"{name} {points:g}" for name, points in sheet.items())
        status, _ = await deliver(sandbox, a, sandbox.teams.message(text, user=dana))
        assert status < 300
        await asyncio.wait_for(killer.killed.wait(), WAIT)
        job_id = killer.job_id
        assert job_id is not None
        task = a.assistant.services.jobs.running(job_id)
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)
        graded_by_a = sum(1 for name in sheet if points_of(sandbox, name) is not None)
        await deployment.stop(a)

        b = await deployment.start()  # resumes unfinished jobs at start-up
        deadline = time.monotonic() + WAIT * 4
        while True:
            await asyncio.wait_for(b.assistant.services.jobs.wait(job_id), WAIT * 4)
            state = await jobs.load_job(b.assistant.services, job_id)
            assert state is not None
            if state.finished or time.monotonic() > deadline:
                break
            # Paused by a storm longer than its retries: carried on, as a later `resume_jobs` does.
            await asyncio.sleep(0.2)
            await jobs.resume_jobs(b.assistant.services, client_factory(b))
        for task in storm_task:
            await task  # the storm blows for its whole length, whenever the job finished
    finally:
        for task in storm_task:
            task.cancel()
    assert state.finished
    return Handover(sheet=sheet, teacher=dana, successor=b, graded_before_the_kill=graded_by_a)


async def assert_graded_exactly_once(sandbox: Sandbox, handover: Handover) -> None:
    sheet = handover.sheet
    assert {name: points_of(sandbox, name) for name in sheet} == sheet
    store = handover.successor.assistant.services.store
    entries = [e for e in await audit_of(store, sandbox, handover.teacher) if e.action == "grade"]
    per_student = Counter(e.student_id for e in entries)
    expected = {UserId(sandbox.stack.user_id(name)) for name in sheet}
    assert set(per_student) == expected
    assert set(per_student.values()) == {1}, "one audit entry per student"
    assert len({e.change_id for e in entries}) == 1, "one change, so one undo takes the whole job back"


def points_patches_per_submission(sandbox: Sandbox) -> Counter[str]:
    pattern = re.compile(r"/submissions/([^/]+)/outcomes/")
    found: Counter[str] = Counter()
    for request in sandbox.stack.graph.requests:
        match = pattern.search(request.path)
        if request.method == "PATCH" and match:
            found[match.group(1)] += 1
    return found


async def test_a_job_whose_instance_dies_is_finished_by_the_next_instance_exactly_once(
    sandbox: Sandbox, deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.stack.graph.reset_request_log()

    handover = await run_job_across_instances(sandbox, deployment, monkeypatch)

    await assert_graded_exactly_once(sandbox, handover)
    patches = points_patches_per_submission(sandbox)
    assert handover.graded_before_the_kill == 20, "A wrote its first batch of 20, then died"
    assert len(patches) == 30 and set(patches.values()) == {1}, "each student's points were sent once"


def storm(sandbox: Sandbox, seconds: float) -> Callable[[], Coroutine[Any, Any, None]]:
    """Graph answers 429 (Retry-After 0.5 s) to a third of requests and batch parts for `seconds`."""
    knobs = sandbox.stack.graph.knobs

    async def blow() -> None:
        knobs.retry_after = "0.5"
        knobs.throttle_rate = 0.35
        try:
            await asyncio.sleep(seconds)
        finally:
            knobs.throttle_rate = 0.0

    return blow


async def test_a_job_survives_its_instance_dying_in_a_short_429_storm(
    sandbox: Sandbox, deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.stack.graph.reset_request_log()

    handover = await run_job_across_instances(sandbox, deployment, monkeypatch, storm=storm(sandbox, 5.0))

    await assert_graded_exactly_once(sandbox, handover)
    patches = points_patches_per_submission(sandbox)
    assert handover.graded_before_the_kill < 30
    assert sum(patches.values()) > 30, "the storm refused some writes, which were sent again"


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("SOAK") != "1", reason="soak test: set SOAK=1 to run the 60-second 429 storm")
async def test_soak_a_job_survives_its_instance_dying_in_a_minute_long_429_storm(
    sandbox: Sandbox, deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.stack.graph.reset_request_log()

    handover = await run_job_across_instances(sandbox, deployment, monkeypatch, storm=storm(sandbox, 60.0))

    await assert_graded_exactly_once(sandbox, handover)
    assert sum(points_patches_per_submission(sandbox).values()) > 30


# ---------------------------------------------------------------------------------------------- one runner per job


class AuditGate:
    """Wraps an instance's store: the job's Nth audit append waits for `opened` (Graph has run the batch already)."""

    def __init__(self, store: Store, *, at: int) -> None:
        self.real = store.append_audit
        self.at = at
        self.calls = 0
        self.reached = asyncio.Event()
        self.opened = asyncio.Event()

    async def append_audit(self, entry: AuditEntry) -> int:
        self.calls += 1
        if self.calls == self.at:
            self.reached.set()
            await self.opened.wait()
        return await self.real(entry)


async def start_grading_on(sandbox: Sandbox, instance: BotInstance, dana: TeamsUser) -> tuple[dict[str, float], str]:
    """Deliver a 30-student bulk grade to `instance`; returns the sheet and the job's id once the job is running."""
    sheet = {name: float(40 + number) for number, name in enumerate(ungraded_students(sandbox, 30))}
    text = f"grade {ESSAY} in {BIOLOGY}: " + ", ".join(f"{name} {points:g}" for name, points in sheet.items())
    status, _ = await deliver(sandbox, instance, sandbox.teams.message(text, user=dana))
    assert status < 300
    [job_id] = list(instance.assistant.services.jobs.tasks)
    return sheet, job_id


async def test_an_instance_started_while_another_is_mid_batch_leaves_the_job_to_it(
    sandbox: Sandbox, deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    enroll_students(sandbox.stack, 15)
    a = await deployment.start()
    dana = teacher(sandbox)
    await sign_in_through(sandbox, a, dana)
    sandbox.stack.graph.reset_request_log()
    gate = AuditGate(a.assistant.services.store, at=5)
    monkeypatch.setattr(a.assistant.services.store, "append_audit", gate.append_audit)
    sheet, job_id = await start_grading_on(sandbox, a, dana)
    await asyncio.wait_for(gate.reached.wait(), WAIT)  # the batch is written, 4 of its audit entries are

    b = await deployment.start()  # its start-up sweep sees A's live lease
    taken_by_b = await jobs.resume_jobs(b.assistant.services, client_factory(b))
    running_on_b = b.assistant.services.jobs.running(job_id)
    gate.opened.set()
    await asyncio.wait_for(a.assistant.services.jobs.wait(job_id), WAIT)

    assert taken_by_b == [] and running_on_b is None
    await assert_graded_exactly_once(sandbox, Handover(sheet, dana, b, graded_before_the_kill=0))
    patches = points_patches_per_submission(sandbox)
    assert len(patches) == 30 and set(patches.values()) == {1}, "nobody's points were sent twice"


async def test_of_two_instances_racing_for_a_dead_instance_s_expired_lease_one_takes_the_job(
    sandbox: Sandbox, deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    enroll_students(sandbox.stack, 15)
    a = await deployment.start()
    dana = teacher(sandbox)
    await sign_in_through(sandbox, a, dana)
    killer = JobKiller(a.assistant.services.store)
    monkeypatch.setattr(a.assistant.services.store, "put", killer.put)
    sheet, job_id = await start_grading_on(sandbox, a, dana)
    await asyncio.wait_for(killer.killed.wait(), WAIT)
    await asyncio.gather(*a.assistant.services.jobs.tasks.values(), return_exceptions=True)
    # A's process is gone without stopping: nothing released its lease.
    b, c = await deployment.start(), await deployment.start()
    early = await jobs.resume_jobs(b.assistant.services, client_factory(b))
    both_read = asyncio.Barrier(2)

    def racing(instance: BotInstance) -> jobs.ClientFactory:
        services = instance.assistant.services
        real_clock = services.clock
        services.clock = lambda: real_clock() + jobs.DEFAULT_LEASE * 2  # the lease has run out on their clocks

        async def factory(actor: Actor) -> EducationClient | None:
            await both_read.wait()  # both read the expired lease before either writes: the compare-and-set decides
            return await client_factory(instance)(actor)

        return factory

    taken = await asyncio.wait_for(
        asyncio.gather(
            jobs.resume_jobs(b.assistant.services, racing(b)), jobs.resume_jobs(c.assistant.services, racing(c))
        ),
        WAIT,
    )
    for instance in (b, c):  # whichever took it
        await asyncio.wait_for(instance.assistant.services.jobs.wait(job_id), WAIT)

    assert early == []
    assert sorted(taken) == [[], [job_id]]
    await assert_graded_exactly_once(sandbox, Handover(sheet, dana, b, graded_before_the_kill=20))


async def test_a_gracefully_stopped_instance_releases_its_job_to_the_next_at_once(
    sandbox: Sandbox, deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    enroll_students(sandbox.stack, 15)
    a = await start_instance(
        sandbox,
        storage_url=deployment.storage_url,
        token_cache_key=deployment.token_cache_key,
        shutdown_grace_seconds=0.1,
    )
    deployment.running.append(a)
    dana = teacher(sandbox)
    await sign_in_through(sandbox, a, dana)
    gate = AuditGate(a.assistant.services.store, at=5)
    monkeypatch.setattr(a.assistant.services.store, "append_audit", gate.append_audit)
    sheet, job_id = await start_grading_on(sandbox, a, dana)
    await asyncio.wait_for(gate.reached.wait(), WAIT)

    await deployment.stop(a)  # SIGTERM: the job is cancelled after the grace, its lease released
    b = await deployment.start()  # well within the 30 s lease
    taken_at_start = b.assistant.services.jobs.running(job_id) is not None
    await asyncio.wait_for(b.assistant.services.jobs.wait(job_id), WAIT)

    assert taken_at_start
    await assert_graded_exactly_once(sandbox, Handover(sheet, dana, b, graded_before_the_kill=0))
