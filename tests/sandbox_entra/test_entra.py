"""The sandbox Entra in process: discovery documents, token endpoint answers, verify() and the channel issuer."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox.core import InvalidToken, SandboxRequest, SandboxResponse
from sandbox.entra import GRANT_JWT_BEARER, TEAMS_CLIENT_ID, Entra
from tests.sandbox_entra.conftest import APP_ID, CONTOSO, FABRIKAM, GRAPH, SECRET, TEACHER, make_directory

BASE = "https://127.0.0.1:8443"


async def get(entra: Entra, path: str, **query: str) -> SandboxResponse:
    return await entra.handle(SandboxRequest(method="GET", path=path, query=query, base_url=BASE))


async def post_token(
    entra: Entra, form: dict[str, str], *, tenant: str = CONTOSO, headers: dict[str, str] | None = None
) -> SandboxResponse:
    request = SandboxRequest(
        method="POST",
        path=f"/{tenant}/oauth2/v2.0/token",
        headers={"content-type": "application/x-www-form-urlencoded", **(headers or {})},
        body=urlencode(form).encode(),
        base_url=BASE,
    )
    return await entra.handle(request)


def obo_form(
    assertion: str, scope: str = f"{GRAPH}/EduAssignments.ReadWrite openid profile offline_access"
) -> dict[str, str]:
    return {
        "grant_type": GRANT_JWT_BEARER,
        "requested_token_use": "on_behalf_of",
        "assertion": assertion,
        "scope": scope,
        "client_id": APP_ID,
        "client_secret": SECRET,
        "client_info": "1",
    }


def error_code(response: SandboxResponse) -> tuple[int, str, int]:
    body: dict[str, Any] = response.json()
    return response.status, body["error"], body["error_codes"][0]


async def test_openid_configuration_for_a_tenant_domain_uses_the_tenant_id(entra: Entra) -> None:
    response = await get(entra, "/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration")

    config = response.json()
    assert response.status == 200
    assert config["issuer"] == f"{BASE}/{CONTOSO}/v2.0"
    assert config["token_endpoint"] == f"{BASE}/{CONTOSO}/oauth2/v2.0/token"
    assert config["jwks_uri"] == f"{BASE}/{CONTOSO}/discovery/v2.0/keys"
    assert config["authorization_endpoint"] == f"{BASE}/{CONTOSO}/oauth2/v2.0/authorize"


async def test_openid_configuration_for_common_has_the_tenantid_placeholder(entra: Entra) -> None:
    config = (await get(entra, "/common/v2.0/.well-known/openid-configuration")).json()

    assert config["issuer"] == f"{BASE}/{{tenantid}}/v2.0"
    assert config["token_endpoint"] == f"{BASE}/common/oauth2/v2.0/token"


async def test_unknown_tenant_is_refused_like_entra(entra: Entra) -> None:
    response = await get(entra, "/no-such-tenant/v2.0/.well-known/openid-configuration")

    assert error_code(response) == (400, "invalid_tenant", 90002)


async def test_jwks_publishes_the_signing_key_and_keeps_it_through_rotation(entra: Entra) -> None:
    old_token = entra.mint_sso_token(TEACHER)
    old_kid = entra.signing_kid

    new_kid = entra.rotate_key()

    keys = (await get(entra, f"/{CONTOSO}/discovery/v2.0/keys")).json()["keys"]
    assert [key["kid"] for key in keys] == [new_kid, old_kid]
    assert all(key["kty"] == "RSA" and key["use"] == "sig" for key in keys)
    assert jwt.get_unverified_header(entra.mint_sso_token(TEACHER))["kid"] == new_kid
    assert entra.verify(old_token, audience=entra.app().app_id_uri)["oid"] == TEACHER

    entra.rotate_key(keep_previous=False)
    with pytest.raises(InvalidToken, match="unknown signing key"):
        entra.verify(old_token, audience=entra.app().app_id_uri)


async def test_instance_discovery_points_msal_at_the_tenant_configuration(entra: Entra) -> None:
    response = await get(
        entra,
        "/common/discovery/instance",
        **{"api-version": "1.0", "authorization_endpoint": f"https://127.0.0.1/{CONTOSO}/oauth2/v2.0/authorize"},
    )

    body = response.json()
    assert body["tenant_discovery_endpoint"] == f"{BASE}/{CONTOSO}/v2.0/.well-known/openid-configuration"
    assert body["metadata"][0]["aliases"] == ["127.0.0.1"]


async def test_instance_discovery_refuses_a_foreign_instance(entra: Entra) -> None:
    response = await get(
        entra, "/common/discovery/instance", authorization_endpoint="https://login.example.net/x/oauth2/v2.0/authorize"
    )

    assert error_code(response) == (400, "invalid_instance", 50049)


def test_sso_token_looks_like_the_one_teams_gets(entra: Entra) -> None:
    token = entra.mint_sso_token(TEACHER)

    claims = entra.verify(token, audience=f"api://botid-{APP_ID}")
    assert claims["azp"] == TEAMS_CLIENT_ID
    assert claims["scp"] == "access_as_user"
    assert (claims["tid"], claims["oid"], claims["ver"]) == (CONTOSO, TEACHER, "2.0")
    assert claims["iss"] == entra.issuer(CONTOSO)
    assert claims["preferred_username"] == "dana@contoso.onmicrosoft.com"
    assert claims["exp"] - claims["iat"] == 3600


TokenMaker = Callable[[Entra, rsa.RSAPrivateKey], str]


def _alg_none(entra: Entra, _: rsa.RSAPrivateKey) -> str:
    claims = jwt.decode(entra.mint_sso_token(TEACHER), options={"verify_signature": False})
    header = {"alg": "none", "kid": entra.signing_kid}
    return ".".join(_b64(json.dumps(part).encode()) for part in (header, claims)) + "."


def _tampered(entra: Entra, _key: rsa.RSAPrivateKey) -> str:
    header, _, signature = entra.mint_sso_token(TEACHER).split(".")
    payload = entra.mint_sso_token(TEACHER, scopes="access_as_user Everything.ReadWrite.All").split(".")[1]
    return f"{header}.{payload}.{signature}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        pytest.param(_tampered, "bad signature", id="bad-signature"),
        pytest.param(lambda e, k: e.mint_sso_token(TEACHER, key=k), "unknown signing key", id="unknown-kid"),
        pytest.param(lambda e, k: e.mint_sso_token(TEACHER, lifetime_seconds=-1), "expired", id="expired"),
        pytest.param(lambda e, k: e.mint_sso_token(TEACHER, audience="api://other"), "wrong audience", id="audience"),
        pytest.param(
            lambda e, k: e.mint_sso_token(TEACHER, extra_claims={"iss": "https://sts.windows.net/x/"}),
            "wrong issuer",
            id="issuer",
        ),
        pytest.param(_alg_none, "unsupported algorithm 'none'", id="alg-none"),
        pytest.param(lambda e, k: "not.a.jwt", "malformed token", id="malformed"),
    ],
)
def test_verify_refuses_with_the_reason(
    entra: Entra, foreign_key: rsa.RSAPrivateKey, make: TokenMaker, reason: str
) -> None:
    token = make(entra, foreign_key)

    with pytest.raises(InvalidToken, match=reason):
        entra.verify(token, audience=f"api://botid-{APP_ID}")


def test_verify_uses_the_injected_clock(rsa_keys: tuple[rsa.RSAPrivateKey, ...]) -> None:
    now = [1_000_000.0]
    entra = Entra(
        BASE, make_directory(), signing_key=rsa_keys[0], channel_signing_key=rsa_keys[1], clock=lambda: now[0]
    )
    token = entra.mint_sso_token(TEACHER, lifetime_seconds=60)
    assert entra.verify(token, audience=entra.app().app_id_uri)["iat"] == 1_000_000

    now[0] += 61

    with pytest.raises(InvalidToken, match="expired"):
        entra.verify(token, audience=entra.app().app_id_uri)


async def test_on_behalf_of_with_basic_client_auth_returns_client_info_for_msal(entra: Entra) -> None:
    form = obo_form(entra.mint_sso_token(TEACHER))
    del form["client_id"], form["client_secret"]
    basic = base64.b64encode(f"{APP_ID}:{SECRET}".encode()).decode()

    response = await post_token(entra, form, headers={"authorization": f"Basic {basic}"})

    body = response.json()
    assert response.status == 200
    assert body["scope"] == f"{GRAPH}/EduAssignments.ReadWrite {GRAPH}/EduRoster.ReadBasic"
    client_info = json.loads(base64.urlsafe_b64decode(body["client_info"] + "=="))
    assert client_info == {"uid": TEACHER, "utid": CONTOSO}
    id_claims = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert (id_claims["aud"], id_claims["oid"], id_claims["tid"]) == (APP_ID, TEACHER, CONTOSO)
    assert body["refresh_token"]


async def test_on_behalf_of_with_dot_default_gets_every_consented_permission(entra: Entra) -> None:
    response = await post_token(entra, obo_form(entra.mint_sso_token(TEACHER), scope=f"{GRAPH}/.default"))

    claims = entra.verify(response.json()["access_token"], audience=GRAPH)
    assert claims["scp"] == "EduAssignments.ReadWrite EduRoster.ReadBasic"
    assert "refresh_token" not in response.json()


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        pytest.param(f"{GRAPH}/Mail.Send", (400, "invalid_grant", 65001), id="not-consented"),
        pytest.param(f"{GRAPH}/EduRoster.ReadBasic https://other.example/X", (400, "invalid_scope", 28000), id="two"),
        pytest.param("https://unknown.example/.default", (400, "invalid_resource", 500011), id="unknown-resource"),
        pytest.param("openid profile", (400, "invalid_scope", 70011), id="no-resource"),
    ],
)
async def test_on_behalf_of_scope_errors(entra: Entra, scope: str, expected: tuple[int, str, int]) -> None:
    response = await post_token(entra, obo_form(entra.mint_sso_token(TEACHER), scope=scope))

    assert error_code(response) == expected


async def test_on_behalf_of_refuses_an_assertion_from_another_tenant(entra: Entra) -> None:
    response = await post_token(entra, obo_form(entra.mint_sso_token(TEACHER)), tenant=FABRIKAM)

    assert error_code(response) == (400, "invalid_grant", 50013)


async def test_withholding_consent_turns_on_behalf_of_into_consent_required(entra: Entra) -> None:
    entra.withhold_consent(APP_ID, CONTOSO)

    response = await post_token(entra, obo_form(entra.mint_sso_token(TEACHER)))

    assert error_code(response) == (400, "invalid_grant", 65001)
    assert response.json()["suberror"] == "consent_required"


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        pytest.param(
            {"grant_type": "password", "client_id": APP_ID, "client_secret": SECRET},
            (400, "unsupported_grant_type", 70003),
            id="grant",
        ),
        pytest.param({"client_id": APP_ID, "client_secret": SECRET}, (400, "invalid_request", 900144), id="no-grant"),
        pytest.param(
            {"grant_type": "client_credentials", "client_id": APP_ID, "scope": f"{GRAPH}/.default"},
            (401, "invalid_client", 7000218),
            id="no-secret",
        ),
        pytest.param(
            {
                "grant_type": "client_credentials",
                "client_id": "nobody",
                "client_secret": "x",
                "scope": f"{GRAPH}/.default",
            },
            (400, "unauthorized_client", 700016),
            id="unknown-app",
        ),
        pytest.param(
            {
                "grant_type": "client_credentials",
                "client_id": APP_ID,
                "client_secret": SECRET,
                "scope": f"{GRAPH}/EduRoster.Read.All",
            },
            (400, "invalid_scope", 1002012),
            id="not-default",
        ),
        pytest.param(
            {
                "grant_type": "refresh_token",
                "client_id": APP_ID,
                "client_secret": SECRET,
                "refresh_token": "nope",
                "scope": f"{GRAPH}/.default",
            },
            (400, "invalid_grant", 9002313),
            id="bad-refresh",
        ),
    ],
)
async def test_token_endpoint_errors_have_entras_shape(
    entra: Entra, form: dict[str, str], expected: tuple[int, str, int]
) -> None:
    response = await post_token(entra, form, headers={"client-request-id": "corr-1"})

    body = response.json()
    assert error_code(response) == expected
    assert body["error_description"].startswith(f"AADSTS{expected[2]}: ")
    assert "Trace ID: " in body["error_description"]
    assert body["correlation_id"] == "corr-1"
    assert response.headers["client-request-id"] == "corr-1"


async def test_token_endpoint_only_accepts_post(entra: Entra) -> None:
    response = await get(entra, f"/{CONTOSO}/oauth2/v2.0/token")

    assert error_code(response) == (405, "invalid_request", 900561)


async def test_token_requests_are_counted_by_grant(entra: Entra) -> None:
    await post_token(entra, obo_form(entra.mint_sso_token(TEACHER)))
    await post_token(entra, obo_form(entra.mint_sso_token(TEACHER, lifetime_seconds=-5)))
    await post_token(
        entra,
        {
            "grant_type": "client_credentials",
            "client_id": APP_ID,
            "client_secret": SECRET,
            "scope": f"{GRAPH}/.default",
        },
    )

    assert entra.token_requests == {"on_behalf_of": 2, "client_credentials": 1}


async def test_client_credentials_without_consent_has_no_roles(entra: Entra) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": APP_ID,
        "client_secret": SECRET,
        "scope": f"{GRAPH}/.default",
    }

    response = await post_token(entra, form, tenant=FABRIKAM)

    claims = entra.verify(response.json()["access_token"], audience=GRAPH)
    assert (claims["tid"], claims["idtyp"]) == (FABRIKAM, "app")
    assert "roles" not in claims


async def test_channel_metadata_and_keys_carry_teams_endorsement(entra: Entra) -> None:
    config = (await get(entra, "/botframework/v1/.well-known/openidconfiguration")).json()
    keys = (await get(entra, "/botframework/v1/keys")).json()["keys"]

    assert config["issuer"] == "https://api.botframework.com"
    assert config["jwks_uri"] == f"{BASE}/botframework/v1/keys"
    assert config["id_token_signing_alg_values_supported"] == ["RS256"]
    assert keys[0]["endorsements"] == ["msteams"]
    assert keys[0]["kid"] != entra.signing_kid


def test_channel_token_verifies_against_the_channel_keys_only(entra: Entra) -> None:
    token = entra.mint_channel_token(APP_ID, "https://127.0.0.1:9000/teams/")

    claims = entra.verify_channel_token(token, app_id=APP_ID)
    assert claims["serviceurl"] == "https://127.0.0.1:9000/teams/"
    assert (claims["iss"], claims["aud"]) == ("https://api.botframework.com", APP_ID)
    assert claims["exp"] - claims["nbf"] == 3600
    with pytest.raises(InvalidToken, match="unknown signing key"):
        entra.verify(token, audience=APP_ID)
    with pytest.raises(InvalidToken, match="wrong audience"):
        entra.verify_channel_token(token, app_id="another-bot")


async def test_unknown_route_is_404(entra: Entra) -> None:
    assert (await get(entra, "/nowhere")).status == 404
