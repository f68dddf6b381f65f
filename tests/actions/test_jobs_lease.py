"""Bulk jobs on two or three instances sharing one store: a lease lets exactly one of them write a job at a time.

Each "instance" is its own Services (so its own job runner) on one MemoryStore, or on its own connection to one
SQLite file. Time is a fake clock the test moves, so a lease runs out without waiting for it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.actions import jobs
from bot.actions.context import ActionContext, Services
from bot.actions.jobs import JobConfig, ResumeSweep
from bot.actions.writes import Change, Then, plan_from
from bot.cards.renderer import CardLibrary
from bot.graph.client import EducationClient, GraphHttp
from bot.graph.ids import AssignmentId, ClassId, TenantId, UserId
from bot.settings import Settings
from bot.storage import AuditEntry, MemoryStore, SqliteStore, Store, VersionConflict
from bot.turn import Actor, Conversation
from sandbox.stack import SandboxStack
from tests.actions.conftest import BIOLOGY, TEACHER, RecordingOutbox, enroll_students, instant_retries

ESSAY = "Essay 2"
LEASE = timedelta(seconds=30)
WAIT = 10.0
"""Upper bound of any single wait here, so a broken run fails instead of hanging."""


class FakeClock:
    """Wall-clock time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class Cluster:
    """Instances that share one store (one object, or connections to one SQLite file) and one clock."""

    stack: SandboxStack
    cards: CardLibrary
    clock: FakeClock
    open_store: Callable[[], Awaitable[Store]]
    instances: list[Services] = field(default_factory=list[Services])

    async def instance(self) -> Services:
        settings = Settings(graph_endpoint=self.stack.graph_url, authority_host=self.stack.entra.base_url)
        services = Services(
            settings=settings,
            graph=GraphHttp.create(settings, transport=self.stack.graph_transport()),
            store=await self.open_store(),
            cards=self.cards,
            clock=self.clock,
        )
        instant_retries(services)
        self.instances.append(services)
        return services

    def running(self, job_id: str) -> asyncio.Task[None] | None:
        """The task writing the job, newest instance first (the one that took the job over last), if any."""
        tasks = (services.jobs.running(job_id) for services in reversed(self.instances))
        return next((task for task in tasks if task is not None), None)


@pytest.fixture(params=["memory", "sqlite"])
async def cluster(
    request: pytest.FixtureRequest, stack: SandboxStack, cards: CardLibrary, tmp_path: Path
) -> AsyncIterator[Cluster]:
    clock = FakeClock()
    stores: list[Store] = []
    shared = MemoryStore(clock=clock)

    async def open_store() -> Store:
        if request.param == "memory":
            return shared
        store = await SqliteStore.connect(tmp_path / "jobs.db", clock=clock)
        stores.append(store)
        return store

    enroll_students(stack, 20)
    made = Cluster(stack, cards, clock, open_store)
    yield made
    for services in made.instances:
        await jobs.stop_jobs(services)
        await services.graph.aclose()
    for store in [shared, *stores]:
        await store.aclose()


# ---------------------------------------------------------------------------------------------- helpers


def teacher_actor(stack: SandboxStack) -> Actor:
    return Actor(tenant_id=TenantId(stack.tenant_id), user_id=UserId(stack.user_id(TEACHER)), name=TEACHER)


def client_of(services: Services, stack: SandboxStack) -> jobs.ClientFactory:
    async def factory(actor: Actor) -> EducationClient | None:
        return EducationClient(services.graph, stack.graph_token(actor.user_id))

    return factory


def teacher_context(services: Services, stack: SandboxStack, outbox: RecordingOutbox) -> ActionContext:
    actor = teacher_actor(stack)
    return ActionContext(
        services=services,
        actor=actor,
        conversation=Conversation(id=f"conv-{actor.user_id}", kind="personal", service_url="https://127.0.0.1:1/"),
        client=EducationClient(services.graph, stack.graph_token(actor.user_id)),
        outbox=outbox,
    )


def ungraded(stack: SandboxStack, count: int) -> list[str]:
    school = stack.graph.school
    ids = set(school.class_named(BIOLOGY).studentIds)
    names: list[str] = []
    for user in school.users:
        submission = stack.graph.submission_for(
            stack.class_id(BIOLOGY), stack.assignment_id(BIOLOGY, ESSAY), stack.user_id(user.displayName)
        )
        if user.id in ids and submission is not None and submission.status == "submitted":
            points = submission.outcome("points")
            if points is None or points.points is None:
                names.append(user.displayName)
    assert len(names) >= count
    return names[:count]


async def grade_and_return(ctx: ActionContext, stack: SandboxStack, names: list[str]) -> list[Change]:
    """30 planned changes: 50 points each, then return (2 `$batch` parts a student, so 10 students a batch)."""
    class_id = ClassId(stack.class_id(BIOLOGY))
    assignment_id = AssignmentId(stack.assignment_id(BIOLOGY, ESSAY))
    by_student = await ctx.services.submissions.all(ctx.client, ctx.teacher_key, class_id, assignment_id)
    return [
        plan_from(
            by_student[UserId(stack.user_id(name))],
            class_id=class_id,
            assignment_id=assignment_id,
            student_id=UserId(stack.user_id(name)),
            student_name=name,
            assignment_name=ESSAY,
            max_points=100,
            set_points=True,
            points=50.0,
            then=Then.RETURN,
        )
        for name in names
    ]


class AuditGate:
    """Holds up (or kills) the job at the Nth audit append: Graph has run the batch, its audit is half written."""

    def __init__(self, store: Store, *, at: int, kill: bool = False) -> None:
        self.store = store
        self.real = store.append_audit
        self.at = at
        self.kill = kill
        self.calls = 0
        self.reached = asyncio.Event()
        self.opened = asyncio.Event()

    async def append_audit(self, entry: AuditEntry) -> int:
        self.calls += 1
        if self.calls == self.at:
            self.reached.set()
            if self.kill:
                raise asyncio.CancelledError  # the process dies here, mid-batch, without releasing anything
            await self.opened.wait()
        return await self.real(entry)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(self.store, "append_audit", self.append_audit)


@dataclass
class Started:
    job_id: str
    names: list[str]
    outbox: RecordingOutbox


async def start_job(
    cluster: Cluster, services: Services, config: JobConfig | None = None, *, throttled: bool = False
) -> Started:
    """Start a 30-student grade-and-return job on `services`; `throttled`: Graph answers 429 from its first batch."""
    outbox = RecordingOutbox()
    ctx = teacher_context(services, cluster.stack, outbox)
    names = ungraded(cluster.stack, 30)
    changes = await grade_and_return(ctx, cluster.stack, names)
    if throttled:
        cluster.stack.graph.knobs.throttle_next = 10_000
    job_id = await jobs.start_bulk_job(ctx, changes, title=ESSAY, config=config or JobConfig())
    return Started(job_id, names, outbox)


async def settle(cluster: Cluster, job_id: str) -> None:
    task = cluster.running(job_id)
    if task is not None:
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), WAIT)


async def assert_graded_and_returned_once(cluster: Cluster, services: Services, started: Started) -> None:
    stack = cluster.stack
    state = await jobs.load_job(services, started.job_id)
    assert state is not None and state.finished and not state.failed
    for name in started.names:
        submission = stack.graph.submission_for(
            stack.class_id(BIOLOGY), stack.assignment_id(BIOLOGY, ESSAY), stack.user_id(name)
        )
        assert submission is not None and submission.status == "returned"
        outcome = submission.outcome("points")
        assert outcome is not None and outcome.points is not None and outcome.points.points == 50
    actor = teacher_actor(stack)
    entries = await services.store.list_audit(tenant_id=actor.tenant_id, teacher_id=actor.user_id, limit=500)
    per_student = Counter(e.student_id for e in entries if e.action == "grade")
    assert set(per_student) == {UserId(stack.user_id(name)) for name in started.names}
    assert set(per_student.values()) == {1}, "one audit entry per student"
    returns = Counter(r.path for r in stack.graph.requests if r.path.endswith("/return"))
    assert len(returns) == len(started.names) and set(returns.values()) == {1}, "every submission returned once"


# ---------------------------------------------------------------------------------------------- the lease


async def test_an_instance_leaves_alone_a_job_another_is_writing_mid_batch(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = await cluster.instance(), await cluster.instance()
    gate = AuditGate(a.store, at=5)
    gate.install(monkeypatch)
    started = await start_job(cluster, a)
    await asyncio.wait_for(gate.reached.wait(), WAIT)  # A's first batch reached Graph; 4 of its 10 audits written

    taken_by_b = await jobs.resume_jobs(b, client_of(b, cluster.stack))
    state = await jobs.load_job(b, started.job_id)
    gate.opened.set()
    await settle(cluster, started.job_id)

    assert taken_by_b == []
    assert state is not None and state.in_flight and state.lease_owner == a.jobs.runner_id
    assert b.jobs.running(started.job_id) is None
    await assert_graded_and_returned_once(cluster, b, started)


async def test_a_killed_instance_s_job_is_taken_over_once_its_lease_has_expired(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = await cluster.instance(), await cluster.instance()
    gate = AuditGate(a.store, at=5, kill=True)
    gate.install(monkeypatch)
    started = await start_job(cluster, a)
    await settle(cluster, started.job_id)
    monkeypatch.setattr(a.store, "append_audit", gate.real)

    too_early = await jobs.resume_jobs(b, client_of(b, cluster.stack))
    cluster.clock.advance(LEASE + timedelta(seconds=1))
    taken = await jobs.resume_jobs(b, client_of(b, cluster.stack))
    await settle(cluster, started.job_id)

    assert gate.reached.is_set()
    assert too_early == []
    assert taken == [started.job_id]
    await assert_graded_and_returned_once(cluster, b, started)


async def test_of_two_instances_racing_for_an_expired_lease_exactly_one_takes_the_job(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, c = await cluster.instance(), await cluster.instance(), await cluster.instance()
    gate = AuditGate(a.store, at=5, kill=True)
    gate.install(monkeypatch)
    started = await start_job(cluster, a)
    await settle(cluster, started.job_id)
    monkeypatch.setattr(a.store, "append_audit", gate.real)
    cluster.clock.advance(LEASE + timedelta(seconds=1))
    both_read = asyncio.Barrier(2)

    def racing(services: Services) -> jobs.ClientFactory:
        async def factory(actor: Actor) -> EducationClient | None:
            await both_read.wait()  # both have read the expired lease; the compare-and-set decides
            return await client_of(services, cluster.stack)(actor)

        return factory

    taken = await asyncio.wait_for(asyncio.gather(jobs.resume_jobs(b, racing(b)), jobs.resume_jobs(c, racing(c))), WAIT)
    await settle(cluster, started.job_id)

    assert sorted(taken) == [[], [started.job_id]]
    await assert_graded_and_returned_once(cluster, b, started)


async def test_a_graceful_stop_releases_the_lease_so_another_instance_takes_over_at_once(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = await cluster.instance(), await cluster.instance()
    gate = AuditGate(a.store, at=5)
    gate.install(monkeypatch)
    started = await start_job(cluster, a)
    await asyncio.wait_for(gate.reached.wait(), WAIT)

    cancelled = await jobs.stop_jobs(a, grace=0.0)
    monkeypatch.setattr(a.store, "append_audit", gate.real)
    released = await jobs.load_job(b, started.job_id)
    taken = await jobs.resume_jobs(b, client_of(b, cluster.stack))  # the clock has not moved
    await settle(cluster, started.job_id)

    assert cancelled == 1
    assert released is not None and released.lease_until is not None and released.lease_until <= cluster.clock()
    assert taken == [started.job_id]
    await assert_graded_and_returned_once(cluster, b, started)


class HeldSleep:
    """A throttle pause that lasts until the test ends it."""

    def __init__(self) -> None:
        self.waiting = asyncio.Event()
        self.over = asyncio.Event()

    async def __call__(self, _: float) -> None:
        self.waiting.set()
        await self.over.wait()


async def test_the_heartbeat_keeps_the_lease_while_the_job_waits_out_throttling(cluster: Cluster) -> None:
    a, b = await cluster.instance(), await cluster.instance()
    knobs = cluster.stack.graph.knobs
    pause = HeldSleep()
    config = JobConfig(retry_delays=(60.0,), sleep=pause, heartbeat_seconds=0.01)
    started = await start_job(cluster, a, config, throttled=True)
    await asyncio.wait_for(pause.waiting.wait(), WAIT)

    cluster.clock.advance(LEASE + timedelta(seconds=1))  # longer than the lease, but A is alive and beating
    lease_until: datetime | None = None
    for _ in range(200):
        state = await jobs.load_job(b, started.job_id)
        lease_until = state.lease_until if state else None
        if lease_until is not None and lease_until > cluster.clock():
            break
        await asyncio.sleep(0.01)
    taken_by_b = await jobs.resume_jobs(b, client_of(b, cluster.stack))
    knobs.throttle_next = 0
    pause.over.set()
    await settle(cluster, started.job_id)

    assert lease_until is not None and lease_until > cluster.clock(), "the heartbeat renewed the lease"
    assert taken_by_b == []
    await assert_graded_and_returned_once(cluster, b, started)


async def test_an_instance_that_stalled_past_its_lease_stops_at_its_next_save(cluster: Cluster) -> None:
    a, b = await cluster.instance(), await cluster.instance()
    knobs = cluster.stack.graph.knobs
    pause = HeldSleep()
    stalled = JobConfig(retry_delays=(60.0,), sleep=pause, heartbeat_seconds=3600.0)
    started = await start_job(cluster, a, stalled, throttled=True)
    a_task = a.jobs.running(started.job_id)
    await asyncio.wait_for(pause.waiting.wait(), WAIT)
    cluster.clock.advance(LEASE + timedelta(seconds=1))
    knobs.throttle_next = 0

    taken = await jobs.resume_jobs(b, client_of(b, cluster.stack))
    await settle(cluster, started.job_id)
    pause.over.set()  # A wakes up after B finished: its next save conflicts, so it sends nothing
    assert a_task is not None
    await asyncio.wait_for(a_task, WAIT)

    assert taken == [started.job_id]
    await assert_graded_and_returned_once(cluster, b, started)


# ---------------------------------------------------------------------------------------------- the sweep


async def test_the_sweep_carries_on_a_job_paused_on_another_instance(cluster: Cluster) -> None:
    a, b = await cluster.instance(), await cluster.instance()
    ticks: asyncio.Queue[None] = asyncio.Queue()
    swept = asyncio.Event()

    async def next_tick(_: float) -> None:
        swept.set()
        await ticks.get()

    sweep = ResumeSweep(b, client_of(b, cluster.stack), config=JobConfig(), sleep=next_tick)
    resumed_at_start = await sweep.start()
    knobs = cluster.stack.graph.knobs
    started = await start_job(cluster, a, JobConfig(retry_delays=()), throttled=True)
    await settle(cluster, started.job_id)
    paused = await jobs.load_job(a, started.job_id)

    knobs.throttle_next = 0
    swept.clear()
    ticks.put_nowait(None)
    await asyncio.wait_for(swept.wait(), WAIT)  # the sweep ran once more and is waiting again
    by_b = b.jobs.running(started.job_id)
    await settle(cluster, started.job_id)
    await sweep.stop()

    assert resumed_at_start == []
    assert paused is not None and paused.paused and not paused.finished
    assert by_b is not None
    await assert_graded_and_returned_once(cluster, b, started)


async def test_a_runner_whose_job_was_taken_from_it_stops_while_still_waiting(cluster: Cluster) -> None:
    a, b = await cluster.instance(), await cluster.instance()
    pause = HeldSleep()
    config = JobConfig(retry_delays=(60.0,), sleep=pause, heartbeat_seconds=0.01)
    started = await start_job(cluster, a, config, throttled=True)
    a_task = a.jobs.running(started.job_id)
    await asyncio.wait_for(pause.waiting.wait(), WAIT)
    # Another runner took the job (as after A stalled past its lease): a compare-and-set write of its own lease.
    for _ in range(100):
        document = await b.store.get(jobs.NAMESPACE, started.job_id)
        assert document is not None and isinstance(document.value, dict)
        taken = {**document.value, "lease_owner": b.jobs.runner_id}
        try:
            await b.store.put(jobs.NAMESPACE, started.job_id, taken, expected_version=document.version)
            break
        except VersionConflict:
            continue  # A's heartbeat wrote in between

    assert a_task is not None
    await asyncio.wait_for(a_task, WAIT)  # A's heartbeat found out and ended the job's task, still mid-pause

    state = await jobs.load_job(b, started.job_id)
    assert not pause.over.is_set() and not a_task.cancelled()
    assert state is not None and state.lease_owner == b.jobs.runner_id and not state.done
