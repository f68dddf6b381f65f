"""Fixtures for the hosting tests: sandbox Entra and Teams channel over HTTPS, the app over HTTP, all on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from app import HOSTING_KEY, Hosting, create_app
from bot.settings import Settings
from bot.turn import Actor, CardActionTurn, Conversation, MessageTurn, Outbox, Reply
from sandbox.entra import ConfidentialApp, Directory, Entra, Tenant, User
from sandbox.http import RunningService, serve
from sandbox.teams import TeamsChannel
from sandbox.tls import SandboxTls, ensure_sandbox_tls

TENANT = "aaaaaaaa-0000-4000-8000-0000000000a1"
OTHER_TENANT = "bbbbbbbb-0000-4000-8000-0000000000b2"
APP_ID = "11111111-2222-4333-8444-5555555555aa"
SECRET = "hosting-secret-value"
TEACHER = "cccccccc-0000-4000-8000-0000000000c3"
CLASS_ID = "dddddddd-0000-4000-8000-0000000000d4"
BOT_FRAMEWORK = "https://api.botframework.com"


def make_directory() -> Directory:
    """One school tenant with the bot registered, plus a foreign tenant."""
    return Directory(
        tenants=[Tenant(id=TENANT), Tenant(id=OTHER_TENANT)],
        apps=[ConfidentialApp(app_id=APP_ID, client_secret=SECRET, application_permissions={BOT_FRAMEWORK: []})],
        users=[User(oid=TEACHER, tid=TENANT, name="Dana Teacher", preferred_username="dana@school.example")],
    )


def card(text: str) -> dict[str, object]:
    """A minimal Adaptive Card."""
    return {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": text}]}


@dataclass
class RecordingRouter:
    """Records every turn; echoes messages; answers card actions with a card naming the verb."""

    messages: list[MessageTurn] = field(default_factory=lambda: [])
    card_actions: list[CardActionTurn] = field(default_factory=lambda: [])
    outboxes: list[Outbox] = field(default_factory=lambda: [])

    async def on_message(self, turn: MessageTurn, outbox: Outbox) -> None:
        self.messages.append(turn)
        self.outboxes.append(outbox)
        await outbox.send(Reply(text=f"echo: {turn.text}"))

    async def on_card_action(self, turn: CardActionTurn, outbox: Outbox) -> Reply:
        self.card_actions.append(turn)
        return Reply(cards=(card(f"done: {turn.verb}"),))

    async def on_signed_in(self, actor: Actor, conversation: Conversation, outbox: Outbox) -> None:
        await outbox.send(Reply(text="signed in"))

    @property
    def turns(self) -> int:
        return len(self.messages) + len(self.card_actions)


@dataclass
class Harness:
    """Everything a hosting test touches."""

    entra: Entra
    channel: TeamsChannel
    router: RecordingRouter
    hosting: Hosting
    bot_url: str


@pytest.fixture(scope="session")
def rsa_keys() -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey, rsa.RSAPrivateKey]:
    """Entra, channel and foreign keys, generated once (the slow part)."""
    return tuple(rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(3))  # pyright: ignore[reportReturnType]


@pytest.fixture
def foreign_key(rsa_keys: tuple[rsa.RSAPrivateKey, ...]) -> rsa.RSAPrivateKey:
    """A key the sandbox Entra does not publish."""
    return rsa_keys[2]


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> SandboxTls:
    """The sandbox CA and server certificate, made once."""
    return ensure_sandbox_tls(Path(tmp_path_factory.mktemp("tls")))


@pytest.fixture(autouse=True)
def _trust_sandbox_ca(tls: SandboxTls, monkeypatch: pytest.MonkeyPatch) -> None:  # pyright: ignore[reportUnusedFunction]
    """MSAL and msrest (requests) read REQUESTS_CA_BUNDLE; httpx reads SSL_CERT_FILE."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls.ca_path))
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_path))
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


@pytest.fixture
async def entra(rsa_keys: tuple[rsa.RSAPrivateKey, ...], tls: SandboxTls) -> AsyncIterator[Entra]:
    """The sandbox Entra over HTTPS."""
    service = Entra("https://127.0.0.1:1", make_directory(), signing_key=rsa_keys[0], channel_signing_key=rsa_keys[1])
    running = await serve(service, ssl_context=tls.server_context())
    service.base_url = running.url
    yield service
    await running.stop()


@pytest.fixture
async def channel(entra: Entra, tls: SandboxTls) -> AsyncIterator[TeamsChannel]:
    """The sandbox Teams channel (Bot Connector) over HTTPS."""
    service = TeamsChannel(entra, app_id=APP_ID, tenant_id=TENANT)
    running: RunningService = await serve(service, ssl_context=tls.server_context())
    service.base_url = running.url
    yield service
    await service.aclose()
    await running.stop()


def settings_for(entra: Entra, **overrides: object) -> Settings:
    """Settings registered in the sandbox Entra directory."""
    values: dict[str, object] = {
        "app_id": APP_ID,
        "app_password": SECRET,
        "app_tenant_id": TENANT,
        "authority_host": entra.base_url,
        "bot_openid_metadata_url": f"{entra.base_url}/botframework/v1/.well-known/openidconfiguration",
        "bot_token_issuer": BOT_FRAMEWORK,
    }
    values.update(overrides)
    return Settings(**values)  # pyright: ignore[reportArgumentType]


async def start_app(app: web.Application) -> tuple[web.AppRunner, str]:
    """Serve the app on an ephemeral 127.0.0.1 port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@pytest.fixture
async def harness(entra: Entra, channel: TeamsChannel) -> AsyncIterator[Harness]:
    """The app wired to the sandbox, with a recording router."""
    router = RecordingRouter()
    app = create_app(settings_for(entra), router=router)
    runner, url = await start_app(app)
    channel.bot_url = f"{url}/api/messages"
    yield Harness(entra=entra, channel=channel, router=router, hosting=app[HOSTING_KEY], bot_url=channel.bot_url)
    await runner.cleanup()
