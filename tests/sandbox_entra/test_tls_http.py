"""The sandbox CA/server certificate files and the real-HTTP face of a service."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest

from sandbox.core import SandboxRequest, SandboxResponse, json_response
from sandbox.entra import Entra
from sandbox.http import serve
from sandbox.tls import SandboxTls, ensure_sandbox_tls
from tests.sandbox_entra.conftest import CONTOSO


class Recorder:
    """A service that answers with what it received."""

    def __init__(self) -> None:
        self.seen: list[SandboxRequest] = []

    async def handle(self, request: SandboxRequest) -> SandboxResponse:
        self.seen.append(request)
        return json_response(201, {"path": request.path}, {"x-sandbox": "yes"})


def test_files_are_created_with_a_private_key(tmp_path: Path) -> None:
    tls = ensure_sandbox_tls(tmp_path / "tls")

    assert tls.ca_path.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert tls.cert_path.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert stat.S_IMODE(tls.key_path.stat().st_mode) == 0o600


def test_valid_files_are_reused_and_broken_ones_replaced(tmp_path: Path) -> None:
    first = ensure_sandbox_tls(tmp_path)
    ca, cert = first.ca_path.read_bytes(), first.cert_path.read_bytes()

    again = ensure_sandbox_tls(tmp_path)

    assert (again.ca_path.read_bytes(), again.cert_path.read_bytes()) == (ca, cert)

    first.cert_path.write_text("not a certificate")
    repaired = ensure_sandbox_tls(tmp_path)

    assert repaired.ca_path.read_bytes() != ca
    assert repaired.cert_path.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")


async def test_https_serve_is_trusted_through_the_client_context(tls: SandboxTls, entra: Entra) -> None:
    async with await serve(entra, ssl_context=tls.server_context()) as running:
        entra.base_url = running.url
        async with httpx.AsyncClient(verify=tls.client_context()) as client:
            response = await client.get(f"{running.url}/{CONTOSO}/v2.0/.well-known/openid-configuration")

    assert running.url.startswith("https://127.0.0.1:")
    assert response.status_code == 200
    assert response.json()["issuer"] == f"{running.url}/{CONTOSO}/v2.0"


async def test_httpx_trusts_the_ca_through_ssl_cert_file(tls: SandboxTls, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_path))
    async with await serve(Recorder(), ssl_context=tls.server_context()) as running, httpx.AsyncClient() as client:
        response = await client.get(f"{running.url}/ping")

    assert response.status_code == 201


async def test_an_untrusting_client_is_refused(tls: SandboxTls, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    async with await serve(Recorder(), ssl_context=tls.server_context()) as running, httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{running.url}/ping")


async def test_requests_reach_the_service_as_sandbox_requests() -> None:
    recorder = Recorder()
    async with await serve(recorder) as running, httpx.AsyncClient() as client:
        response = await client.post(
            f"{running.url}/v1.0/education/classes/abc?$top=5&$filter=x%20eq%201",
            content=b'{"a": 1}',
            headers={"X-Custom-Header": "Value", "Content-Type": "application/json"},
        )

    assert response.status_code == 201
    assert response.headers["x-sandbox"] == "yes"
    assert response.json() == {"path": "/v1.0/education/classes/abc"}
    seen = recorder.seen[0]
    assert (seen.method, seen.path, seen.body) == ("POST", "/v1.0/education/classes/abc", b'{"a": 1}')
    assert dict(seen.query) == {"$top": "5", "$filter": "x eq 1"}
    assert seen.header("X-Custom-Header") == "Value"
    assert seen.headers["content-type"] == "application/json"
    assert seen.base_url == running.url


async def test_serve_binds_only_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        await serve(Recorder(), host="0.0.0.0")  # noqa: S104
