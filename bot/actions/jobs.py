"""Long outcome writes (a bulk grade of a whole class) as resumable jobs, and the batch loop shared with short ones.

A job's state lives in the store (namespace "jobs"): the planned Changes exactly as confirmed, which are done, which
failed, and which were in flight. Every state write names the version it read (compare-and-set), so of two runners
that both try to write a job the loser stops at its next save.

One runner at a time: a job carries a lease (`lease_owner`, `lease_until`). A runner (`JobRunner`, one per Services,
so one per bot instance) takes it with a compare-and-set write when it starts or resumes the job, renews it with every
save (each batch) and with a heartbeat while it waits (throttle pauses, slow Graph calls), and gives it up when the
job pauses or the instance stops gracefully (`stop_jobs`). `resume_jobs` leaves alone a job whose lease is live and
held by another runner: an instance that starts while another is mid-batch does not reconcile from an audit log the
other has not written yet. A crashed runner's lease runs out (`JobConfig.lease`, 30 s) and then exactly one other
runner takes the job over (the compare-and-set decides). Leases compare the instances' clocks: keep them in sync
(NTP); a skew of a few seconds only shortens or lengthens the lease by as much. `ResumeSweep` calls `resume_jobs`
every `JobConfig.sweep_seconds`, so paused jobs and jobs of crashed instances are carried on by a running instance.

Exactly once: a change is marked done only after its batch result; a change that was in flight when the job stopped
is reconciled on resume from the audit log (written right after each success) and, for a change that ends with a
return / reassign / excuse, from the submission's status — so a re-run re-sends at most a points or feedback PATCH
(harmless), never a second return.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from pydantic import BaseModel, Field

from bot import messages
from bot.actions.context import ActionContext, Services
from bot.actions.runner import JobRunner
from bot.actions.writes import MAX_PARTS, Applied, Change, Then, apply
from bot.cards.actions import undo_action
from bot.cards.views import ProgressView, ResultView
from bot.graph.client import EducationClient
from bot.graph.errors import GraphError, GraphThrottled, GraphTimeout, GraphUnauthorized, GraphUnavailable
from bot.graph.ids import ClassId, TenantId, UserId
from bot.graph.models import SubmissionStatus
from bot.storage import Document, StorageError, VersionConflict
from bot.turn import Actor, Conversation, Outbox, Reply

logger = logging.getLogger(__name__)

NAMESPACE = "jobs"
_INDEX_KEY = "_open"
JOB_TTL = timedelta(days=7)
"""A job's state is kept this long after its last write (finished jobs then disappear)."""

DEFAULT_THRESHOLD = 30
"""A bulk write of at least this many students runs as a job with a progress card."""

DEFAULT_LEASE = timedelta(seconds=30)
"""How long a runner holds a job after its last save or heartbeat; then another instance may take the job over."""

DEFAULT_SWEEP_SECONDS = 30.0
"""How often a running instance looks for paused jobs and jobs whose runner is gone."""

RETRYABLE_STATUSES = frozenset({429, 503, 504})
_CLOCK_SKEW = timedelta(seconds=2)

_THEN_STATUS = {
    Then.RETURN: SubmissionStatus.RETURNED,
    Then.REASSIGN: SubmissionStatus.REASSIGNED,
    Then.EXCUSE: SubmissionStatus.EXCUSED,
}


@dataclass(frozen=True)
class JobConfig:
    """When a bulk write becomes a job, and how a job waits out a busy Graph before pausing."""

    threshold: int = DEFAULT_THRESHOLD
    retry_delays: tuple[float, ...] = (2.0, 5.0, 15.0, 30.0, 60.0)
    """Seconds to wait before each further round while Graph throttles; when they run out the job pauses."""
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)
    lease: timedelta = DEFAULT_LEASE
    """How long a save or heartbeat holds the job for this runner."""
    heartbeat_seconds: float | None = None
    """Seconds between lease renewals while the job waits; None: a third of the lease."""
    sweep_seconds: float = DEFAULT_SWEEP_SECONDS
    """Seconds between two `resume_jobs` calls of a `ResumeSweep`."""

    def heartbeat_interval(self) -> float:
        """Seconds between two heartbeats (well inside the lease)."""
        if self.heartbeat_seconds is not None and self.heartbeat_seconds > 0:
            return self.heartbeat_seconds
        return self.lease.total_seconds() / 3

    @classmethod
    def from_settings(cls, settings: object) -> JobConfig:
        """The config for the app: `bulk_job_threshold`, `job_lease_seconds`, `job_sweep_seconds` when defined."""
        threshold = _positive(settings, "bulk_job_threshold")
        lease = _positive(settings, "job_lease_seconds")
        sweep = _positive(settings, "job_sweep_seconds")
        return cls(
            threshold=int(threshold) if isinstance(threshold, int) else DEFAULT_THRESHOLD,
            lease=timedelta(seconds=lease) if lease is not None else DEFAULT_LEASE,
            sweep_seconds=float(sweep) if sweep is not None else DEFAULT_SWEEP_SECONDS,
        )


def _positive(settings: object, name: str) -> int | float | None:
    """A positive number the settings define under `name`, else None."""
    value = cast(object, getattr(settings, name, None))
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return value


class JobOwner(BaseModel):
    """Who started the job and where its progress card lives (to rebuild the turn after a restart)."""

    tenant_id: TenantId
    user_id: UserId
    conversation_id: str
    conversation_kind: str
    service_url: str
    channel_class_id: ClassId | None = None

    def actor(self) -> Actor:
        """The teacher as an Actor."""
        return Actor(tenant_id=self.tenant_id, user_id=self.user_id)

    def conversation(self) -> Conversation:
        """The conversation the progress card was posted in."""
        return Conversation(
            id=self.conversation_id,
            kind=self.conversation_kind,
            service_url=self.service_url,
            channel_class_id=self.channel_class_id,
        )


class JobState(BaseModel):
    """A bulk write's durable state. Indices refer to `changes`."""

    job_id: str
    owner: JobOwner
    action: str
    title: str
    change_id: str
    created_at: datetime
    changes: list[Change]
    done: list[int] = Field(default_factory=list[int])
    failed: dict[int, int | None] = Field(default_factory=dict[int, int | None])
    """Index → the Graph status that refused it (None: no response)."""
    in_flight: list[int] = Field(default_factory=list[int])
    """Sent (or about to be) and not yet recorded: reconciled on resume."""
    progress_activity_id: str | None = None
    paused: bool = False
    finished: bool = False
    lease_owner: str | None = None
    """The runner (`JobRunner.runner_id`) writing the job."""
    lease_until: datetime | None = None
    """Until when `lease_owner` holds the job; no other runner takes it over before (None: free)."""

    def pending(self) -> list[int]:
        """Indices still to write, in order."""
        settled = set(self.done) | set(self.failed)
        return [index for index in range(len(self.changes)) if index not in settled]

    def leased_to_another(self, runner_id: str, now: datetime) -> bool:
        """Whether another runner holds a live lease on the job at `now`."""
        return self.lease_owner != runner_id and self.lease_until is not None and self.lease_until > now


ClientFactory = Callable[[Actor], Awaitable[EducationClient | None]]
"""Gives a Graph client bound to the teacher's (cached, refreshed) token, or None when there is none now."""

OutboxFactory = Callable[[Conversation], Outbox | None]
"""Gives an outbox that posts proactively into a conversation, or None."""


# --------------------------------------------------------------------------------------------- batches


def part_count(change: Change) -> int:
    """How many `$batch` parts `writes.apply` sends for a change."""
    count = int(change.set_points and change.points_outcome_id is not None)
    count += int(change.set_feedback and change.feedback_outcome_id is not None)
    count += int(change.then is not None)
    return max(count, 1)


def chunk_indices(changes: Sequence[Change], indices: Sequence[int]) -> list[list[int]]:
    """Group changes into `$batch` calls of at most 20 parts (a change is never split), keeping their order."""
    chunks: list[list[int]] = []
    current: list[int] = []
    size = 0
    for index in indices:
        parts = part_count(changes[index])
        if current and size + parts > MAX_PARTS:
            chunks.append(current)
            current, size = [], 0
        current.append(index)
        size += parts
    if current:
        chunks.append(current)
    return chunks


def is_retryable(error: GraphError | None) -> bool:
    """Whether waiting and sending again may succeed (throttled, unavailable, timed out)."""
    if error is None:
        return False
    return isinstance(error, GraphThrottled | GraphUnavailable | GraphTimeout) or error.status in RETRYABLE_STATUSES


async def write_batches(ctx: ActionContext, changes: Sequence[Change], *, action: str, change_id: str) -> list[Applied]:
    """Write changes in the turn, one `$batch` at a time; a failed `$batch` fails only its own students.

    Args:
        ctx: the teacher's turn.
        changes: the planned writes.
        action: the audit action name.
        change_id: groups the audit entries (for undo).

    Returns:
        One Applied per change, in order (failures carry their GraphError).
    """
    applied: list[Applied] = []
    for chunk in chunk_indices(changes, range(len(changes))):
        batch = [changes[index] for index in chunk]
        try:
            applied += await apply(ctx, batch, action=action, change_id=change_id)
        except GraphError as error:
            logger.info("bulk batch failed: status=%s parts=%d", error.status, len(batch))
            applied += [Applied(change=change, error=error, status=change.old_status) for change in batch]
    return applied


# --------------------------------------------------------------------------------------------- the summary card


async def summary_card(
    ctx: ActionContext, title: str, changes: Sequence[Change], failed: dict[int, int | None], change_id: str
) -> Reply:
    """ "Essay 2: 28 of 30 graded" with each failed student and why, and [Undo] when anything was written."""
    graded = len(changes) - len(failed)
    failures = [messages.bulk_failure(changes[index].student_name, status) for index, status in sorted(failed.items())]
    undo_button = None
    if graded > 0:
        undo_button = undo_action(change_id)
    view = ResultView(
        title=messages.bulk_result_title(title, graded, len(changes)),
        status=messages.status_after_write(None) if graded else None,
        note=messages.bulk_failures(failures) if failures else None,
        undo_button=undo_button,
    )
    return ctx.card(view)


async def summary_of(ctx: ActionContext, title: str, applied: Sequence[Applied], change_id: str) -> Reply:
    """The summary card of writes made in the turn."""
    failed = {index: a.error.status if a.error else None for index, a in enumerate(applied) if not a.ok}
    return await summary_card(ctx, title, [a.change for a in applied], failed, change_id)


# --------------------------------------------------------------------------------------------- runners


async def _release_held(services: Services) -> int:
    """Give up the lease of every job this instance holds and is not writing, so another instance takes it at once.

    Returns:
        How many leases were released.
    """
    runner = services.jobs
    released = 0
    writing = {job_id for job_id, task in runner.tasks.items() if not task.done()}
    for job_id in sorted(runner.held - writing):
        runner.held.discard(job_id)
        try:
            document = await services.store.get(NAMESPACE, job_id)
            if document is None or not isinstance(document.value, dict):
                continue
            state = JobState.model_validate(document.value)
            if state.finished or state.lease_owner != runner.runner_id:
                continue
            state.lease_until = services.clock()
            await services.store.put(NAMESPACE, job_id, _dump(state), expected_version=document.version, ttl=JOB_TTL)
            released += 1
        except StorageError as error:  # VersionConflict included: another runner has it now
            logger.info("bulk job lease not released: job=%s error=%s", job_id, type(error).__name__)
    return released


async def stop_jobs(services: Services, *, grace: float = 0.0) -> int:
    """Stop this instance's jobs gracefully: let them run up to `grace` seconds, cancel the rest, release every lease.

    A released job is open in the store with its in-flight batch recorded; the next `resume_jobs` of any instance
    carries it on at once (without waiting for the lease to run out), writing no student twice.

    Args:
        services: the instance's services.
        grace: seconds the running jobs may still take to finish.

    Returns:
        How many jobs were cancelled.
    """
    tasks = list(services.jobs.tasks.values())
    unfinished: set[asyncio.Task[None]] = set()
    if tasks:
        _, unfinished = await asyncio.wait(tasks, timeout=max(grace, 0.0))
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)
    released = await _release_held(services)
    if unfinished or released:
        logger.info("bulk jobs stopped: cancelled=%d released=%d", len(unfinished), released)
    return len(unfinished)


class ResumeSweep:
    """Calls `resume_jobs` at start-up and then every `config.sweep_seconds` until stopped."""

    def __init__(
        self,
        services: Services,
        client_factory: ClientFactory,
        *,
        outbox_factory: OutboxFactory | None = None,
        config: JobConfig | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """Sweep with the arguments `resume_jobs` takes; `sleep` waits between sweeps (injected by tests)."""
        self.services = services
        self.client_factory = client_factory
        self.outbox_factory = outbox_factory
        self.config = config
        self.sleep = sleep
        self._task: asyncio.Task[None] | None = None

    @property
    def interval(self) -> float:
        """Seconds between two sweeps."""
        return (self.config or JobConfig.from_settings(self.services.settings)).sweep_seconds

    async def sweep(self) -> list[str]:
        """Resume what can be resumed now (see `resume_jobs`)."""
        return await resume_jobs(
            self.services, self.client_factory, outbox_factory=self.outbox_factory, config=self.config
        )

    async def start(self) -> list[str]:
        """Sweep once now, then keep sweeping in the background.

        Returns:
            The ids of the jobs the first sweep resumed.

        Raises:
            StorageError: the first sweep could not read the store.
        """
        resumed = await self.sweep()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="bulk-job-sweep")
        return resumed

    async def stop(self, *, grace: float = 0.0) -> None:
        """Stop sweeping, then stop this instance's jobs and release their leases (`stop_jobs`)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await stop_jobs(self.services, grace=grace)

    async def _run(self) -> None:
        while True:
            await self.sleep(self.interval)
            try:
                await self.sweep()
            except Exception as error:  # noqa: BLE001 - one failed sweep must not end the sweeping
                logger.warning("bulk job sweep failed: error=%s", type(error).__name__)


async def start_sweep(
    services: Services,
    client_factory: ClientFactory,
    *,
    outbox_factory: OutboxFactory | None = None,
    config: JobConfig | None = None,
) -> ResumeSweep:
    """Resume unfinished jobs now and every `sweep_seconds` after (the app's start-up); `stop()` it at shutdown.

    Args:
        services: the app's services.
        client_factory: a Graph client for a job's teacher (None leaves the job for a later sweep).
        outbox_factory: an outbox into a job's conversation, for its progress card.
        config: lease and sweep pacing; `JobConfig.from_settings` when None.

    Returns:
        The running sweep.

    Raises:
        StorageError: the first sweep could not read the store.
    """
    sweep = ResumeSweep(services, client_factory, outbox_factory=outbox_factory, config=config)
    await sweep.start()
    return sweep


# --------------------------------------------------------------------------------------------- jobs


async def start_bulk_job(
    ctx: ActionContext,
    changes: Sequence[Change],
    *,
    title: str,
    action: str = "grade",
    config: JobConfig | None = None,
) -> str:
    """Post a progress card, persist the job (leased to this instance) and write it in the background.

    Args:
        ctx: the teacher's turn; `ctx.outbox` must be set (the progress card is sent and updated through it).
        changes: the planned writes, exactly as confirmed.
        title: the assignment's name, for the cards.
        action: the audit action name.
        config: retry pacing and lease; `JobConfig.from_settings` when None.

    Returns:
        The job id (`services.jobs.wait(job_id)` waits for it).

    Raises:
        ValueError: `ctx.outbox` is None.
        StorageError: the job could not be recorded (nothing was written).
    """
    if ctx.outbox is None:
        raise ValueError("a bulk job needs an outbox for its progress card")
    services = ctx.services
    runner = services.jobs
    job_config = config or JobConfig.from_settings(services.settings)
    now = services.clock()
    state = JobState(
        job_id=uuid.uuid4().hex,
        owner=JobOwner(
            tenant_id=ctx.actor.tenant_id,
            user_id=ctx.actor.user_id,
            conversation_id=ctx.conversation.id,
            conversation_kind=ctx.conversation.kind,
            service_url=ctx.conversation.service_url,
            channel_class_id=ctx.conversation.channel_class_id,
        ),
        action=action,
        title=title,
        change_id=uuid.uuid4().hex,
        created_at=now,
        changes=list(changes),
        lease_owner=runner.runner_id,
        lease_until=now + job_config.lease,
    )
    # The state before the index: a sweep that finds the id in the index always finds the job (and its lease).
    version = await services.store.put(NAMESPACE, state.job_id, _dump(state), expected_version=0, ttl=JOB_TTL)
    await _add_to_index(services, state.job_id)
    job = _Job(ctx, state, version, job_config, runner)
    await job.post_progress()
    runner.spawn(state.job_id, job.run(resume=False))
    logger.info("bulk job started: job=%s changes=%d", state.job_id, len(changes))
    return state.job_id


async def resume_jobs(
    services: Services,
    client_factory: ClientFactory,
    *,
    outbox_factory: OutboxFactory | None = None,
    config: JobConfig | None = None,
) -> list[str]:
    """Carry on every unfinished job no other runner holds (at start-up, and from the sweep) from where it stopped.

    A job is taken with a compare-and-set write of its lease, so of several instances resuming at once exactly one
    carries it on. Jobs this instance is writing, and jobs whose lease another runner holds, are left alone.

    Args:
        services: the app's services (the store holding the jobs).
        client_factory: a Graph client for the job's teacher; None leaves the job for a later call.
        outbox_factory: an outbox into the job's conversation, to keep its progress card current; None: no card.
        config: retry pacing and lease; `JobConfig.from_settings` when None.

    Returns:
        The ids of the jobs this call took and started.

    Raises:
        StorageError: the store could not be read.
    """
    runner = services.jobs
    job_config = config or JobConfig.from_settings(services.settings)
    resumed: list[str] = []
    for job_id in await _open_ids(services):
        if runner.running(job_id) is not None:
            continue
        document = await services.store.get(NAMESPACE, job_id)
        if document is None or not isinstance(document.value, dict):
            await _remove_from_index(services, job_id)
            continue
        state = JobState.model_validate(document.value)
        if state.finished:
            await _remove_from_index(services, job_id)
            continue
        if state.leased_to_another(runner.runner_id, services.clock()):
            continue
        client = await client_factory(state.owner.actor())
        if client is None:
            continue
        now = services.clock()
        state.lease_owner, state.lease_until = runner.runner_id, now + job_config.lease
        try:
            version = await services.store.put(
                NAMESPACE, job_id, _dump(state), expected_version=document.version, ttl=JOB_TTL
            )
        except VersionConflict:
            logger.info("bulk job taken by another runner first: job=%s", job_id)
            continue
        conversation = state.owner.conversation()
        ctx = ActionContext(
            services=services,
            actor=state.owner.actor(),
            conversation=conversation,
            client=client,
            outbox=outbox_factory(conversation) if outbox_factory else None,
        )
        runner.spawn(job_id, _Job(ctx, state, version, job_config, runner).run(resume=True))
        resumed.append(job_id)
    if resumed:
        logger.info("bulk jobs resumed: %d", len(resumed))
    return resumed


async def load_job(services: Services, job_id: str) -> JobState | None:
    """A job's stored state, or None."""
    document = await services.store.get(NAMESPACE, job_id)
    if document is None or not isinstance(document.value, dict):
        return None
    return JobState.model_validate(document.value)


@dataclass
class _Round:
    """How one batch went: some changes must be sent again, the job must pause, Graph may have run parts of it."""

    retry: bool = False
    pause: bool = False
    uncertain: bool = False


class _Job:
    """One job being written by this process, under its runner's lease."""

    def __init__(self, ctx: ActionContext, state: JobState, version: int, config: JobConfig, runner: JobRunner) -> None:
        self.ctx = ctx
        self.state = state
        self.version = version
        self.config = config
        self.runner = runner
        self._lock = asyncio.Lock()
        """Serialises the job's saves (the loop's and the heartbeat's share `version`)."""
        self._released = False
        self._lost = False

    async def run(self, *, resume: bool) -> None:
        task = asyncio.current_task()
        heartbeat = asyncio.create_task(self._heartbeat(task), name=f"bulk-job-heartbeat-{self.state.job_id}")
        try:
            if resume:
                await self._reconcile()
            await self._write_all()
        except VersionConflict:
            self._taken_over()
        except (StorageError, GraphError) as error:
            # Left open in the store: `resume_jobs` carries it on from its last recorded batch.
            logger.warning("bulk job stopped: job=%s error=%s", self.state.job_id, type(error).__name__)
        except asyncio.CancelledError:
            if not self._lost or task is None:
                raise  # stopped (or the process is going away): the lease stays held until released or expired
            task.uncancel()
            self._taken_over()
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)

    def _taken_over(self) -> None:
        self.runner.held.discard(self.state.job_id)
        logger.info("bulk job taken over by another runner: job=%s", self.state.job_id)

    async def _heartbeat(self, task: asyncio.Task[Any] | None) -> None:
        """Renew the lease while the job waits; if another runner has taken the job, stop the job at once."""
        while not self._released:
            await asyncio.sleep(self.config.heartbeat_interval())
            if self._released:
                return
            try:
                await self._save()
            except VersionConflict:
                self._lost = True
                if task is not None:
                    task.cancel()
                return
            except StorageError as error:
                logger.warning("bulk job lease not renewed: job=%s error=%s", self.state.job_id, type(error).__name__)

    async def _write_all(self) -> None:
        rounds = 0
        while pending := self.state.pending():
            chunk = chunk_indices(self.state.changes, pending)[0]
            self.state.in_flight = chunk
            self.state.paused = False
            await self._save()
            sent = await self._send(chunk)
            if sent.uncertain:
                await self._reconcile()
            else:
                self.state.in_flight = []
                await self._save()
            await self.post_progress()
            if sent.pause or (sent.retry and rounds >= len(self.config.retry_delays)):
                await self._pause()
                return
            if sent.retry:
                await self.config.sleep(self.config.retry_delays[rounds])
                rounds += 1
            else:
                rounds = 0
        self.state.finished = True
        await self._save(release=True)
        await _remove_from_index(self.ctx.services, self.state.job_id)
        await self._finish_card()
        logger.info("bulk job finished: job=%s failed=%d", self.state.job_id, len(self.state.failed))

    async def _send(self, chunk: list[int]) -> _Round:
        """Write one batch and record what is settled."""
        batch = [self.state.changes[index] for index in chunk]
        try:
            applied = await apply(self.ctx, batch, action=self.state.action, change_id=self.state.change_id)
        except GraphUnauthorized:
            return _Round(pause=True)
        except GraphError as error:
            if is_retryable(error):
                # No answer (or a gateway's): Graph may have run some parts, so reconcile before sending again.
                return _Round(retry=True, uncertain=error.status != 429)
            applied = [Applied(change=change, error=error, status=None) for change in batch]
        result = _Round()
        for index, outcome in zip(chunk, applied, strict=True):
            if outcome.ok:
                self.state.done.append(index)
            elif is_retryable(outcome.error):
                result.retry = True
            elif isinstance(outcome.error, GraphUnauthorized):
                result.pause = True
            else:
                self.state.failed[index] = outcome.error.status if outcome.error else None
        return result

    async def _reconcile(self) -> None:
        """Settle the changes that were in flight when the job stopped, so none is written twice."""
        if not self.state.in_flight:
            return
        audited = await self._audited_submissions()
        for index in self.state.in_flight:
            change = self.state.changes[index]
            if index in self.state.done or index in self.state.failed:
                continue
            if change.submission_id in audited:
                self.state.done.append(index)
            elif change.then is not None and await self._then_happened(change):
                # The return (etc.) went through but was not recorded: never send it again; the PATCHes before it
                # succeeded too (it depends on them), so re-sending them only repeats the same values and audits.
                self.state.changes[index] = change.model_copy(update={"then": None})
        self.state.in_flight = []
        await self._save()

    async def _audited_submissions(self) -> set[str]:
        store = self.ctx.services.store
        found: set[str] = set()
        before_id: int | None = None
        while True:
            entries = await store.list_audit(
                tenant_id=self.state.owner.tenant_id,
                teacher_id=self.state.owner.user_id,
                limit=200,
                before_id=before_id,
            )
            found |= {e.submission_id for e in entries if e.change_id == self.state.change_id}
            if not entries or entries[-1].at < self.state.created_at or entries[-1].id is None:
                return found
            before_id = entries[-1].id

    async def _then_happened(self, change: Change) -> bool:
        assert change.then is not None
        submission = await self.ctx.client.get_submission(change.class_id, change.assignment_id, change.submission_id)
        expected = _THEN_STATUS[change.then]
        if submission.status != expected:
            return False
        if change.old_status != expected:
            return True
        stamp = {
            Then.RETURN: submission.returned_date_time,
            Then.REASSIGN: submission.reassigned_date_time,
            Then.EXCUSE: submission.excused_date_time,
        }[change.then]
        # It was returned before the job too: only a return stamped after the job started is this job's.
        return stamp is not None and stamp >= self.state.created_at - _CLOCK_SKEW

    async def _pause(self) -> None:
        self.state.paused = True
        await self._save(release=True)  # any instance's next sweep may carry it on
        await self.post_progress(detail=messages.bulk_job_paused())
        logger.info("bulk job paused: job=%s pending=%d", self.state.job_id, len(self.state.pending()))

    async def _save(self, *, release: bool = False) -> None:
        """Write the state if nobody else has since, renewing this runner's lease (or giving it up for good).

        Raises:
            VersionConflict: another runner has written the job (it took the job over).
        """
        async with self._lock:
            self._released = self._released or release
            now = self.ctx.services.clock()
            self.state.lease_owner = self.runner.runner_id
            self.state.lease_until = now if self._released else now + self.config.lease
            self.version = await self.ctx.services.store.put(
                NAMESPACE, self.state.job_id, _dump(self.state), expected_version=self.version, ttl=JOB_TTL
            )
            if self._released:
                self.runner.held.discard(self.state.job_id)

    async def post_progress(self, *, detail: str | None = None) -> None:
        """Send the progress card (first time) or update it in place."""
        view = ProgressView(
            title=messages.bulk_progress_title(self.state.title),
            done=len(self.state.done),
            total=len(self.state.changes),
            failed=len(self.state.failed),
            detail=detail,
        )
        await self._show(self.ctx.card(view))

    async def _finish_card(self) -> None:
        reply = await summary_card(
            self.ctx, self.state.title, self.state.changes, self.state.failed, self.state.change_id
        )
        await self._show(reply)

    async def _show(self, reply: Reply) -> None:
        outbox = self.ctx.outbox
        if outbox is None:
            return
        activity_id = self.state.progress_activity_id
        try:
            if activity_id is None:
                activity_id = await outbox.send(reply)
            else:
                await outbox.update(activity_id, reply)
        except Exception as error:  # noqa: BLE001 - a card that fails to update must not stop the grading
            logger.warning("progress card not updated: job=%s error=%s", self.state.job_id, type(error).__name__)
            return
        if self.state.progress_activity_id is None:
            self.state.progress_activity_id = activity_id
            await self._save()


def _dump(state: JobState) -> dict[str, Any]:
    return state.model_dump(mode="json")


# --------------------------------------------------------------------------------------------- the open-jobs index


async def _open_ids(services: Services) -> list[str]:
    return _ids_of(await services.store.get(NAMESPACE, _INDEX_KEY))


def _ids_of(document: Document | None) -> list[str]:
    if document is None or not isinstance(document.value, dict):
        return []
    ids = cast(object, document.value.get("ids"))
    return [str(item) for item in cast(list[object], ids)] if isinstance(ids, list) else []


async def _add_to_index(services: Services, job_id: str) -> None:
    await _edit_index(services, lambda ids: [*ids, job_id] if job_id not in ids else ids)


async def _remove_from_index(services: Services, job_id: str) -> None:
    await _edit_index(services, lambda ids: [item for item in ids if item != job_id])


async def _edit_index(services: Services, edit: Callable[[list[str]], list[str]]) -> None:
    """Compare-and-set the list of open jobs (retried when another writer got there first)."""
    store = services.store
    for _ in range(20):
        document = await store.get(NAMESPACE, _INDEX_KEY)
        version = document.version if document is not None else 0
        try:
            await store.put(NAMESPACE, _INDEX_KEY, {"ids": edit(_ids_of(document))}, expected_version=version)
            return
        except VersionConflict:
            continue
    raise VersionConflict(NAMESPACE, _INDEX_KEY, 0)
