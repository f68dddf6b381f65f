"""Several tenants (schools) in one sandbox: copies of the seed with their own ids, one Entra directory holding every
tenant, one Graph URL routing each request to the tenant its token names."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from sandbox.core import SandboxRequest
from sandbox.entra import GRANT_JWT_BEARER
from sandbox.graph import GraphEducation
from sandbox.school import School, load_school
from sandbox.stack import GRAPH_PERMISSIONS, SandboxStack, TenantView
from sandbox.teams import TeamsChannel
from sandbox.tenants import TenantGraphs
from sandbox.transport import mock_transport

CLASS = "Biology 101"
ASSIGNMENT = "Essay 2"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
POINTS_OUTCOME = "#microsoft.graph.educationPointsOutcome"


@pytest.fixture
def stack() -> SandboxStack:
    return SandboxStack.build(tenants=3)


@pytest.fixture
async def graph(stack: SandboxStack) -> AsyncIterator[httpx.AsyncClient]:
    transport = stack.graph_transport()
    async with httpx.AsyncClient(transport=transport, base_url=f"{stack.graph_url}/v1.0") as client:
        yield client


def _uuids(school: School) -> set[str]:
    return set(UUID.findall(school.model_dump_json(by_alias=True)))


def _submission_path(tenant: TenantView, student: str) -> tuple[str, str]:
    """The Graph path of a student's Biology 101 Essay 2 submission in a tenant, and its points outcome id."""
    class_id, assignment_id = tenant.class_id(CLASS), tenant.assignment_id(CLASS, ASSIGNMENT)
    submission = tenant.graph.submission_for(class_id, assignment_id, tenant.user_id(student))
    assert submission is not None
    outcome = submission.outcome("points")
    assert outcome is not None
    return f"/education/classes/{class_id}/assignments/{assignment_id}/submissions/{submission.id}", outcome.id


def _points(tenant: TenantView, student: str) -> float | None:
    submission = tenant.graph.submission_for(
        tenant.class_id(CLASS), tenant.assignment_id(CLASS, ASSIGNMENT), tenant.user_id(student)
    )
    assert submission is not None
    outcome = submission.outcome("points")
    return outcome.points.points if outcome and outcome.points else None


def _grade(points: float) -> dict[str, Any]:
    return {"@odata.type": POINTS_OUTCOME, "points": {"points": points}}


async def _obo_token(stack: SandboxStack, user_id: str, tenant_id: str) -> str:
    """What the bot's MSAL does for a teacher: on-behalf-of at `/{teacher's tenant}/oauth2/v2.0/token`."""
    form = {
        "grant_type": GRANT_JWT_BEARER,
        "requested_token_use": "on_behalf_of",
        "assertion": stack.entra.mint_sso_token(user_id),
        "scope": " ".join(f"{stack.graph_url}/{permission}" for permission in GRAPH_PERMISSIONS),
        "client_id": stack.app_id,
        "client_secret": stack.app_secret,
    }
    transport = mock_transport(stack.entra, stack.entra.base_url)
    async with httpx.AsyncClient(transport=transport, base_url=stack.entra.base_url) as entra:
        response = await entra.post(f"/{tenant_id}/oauth2/v2.0/token", data=form)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def test_tenant_0_is_the_seed_and_copies_are_deterministic() -> None:
    seed = load_school()

    assert seed.copy_for_tenant(0) == seed
    assert seed.copy_for_tenant(2) == seed.copy_for_tenant(2)
    assert SandboxStack.build(tenants=3).tenant(0).school == seed


def test_copies_keep_names_and_state_with_new_ids_and_domain() -> None:
    seed = load_school()
    copy = seed.copy_for_tenant(4)

    assert [u.displayName for u in copy.users] == [u.displayName for u in seed.users]
    assert [s.status for s in copy.submissions] == [s.status for s in seed.submissions]
    assert {u.userPrincipalName.rpartition("@")[2] for u in copy.users} == {"school4.onmicrosoft.com"}
    assert {u.mail.rpartition("@")[2] for u in copy.users} == {"school4.onmicrosoft.com"}
    assert _uuids(copy) == copy.ids()  # every UUID in the copy is one of its ids: none was left behind
    biology = copy.class_named(CLASS)
    assert all(copy.user(uid) is not None for uid in [*biology.teacherIds, *biology.studentIds])
    assert all(copy.assignment(s.assignmentId) and copy.user(s.userId) for s in copy.submissions)


def test_ids_of_different_tenants_never_collide() -> None:
    seed = load_school()
    schools = [seed.copy_for_tenant(index) for index in range(4)]

    ids = [school.ids() for school in schools]

    assert sum(len(found) for found in ids) == len(set().union(*ids))
    assert len({school.tenantId for school in schools}) == 4


def test_the_stack_lists_every_tenant_and_the_directory_holds_every_user(stack: SandboxStack) -> None:
    tenant = stack.tenant(2)

    assert stack.tenant_count == 3 and stack.tenant_ids[2] == tenant.tenant_id
    assert stack.tenant_ids[0] == stack.tenant_id == load_school().tenantId
    assert stack.entra.user(tenant.user_id("Dana Whitfield")).tid == tenant.tenant_id
    assert tenant.user_id("Dana Whitfield") != stack.user_id("Dana Whitfield")


async def test_a_teacher_of_tenant_2_grades_in_tenant_2_only(stack: SandboxStack, graph: httpx.AsyncClient) -> None:
    tenant = stack.tenant(2)
    token = await _obo_token(stack, tenant.user_id("Dana Whitfield"), tenant.tenant_id)
    path, outcome_id = _submission_path(tenant, "Alice Smith")
    before = _points(stack.tenant(0), "Alice Smith")

    read = await graph.get(path, headers={"authorization": f"Bearer {token}"})
    written = await graph.patch(
        f"{path}/outcomes/{outcome_id}", json=_grade(91), headers={"authorization": f"Bearer {token}"}
    )

    assert read.status_code == 200 and written.status_code == 200, written.text
    assert _points(tenant, "Alice Smith") == 91
    assert _points(stack.tenant(0), "Alice Smith") == before
    assert _points(stack.tenant(1), "Alice Smith") == before


async def test_a_token_of_tenant_1_cannot_reach_tenant_2(stack: SandboxStack, graph: httpx.AsyncClient) -> None:
    token = await _obo_token(stack, stack.tenant(1).user_id("Dana Whitfield"), stack.tenant(1).tenant_id)
    path, outcome_id = _submission_path(stack.tenant(2), "Alice Smith")

    read = await graph.get(path, headers={"authorization": f"Bearer {token}"})
    written = await graph.patch(
        f"{path}/outcomes/{outcome_id}", json=_grade(12), headers={"authorization": f"Bearer {token}"}
    )

    for response in (read, written):  # as Graph answers for an id its tenant does not hold
        assert response.status_code == 404
        error = response.json()["error"]
        assert error["code"] and error["innerError"]["request-id"] == response.headers["request-id"]
    assert _points(stack.tenant(2), "Alice Smith") != 12


def _jwt(claims: dict[str, Any]) -> str:
    """An unsigned JWT-shaped token (the fake verifier below reads its payload)."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part(claims)}.sig"


def _fake_verify(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


async def test_a_tenant_graph_does_not_serve_is_refused_as_a_single_tenant_graph_refuses_it() -> None:
    seed = load_school()
    single = GraphEducation(seed.copy_for_tenant(0), verify_token=_fake_verify)
    several = TenantGraphs([GraphEducation(seed.copy_for_tenant(k), verify_token=_fake_verify) for k in range(2)])
    stranger = _jwt({"tid": seed.copy_for_tenant(5).tenantId, "oid": seed.user_named("Dana Whitfield").id, "scp": "x"})
    request = SandboxRequest(
        method="GET", path="/v1.0/education/me/classes", headers={"authorization": f"Bearer {stranger}"}
    )

    alone, routed = await single.handle(request), await several.handle(request)

    assert (routed.status, routed.json()["error"]["code"], routed.json()["error"]["message"]) == (
        alone.status,
        alone.json()["error"]["code"],
        alone.json()["error"]["message"],
    )
    assert alone.status == 401 and "Invalid tenant" in alone.json()["error"]["message"]


async def test_a_batch_goes_to_the_tenant_of_its_token(stack: SandboxStack, graph: httpx.AsyncClient) -> None:
    tenant = stack.tenant(1)
    token = await _obo_token(stack, tenant.user_id("Priya Raman"), tenant.tenant_id)
    path, outcome_id = _submission_path(tenant, "Bob Jones")
    requests = [
        {
            "id": "1",
            "method": "PATCH",
            "url": f"{path}/outcomes/{outcome_id}",
            "headers": {"Content-Type": "application/json"},
            "body": _grade(77),
        },
        {"id": "2", "method": "GET", "url": path, "dependsOn": ["1"]},
    ]

    response = await graph.post("/$batch", json={"requests": requests}, headers={"authorization": f"Bearer {token}"})

    assert [part["status"] for part in response.json()["responses"]] == [200, 200]
    assert _points(tenant, "Bob Jones") == 77
    assert _points(stack.tenant(0), "Bob Jones") != 77


async def test_knobs_and_the_request_log_cover_every_tenant(stack: SandboxStack, graph: httpx.AsyncClient) -> None:
    tokens = [stack.graph_token(stack.tenant(k).user_id("Dana Whitfield")) for k in range(3)]
    stack.graph.reset_request_log()
    stack.graph.knobs.throttle_next = 2

    answers = [
        await graph.get("/education/me/classes", headers={"authorization": f"Bearer {token}"}) for token in tokens
    ]

    assert [answer.status_code for answer in answers] == [429, 429, 200]
    assert stack.graph.request_count == 3
    assert {tenant.request_count for tenant in stack.graph.tenants} == {1}
    changed = await graph.post(f"{stack.graph_url}/_sandbox/knobs", json={"throttle_next": 1})
    assert changed.status_code == 200
    assert all(tenant.knobs.throttle_next == 1 for tenant in stack.graph.tenants)
    stack.graph.reset()
    assert stack.graph.request_count == 0 and all(t.knobs is stack.graph.knobs for t in stack.graph.tenants)


def test_teams_activities_of_a_tenant_carry_that_tenant(stack: SandboxStack) -> None:
    teams = TeamsChannel(stack.entra, app_id=stack.app_id, tenant_id=stack.tenant_id)
    for index in range(stack.tenant_count):
        teams.seed_school(stack.tenant(index).school)
    tenant = stack.tenant(2)
    dana_0 = teams.user(stack.user_id("Dana Whitfield"))
    dana_2 = teams.user(tenant.user_id("Dana Whitfield"))
    chat = teams.personal_conversation(dana_2)

    message = teams.complete(teams.message("help", user=dana_2))
    invoke = teams.complete({"type": "invoke", "from": dana_2.account(), "conversation": chat.account()})
    channel = teams.channel_conversation(tenant.class_id(CLASS))

    assert message["channelData"]["tenant"]["id"] == tenant.tenant_id
    assert message["conversation"]["tenantId"] == tenant.tenant_id
    assert invoke["channelData"]["tenant"]["id"] == tenant.tenant_id
    assert chat.id != teams.personal_conversation(dana_0).id
    assert channel.account()["tenantId"] == tenant.tenant_id
