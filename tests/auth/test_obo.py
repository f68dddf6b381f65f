"""On-behalf-of, silent refresh and the encrypted per-teacher token cache against the sandbox Entra."""

from __future__ import annotations

import json
import logging
import socket
import time
import uuid

import jwt
import pytest

from bot.auth.obo import AuthProblem, GraphToken, OboExchanger, admin_consent_url, problem_from_result
from bot.auth.signin import Credentials, SignInNeeded
from bot.auth.token_cache import NAMESPACE
from bot.settings import Settings
from bot.storage.memory import MemoryStore
from bot.turn import Actor
from sandbox.entra import Entra
from tests.auth.conftest import APP_ID, CONTOSO, DANA, GRAPH, OMAR, OTHER_TEACHER, TEACHER, make_settings


def _key(actor: Actor) -> str:
    return f"{actor.tenant_id}.{actor.user_id}"


async def _sign_in(entra: Entra, credentials: Credentials, actor: Actor) -> GraphToken:
    value = {"id": str(uuid.uuid4()), "connectionName": "graph", "token": entra.mint_sso_token(str(actor.user_id))}
    outcome = await credentials.handle_token_exchange(value, actor)
    assert outcome.token is not None
    return outcome.token


async def _expire_cached_access_tokens(credentials: Credentials, actor: Actor) -> None:
    cache_store = credentials.exchanger.token_cache
    loaded = await cache_store.load(actor)
    state = json.loads(loaded.cache.serialize())
    for entry in state["AccessToken"].values():
        entry["expires_on"] = str(int(time.time()) - 60)
    loaded.cache.deserialize(json.dumps(state))
    loaded.cache.has_state_changed = True
    assert await cache_store.save(actor, loaded)


async def test_silent_answers_from_the_cache_without_network(entra: Entra, credentials: Credentials) -> None:
    first = await _sign_in(entra, credentials, DANA)
    calls = sum(entra.token_requests.values())

    again = await credentials.graph_token(DANA)

    assert isinstance(again, GraphToken)
    assert again.access_token == first.access_token
    assert sum(entra.token_requests.values()) == calls


async def test_an_expired_access_token_is_refreshed_silently(entra: Entra, credentials: Credentials) -> None:
    first = await _sign_in(entra, credentials, DANA)
    await _expire_cached_access_tokens(credentials, DANA)

    refreshed = await credentials.exchanger.silent(DANA)

    assert refreshed is not None
    assert refreshed.access_token != first.access_token
    assert entra.token_requests["refresh_token"] == 1
    claims = jwt.decode(refreshed.access_token, options={"verify_signature": False})
    assert (claims["oid"], claims["aud"]) == (TEACHER, GRAPH)
    assert refreshed.expires_at.timestamp() > time.time() + 600
    again = await credentials.exchanger.silent(DANA)
    assert again is not None
    assert again.access_token == refreshed.access_token  # the refreshed token was saved
    assert entra.token_requests["refresh_token"] == 1


async def test_a_revoked_refresh_token_means_signing_in_again(entra: Entra, credentials: Credentials) -> None:
    await _sign_in(entra, credentials, DANA)
    await _expire_cached_access_tokens(credentials, DANA)
    entra.revoke_refresh_tokens(TEACHER)

    assert await credentials.exchanger.refresh_silently(DANA) is AuthProblem.SIGN_IN_AGAIN
    assert isinstance(await credentials.graph_token(DANA), SignInNeeded)


async def test_the_cache_is_encrypted_at_rest(entra: Entra, credentials: Credentials, store: MemoryStore) -> None:
    await _sign_in(entra, credentials, DANA)

    document = await store.get(NAMESPACE, _key(DANA))

    assert document is not None
    assert isinstance(document.value, bytes)
    assert b"eyJ" not in document.value
    assert b"refresh" not in document.value.lower()
    assert TEACHER.encode() not in document.value


async def test_caches_are_partitioned_per_teacher(entra: Entra, credentials: Credentials, store: MemoryStore) -> None:
    await _sign_in(entra, credentials, DANA)
    await _sign_in(entra, credentials, OMAR)

    dana = await credentials.graph_token(DANA)
    omar = await credentials.graph_token(OMAR)

    assert isinstance(dana, GraphToken)
    assert isinstance(omar, GraphToken)
    assert jwt.decode(dana.access_token, options={"verify_signature": False})["oid"] == TEACHER
    assert jwt.decode(omar.access_token, options={"verify_signature": False})["oid"] == OTHER_TEACHER
    dana_doc = await store.get(NAMESPACE, _key(DANA))
    omar_doc = await store.get(NAMESPACE, _key(OMAR))
    assert dana_doc is not None
    assert omar_doc is not None
    assert dana_doc.value != omar_doc.value


async def test_a_cache_copied_to_another_teachers_key_does_not_open(
    entra: Entra, credentials: Credentials, store: MemoryStore
) -> None:
    await _sign_in(entra, credentials, DANA)
    dana_doc = await store.get(NAMESPACE, _key(DANA))
    assert dana_doc is not None
    await store.put(NAMESPACE, _key(OMAR), dana_doc.value, expected_version=0)

    assert await credentials.exchanger.silent(OMAR) is None


async def test_sign_out_deletes_the_cache(entra: Entra, credentials: Credentials, store: MemoryStore) -> None:
    await _sign_in(entra, credentials, DANA)
    await _sign_in(entra, credentials, OMAR)

    assert await credentials.sign_out(DANA)

    assert await store.get(NAMESPACE, _key(DANA)) is None
    assert isinstance(await credentials.graph_token(DANA), SignInNeeded)
    assert isinstance(await credentials.graph_token(OMAR), GraphToken)
    assert not await credentials.sign_out(DANA)


async def test_a_teacher_with_no_cache_needs_sign_in_without_network(entra: Entra, credentials: Credentials) -> None:
    assert isinstance(await credentials.graph_token(DANA), SignInNeeded)
    assert sum(entra.token_requests.values()) == 0


async def test_a_wrong_client_secret_is_a_misconfiguration(entra: Entra, entra_url: str, store: MemoryStore) -> None:
    exchanger = OboExchanger(make_settings(entra_url, app_password="not-the-secret"), store)
    try:
        result = await exchanger.exchange(DANA, entra.mint_sso_token(TEACHER))
    finally:
        await exchanger.aclose()

    assert result is AuthProblem.MISCONFIGURED


async def test_unreachable_entra_is_unavailable_not_an_exception(entra: Entra, store: MemoryStore) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    exchanger = OboExchanger(make_settings(f"https://127.0.0.1:{closed_port}"), store)
    try:
        result = await exchanger.exchange(DANA, entra.mint_sso_token(TEACHER))
    finally:
        await exchanger.aclose()

    assert result is AuthProblem.UNAVAILABLE


async def test_after_close_calls_are_unavailable(entra: Entra, settings: Settings, store: MemoryStore) -> None:
    exchanger = OboExchanger(settings, store)
    await exchanger.aclose()

    assert await exchanger.exchange(DANA, entra.mint_sso_token(TEACHER)) is AuthProblem.UNAVAILABLE


@pytest.mark.parametrize(
    ("result", "problem"),
    [
        ({"error": "invalid_grant", "suberror": "consent_required", "error_codes": [65001]}, "admin_consent_needed"),
        ({"error": "consent_required"}, "admin_consent_needed"),
        ({"error": "invalid_grant", "error_codes": [500133]}, "sign_in_again"),
        ({"error": "interaction_required", "error_codes": [50076]}, "sign_in_again"),
        ({"error": "invalid_client", "error_codes": [7000215]}, "misconfigured"),
        ({"error": "temporarily_unavailable"}, "unavailable"),
    ],
)
def test_entra_errors_are_classified(result: dict[str, object], problem: str) -> None:
    assert problem_from_result(result) == problem


def test_admin_consent_url(settings: Settings) -> None:
    assert (
        admin_consent_url(settings, CONTOSO) == f"{settings.authority_host}/{CONTOSO}/adminconsent?client_id={APP_ID}"
    )


async def test_tokens_never_reach_logs_or_reprs(
    entra: Entra, credentials: Credentials, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    token = await _sign_in(entra, credentials, DANA)
    await _expire_cached_access_tokens(credentials, DANA)
    await credentials.graph_token(DANA)
    entra.withhold_consent(APP_ID, CONTOSO)
    await credentials.handle_token_exchange({"id": "x", "token": entra.mint_sso_token(TEACHER)}, DANA)
    await credentials.handle_token_exchange({"id": "y", "token": entra.mint_sso_token(TEACHER, scopes="x")}, DANA)

    assert caplog.records
    assert "eyJ" not in caplog.text
    assert all("eyJ" not in str(record.args) for record in caplog.records)
    assert "eyJ" not in repr(token)
    assert "eyJ" not in repr(await credentials.exchanger.token_cache.load(DANA))
