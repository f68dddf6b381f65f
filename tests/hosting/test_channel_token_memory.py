"""A channel token verified once is remembered until it expires, and every per-request check still applies to it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.hosting.channel_auth import CLOCK_SKEW_SECONDS, ChannelAuthError, ChannelTokenValidator
from sandbox.entra import Entra
from tests.hosting.conftest import APP_ID, BOT_FRAMEWORK

SERVICE_URL = "https://smba.trafficmanager.net/amer/"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def _validator(entra: Entra, http: httpx.AsyncClient, clock: Clock) -> ChannelTokenValidator:
    return ChannelTokenValidator(
        app_id=APP_ID,
        issuer=BOT_FRAMEWORK,
        metadata_url=f"{entra.base_url}/botframework/v1/.well-known/openidconfiguration",
        http=http,
        clock=clock,
    )


async def _refusal(validator: ChannelTokenValidator, token: str, *, channel: str, url: str) -> tuple[int, str] | None:
    try:
        await validator.validate(f"Bearer {token}", channel_id=channel, service_url=url)
    except ChannelAuthError as error:
        return error.status, error.reason
    return None


@pytest.mark.parametrize(
    ("channel", "url", "expected"),
    [
        ("msteams", SERVICE_URL, None),
        ("msteams", "https://evil.example/", (403, "serviceurl claim does not match the activity")),
        ("webchat", SERVICE_URL, (403, "signing key not endorsed for the channel")),
    ],
)
async def test_a_remembered_token_gets_the_same_answer_as_a_fresh_one(
    entra: Entra, http: httpx.AsyncClient, channel: str, url: str, expected: tuple[int, str] | None
) -> None:
    token = entra.mint_channel_token(APP_ID, SERVICE_URL)
    clock = Clock()
    remembered = _validator(entra, http, clock)
    claims = await remembered.validate(f"Bearer {token}", channel_id="msteams", service_url=SERVICE_URL)
    assert claims["serviceurl"] == SERVICE_URL

    fresh = _validator(entra, http, clock)
    assert await _refusal(fresh, token, channel=channel, url=url) == expected
    assert await _refusal(remembered, token, channel=channel, url=url) == expected


async def test_a_remembered_token_expires_like_any_other(entra: Entra, http: httpx.AsyncClient) -> None:
    token = entra.mint_channel_token(APP_ID, SERVICE_URL, lifetime_seconds=60)
    clock = Clock()
    validator = _validator(entra, http, clock)
    assert await _refusal(validator, token, channel="msteams", url=SERVICE_URL) is None

    clock.now += 60 + CLOCK_SKEW_SECONDS - 5  # within the leeway the Bot Framework allows
    assert await _refusal(validator, token, channel="msteams", url=SERVICE_URL) is None
    clock.now += 10
    assert await _refusal(validator, token, channel="msteams", url=SERVICE_URL) == (401, "token expired")


async def test_only_tokens_that_passed_are_remembered(entra: Entra, http: httpx.AsyncClient) -> None:
    clock = Clock()
    validator = _validator(entra, http, clock)
    foreign = entra.mint_channel_token("someone-else", SERVICE_URL)
    for _ in range(2):
        assert await _refusal(validator, foreign, channel="msteams", url=SERVICE_URL) == (401, "wrong audience")
    tampered = entra.mint_channel_token(APP_ID, SERVICE_URL)
    head, body, signature = tampered.split(".")
    forged = f"{head}.{body}.{signature[:-4]}AAAA"
    for _ in range(2):
        assert await _refusal(validator, forged, channel="msteams", url=SERVICE_URL) == (401, "invalid token")
