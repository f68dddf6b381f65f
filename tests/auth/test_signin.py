"""Sign-in invokes end to end against the sandbox Entra: token exchange, de-duplication, refusals, cards."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.auth.obo import AuthProblem, GraphToken, OboExchanger
from bot.auth.signin import (
    Credentials,
    SignInNeeded,
    SignInNotice,
    login_request_response,
    oauth_card,
    signin_failure_notice,
    verify_state_notice,
)
from bot.auth.sso import SsoRefusalReason, SsoValidator
from bot.settings import Settings
from bot.storage.memory import MemoryStore
from bot.turn import Actor
from sandbox.entra import Entra
from sandbox.tls import SandboxTls
from tests.auth.conftest import (
    APP_ID,
    CONTOSO,
    DANA,
    FABRIKAM,
    FABRIKAM_TEACHER,
    FAY,
    GRAPH,
    OMAR,
    TEACHER,
    make_settings,
)

EXAMPLES = Path("/work/shared/specs/examples/teams")


def _example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text())


def _exchange_value(token: str, exchange_id: str | None = None) -> dict[str, Any]:
    return {"id": exchange_id or str(uuid.uuid4()), "connectionName": "graph", "token": token}


async def test_a_valid_exchange_signs_the_teacher_in_with_a_delegated_graph_token(
    entra: Entra, credentials: Credentials
) -> None:
    value = _exchange_value(entra.mint_sso_token(TEACHER))

    outcome = await credentials.handle_token_exchange(value, DANA)

    assert (outcome.status, dict(outcome.body)) == (200, {"id": value["id"]})
    assert outcome.token is not None
    claims = jwt.decode(outcome.token.access_token, options={"verify_signature": False})
    assert (claims["oid"], claims["tid"], claims["aud"]) == (TEACHER, CONTOSO, GRAPH)
    assert entra.token_requests["on_behalf_of"] == 1
    assert isinstance(await credentials.graph_token(DANA), GraphToken)


async def test_the_same_exchange_from_a_second_client_is_answered_without_a_second_on_behalf_of(
    entra: Entra, credentials: Credentials
) -> None:
    exchange_id = str(uuid.uuid4())

    first = await credentials.handle_token_exchange(_exchange_value(entra.mint_sso_token(TEACHER), exchange_id), DANA)
    second = await credentials.handle_token_exchange(_exchange_value(entra.mint_sso_token(TEACHER), exchange_id), DANA)

    assert (first.status, second.status) == (200, 200)
    assert dict(second.body) == {"id": exchange_id}
    assert second.duplicate
    assert entra.token_requests["on_behalf_of"] == 1


@pytest.mark.parametrize(
    ("oid", "mint", "actor", "reason"),
    [
        pytest.param(FABRIKAM_TEACHER, {}, FAY, SsoRefusalReason.TENANT_NOT_ALLOWED, id="other-tenant"),
        pytest.param(TEACHER, {"audience": "api://botid-other"}, DANA, SsoRefusalReason.WRONG_AUDIENCE, id="audience"),
        pytest.param(TEACHER, {"extra_claims": {"scp": None}}, DANA, SsoRefusalReason.MISSING_SCOPE, id="no-scp"),
        pytest.param(TEACHER, {"scopes": "access_as_user_x"}, DANA, SsoRefusalReason.MISSING_SCOPE, id="scp-x"),
        pytest.param(TEACHER, {"lifetime_seconds": -600}, DANA, SsoRefusalReason.EXPIRED, id="expired"),
        pytest.param(TEACHER, {}, OMAR, SsoRefusalReason.WRONG_USER, id="oid-not-sender"),
        pytest.param(TEACHER, {"foreign": True}, DANA, SsoRefusalReason.UNKNOWN_KEY, id="unknown-key"),
    ],
)
async def test_refused_sso_tokens_answer_412_and_never_reach_the_token_endpoint(
    entra: Entra,
    credentials: Credentials,
    foreign_key: rsa.RSAPrivateKey,
    oid: str,
    mint: dict[str, Any],
    actor: Actor,
    reason: SsoRefusalReason,
) -> None:
    key = foreign_key if mint.pop("foreign", False) else None
    value = _exchange_value(entra.mint_sso_token(oid, key=key, **mint))

    outcome = await credentials.handle_token_exchange(value, actor)

    assert outcome.status == 412
    assert dict(outcome.body) == {"id": value["id"], "connectionName": "graph", "failureDetail": reason.value}
    assert outcome.failure is reason
    assert entra.token_requests["on_behalf_of"] == 0
    assert isinstance(await credentials.graph_token(actor), SignInNeeded)


async def test_the_failure_body_has_the_documented_shape(entra: Entra, credentials: Credentials) -> None:
    documented = _example("invokeResponse.signin-tokenExchange.failure.json")["response"]["body"]

    outcome = await credentials.handle_token_exchange(
        _exchange_value(entra.mint_sso_token(TEACHER, lifetime_seconds=-600)), DANA
    )

    assert set(outcome.body) == set(documented)


async def test_a_malformed_invoke_is_refused(credentials: Credentials, entra: Entra) -> None:
    outcome = await credentials.handle_token_exchange({"connectionName": "graph"}, DANA)

    assert outcome.status == 412
    assert outcome.failure is SsoRefusalReason.MALFORMED
    assert entra.token_requests["on_behalf_of"] == 0


async def test_missing_admin_consent_is_reported_as_such(entra: Entra, credentials: Credentials) -> None:
    entra.withhold_consent(APP_ID, CONTOSO)

    outcome = await credentials.handle_token_exchange(_exchange_value(entra.mint_sso_token(TEACHER)), DANA)

    assert outcome.status == 412
    assert outcome.failure is AuthProblem.ADMIN_CONSENT_NEEDED
    assert outcome.body["failureDetail"] == "admin_consent_needed"
    assert outcome.token is None


async def test_a_retried_card_action_with_an_sso_token_gets_a_graph_token(
    entra: Entra, credentials: Credentials
) -> None:
    value = _example("invoke.adaptiveCard-action.with-sso-authentication.json")["activity"]["value"]
    value["authentication"]["token"] = entra.mint_sso_token(TEACHER)

    result = await credentials.accept_action_authentication(value, DANA)

    assert isinstance(result, GraphToken)
    assert jwt.decode(result.access_token, options={"verify_signature": False})["oid"] == TEACHER


async def test_a_card_action_without_or_with_a_refused_token_needs_sign_in(
    entra: Entra, credentials: Credentials
) -> None:
    missing = await credentials.accept_action_authentication({"action": {"verb": "grade"}}, DANA)
    refused = await credentials.accept_action_authentication(
        {"authentication": {"id": "x", "token": entra.mint_sso_token(TEACHER, scopes="User.Read")}}, DANA
    )

    assert isinstance(missing, SignInNeeded)
    assert isinstance(refused, SignInNeeded)
    assert refused.reason is SsoRefusalReason.MISSING_SCOPE
    assert entra.token_requests["on_behalf_of"] == 0


def test_the_login_request_matches_the_documented_sso_shape(settings: Settings) -> None:
    documented = _example("invokeResponse.adaptiveCard-action.loginRequest-sso.json")["response"]

    response = login_request_response(settings)

    assert (response["statusCode"], response["type"]) == (documented["statusCode"], documented["type"])
    assert set(response["value"]) == set(documented["value"])
    assert set(response["value"]["buttons"][0]) == set(documented["value"]["buttons"][0])
    assert response["value"]["buttons"][0]["type"] == "signin"
    resource = response["value"]["tokenExchangeResource"]
    assert resource["uri"] == f"api://botid-{APP_ID}"
    assert uuid.UUID(resource["id"])
    assert response["value"]["connectionName"] == "graph"


def test_the_oauth_card_carries_the_token_exchange_resource(settings: Settings) -> None:
    card = oauth_card(settings, "other-connection", tenant_id=CONTOSO)

    assert card["contentType"] == "application/vnd.microsoft.card.oauth"
    content = card["content"]
    assert content["connectionName"] == "other-connection"
    assert content["tokenExchangeResource"]["uri"] == f"api://botid-{APP_ID}"
    assert content["buttons"][0]["value"].startswith(f"{settings.authority_host}/{CONTOSO}/oauth2/v2.0/authorize?")
    assert oauth_card(settings)["content"]["tokenExchangeResource"]["id"] != content["tokenExchangeResource"]["id"]


def test_an_explicit_sso_app_id_uri_is_used(entra_url: str) -> None:
    settings = make_settings(entra_url, sso_app_id_uri="api://grading.contoso.edu/botid-x")

    assert oauth_card(settings)["content"]["tokenExchangeResource"]["uri"] == "api://grading.contoso.edu/botid-x"


@pytest.mark.parametrize(
    ("value", "notice"),
    [
        ({"state": "123456"}, SignInNotice.TRY_AGAIN),
        ({"state": "CancelledByUser"}, SignInNotice.CANCELLED),
        ({}, SignInNotice.CANCELLED),
    ],
)
def test_verify_state(value: dict[str, Any], notice: SignInNotice) -> None:
    assert verify_state_notice(value) is notice


@pytest.mark.parametrize(
    ("code", "notice"),
    [
        ("resourcematchfailed", SignInNotice.MISCONFIGURED),
        ("installedappnotfound", SignInNotice.APP_NOT_INSTALLED),
        ("tokenmissing", SignInNotice.FAILED),
        (None, SignInNotice.FAILED),
    ],
)
def test_signin_failure_codes_are_logged_and_classified(
    code: str | None, notice: SignInNotice, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger="bot.auth.signin")

    result = signin_failure_notice({"code": code, "message": "Resource match failed"})

    assert result is notice
    assert any(
        record.levelname == "WARNING" and (code or "no code") in record.getMessage() for record in caplog.records
    )


async def test_the_usual_wiring_trusts_ssl_cert_file_and_closes_cleanly(
    entra: Entra, settings: Settings, store: MemoryStore, tls: SandboxTls, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_path))
    credentials = Credentials.create(settings, store)
    try:
        outcome = await credentials.handle_token_exchange(_exchange_value(entra.mint_sso_token(TEACHER)), DANA)
    finally:
        await credentials.aclose()

    assert outcome.signed_in
    assert credentials.exchanger.admin_consent_url(CONTOSO).endswith(f"/{CONTOSO}/adminconsent?client_id={APP_ID}")


async def test_with_no_tenant_restriction_any_directory_tenant_signs_in(
    entra: Entra, entra_url: str, store: MemoryStore, http: httpx.AsyncClient
) -> None:
    settings = make_settings(entra_url, allowed_tenants="", app_tenant_id="", app_type="MultiTenant")
    assert settings.allowed_tenant_ids == frozenset()
    credentials = Credentials(settings, store, SsoValidator(settings, http), OboExchanger(settings, store))
    try:
        outcome = await credentials.handle_token_exchange(_exchange_value(entra.mint_sso_token(FABRIKAM_TEACHER)), FAY)
    finally:
        await credentials.aclose()

    assert outcome.token is not None
    assert jwt.decode(outcome.token.access_token, options={"verify_signature": False})["tid"] == FABRIKAM
