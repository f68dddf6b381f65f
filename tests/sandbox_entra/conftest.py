"""Fixtures for the sandbox Entra tests: one directory, keys made once per session, TLS files in a temp dir."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox.entra import ConfidentialApp, Directory, Entra, Tenant, User
from sandbox.http import serve
from sandbox.tls import SandboxTls, ensure_sandbox_tls

CONTOSO = "aaaaaaaa-0000-4000-8000-000000000001"
FABRIKAM = "bbbbbbbb-0000-4000-8000-000000000002"
APP_ID = "11111111-2222-4333-8444-555555555555"
SECRET = "sandbox-secret-value"
GRAPH = "https://127.0.0.1:8444"
GRAPH_SCOPES = [f"{GRAPH}/EduAssignments.ReadWrite", f"{GRAPH}/EduRoster.ReadBasic"]
TEACHER = "cccccccc-0000-4000-8000-000000000010"
FABRIKAM_TEACHER = "dddddddd-0000-4000-8000-000000000020"


def make_directory() -> Directory:
    """Two tenants; the bot is consented in Contoso only."""
    return Directory(
        tenants=[Tenant(id=CONTOSO, domain="contoso.onmicrosoft.com"), Tenant(id=FABRIKAM)],
        apps=[
            ConfidentialApp(
                app_id=APP_ID,
                client_secret=SECRET,
                delegated_permissions={GRAPH: ["EduAssignments.ReadWrite", "EduRoster.ReadBasic"]},
                application_permissions={GRAPH: ["EduRoster.Read.All"]},
                consent_withheld_in=[FABRIKAM],
            )
        ],
        users=[
            User(oid=TEACHER, tid=CONTOSO, name="Dana Teacher", preferred_username="dana@contoso.onmicrosoft.com"),
            User(oid=FABRIKAM_TEACHER, tid=FABRIKAM, name="Fay Teacher", preferred_username="fay@fabrikam.example"),
        ],
    )


@pytest.fixture(scope="session")
def rsa_keys() -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey, rsa.RSAPrivateKey]:
    """Three RSA keys (Entra, channel, foreign), generated once: key generation is the slow part."""
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
    """A fresh Entra (fresh counters) with the session's keys."""
    return Entra("https://127.0.0.1:8443", make_directory(), signing_key=rsa_keys[0], channel_signing_key=rsa_keys[1])


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> SandboxTls:
    """The sandbox CA and server certificate, made once in a temp dir."""
    return ensure_sandbox_tls(Path(tmp_path_factory.mktemp("tls")))


@pytest.fixture
async def entra_url(entra: Entra, tls: SandboxTls) -> AsyncIterator[str]:
    """The Entra served over HTTPS on an ephemeral 127.0.0.1 port; its base_url follows the bound port."""
    running = await serve(entra, ssl_context=tls.server_context())
    entra.base_url = running.url
    yield running.url
    await running.stop()
