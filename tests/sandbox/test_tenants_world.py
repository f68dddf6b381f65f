"""Two tenants end to end over real HTTP: teachers of two schools sign in with Teams SSO through the real bot
(on-behalf-of at their own tenant) and each grade lands in their own school's Graph only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sandbox.run import World, start_world
from sandbox.stack import TenantView

GRADE = "grade Alice Smith {points} on Essay 2 in Biology 101"


@pytest.fixture
async def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)  # restored after the test; start_world sets its own
    started = await start_world(tls_directory=tmp_path / "tls", tenants=2)
    try:
        yield started
    finally:
        await started.stop()


def points_of(tenant: TenantView) -> float | None:
    submission = tenant.graph.submission_for(
        tenant.class_id("Biology 101"), tenant.assignment_id("Biology 101", "Essay 2"), tenant.user_id("Alice Smith")
    )
    assert submission is not None
    outcome = submission.outcome("points")
    return outcome.points.points if outcome and outcome.points else None


async def until_points(tenant: TenantView, points: float) -> None:
    for _ in range(100):  # the grade typed before sign-in is written after the token exchange is answered
        if points_of(tenant) == points:
            return
        await asyncio.sleep(0.05)


async def test_teachers_of_two_tenants_each_grade_their_own_school(world: World) -> None:
    first, second = world.stack.tenant(0), world.stack.tenant(1)
    dana = world.teams.user(first.user_id("Dana Whitfield"))
    other_dana = world.teams.user(second.user_id("Dana Whitfield"))

    answers = await asyncio.gather(
        world.teams.send_to_bot(world.teams.message(GRADE.format(points=81), user=dana)),
        world.teams.send_to_bot(world.teams.message(GRADE.format(points=92), user=other_dana)),
    )
    await world.teams.drain()  # the channel exchanges each teacher's SSO token, as the Teams client does
    await until_points(first, 81)
    await until_points(second, 92)

    assert all(status in (200, 201, 202) for status, _ in answers)
    assert (points_of(first), points_of(second)) == (81, 92)
    assert world.stack.entra.token_requests["on_behalf_of"] == 2
    assert world.settings.allowed_tenant_ids == frozenset(world.stack.tenant_ids)
    assert world.teams.personal_conversation(other_dana).tenant_id == second.tenant_id
