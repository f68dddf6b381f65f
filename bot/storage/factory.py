"""Open the `Store` a storage URL names (the `STORAGE_URL` setting)."""

from __future__ import annotations

from pathlib import Path

from bot.storage.memory import MemoryStore
from bot.storage.postgres import PostgresStore
from bot.storage.protocol import Clock, StorageConfigError, Store, utc_now
from bot.storage.sqlite import MEMORY, SqliteStore

_SQLITE = "sqlite://"
_POSTGRES = ("postgresql://", "postgres://")


def sqlite_path(storage_url: str) -> Path | str:
    """The file a `sqlite://` URL names.

    `sqlite:///data/assistant.db` is relative to the working directory, `sqlite:////var/lib/bot.db` is absolute,
    and `sqlite://:memory:` (or `sqlite:///:memory:`) is a private in-memory database.

    Args:
        storage_url: a URL starting with `sqlite://`.

    Returns:
        The database path, or ":memory:".

    Raises:
        StorageConfigError: the URL names no file, or carries a host, query or fragment.
    """
    rest = storage_url.removeprefix(_SQLITE)
    if rest in (MEMORY, "/" + MEMORY):
        return MEMORY
    if "?" in rest or "#" in rest:
        raise StorageConfigError("STORAGE_URL: a sqlite URL takes no query or fragment")
    if not rest.startswith("/"):
        raise StorageConfigError(
            "STORAGE_URL: use sqlite:///relative/path.db, sqlite:////absolute/path.db or sqlite://:memory:"
        )
    path = rest.removeprefix("/")
    if not path or path.endswith("/"):
        raise StorageConfigError("STORAGE_URL: the sqlite URL names no database file")
    return Path(path)


async def open_store(storage_url: str, *, clock: Clock = utc_now) -> Store:
    """Open (and migrate) the store a storage URL names.

    Args:
        storage_url: `sqlite:///relative/path.db`, `sqlite:////absolute/path.db`, `sqlite://:memory:`, `memory://`,
            or `postgresql://user[:password]@host[:port]/database` (also `postgres://`) for several instances.
        clock: returns the current time; injected by tests.

    Returns:
        An open store; close it with `aclose()`.

    Raises:
        StorageConfigError: the URL is malformed or names a backend this build does not have.
        StorageUnavailable: the database cannot be opened (or, for PostgreSQL, reached in time).
    """
    if storage_url.startswith(_SQLITE):
        return await SqliteStore.connect(sqlite_path(storage_url), clock=clock)
    if storage_url == "memory://":
        return MemoryStore(clock=clock)
    if storage_url.startswith(_POSTGRES):
        return await PostgresStore.connect(storage_url, clock=clock)
    scheme = storage_url.split(":", 1)[0] if ":" in storage_url else storage_url
    raise StorageConfigError(
        f"STORAGE_URL: unknown storage scheme {scheme!r}; use sqlite:///path.db, postgresql://... or memory://"
    )
