"""The whole production path over real HTTPS on 127.0.0.1: MSAL on-behalf-of from a Teams-style SSO token at the
sandbox Entra, then the Graph client against the sandbox Graph with the token MSAL returned."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import msal  # pyright: ignore[reportMissingTypeStubs]
import pytest

from bot.graph.client import EducationClient, GraphHttp
from bot.graph.ids import AssignmentId, ClassId, SubmissionId
from bot.settings import Settings
from sandbox.stack import RunningStack, SandboxStack, serve_stack


@pytest.fixture
async def running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RunningStack]:
    stack = SandboxStack.build()
    served = await serve_stack(stack, tls_directory=tmp_path / "tls")
    monkeypatch.setenv("SSL_CERT_FILE", str(served.tls.ca_path))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(served.tls.ca_path))
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    yield served
    await served.stop()


def on_behalf_of(settings: Settings, running: RunningStack, sso_token: str) -> dict[str, object]:
    app = msal.ConfidentialClientApplication(
        settings.app_id,
        client_credential=settings.app_password.get_secret_value(),
        authority=f"{settings.authority_host}/{settings.app_tenant_id}",
        instance_discovery=False,
        timeout=5,
    )
    try:
        return app.acquire_token_on_behalf_of(sso_token, scopes=settings.graph_scopes)  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
    finally:
        app.http_client.close()  # pyright: ignore[reportUnknownMemberType, reportAttributeAccessIssue]


async def test_obo_then_grade_over_https(running: RunningStack) -> None:
    stack = running.stack
    settings = Settings(**running.environment())  # pyright: ignore[reportArgumentType]
    teacher_id = stack.user_id("Dana Whitfield")
    sso = stack.entra.mint_sso_token(teacher_id)
    result = await asyncio.to_thread(on_behalf_of, settings, running, sso)
    assert "access_token" in result, result.get("error")
    token = str(result["access_token"])

    http = GraphHttp.create(settings)
    try:
        client = EducationClient(http, token)
        class_id = ClassId(stack.class_id("Biology 101"))
        assignment_id = AssignmentId(stack.assignment_id("Biology 101", "Essay 2"))
        seeded = stack.graph.submission_for(class_id, assignment_id, stack.user_id("Alice Smith"))
        assert seeded is not None
        submission = await client.get_submission(class_id, assignment_id, SubmissionId(seeded.id), expand_outcomes=True)
        points = submission.points_outcome
        assert points is not None
        await client.update_points(class_id, assignment_id, submission.id, points.id, 85)
    finally:
        await http.aclose()

    stored = stack.graph.outcomes_of(seeded.id)
    graded = [o for o in stored if o.points is not None and o.points.points == 85]
    assert graded, "the sandbox shows the points written over HTTPS"
    assert stack.entra.token_requests["on_behalf_of"] == 1
