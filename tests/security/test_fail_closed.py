"""Fail closed: when the store cannot be reached, dedupe cannot be guaranteed, so nothing is written to Graph and the
teacher is told so in one sentence; the HTTP answer is never a 5xx."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from app import ASSISTANT_KEY
from bot import messages
from bot.cards.actions import Verb
from bot.graph.ids import TenantId, UserId
from bot.storage import AuditEntry, Document, DocumentValue, MemoryStore, StorageUnavailable
from sandbox.run import World, start_world
from tests.actions.conftest import buttons, card_text
from tests.security.test_fuzz import DANA, RouterHarness, build_harness

UNAVAILABLE = messages.storage_unavailable()


class SwitchableStore:
    """A `Store` whose every method raises `StorageUnavailable` while `down` (a database that went away)."""

    def __init__(self) -> None:
        self.inner = MemoryStore()
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise StorageUnavailable("the database is unreachable")

    async def get(self, namespace: str, key: str) -> Document | None:
        self._check()
        return await self.inner.get(namespace, key)

    async def put(
        self,
        namespace: str,
        key: str,
        value: DocumentValue,
        *,
        expected_version: int | None,
        ttl: timedelta | None = None,
    ) -> int:
        self._check()
        return await self.inner.put(namespace, key, value, expected_version=expected_version, ttl=ttl)

    async def delete(self, namespace: str, key: str, *, expected_version: int | None = None) -> bool:
        self._check()
        return await self.inner.delete(namespace, key, expected_version=expected_version)

    async def claim(self, namespace: str, key: str, ttl: timedelta) -> bool:
        self._check()
        return await self.inner.claim(namespace, key, ttl)

    async def consume(self, namespace: str, key: str) -> Document | None:
        self._check()
        return await self.inner.consume(namespace, key)

    async def append_audit(self, entry: AuditEntry) -> int:
        self._check()
        return await self.inner.append_audit(entry)

    async def list_audit(
        self, *, tenant_id: TenantId, teacher_id: UserId | None = None, limit: int = 50, before_id: int | None = None
    ) -> list[AuditEntry]:
        self._check()
        return await self.inner.list_audit(tenant_id=tenant_id, teacher_id=teacher_id, limit=limit, before_id=before_id)

    async def last_change(self, tenant_id: TenantId, teacher_id: UserId) -> list[AuditEntry]:
        self._check()
        return await self.inner.last_change(tenant_id, teacher_id)

    async def mark_undone(self, change_id: str, undo_change_id: str) -> bool:
        self._check()
        return await self.inner.mark_undone(change_id, undo_change_id)

    async def purge_expired(self, now: datetime | None = None) -> int:
        self._check()
        return await self.inner.purge_expired(now)

    async def ping(self) -> None:
        self._check()

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
async def flaky() -> AsyncIterator[tuple[RouterHarness, SwitchableStore]]:
    store = SwitchableStore()
    harness, graph = await build_harness(store)
    yield harness, store
    await graph.aclose()
    await store.aclose()


async def test_a_command_is_refused_before_any_graph_request(flaky: tuple[RouterHarness, SwitchableStore]) -> None:
    harness, store = flaky
    store.down = True
    for channel in (None, "Biology 101"):
        reply = await harness.say("grade Alice Smith 85 on Essay 2 in Biology 101", channel=channel)
        assert harness.stack.graph.request_count == 0
        assert reply.cards, "the teacher is told"
    assert UNAVAILABLE in card_text(await harness.say("grade Alice Smith 85 on Essay 2 in Biology 101"))


async def test_a_confirmation_click_is_refused_and_writes_nothing(flaky: tuple[RouterHarness, SwitchableStore]) -> None:
    harness, store = flaky
    ask = await harness.say("grade Alice Smith 105 on Essay 2 in Biology 101")
    confirm = buttons(ask)[Verb.GRADE_CONFIRM.value]
    harness.stack.graph.reset_request_log()
    store.down = True

    refused = await harness.click(confirm)

    assert UNAVAILABLE in card_text(refused)
    assert harness.stack.graph.request_count == 0
    store.down = False
    done = await harness.click(confirm)  # the nonce was not used up: once the store is back, the click works
    assert "105" in card_text(done)
    assert harness.writes > 0


async def test_the_command_parked_for_sign_in_is_not_resumed_blind(
    flaky: tuple[RouterHarness, SwitchableStore],
) -> None:
    harness, store = flaky
    store.down = True
    await harness.router.on_signed_in(harness.actor(DANA), harness.conversation(DANA), harness.outbox)
    assert UNAVAILABLE in card_text(harness.outbox.sent[-1])
    assert harness.stack.graph.request_count == 0


# ------------------------------------------------------------------------------------------------ over HTTP


@pytest.fixture
async def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)  # restored after the test; start_world sets its own
    started = await start_world(tls_directory=tmp_path / "tls", storage_url=f"sqlite:///{tmp_path / 'bot.db'}")
    yield started
    await started.stop()


async def test_closing_the_sqlite_store_under_the_app_fails_closed(world: World) -> None:
    teams = world.teams
    dana = teams.user(world.stack.user_id(DANA), DANA)
    await teams.send_to_bot(teams.message("status Essay 2 in Biology 101", user=dana))
    await teams.drain()  # the channel signed Dana in (Teams SSO) and the status was answered
    chat = teams.personal_conversation(dana)
    await world.bot_runner.app[ASSISTANT_KEY].services.store.aclose()
    world.stack.graph.reset_request_log()

    status, _ = await teams.send_to_bot(teams.message("grade Alice Smith 85 on Essay 2 in Biology 101", user=dana))
    click, answer = await teams.invoke_card_action(
        Verb.GRADE_CONFIRM.value,
        {"verb": Verb.GRADE_CONFIRM.value, "nonce": "made-up-nonce", "action_key": "k1"},
        user=dana,
        conversation=chat,
    )

    assert status < 500 and click < 500
    assert UNAVAILABLE in json.dumps(chat.messages()[-1])
    assert UNAVAILABLE in json.dumps(answer)
    assert world.stack.graph.request_count == 0
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{world.bot_url}/healthz")).status_code == 200
