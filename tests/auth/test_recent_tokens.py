"""Credentials reuse a just-issued Graph token from memory, but never past sign-out or near its expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from bot.auth.obo import AuthProblem, GraphToken
from bot.auth.signin import Credentials, SignInNeeded
from bot.graph.ids import TenantId, UserId
from bot.settings import Settings
from bot.storage import MemoryStore
from bot.turn import Actor

ACTOR = Actor(TenantId("t"), UserId("teacher"))


class CountingExchanger:
    def __init__(self, lifetime: timedelta) -> None:
        self.lifetime = lifetime
        self.calls = 0
        self.signed_out = False

    async def refresh_silently(self, actor: Actor) -> GraphToken | AuthProblem | None:
        self.calls += 1
        if self.signed_out:
            return None
        return GraphToken(f"token-{self.calls}", datetime.now(UTC) + self.lifetime, actor.tenant_id, actor.user_id)

    async def sign_out(self, actor: Actor) -> bool:
        self.signed_out = True
        return True


def credentials(exchanger: CountingExchanger) -> Credentials:
    settings = Settings(app_id="app", app_password="secret", app_tenant_id="t", token_cache_key="A" * 43 + "=")  # pyright: ignore[reportArgumentType]
    return Credentials(settings, MemoryStore(), cast(Any, None), cast(Any, exchanger))


async def test_a_recent_token_is_reused_without_asking_msal() -> None:
    exchanger = CountingExchanger(timedelta(hours=1))
    creds = credentials(exchanger)
    first = await creds.graph_token(ACTOR)
    second = await creds.graph_token(ACTOR)
    assert isinstance(first, GraphToken) and first == second
    assert exchanger.calls == 1


async def test_a_token_near_expiry_is_not_reused() -> None:
    exchanger = CountingExchanger(timedelta(minutes=2))
    creds = credentials(exchanger)
    await creds.graph_token(ACTOR)
    await creds.graph_token(ACTOR)
    assert exchanger.calls == 2


async def test_sign_out_forgets_the_recent_token() -> None:
    exchanger = CountingExchanger(timedelta(hours=1))
    creds = credentials(exchanger)
    await creds.graph_token(ACTOR)
    await creds.sign_out(ACTOR)
    assert isinstance(await creds.graph_token(ACTOR), SignInNeeded)
