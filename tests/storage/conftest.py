"""Storage fixtures: the session's PostgreSQL server (see `tests.pg`) and a fresh database per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.pg import CLUSTER, PostgresServer, create_isolated, drop_isolated


@pytest.fixture(scope="session")
def postgres_server() -> PostgresServer:
    """The session's PostgreSQL server (skipped, or failed under CI, when PostgreSQL is not installed)."""
    return CLUSTER.shared()


@pytest.fixture
async def postgres_url(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """A URL of its own: an empty schema on the session server, dropped after the test."""
    url = await create_isolated(postgres_server)
    yield url
    await drop_isolated(postgres_server, url)
