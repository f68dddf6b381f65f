"""The sandbox world every end-to-end test runs against: the sandbox services and the bot on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sandbox.run import World, start_world


@pytest.fixture
async def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    """A fresh world (one tenant, memory storage), stopped after the test."""
    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)  # restored after the test; start_world sets its own
    started = await start_world(tls_directory=tmp_path / "tls")
    try:
        yield started
    finally:
        await started.stop()
