"""`open_store`: each storage URL opens the store it names, or says clearly why it cannot."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.storage import MemoryStore, SqliteStore, StorageConfigError, StorageUnavailable, open_store
from bot.storage.factory import sqlite_path
from bot.storage.postgres import PostgresStore
from tests.pg import free_port


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///data/assistant.db", Path("data/assistant.db")),
        ("sqlite:////var/lib/bot/assistant.db", Path("/var/lib/bot/assistant.db")),
        ("sqlite://:memory:", ":memory:"),
        ("sqlite:///:memory:", ":memory:"),
    ],
)
def test_sqlite_urls_name_their_file(url: str, expected: Path | str) -> None:
    assert sqlite_path(url) == expected


@pytest.mark.parametrize(
    "url", ["sqlite://", "sqlite:///", "sqlite://host/db", "sqlite:///db?mode=ro", "sqlite:///dir/"]
)
def test_malformed_sqlite_urls_are_refused(url: str) -> None:
    with pytest.raises(StorageConfigError, match="STORAGE_URL"):
        sqlite_path(url)


async def test_relative_sqlite_url_opens_a_file_under_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    store = await open_store("sqlite:///data/assistant.db")
    try:
        claimed = await store.claim("activity", "act-1", timedelta(hours=1))
    finally:
        await store.aclose()

    assert isinstance(store, SqliteStore)
    assert claimed is True
    assert (tmp_path / "data" / "assistant.db").is_file()


async def test_absolute_sqlite_url_opens_that_file(tmp_path: Path) -> None:
    path = tmp_path / "abs" / "assistant.db"

    store = await open_store(f"sqlite:///{path}")
    await store.aclose()

    assert path.is_absolute()
    assert path.is_file()


async def test_memory_urls_open_a_working_store() -> None:
    for url, kind in (("memory://", MemoryStore), ("sqlite://:memory:", SqliteStore)):
        store = await open_store(url)
        try:
            await store.ping()
            claimed = await store.claim("activity", "act-1", timedelta(hours=1))
        finally:
            await store.aclose()
        assert isinstance(store, kind)
        assert claimed is True


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
async def test_postgresql_urls_open_a_postgres_store(postgres_url: str, scheme: str) -> None:
    url = postgres_url.replace("postgresql://", f"{scheme}://", 1)

    store = await open_store(url)
    try:
        claimed = await store.claim("activity", "act-1", timedelta(hours=1))
    finally:
        await store.aclose()

    assert isinstance(store, PostgresStore)
    assert claimed is True


async def test_unreachable_postgresql_is_unavailable_and_its_password_stays_out_of_the_message() -> None:
    with pytest.raises(StorageUnavailable) as raised:
        await open_store(f"postgresql://bot:s3cret-pw@127.0.0.1:{free_port()}/assistant")

    assert "s3cret-pw" not in str(raised.value)
    assert "127.0.0.1" in str(raised.value)


async def test_malformed_postgresql_url_is_a_configuration_error() -> None:
    with pytest.raises(StorageConfigError, match="STORAGE_URL") as raised:
        await open_store("postgresql://bot:s3cret-pw@127.0.0.1:notaport/assistant")

    assert "s3cret-pw" not in str(raised.value)


async def test_unknown_scheme_is_refused() -> None:
    with pytest.raises(StorageConfigError, match="redis"):
        await open_store("redis://127.0.0.1:6379")
