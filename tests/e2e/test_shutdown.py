"""Graceful shutdown: a turn in flight finishes and its write lands, anything new is turned away with 503, and a bulk
job either finishes within the grace period or is left to resume — each student graded exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from app import ASSISTANT_KEY, HOSTING_KEY
from bot.actions import bulk, jobs
from bot.actions.context import ActionContext
from bot.cards.actions import CardAction, CardInputs, Verb
from bot.graph.client import EducationClient
from bot.graph.ids import AssignmentId, ClassId, SubmissionId, TenantId, UserId
from bot.turn import Actor, Conversation
from sandbox.run import World
from sandbox.teams import TeamsUser
from tests.actions.conftest import RecordingOutbox, enroll_students

ROOT = Path(__file__).resolve().parents[2]
BIOLOGY = "Biology 101"
DANA = "Dana Whitfield"
SLOW_GRAPH_SECONDS = 0.5
"""Each Graph request of a slow turn waits this long: time enough to act while the turn is in flight."""
SLOW_JOB_SECONDS = 0.25


async def signed_in(world: World) -> TeamsUser:
    """Dana, signed in by the channel's SSO exchange, with the bot's roster caches warm."""
    dana = world.teams.user(world.stack.user_id(DANA), DANA)
    await world.teams.send_to_bot(world.teams.message(f"status Essay 2 in {BIOLOGY}", user=dana))
    await world.teams.drain()
    return dana


def points_of(world: World, student: str) -> float | None:
    stack = world.stack
    submission = stack.graph.submission_for(
        stack.class_id(BIOLOGY), stack.assignment_id(BIOLOGY, "Essay 2"), stack.user_id(student)
    )
    assert submission is not None
    outcome = submission.outcome("points")
    return outcome.points.points if outcome and outcome.points else None


async def until(condition: Callable[[], bool], *, seconds: float = 10.0) -> None:
    """Poll `condition` every 10 ms for at most `seconds`."""
    for _ in range(int(seconds * 100)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


async def test_draining_finishes_the_turn_in_flight_and_turns_new_ones_away(world: World) -> None:
    dana = await signed_in(world)
    endpoint = world.bot_runner.app[HOSTING_KEY].shutdown.endpoint
    graph = world.stack.graph
    graph.knobs.latency_seconds = SLOW_GRAPH_SECONDS
    graph.reset_request_log()
    slow = asyncio.create_task(
        world.teams.send_to_bot(world.teams.message(f"grade Bob Jones 90 on Essay 2 in {BIOLOGY}", user=dana))
    )
    await until(lambda: graph.request_count > 0)  # the turn is inside the bot, waiting on Graph

    shutdown = asyncio.create_task(world.bot_runner.shutdown())  # what SIGTERM runs: on_shutdown
    await until(lambda: endpoint.draining)
    activity = world.teams.complete(world.teams.message(f"grade Carol Diaz 70 on Essay 2 in {BIOLOGY}", user=dana))
    token = world.stack.entra.mint_channel_token(world.stack.app_id, world.teams.service_url)
    async with httpx.AsyncClient() as client:
        refused = await client.post(
            f"{world.bot_url}/api/messages", json=activity, headers={"authorization": f"Bearer {token}"}
        )

    assert refused.status_code == 503
    assert int(refused.headers["retry-after"]) > 0
    assert not shutdown.done(), "the shutdown waits for the turn in flight"
    status, _ = await slow
    await asyncio.wait_for(shutdown, 10)
    assert status == 201
    assert points_of(world, "Bob Jones") == 90
    assert points_of(world, "Carol Diaz") is None
    assert "90" in str(world.teams.personal_conversation(dana).messages()[-1]), "the reply went out too"


# ------------------------------------------------------------------------------------------------ a real process


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bot_environment(world: World, port: int) -> dict[str, str]:
    settings = world.settings
    ca = str(world.running.tls.ca_path.resolve())
    return {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "MicrosoftAppId": settings.app_id,
        "MicrosoftAppPassword": settings.app_password.get_secret_value(),
        "MicrosoftAppTenantId": settings.app_tenant_id,
        "AUTHORITY_HOST": settings.authority_host,
        "GRAPH_ENDPOINT": settings.graph_endpoint,
        "BOT_OPENID_METADATA_URL": settings.bot_openid_metadata_url,
        "BOT_TOKEN_ISSUER": settings.bot_token_issuer,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "STORAGE_URL": "memory://",
        "SHUTDOWN_GRACE_SECONDS": "15",
        "SSL_CERT_FILE": ca,
        "REQUESTS_CA_BUNDLE": ca,
    }


async def test_sigterm_lets_the_turn_in_flight_land_then_exits(world: World, tmp_path: Path) -> None:
    port = _free_port()
    log = (tmp_path / "bot.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "app.py"),
        cwd=tmp_path,
        env=_bot_environment(world, port),
        stdout=log,
        stderr=log,
    )
    try:
        await _until_healthy(f"http://127.0.0.1:{port}/healthz", process.returncode)
        world.teams.bot_url = f"http://127.0.0.1:{port}/api/messages"
        dana = await signed_in(world)
        graph = world.stack.graph
        graph.knobs.latency_seconds = SLOW_GRAPH_SECONDS
        graph.reset_request_log()
        slow = asyncio.create_task(
            world.teams.send_to_bot(world.teams.message(f"grade Bob Jones 90 on Essay 2 in {BIOLOGY}", user=dana))
        )
        await until(lambda: graph.request_count > 0)

        process.send_signal(signal.SIGTERM)
        status, _ = await slow
        code = await asyncio.wait_for(process.wait(), 20)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        log.close()

    assert status == 201
    assert points_of(world, "Bob Jones") == 90
    assert code == 0, (tmp_path / "bot.log").read_text()[-2000:]


async def _until_healthy(url: str, returncode: int | None) -> None:
    async with httpx.AsyncClient(timeout=1.0) as client:
        for _ in range(300):
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"the bot did not start (exit code {returncode})")


# ------------------------------------------------------------------------------------------------ bulk jobs


async def _start_a_thirty_student_job(world: World) -> tuple[str, dict[str, float], ActionContext]:
    """Dana saves a grading sheet of 30 students: a job of two batches, writing in the background."""
    stack = world.stack
    enroll_students(stack, 20)
    services = world.bot_runner.app[ASSISTANT_KEY].services
    dana_id = stack.user_id(DANA)
    class_id = stack.class_id(BIOLOGY)
    assignment_id = stack.assignment_id(BIOLOGY, "Essay 2")
    ungraded = [
        submission
        for submission in stack.graph.school.submissions
        if submission.assignmentId == assignment_id
        and submission.status == "submitted"
        and not (submission.outcome("points") and submission.outcome("points").points)  # pyright: ignore[reportOptionalMemberAccess]
    ][:30]
    assert len(ungraded) == 30
    sheet = {submission.id: float(50 + number) for number, submission in enumerate(ungraded)}
    ctx = ActionContext(
        services=services,
        actor=Actor(TenantId(stack.tenant_id), UserId(dana_id), DANA),
        conversation=Conversation("conv-dana", "personal", world.teams.service_url),
        client=EducationClient(services.graph, stack.graph_token(dana_id)),
        outbox=RecordingOutbox(),
    )
    click = CardAction(
        verb=Verb.SHEET_SAVE_ALL,
        class_id=ClassId(class_id),
        assignment_id=AssignmentId(assignment_id),
        inputs=CardInputs(sheet_points={SubmissionId(key): value for key, value in sheet.items()}),
    )
    before = set(services.jobs.tasks)
    await bulk.on_sheet_save_all(ctx, click)
    [job_id] = set(services.jobs.tasks) - before
    return job_id, sheet, ctx


def _graded(world: World, sheet: dict[str, float]) -> dict[str, float | None]:
    found: dict[str, float | None] = {}
    for submission in world.stack.graph.school.submissions:
        if submission.id in sheet:
            outcome = submission.outcome("points")
            found[submission.id] = outcome.points.points if outcome and outcome.points else None
    return found


async def _audited_once(ctx: ActionContext, sheet: dict[str, float]) -> bool:
    entries = await ctx.services.store.list_audit(tenant_id=ctx.actor.tenant_id, limit=500)
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry.submission_id] = counts.get(entry.submission_id, 0) + 1
    return counts == dict.fromkeys(sheet, 1)


async def test_shutdown_waits_for_a_running_job_within_the_grace(world: World) -> None:
    world.stack.graph.knobs.latency_seconds = 0.05
    job_id, sheet, ctx = await _start_a_thirty_student_job(world)
    await world.bot_runner.shutdown()
    state = await jobs.load_job(ctx.services, job_id)
    assert state is not None and state.finished
    assert _graded(world, sheet) == sheet
    assert await _audited_once(ctx, sheet)


async def test_a_job_cut_by_the_grace_resumes_and_grades_everyone_once(world: World) -> None:
    hosting = world.bot_runner.app[HOSTING_KEY]
    hosting.shutdown.grace_seconds = SLOW_JOB_SECONDS  # less than the job needs
    world.stack.graph.knobs.latency_seconds = SLOW_JOB_SECONDS
    job_id, sheet, ctx = await _start_a_thirty_student_job(world)

    await world.bot_runner.shutdown()

    assert ctx.services.jobs.running(job_id) is None
    state = await jobs.load_job(ctx.services, job_id)
    assert state is not None and not state.finished, "left open in the store"
    world.stack.graph.knobs.latency_seconds = 0
    clients: Callable[[Actor], Awaitable[EducationClient | None]] = _client_factory(world)
    assert await jobs.resume_jobs(ctx.services, clients) == [job_id]
    await ctx.services.jobs.wait(job_id)
    assert _graded(world, sheet) == sheet
    assert await _audited_once(ctx, sheet)


def _client_factory(world: World) -> Callable[[Actor], Awaitable[EducationClient | None]]:
    services = world.bot_runner.app[ASSISTANT_KEY].services

    async def client_for(actor: Actor) -> EducationClient | None:
        return EducationClient(services.graph, world.stack.graph_token(actor.user_id))

    return client_for
