"""SSO token validation against the sandbox Entra's published keys over HTTPS."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.auth.sso import SsoIdentity, SsoRefusal, SsoRefusalReason, SsoValidator, v1_issuer
from bot.settings import Settings
from sandbox.entra import Entra
from sandbox.tls import SandboxTls
from tests.auth.conftest import APP_ID, CONTOSO, FABRIKAM, FABRIKAM_TEACHER, OTHER_TEACHER, TEACHER, make_settings


class CountingClient:
    """An httpx client trusting the sandbox CA that counts the requests it sends."""

    def __init__(self, tls: SandboxTls) -> None:
        self.requests: list[str] = []
        self.client = httpx.AsyncClient(verify=tls.client_context(), event_hooks={"request": [self._count]})

    async def _count(self, request: httpx.Request) -> None:
        self.requests.append(request.url.path)


@pytest.fixture
async def counting(tls: SandboxTls) -> AsyncIterator[CountingClient]:
    """A counting client, closed after the test."""
    counter = CountingClient(tls)
    yield counter
    await counter.client.aclose()


async def test_a_valid_token_gives_the_senders_identity(
    entra: Entra, settings: Settings, http: httpx.AsyncClient
) -> None:
    validator = SsoValidator(settings, http)

    result = await validator.validate(entra.mint_sso_token(TEACHER), expected_oid=TEACHER, expected_tid=CONTOSO)

    assert isinstance(result, SsoIdentity)
    assert (result.tenant_id, result.user_id, result.name) == (CONTOSO, TEACHER, "Dana Teacher")
    assert result.audience == f"api://botid-{APP_ID}"


async def test_the_app_id_audience_and_the_v1_issuer_are_accepted(
    entra: Entra, entra_url: str, settings: Settings, http: httpx.AsyncClient
) -> None:
    validator = SsoValidator(settings, http)
    token = entra.mint_sso_token(
        TEACHER, audience=APP_ID, extra_claims={"iss": f"{entra_url}/{CONTOSO}/", "ver": "1.0"}
    )

    result = await validator.validate(token, expected_oid=TEACHER)

    assert isinstance(result, SsoIdentity)
    assert result.audience == APP_ID


def test_v1_issuers_follow_the_cloud() -> None:
    assert v1_issuer("https://login.microsoftonline.com", CONTOSO) == f"https://sts.windows.net/{CONTOSO}/"
    assert v1_issuer("https://login.chinacloudapi.cn", CONTOSO) == f"https://sts.chinacloudapi.cn/{CONTOSO}/"
    assert v1_issuer("https://127.0.0.1:8443", CONTOSO) == f"https://127.0.0.1:8443/{CONTOSO}/"


def _hs256(entra: Entra) -> str:
    claims = jwt.decode(entra.mint_sso_token(TEACHER), options={"verify_signature": False})
    return jwt.encode(claims, "a-shared-secret-that-is-long-enough-for-hs256", algorithm="HS256")


def _tampered(entra: Entra) -> str:
    header, _, signature = entra.mint_sso_token(TEACHER).split(".")
    other_payload = entra.mint_sso_token(TEACHER, scopes="access_as_user EduAssignments.ReadWrite").split(".")[1]
    return f"{header}.{other_payload}.{signature}"


@pytest.mark.parametrize(
    ("make", "oid", "reason"),
    [
        pytest.param(
            lambda e, k: e.mint_sso_token(FABRIKAM_TEACHER),
            FABRIKAM_TEACHER,
            SsoRefusalReason.TENANT_NOT_ALLOWED,
            id="other-tenant",
        ),
        pytest.param(
            lambda e, k: e.mint_sso_token(TEACHER, audience="api://botid-someone-else"),
            TEACHER,
            SsoRefusalReason.WRONG_AUDIENCE,
            id="wrong-audience",
        ),
        pytest.param(
            lambda e, k: e.mint_sso_token(TEACHER, extra_claims={"scp": None}),
            TEACHER,
            SsoRefusalReason.MISSING_SCOPE,
            id="no-scp",
        ),
        pytest.param(
            lambda e, k: e.mint_sso_token(TEACHER, scopes="access_as_user_x"),
            TEACHER,
            SsoRefusalReason.MISSING_SCOPE,
            id="scp-lookalike",
        ),
        pytest.param(
            lambda e, k: e.mint_sso_token(TEACHER, lifetime_seconds=-600),
            TEACHER,
            SsoRefusalReason.EXPIRED,
            id="expired",
        ),
        pytest.param(
            lambda e, k: e.mint_sso_token(TEACHER, extra_claims={"nbf": 4_000_000_000}),
            TEACHER,
            SsoRefusalReason.NOT_YET_VALID,
            id="not-yet-valid",
        ),
        pytest.param(
            lambda e, k: e.mint_sso_token(TEACHER), OTHER_TEACHER, SsoRefusalReason.WRONG_USER, id="other-oid"
        ),
        pytest.param(
            lambda e, k: e.mint_sso_token(TEACHER, key=k), TEACHER, SsoRefusalReason.UNKNOWN_KEY, id="unknown-key"
        ),
        pytest.param(
            lambda e, k: e.mint_sso_token(TEACHER, extra_claims={"iss": "https://evil.example/x/v2.0"}),
            TEACHER,
            SsoRefusalReason.WRONG_ISSUER,
            id="wrong-issuer",
        ),
        pytest.param(lambda e, k: _hs256(e), TEACHER, SsoRefusalReason.ALGORITHM, id="hs256"),
        pytest.param(lambda e, k: _tampered(e), TEACHER, SsoRefusalReason.BAD_SIGNATURE, id="tampered"),
        pytest.param(lambda e, k: "not.a.jwt", TEACHER, SsoRefusalReason.MALFORMED, id="garbage"),
    ],
)
async def test_refusals(
    entra: Entra,
    settings: Settings,
    http: httpx.AsyncClient,
    foreign_key: rsa.RSAPrivateKey,
    make: Any,
    oid: str,
    reason: SsoRefusalReason,
) -> None:
    validator = SsoValidator(settings, http)

    result = await validator.validate(make(entra, foreign_key), expected_oid=oid)

    assert result == SsoRefusal(reason)


async def test_a_token_from_another_allowed_tenant_must_match_the_activitys_tenant(
    entra: Entra, entra_url: str, http: httpx.AsyncClient
) -> None:
    validator = SsoValidator(make_settings(entra_url, allowed_tenants=f"{CONTOSO},{FABRIKAM}"), http)
    token = entra.mint_sso_token(FABRIKAM_TEACHER)

    accepted = await validator.validate(token, expected_oid=FABRIKAM_TEACHER, expected_tid=FABRIKAM)
    mismatched = await validator.validate(token, expected_oid=FABRIKAM_TEACHER, expected_tid=CONTOSO)

    assert isinstance(accepted, SsoIdentity)
    assert accepted.tenant_id == FABRIKAM
    assert mismatched == SsoRefusal(SsoRefusalReason.WRONG_USER)


async def test_keys_are_cached_and_an_unknown_kid_does_not_refetch_right_away(
    entra: Entra, settings: Settings, counting: CountingClient, foreign_key: rsa.RSAPrivateKey
) -> None:
    validator = SsoValidator(settings, counting.client)
    assert isinstance(await validator.validate(entra.mint_sso_token(TEACHER), expected_oid=TEACHER), SsoIdentity)
    fetched = len(counting.requests)

    for _ in range(3):
        refused = await validator.validate(entra.mint_sso_token(TEACHER, key=foreign_key), expected_oid=TEACHER)
        assert refused == SsoRefusal(SsoRefusalReason.UNKNOWN_KEY)
    assert isinstance(await validator.validate(entra.mint_sso_token(TEACHER), expected_oid=TEACHER), SsoIdentity)

    assert fetched == 2  # the OpenID configuration, then the keys
    assert len(counting.requests) == fetched


async def test_a_rotated_key_is_picked_up_by_one_refetch(
    entra: Entra, settings: Settings, counting: CountingClient, foreign_key: rsa.RSAPrivateKey
) -> None:
    now = [1_000_000.0]
    validator = SsoValidator(settings, counting.client, clock=lambda: now[0], leeway_seconds=1e10)
    assert isinstance(await validator.validate(entra.mint_sso_token(TEACHER), expected_oid=TEACHER), SsoIdentity)
    entra.rotate_key(foreign_key, keep_previous=False)
    now[0] += 600

    result = await validator.validate(entra.mint_sso_token(TEACHER), expected_oid=TEACHER)

    assert isinstance(result, SsoIdentity)
    assert counting.requests.count(counting.requests[-1]) == 2  # the keys, fetched twice


async def test_unreachable_entra_is_reported_not_raised(entra: Entra, http: httpx.AsyncClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    validator = SsoValidator(make_settings(f"https://127.0.0.1:{closed_port}"), http)

    result = await validator.validate(entra.mint_sso_token(TEACHER), expected_oid=TEACHER)

    assert result == SsoRefusal(SsoRefusalReason.KEYS_UNAVAILABLE)
