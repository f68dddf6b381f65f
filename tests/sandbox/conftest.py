"""Fixtures for the sandbox Graph service: a fake token verifier, a steppable clock and an in-process client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from sandbox.core import InvalidToken
from sandbox.graph import GraphEducation
from sandbox.school import Assignment, School, SchoolClass, Submission, User
from sandbox.transport import mock_transport

BASE_URL = "https://127.0.0.1:8444"
TENANT = "4f1c3b2a-0000-4000-8000-00000000c0de"
TEACHER_SCOPES = "EduAssignments.ReadWrite EduRoster.ReadBasic"
STUDENT_SCOPES = "EduAssignments.ReadWriteBasic EduRoster.ReadBasic"


def fake_verify(token: str) -> Mapping[str, Any]:
    """Tokens are `<oid>|<space-separated scopes>`; `expired|...` fails validation."""
    oid, _, scopes = token.partition("|")
    if oid == "expired" or not oid:
        raise InvalidToken("Lifetime validation failed, the token is expired.")
    return {"oid": oid, "tid": TENANT, "scp": scopes}


def auth(user: User | str, scopes: str = TEACHER_SCOPES, *, prefer: bool = True) -> dict[str, str]:
    """Request headers for a user (by model or oid), optionally with the Prefer header."""
    oid = user if isinstance(user, str) else user.id
    headers = {"Authorization": f"Bearer {oid}|{scopes}"}
    if prefer:
        headers["Prefer"] = "include-unknown-enum-members"
    return headers


class FakeClock:
    """A clock tests move forward by hand."""

    def __init__(self) -> None:
        self.now = datetime(2025, 3, 12, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def service(clock: FakeClock) -> GraphEducation:
    return GraphEducation.from_seed(verify_token=fake_verify, clock=clock)


@pytest.fixture
async def graph(service: GraphEducation) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=mock_transport(service, BASE_URL), base_url=f"{BASE_URL}/v1.0") as client:
        yield client


@pytest.fixture
async def sandbox_client(service: GraphEducation) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=mock_transport(service, BASE_URL), base_url=BASE_URL) as client:
        yield client


@pytest.fixture
def school(service: GraphEducation) -> School:
    return service.school


def submission_url(cls: SchoolClass, assignment: Assignment, sub: Submission | str) -> str:
    """The relative Graph path of a submission."""
    sub_id = sub if isinstance(sub, str) else sub.id
    return f"/education/classes/{cls.id}/assignments/{assignment.id}/submissions/{sub_id}"


def submission_of(school: School, cls: SchoolClass, assignment: Assignment, student: User) -> Submission:
    """The seed submission of one student; fails the test when missing."""
    for sub in school.submissions:
        if sub.classId == cls.id and sub.assignmentId == assignment.id and sub.userId == student.id:
            return sub
    raise AssertionError(f"no submission for {student.id}")
