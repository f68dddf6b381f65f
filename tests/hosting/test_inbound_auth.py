"""Requests the edge refuses: never a 500, and the router never runs."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from app import create_app
from sandbox.entra import Entra
from sandbox.teams import TeamsChannel
from tests.hosting.conftest import APP_ID, OTHER_TENANT, TEACHER, Harness, RecordingRouter, settings_for, start_app


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _alg_none(entra: Entra, service_url: str) -> str:
    signed = entra.mint_channel_token(APP_ID, service_url)
    kid = json.loads(base64.urlsafe_b64decode(signed.split(".")[0] + "=="))["kid"]
    claims = json.loads(base64.urlsafe_b64decode(signed.split(".")[1] + "=="))
    return f"{_b64({'alg': 'none', 'kid': kid, 'typ': 'JWT'})}.{_b64(claims)}."


TokenFactory = Callable[[Entra, str, rsa.RSAPrivateKey], str]

REFUSED: dict[str, tuple[TokenFactory, int]] = {
    "garbage": (lambda entra, url, key: "not-a-jwt", 401),
    "expired": (lambda entra, url, key: entra.mint_channel_token(APP_ID, url, lifetime_seconds=-600), 401),
    "wrong audience": (lambda entra, url, key: entra.mint_channel_token("someone-else", url), 401),
    "wrong issuer": (
        lambda entra, url, key: entra.mint_channel_token(APP_ID, url, extra_claims={"iss": "https://evil.example"}),
        401,
    ),
    "alg none": (lambda entra, url, key: _alg_none(entra, url), 401),
    "unknown key": (lambda entra, url, key: entra.mint_channel_token(APP_ID, url, key=key), 401),
    "serviceUrl mismatch": (lambda entra, url, key: entra.mint_channel_token(APP_ID, "https://evil.example/"), 403),
}


@pytest.mark.parametrize("case", list(REFUSED))
async def test_bad_tokens_are_refused_before_the_router(
    harness: Harness, foreign_key: rsa.RSAPrivateKey, case: str
) -> None:
    channel = harness.channel
    make_token, expected = REFUSED[case]
    token = make_token(harness.entra, channel.service_url, foreign_key)

    status, body = await channel.send_to_bot(channel.message("hi", user=channel.user(TEACHER)), token=token)

    assert status == expected
    assert body["error"]["code"] == str(expected)
    assert harness.router.turns == 0
    assert channel.conversations[0].records == []


async def test_missing_authorization_is_401(harness: Harness) -> None:
    channel = harness.channel
    activity = channel.complete(channel.message("hi", user=channel.user(TEACHER)))
    async with httpx.AsyncClient() as client:
        response = await client.post(harness.bot_url, json=activity)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert harness.router.turns == 0


async def test_keys_are_fetched_once_for_many_requests(harness: Harness) -> None:
    channel = harness.channel
    teacher = channel.user(TEACHER)
    for _ in range(3):
        await channel.send_to_bot(channel.message("hi", user=teacher))
    assert harness.hosting.validator is not None
    assert harness.hosting.validator.key_fetches == 1


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        (None, b'{"type": "message"}', 415),
        ("text/plain", b'{"type": "message"}', 415),
        ("application/json", b"{not json", 400),
        ("application/json", b"[1, 2]", 400),
        ("application/json", b'{"text": "no type"}', 400),
        ("application/json", b'{"type": "message", "text": "' + b"x" * (300 * 1024) + b'"}', 413),
    ],
)
async def test_malformed_requests_are_4xx(
    harness: Harness, content_type: str | None, body: bytes, expected: int
) -> None:
    token = harness.entra.mint_channel_token(APP_ID, harness.channel.service_url)
    headers = {"authorization": f"Bearer {token}"}
    if content_type:
        headers["content-type"] = content_type
    async with httpx.AsyncClient() as client:
        response = await client.post(harness.bot_url, content=body, headers=headers)
    assert response.status_code == expected
    assert harness.router.turns == 0


async def test_messages_from_other_tenants_are_ignored(harness: Harness) -> None:
    channel = harness.channel
    stranger = channel.user("eeeeeeee-0000-4000-8000-0000000000e5", "Stranger", tenant_id=OTHER_TENANT)

    message_status, _ = await channel.send_to_bot(channel.message("grade Alex 20/20", user=stranger))
    invoke_status, _ = await channel.send_to_bot(channel.card_action("return", {}, user=stranger))

    assert (message_status, invoke_status) == (201, 403)
    assert harness.router.turns == 0
    assert channel.personal_conversation(stranger).records == []
    assert harness.entra.token_requests["client_credentials"] == 0


async def test_allowed_tenants_setting_admits_listed_tenants(entra: Entra, channel: TeamsChannel) -> None:
    router = RecordingRouter()
    app = create_app(settings_for(entra, allowed_tenants=f" {OTHER_TENANT} , x"), router=router)
    runner, url = await start_app(app)
    channel.bot_url = f"{url}/api/messages"
    try:
        stranger = channel.user("eeeeeeee-0000-4000-8000-0000000000e5", "Guest", tenant_id=OTHER_TENANT)
        status, _ = await channel.send_to_bot(channel.message("hello", user=stranger))
    finally:
        await runner.cleanup()
    assert status == 201
    assert len(router.messages) == 1


async def test_without_app_id_everything_is_refused_unless_dangerously_allowed(
    entra: Entra, channel: TeamsChannel
) -> None:
    results: list[tuple[int, int]] = []
    for allow in (False, True):
        router = RecordingRouter()
        settings = settings_for(
            entra, app_id="", app_password="", app_tenant_id="", dangerously_allow_unauthenticated_requests=allow
        )
        runner, url = await start_app(create_app(settings, router=router))
        try:
            activity = channel.complete(channel.message("hi", user=channel.user(TEACHER)))
            async with httpx.AsyncClient() as client:
                response = await client.post(f"{url}/api/messages", json=activity)
            results.append((response.status_code, router.turns))
        finally:
            await runner.cleanup()
    assert results[0] == (401, 0)
    assert results[1][1] == 1
