"""MSAL's ConfidentialClientApplication against the sandbox Entra over real HTTPS on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msal
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox.entra import Entra
from sandbox.tls import SandboxTls
from tests.sandbox_entra.conftest import (
    APP_ID,
    CONTOSO,
    FABRIKAM,
    FABRIKAM_TEACHER,
    GRAPH,
    GRAPH_SCOPES,
    SECRET,
    TEACHER,
)


@pytest.fixture(autouse=True)
def _trust_sandbox_ca(tls: SandboxTls, monkeypatch: pytest.MonkeyPatch) -> None:  # pyright: ignore[reportUnusedFunction]
    """requests (inside MSAL) lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override MSAL's `verify=`: point it at our CA."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls.ca_path))
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


ClientFactory = Callable[..., Awaitable[msal.ConfidentialClientApplication]]


@pytest.fixture
async def confidential_client(entra_url: str, tls: SandboxTls) -> AsyncIterator[ClientFactory]:
    """Builds MSAL clients (in a thread: MSAL fetches the OpenID configuration in its constructor) and closes them.

    Closing before the server stops lets the server's TLS connections end cleanly.
    """
    clients: list[msal.ConfidentialClientApplication] = []

    async def build(
        *, tenant: str = CONTOSO, secret: str = SECRET, instance_discovery: bool | str = False
    ) -> msal.ConfidentialClientApplication:
        client = await asyncio.to_thread(
            msal.ConfidentialClientApplication,
            APP_ID,
            client_credential=secret,
            authority=f"{entra_url}/{tenant}",
            instance_discovery=instance_discovery,  # pyright: ignore[reportArgumentType]
            verify=str(tls.ca_path),  # pyright: ignore[reportArgumentType]
            token_cache=msal.SerializableTokenCache(),
        )
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.http_client.close()  # pyright: ignore[reportAttributeAccessIssue]


async def on_behalf_of(app: msal.ConfidentialClientApplication, assertion: str) -> dict[str, Any]:
    return await asyncio.to_thread(app.acquire_token_on_behalf_of, assertion, GRAPH_SCOPES)


async def test_client_credentials_token_is_an_app_token_for_the_resource(
    entra: Entra, entra_url: str, confidential_client: ClientFactory
) -> None:
    app = await confidential_client()

    result = await asyncio.to_thread(app.acquire_token_for_client, [f"{GRAPH}/.default"])
    assert result is not None

    claims = entra.verify(result["access_token"], audience=GRAPH)
    assert claims["idtyp"] == "app"
    assert claims["roles"] == ["EduRoster.Read.All"]
    assert "scp" not in claims
    assert claims["tid"] == CONTOSO
    assert claims["azp"] == APP_ID
    assert entra.token_requests["client_credentials"] == 1


async def test_on_behalf_of_exchanges_an_sso_token_for_a_delegated_graph_token(
    entra: Entra, entra_url: str, confidential_client: ClientFactory
) -> None:
    app = await confidential_client()

    result = await on_behalf_of(app, entra.mint_sso_token(TEACHER))

    claims = entra.verify(result["access_token"], audience=GRAPH)
    assert claims["scp"] == "EduAssignments.ReadWrite EduRoster.ReadBasic"
    assert (claims["oid"], claims["tid"], claims["ver"]) == (TEACHER, CONTOSO, "2.0")
    assert claims["iss"] == f"{entra_url}/{CONTOSO}/v2.0"
    assert claims["name"] == "Dana Teacher"
    assert result["id_token_claims"]["preferred_username"] == "dana@contoso.onmicrosoft.com"
    assert entra.token_requests["on_behalf_of"] == 1


async def test_silent_serves_the_cached_token_then_refreshes_after_expiry(
    entra: Entra, entra_url: str, confidential_client: ClientFactory
) -> None:
    app = await confidential_client()
    first = await on_behalf_of(app, entra.mint_sso_token(TEACHER))
    accounts = await asyncio.to_thread(app.get_accounts, "dana@contoso.onmicrosoft.com")
    assert [account["home_account_id"] for account in accounts] == [f"{TEACHER}.{CONTOSO}"]

    cached = await asyncio.to_thread(app.acquire_token_silent, GRAPH_SCOPES, accounts[0])

    assert cached is not None
    assert cached["access_token"] == first["access_token"]
    assert sum(entra.token_requests.values()) == 1

    cache = app.token_cache
    assert isinstance(cache, msal.SerializableTokenCache)
    state = json.loads(cache.serialize())
    for entry in state["AccessToken"].values():
        entry["expires_on"] = str(int(time.time()))
    cache.deserialize(json.dumps(state))

    refreshed = await asyncio.to_thread(app.acquire_token_silent, GRAPH_SCOPES, accounts[0])

    assert refreshed is not None
    assert refreshed["access_token"] != first["access_token"]
    assert entra.token_requests["refresh_token"] == 1
    assert entra.verify(refreshed["access_token"], audience=GRAPH)["oid"] == TEACHER


async def test_refresh_fails_after_the_users_refresh_tokens_are_revoked(
    entra: Entra, entra_url: str, confidential_client: ClientFactory
) -> None:
    app = await confidential_client()
    await on_behalf_of(app, entra.mint_sso_token(TEACHER))
    accounts = await asyncio.to_thread(app.get_accounts)
    assert entra.revoke_refresh_tokens(TEACHER) == 1

    result = await asyncio.to_thread(app.acquire_token_silent_with_error, GRAPH_SCOPES, accounts[0], force_refresh=True)

    assert result is not None
    assert result["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("mint", "error", "code"),
    [
        pytest.param({"audience": "api://botid-someone-else"}, "invalid_grant", 50013, id="other-audience"),
        pytest.param({"lifetime_seconds": -60}, "invalid_grant", 500133, id="expired"),
        pytest.param({"foreign": True}, "invalid_grant", 50013, id="unknown-key"),
        pytest.param({"extra_claims": {"scp": None}}, "invalid_grant", 7000114, id="no-scp"),
    ],
)
async def test_on_behalf_of_refuses_bad_assertions(
    entra: Entra,
    entra_url: str,
    confidential_client: ClientFactory,
    foreign_key: rsa.RSAPrivateKey,
    mint: dict[str, Any],
    error: str,
    code: int,
) -> None:
    app = await confidential_client()
    key = foreign_key if mint.pop("foreign", False) else None

    result = await on_behalf_of(app, entra.mint_sso_token(TEACHER, key=key, **mint))

    assert result["error"] == error
    assert result["error_codes"] == [code]
    assert result["error_description"].startswith(f"AADSTS{code}: ")
    assert {"timestamp", "trace_id", "correlation_id"} <= result.keys()


async def test_on_behalf_of_refuses_a_wrong_client_secret(
    entra: Entra, entra_url: str, confidential_client: ClientFactory
) -> None:
    app = await confidential_client(secret="not-the-secret")

    result = await on_behalf_of(app, entra.mint_sso_token(TEACHER))

    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [7000215]


async def test_on_behalf_of_needs_admin_consent_in_the_users_tenant(
    entra: Entra, entra_url: str, confidential_client: ClientFactory
) -> None:
    app = await confidential_client(tenant=FABRIKAM)

    result = await on_behalf_of(app, entra.mint_sso_token(FABRIKAM_TEACHER))

    assert (result["error"], result["suberror"], result["error_codes"]) == (
        "invalid_grant",
        "consent_required",
        [65001],
    )

    entra.grant_consent(APP_ID, FABRIKAM)
    granted = await on_behalf_of(app, entra.mint_sso_token(FABRIKAM_TEACHER))
    assert entra.verify(granted["access_token"], audience=GRAPH)["tid"] == FABRIKAM


async def test_instance_discovery_against_the_sandbox_and_a_tenant_domain(
    entra: Entra, entra_url: str, confidential_client: ClientFactory
) -> None:
    app = await confidential_client(
        tenant="contoso.onmicrosoft.com",
        instance_discovery=f"{entra_url}/common/discovery/instance",
    )

    result = await asyncio.to_thread(app.acquire_token_for_client, [f"{GRAPH}/.default"])
    assert result is not None

    assert entra.verify(result["access_token"], audience=GRAPH)["tid"] == CONTOSO


async def test_common_authority_uses_the_assertions_tenant(
    entra: Entra, entra_url: str, confidential_client: ClientFactory
) -> None:
    app = await confidential_client(tenant="organizations")

    result = await on_behalf_of(app, entra.mint_sso_token(TEACHER))

    assert entra.verify(result["access_token"], audience=GRAPH)["tid"] == CONTOSO
