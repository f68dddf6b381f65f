"""Fixtures for bot/auth: the sandbox Entra over real HTTPS on 127.0.0.1, settings pointing at it, a memory store."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.auth.obo import OboExchanger
from bot.auth.signin import Credentials
from bot.auth.sso import SsoValidator
from bot.graph.ids import TenantId, UserId
from bot.settings import Settings
from bot.storage.memory import MemoryStore
from bot.turn import Actor
from sandbox.entra import ConfidentialApp, Directory, Entra, Tenant, User
from sandbox.http import serve
from sandbox.tls import SandboxTls, ensure_sandbox_tls

CONTOSO = "aaaaaaaa-0000-4000-8000-000000000001"
FABRIKAM = "bbbbbbbb-0000-4000-8000-000000000002"
APP_ID = "11111111-2222-4333-8444-555555555555"
SECRET = "sandbox-secret-value"
GRAPH = "https://127.0.0.1:8444"
TEACHER = "cccccccc-0000-4000-8000-000000000010"
OTHER_TEACHER = "cccccccc-0000-4000-8000-000000000011"
FABRIKAM_TEACHER = "dddddddd-0000-4000-8000-000000000020"
CACHE_KEY = base64.b64encode(bytes(range(32))).decode()

DANA = Actor(TenantId(CONTOSO), UserId(TEACHER))
OMAR = Actor(TenantId(CONTOSO), UserId(OTHER_TEACHER))
FAY = Actor(TenantId(FABRIKAM), UserId(FABRIKAM_TEACHER))


def make_directory() -> Directory:
    """Two tenants, both consented; two teachers in Contoso, one in Fabrikam."""
    return Directory(
        tenants=[Tenant(id=CONTOSO, domain="contoso.onmicrosoft.com"), Tenant(id=FABRIKAM)],
        apps=[
            ConfidentialApp(
                app_id=APP_ID,
                client_secret=SECRET,
                delegated_permissions={GRAPH: ["EduAssignments.ReadWrite", "EduRoster.ReadBasic"]},
            )
        ],
        users=[
            User(oid=TEACHER, tid=CONTOSO, name="Dana Teacher", preferred_username="dana@contoso.onmicrosoft.com"),
            User(oid=OTHER_TEACHER, tid=CONTOSO, name="Omar Teacher", preferred_username="omar@contoso.example"),
            User(oid=FABRIKAM_TEACHER, tid=FABRIKAM, name="Fay Teacher", preferred_username="fay@fabrikam.example"),
        ],
    )


@pytest.fixture(scope="session")
def rsa_keys() -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey, rsa.RSAPrivateKey]:
    """Entra, channel and foreign keys, generated once: key generation is the slow part."""
    return (
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


@pytest.fixture
def foreign_key(rsa_keys: tuple[rsa.RSAPrivateKey, ...]) -> rsa.RSAPrivateKey:
    """A key the sandbox Entra does not publish."""
    return rsa_keys[2]


@pytest.fixture
def entra(rsa_keys: tuple[rsa.RSAPrivateKey, ...]) -> Entra:
    """A fresh Entra (fresh counters, full consent) with the session's keys; Graph is the `GRAPH` resource."""
    return Entra(
        "https://127.0.0.1:8443",
        make_directory(),
        signing_key=rsa_keys[0],
        channel_signing_key=rsa_keys[1],
        graph_resource=GRAPH,
    )


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> SandboxTls:
    """The sandbox CA and server certificate, made once in a temp dir."""
    return ensure_sandbox_tls(Path(tmp_path_factory.mktemp("auth-tls")))


@pytest.fixture(autouse=True)
def _trust_sandbox_ca(tls: SandboxTls, monkeypatch: pytest.MonkeyPatch) -> None:  # pyright: ignore[reportUnusedFunction]
    """requests (inside MSAL) reads REQUESTS_CA_BUNDLE, which wins over `verify=`: point it at the sandbox CA."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls.ca_path))
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


@pytest.fixture
async def entra_url(entra: Entra, tls: SandboxTls) -> AsyncIterator[str]:
    """The Entra served over HTTPS on an ephemeral 127.0.0.1 port; its base_url follows the bound port."""
    running = await serve(entra, ssl_context=tls.server_context())
    entra.base_url = running.url
    yield running.url
    await running.stop()


def make_settings(authority_host: str, **overrides: object) -> Settings:
    """Settings for the bot registered in the sandbox Entra (Contoso only unless overridden)."""
    values: dict[str, object] = {
        "app_id": APP_ID,
        "app_password": SECRET,
        "app_tenant_id": CONTOSO,
        "authority_host": authority_host,
        "graph_endpoint": GRAPH,
        "allowed_tenants": CONTOSO,
        "token_cache_key": CACHE_KEY,
        "storage_url": "memory://",
        "auth_timeout_seconds": 5.0,
    }
    values.update(overrides)
    return Settings(**values)  # pyright: ignore[reportArgumentType]


@pytest.fixture
def settings(entra_url: str) -> Settings:
    """Settings pointing at the running sandbox Entra."""
    return make_settings(entra_url)


@pytest.fixture
def store() -> MemoryStore:
    """An empty in-memory store."""
    return MemoryStore()


@pytest.fixture
async def http(tls: SandboxTls) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client trusting the sandbox CA."""
    async with httpx.AsyncClient(verify=tls.client_context()) as client:
        yield client


@pytest.fixture
async def credentials(settings: Settings, store: MemoryStore, http: httpx.AsyncClient) -> AsyncIterator[Credentials]:
    """The facade wired to the sandbox; closed before the Entra server stops."""
    creds = Credentials(settings, store, SsoValidator(settings, http), OboExchanger(settings, store))
    yield creds
    await creds.aclose()
