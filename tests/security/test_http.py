"""Hostile HTTP against the whole product (`start_world`): the bot answers every bad request with a 4xx, never a 5xx,
never runs a turn for it, and a replayed confirmation writes once."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import httpx
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.cards.actions import Verb
from bot.hosting import MAX_BODY_BYTES
from bot.turn import Reply
from sandbox.run import World, start_world
from sandbox.teams import TeamsUser
from tests.actions.conftest import all_buttons, graph_writes
from tests.security.test_fuzz import random_payloads, random_text

DANA = "Dana Whitfield"
BIOLOGY = "Biology 101"


pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    """One world for the module: every test here refuses, or checks what it changed against a fresh request log."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            patch.delenv(name, raising=False)  # restored afterwards; start_world sets its own
        started = await start_world(tls_directory=tmp_path_factory.mktemp("tls"))
        yield started
        await started.stop()


@pytest.fixture(scope="module")
def foreign_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


async def signed_in(world: World, name: str = DANA) -> TeamsUser:
    """A teacher who has signed in (the sandbox channel does Teams' SSO token exchange on the OAuth card)."""
    user = world.teams.user(world.stack.user_id(name), name)
    await world.teams.send_to_bot(world.teams.message(f"status Essay 2 in {BIOLOGY}", user=user))
    await world.teams.drain()
    assert any(invoke.name == "signin/tokenExchange" and invoke.status == 200 for invoke in world.teams.invokes)
    return user


def points_of(world: World, student: str) -> float | None:
    stack = world.stack
    submission = stack.graph.submission_for(
        stack.class_id(BIOLOGY), stack.assignment_id(BIOLOGY, "Essay 2"), stack.user_id(student)
    )
    assert submission is not None
    outcome = submission.outcome("points")
    return outcome.points.points if outcome and outcome.points else None


def channel_token(world: World) -> str:
    return world.stack.entra.mint_channel_token(world.stack.app_id, world.teams.service_url)


async def post(
    world: World, body: bytes, *, content_type: str | None = "application/json", token: str | None = None
) -> httpx.Response:
    headers = {"authorization": f"Bearer {token or channel_token(world)}"}
    if content_type is not None:
        headers["content-type"] = content_type
    async with httpx.AsyncClient(timeout=30.0) as client:
        return await client.post(f"{world.bot_url}/api/messages", content=body, headers=headers)


def a_message(world: World, text: str = "help") -> dict[str, Any]:
    user = world.teams.user(world.stack.user_id(DANA), DANA)
    return world.teams.complete(world.teams.message(text, user=user))


# ------------------------------------------------------------------------------------------------ malformed requests


async def test_oversized_bodies_are_413(world: World) -> None:
    activity = a_message(world)
    activity["text"] = "x" * (MAX_BODY_BYTES + 1)
    declared = await post(world, json.dumps(activity).encode())

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit holds while reading
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b" " * 65536

    async with httpx.AsyncClient(timeout=30.0) as client:
        streamed = await client.post(
            f"{world.bot_url}/api/messages",
            content=chunks(),
            headers={"content-type": "application/json", "authorization": f"Bearer {channel_token(world)}"},
        )
    assert (declared.status_code, streamed.status_code) == (413, 413)
    assert world.teams.personal_conversation(world.teams.user(world.stack.user_id(DANA), DANA)).messages() == []


@pytest.mark.parametrize("body", [b"{", b"not json", b"\xff\xfe\x00", b"[]", b"42", b'"text"', b"{}", b'{"type": ""}'])
async def test_malformed_json_or_not_an_activity_is_400(world: World, body: bytes) -> None:
    response = await post(world, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "400"


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/xml"])
async def test_missing_or_wrong_content_type_is_415(world: World, content_type: str | None) -> None:
    response = await post(world, json.dumps(a_message(world)).encode(), content_type=content_type)
    assert response.status_code == 415


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
async def test_wrong_method_is_405(world: World, method: str) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.request(method, f"{world.bot_url}/api/messages", json=a_message(world))
    assert response.status_code == 405


# ------------------------------------------------------------------------------------------------ authentication


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _alg_none(world: World) -> str:
    signed = channel_token(world)
    header = json.loads(base64.urlsafe_b64decode(signed.split(".")[0] + "=="))
    claims = json.loads(base64.urlsafe_b64decode(signed.split(".")[1] + "=="))
    return f"{_b64({'alg': 'none', 'kid': header['kid'], 'typ': 'JWT'})}.{_b64(claims)}."


TokenFactory = Callable[[World, rsa.RSAPrivateKey], str | None]

REFUSED: dict[str, tuple[TokenFactory, int]] = {
    "missing header": (lambda world, key: None, 401),
    "garbage": (lambda world, key: "not-a-jwt", 401),
    "expired": (
        lambda world, key: world.stack.entra.mint_channel_token(
            world.stack.app_id, world.teams.service_url, lifetime_seconds=-600
        ),
        401,
    ),
    "wrong audience": (
        lambda world, key: world.stack.entra.mint_channel_token("another-bot", world.teams.service_url),
        401,
    ),
    "wrong issuer": (
        lambda world, key: world.stack.entra.mint_channel_token(
            world.stack.app_id, world.teams.service_url, extra_claims={"iss": "https://sts.invalid/"}
        ),
        401,
    ),
    "alg none": (lambda world, key: _alg_none(world), 401),
    "unknown key": (
        lambda world, key: world.stack.entra.mint_channel_token(world.stack.app_id, world.teams.service_url, key=key),
        401,
    ),
    "serviceUrl mismatch": (
        lambda world, key: world.stack.entra.mint_channel_token(world.stack.app_id, "https://127.0.0.9/"),
        403,
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
async def test_every_auth_failure_is_401_or_403_and_runs_nothing(
    world: World, foreign_key: rsa.RSAPrivateKey, case: str
) -> None:
    dana = await signed_in(world)
    world.stack.graph.reset_request_log()
    chat = world.teams.personal_conversation(dana)
    before = len(chat.messages())
    make_token, expected = REFUSED[case]
    token = make_token(world, foreign_key)
    activity = world.teams.complete(world.teams.message(f"grade Alice Smith 85 on Essay 2 in {BIOLOGY}", user=dana))
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{world.bot_url}/api/messages", json=activity, headers=headers)

    assert response.status_code == expected
    assert world.stack.graph.request_count == 0
    assert points_of(world, "Alice Smith") is None
    assert len(chat.messages()) == before


# ------------------------------------------------------------------------------------------------ replayed clicks


async def test_a_replayed_confirmation_writes_once(world: World) -> None:
    dana = await signed_in(world)
    chat = world.teams.personal_conversation(dana)
    await world.teams.send_to_bot(world.teams.message(f"grade Bob Jones 105 on Essay 2 in {BIOLOGY}", user=dana))
    card = chat.messages()[-1]
    confirm = next(
        data
        for attachment in card.get("attachments") or []
        for data in _buttons(attachment.get("content"))
        if data["verb"] == Verb.GRADE_CONFIRM.value
    )
    world.stack.graph.reset_request_log()

    first = await world.teams.invoke_card_action(
        Verb.GRADE_CONFIRM.value, confirm, user=dana, conversation=chat, reply_to_id=card["id"]
    )
    writes = graph_writes(world.stack)
    replayed_invoke = await world.teams.invoke_card_action(
        Verb.GRADE_CONFIRM.value,
        {**confirm, "action_key": "another-action-key"},
        user=dana,
        conversation=chat,
        reply_to_id=card["id"],
    )
    replayed_submit = await world.teams.send_to_bot(
        world.teams.message("", user=dana, value={**confirm, "action_key": "yet-another-key"}, reply_to_id=card["id"])
    )

    assert first[0] == 200 and points_of(world, "Bob Jones") == 105
    assert writes >= 1 and graph_writes(world.stack) == writes
    assert replayed_invoke[0] == 200
    assert "expired or was already used" in json.dumps(replayed_invoke[1])
    assert replayed_submit[0] < 300
    assert "expired or was already used" in json.dumps(chat.messages()[-1])


def _buttons(card: object) -> list[dict[str, Any]]:
    return all_buttons(Reply(cards=(cast(dict[str, Any], card),))) if isinstance(card, dict) else []


# ------------------------------------------------------------------------------------------------ fuzz over HTTP


activity_bodies = st.one_of(
    random_text.map(lambda text: ("message", text)),
    random_payloads.map(lambda payload: ("invoke", payload)),
    random_payloads.map(lambda payload: ("submit", payload)),
    st.dictionaries(st.sampled_from(["type", "name", "value", "text", "from", "conversation", "locale"]),
                    random_payloads | random_text, max_size=5).map(lambda raw: ("raw", raw)),
)  # fmt: skip


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(bodies=st.lists(activity_bodies, min_size=10, max_size=10))
async def test_two_hundred_fuzzed_activities_over_http_get_no_5xx(world: World, bodies: list[tuple[str, Any]]) -> None:
    """Ten activities per example, 200 in all, through the real endpoint: each is answered below 500 and none writes.

    The module's world is shared by every example (hence the suppressed health check): nothing here may change it.
    """
    teams = world.teams
    dana = teams.user(world.stack.user_id(DANA), DANA)
    world.stack.graph.reset_request_log()
    statuses: list[int] = []
    for kind, body in bodies:
        if kind == "message":
            activity = teams.message(body, user=dana)
        elif kind == "invoke":
            verb = body.get("verb")
            activity = teams.card_action(verb if isinstance(verb, str) else "", body, user=dana)
        elif kind == "submit":
            activity = teams.message("", user=dana, value=body)
        else:
            activity = {**teams.message("", user=dana), **body}
        status, _ = await teams.send_to_bot(activity)
        statuses.append(status)
    assert all(status < 500 for status in statuses), statuses
    assert graph_writes(world.stack) == 0
