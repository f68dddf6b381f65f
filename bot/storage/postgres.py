"""`PostgresStore`: the `Store` protocol on PostgreSQL, so several bot instances can share one database.

Every operation is one SQL statement (or one short transaction) on a pooled asyncpg connection, so the database
decides every race exactly as SQLite does for one instance: a versioned write is an `UPDATE ... WHERE version = $n`,
a claim an `INSERT ... ON CONFLICT DO UPDATE ... WHERE expired`, a nonce a `DELETE ... RETURNING`. Under READ
COMMITTED a writer that waited on another's row lock re-checks its WHERE clause against the committed row, so the
loser sees the winner's change and loses.

It fails closed: connecting, acquiring a connection and every statement are bounded by timeouts, and any database
or connection error becomes `StorageUnavailable`. The schema is migrated at start-up under an advisory lock, so
instances starting together migrate it once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar, cast
from urllib.parse import urlsplit

import asyncpg  # pyright: ignore[reportMissingTypeStubs]

from bot.graph.ids import TenantId, UserId
from bot.storage.protocol import (
    UNDO_ACTION,
    AuditEntry,
    Clock,
    Document,
    DocumentValue,
    StorageConfigError,
    StorageError,
    StorageUnavailable,
    VersionConflict,
    check_aware,
    check_expected_version,
    decode_value,
    encode_value,
    expiry,
    utc_now,
)

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

MIGRATION_LOCK = 7_201_775_310_442_118_001
"""The advisory lock key held while the schema is migrated (any constant shared by every instance)."""

# Each entry migrates the schema from version N to N+1 (entry N-1). Never edit a released entry; append a new one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE documents (
            namespace TEXT NOT NULL,
            key TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('json', 'bytes')),
            value BYTEA NOT NULL,
            version BIGINT NOT NULL CHECK (version > 0),
            expires_at TIMESTAMPTZ,
            PRIMARY KEY (namespace, key)
        )""",
        "CREATE INDEX documents_expiry ON documents (expires_at) WHERE expires_at IS NOT NULL",
        """CREATE TABLE claims (
            namespace TEXT NOT NULL,
            key TEXT NOT NULL,
            expires_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (namespace, key)
        )""",
        "CREATE INDEX claims_expiry ON claims (expires_at)",
        """CREATE TABLE audit (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            at TIMESTAMPTZ NOT NULL,
            tenant_id TEXT NOT NULL,
            teacher_id TEXT NOT NULL,
            class_id TEXT NOT NULL,
            assignment_id TEXT NOT NULL,
            submission_id TEXT NOT NULL,
            student_id TEXT NOT NULL,
            action TEXT NOT NULL,
            before JSON NOT NULL,
            after JSON NOT NULL,
            graph_request_id TEXT,
            change_id TEXT NOT NULL,
            undone_by TEXT
        )""",
        "CREATE INDEX audit_tenant ON audit (tenant_id, id)",
        "CREATE INDEX audit_teacher ON audit (tenant_id, teacher_id, id)",
        "CREATE INDEX audit_change ON audit (change_id)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)

_AUDIT_COLUMNS = (
    "id, at, tenant_id, teacher_id, class_id, assignment_id, submission_id, student_id, action, before, after, "
    "graph_request_id, change_id, undone_by"
)
_AUDIT_NAMES = tuple(name.strip() for name in _AUDIT_COLUMNS.split(","))
_LIVE = "(expires_at IS NULL OR expires_at > $3)"

Row = Mapping[str, Any]


class _Connection(Protocol):
    """The part of `asyncpg.Connection` this module uses (asyncpg ships no type information)."""

    async def fetch(self, query: str, *args: object) -> list[Row]: ...

    async def fetchrow(self, query: str, *args: object) -> Row | None: ...

    async def fetchval(self, query: str, *args: object) -> Any: ...

    async def execute(self, query: str, *args: object) -> str: ...

    def transaction(self) -> AbstractAsyncContextManager[Any]: ...


class _Pool(Protocol):
    """The part of `asyncpg.Pool` this module uses."""

    def acquire(self, *, timeout: float | None = None) -> AbstractAsyncContextManager[_Connection]: ...

    async def close(self) -> None: ...

    def terminate(self) -> None: ...


_UNAVAILABLE: tuple[type[BaseException], ...] = (
    cast(type[BaseException], asyncpg.PostgresError),
    cast(type[BaseException], asyncpg.InterfaceError),
    OSError,
    TimeoutError,
)
"""Errors that mean the database did not do what was asked: all of them become `StorageUnavailable`."""


def _describe(error: BaseException) -> str:
    """Name an error without its message (PostgreSQL messages can quote the values involved)."""
    sqlstate = cast(object, getattr(error, "sqlstate", None))
    return f"{type(error).__name__} (SQLSTATE {sqlstate})" if isinstance(sqlstate, str) else type(error).__name__


def redact(dsn: str) -> str:
    """A PostgreSQL URL with its password replaced, fit for messages and logs."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def _document(row: Row) -> Document:
    return Document(
        value=decode_value(cast(str, row["kind"]), cast(bytes, row["value"])),
        version=cast(int, row["version"]),
        expires_at=cast(datetime | None, row["expires_at"]),
    )


def _audit_entry(row: Row) -> AuditEntry:
    record = {name: row[name] for name in _AUDIT_NAMES}
    record["before"] = json.loads(cast(str, record["before"]))
    record["after"] = json.loads(cast(str, record["after"]))
    return AuditEntry.model_validate(record)


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


async def _schema_version(connection: _Connection) -> int:
    """The schema version recorded in the database (0 before the first migration); needs no CREATE right."""
    if not await connection.fetchval("SELECT to_regclass('schema_version') IS NOT NULL"):
        return 0
    return cast(int, await connection.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))


def _refuse_newer(current: int) -> None:
    if current > SCHEMA_VERSION:
        raise StorageError(f"the database has schema version {current}; this code knows up to {SCHEMA_VERSION}")


async def _migrate(connection: _Connection) -> None:
    """Bring the schema up to date, once, even when several instances start together.

    A current schema is only read (so the running instances' database user needs no CREATE right); otherwise the
    migration runs in one transaction holding an advisory lock: a second instance waits there, then finds it done.
    """
    current = await _schema_version(connection)
    _refuse_newer(current)
    if current == SCHEMA_VERSION:
        return
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            "version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        current = await _schema_version(connection)
        _refuse_newer(current)
        for version in range(current, SCHEMA_VERSION):
            for statement in MIGRATIONS[version]:
                await connection.execute(statement)
            await connection.execute("INSERT INTO schema_version (version) VALUES ($1)", version + 1)
            logger.info("storage schema migrated to version %d", version + 1)


class PostgresStore:
    """The `Store` protocol on PostgreSQL. Open it with `await PostgresStore.connect(dsn)`."""

    def __init__(
        self,
        dsn: str,
        *,
        clock: Clock = utc_now,
        connect_timeout: float = 5.0,
        command_timeout: float = 5.0,
        min_connections: int = 1,
        max_connections: int = 10,
    ) -> None:
        """Prepare a store; nothing is opened until `open()`.

        Args:
            dsn: a `postgresql://user[:password]@host[:port]/database` URL (libpq query options such as sslmode too).
            clock: returns the current time; injected by tests.
            connect_timeout: seconds to wait for a new connection (and for a free one from the pool).
            command_timeout: seconds any one operation may take; then it fails with `StorageUnavailable`.
            min_connections: connections opened at start-up and kept.
            max_connections: the most connections this instance opens.
        """
        self._dsn = dsn
        self._clock = clock
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        self._min_connections = min_connections
        self._max_connections = max_connections
        self._pool: _Pool | None = None
        self._lock = asyncio.Lock()

    @classmethod
    async def connect(
        cls,
        dsn: str,
        *,
        clock: Clock = utc_now,
        connect_timeout: float = 5.0,
        command_timeout: float = 5.0,
        min_connections: int = 1,
        max_connections: int = 10,
    ) -> PostgresStore:
        """Open a store, creating or migrating its schema.

        Args:
            dsn: a `postgresql://user[:password]@host[:port]/database` URL.
            clock: returns the current time; injected by tests.
            connect_timeout: seconds to wait for a new connection (and for a free one from the pool).
            command_timeout: seconds any one operation may take.
            min_connections: connections opened at start-up and kept.
            max_connections: the most connections this instance opens.

        Returns:
            The open store.

        Raises:
            StorageConfigError: the URL is malformed.
            StorageUnavailable: the database cannot be reached or migrated in time.
            StorageError: the database was written by a newer version of this code.
        """
        store = cls(
            dsn,
            clock=clock,
            connect_timeout=connect_timeout,
            command_timeout=command_timeout,
            min_connections=min_connections,
            max_connections=max_connections,
        )
        await store.open()
        return store

    async def open(self) -> None:
        """Open the connection pool and bring the schema up to date (idempotent).

        Raises:
            StorageConfigError: the URL is malformed.
            StorageUnavailable: the database cannot be reached or migrated in time.
            StorageError: the database was written by a newer version of this code.
        """
        async with self._lock:
            if self._pool is not None:
                return
            pool = await self._create_pool()
            try:
                async with asyncio.timeout(self._connect_timeout + self._command_timeout):
                    async with pool.acquire(timeout=self._connect_timeout) as connection:
                        await _migrate(connection)
            except _UNAVAILABLE as error:
                pool.terminate()
                raise StorageUnavailable(f"cannot migrate the PostgreSQL schema: {_describe(error)}") from error
            except BaseException:
                pool.terminate()
                raise
            self._pool = pool

    async def _create_pool(self) -> _Pool:
        try:
            async with asyncio.timeout(self._connect_timeout * 2):
                pool = await asyncpg.create_pool(  # pyright: ignore[reportUnknownMemberType]
                    self._dsn,
                    min_size=self._min_connections,
                    max_size=self._max_connections,
                    timeout=self._connect_timeout,
                    command_timeout=self._command_timeout,
                    server_settings={"application_name": "grading-assistant"},
                )
        except (asyncpg.ClientConfigurationError, ValueError) as error:
            raise StorageConfigError(f"STORAGE_URL: the PostgreSQL URL is malformed: {type(error).__name__}") from None
        except _UNAVAILABLE as error:
            raise StorageUnavailable(
                f"cannot connect to PostgreSQL at {redact(self._dsn)}: {_describe(error)}"
            ) from error
        return cast(_Pool, pool)

    async def _run(self, operation: Callable[[_Connection], Awaitable[_T]]) -> _T:
        """Run `operation` on a pooled connection within the command timeout; connection trouble fails closed."""
        pool = self._pool
        if pool is None:
            raise StorageUnavailable("the store is not open")
        try:
            async with asyncio.timeout(self._connect_timeout + self._command_timeout):
                async with pool.acquire(timeout=self._connect_timeout) as connection:
                    return await operation(connection)
        except _UNAVAILABLE as error:
            raise StorageUnavailable(f"the PostgreSQL database is unavailable: {_describe(error)}") from error

    def _now(self) -> datetime:
        return check_aware(self._clock())

    async def schema_version(self) -> int:
        """The schema version recorded in the database."""
        return await self._run(_schema_version)

    async def get(self, namespace: str, key: str) -> Document | None:
        """Read a live document (None if absent or expired)."""
        now = self._now()

        async def read(connection: _Connection) -> Document | None:
            row = await connection.fetchrow(
                f"SELECT kind, value, version, expires_at FROM documents WHERE namespace = $1 AND key = $2 AND {_LIVE}",  # noqa: S608 - constant fragment
                namespace,
                key,
                now,
            )
            return None if row is None else _document(row)

        return await self._run(read)

    async def put(
        self,
        namespace: str,
        key: str,
        value: DocumentValue,
        *,
        expected_version: int | None,
        ttl: timedelta | None = None,
    ) -> int:
        """Write a document with compare-and-set on its version; see `Store.put`."""
        check_expected_version(expected_version)
        kind, payload = encode_value(value)
        now = self._now()
        expires_at = expiry(now, ttl)

        async def write(connection: _Connection) -> int | None:
            if expected_version is None:
                return cast(
                    int | None,
                    await connection.fetchval(
                        "INSERT INTO documents (namespace, key, kind, value, version, expires_at) "
                        "VALUES ($1, $2, $3, $4, 1, $5) ON CONFLICT (namespace, key) DO UPDATE SET "
                        "kind = excluded.kind, value = excluded.value, version = documents.version + 1, "
                        "expires_at = excluded.expires_at RETURNING version",
                        namespace,
                        key,
                        kind,
                        payload,
                        expires_at,
                    ),
                )
            if expected_version == 0:
                # An expired row is replaced; its version keeps counting so a stale writer cannot match it.
                return cast(
                    int | None,
                    await connection.fetchval(
                        "INSERT INTO documents (namespace, key, kind, value, version, expires_at) "
                        "VALUES ($1, $2, $3, $4, 1, $5) ON CONFLICT (namespace, key) DO UPDATE SET "
                        "kind = excluded.kind, value = excluded.value, version = documents.version + 1, "
                        "expires_at = excluded.expires_at "
                        "WHERE documents.expires_at IS NOT NULL AND documents.expires_at <= $6 RETURNING version",
                        namespace,
                        key,
                        kind,
                        payload,
                        expires_at,
                        now,
                    ),
                )
            return cast(
                int | None,
                await connection.fetchval(
                    f"UPDATE documents SET kind = $4, value = $5, version = version + 1, expires_at = $6 "  # noqa: S608 - constant fragment
                    f"WHERE namespace = $1 AND key = $2 AND {_LIVE} AND version = $7 RETURNING version",
                    namespace,
                    key,
                    now,
                    kind,
                    payload,
                    expires_at,
                    expected_version,
                ),
            )

        version = await self._run(write)
        if version is None:
            raise VersionConflict(namespace, key, expected_version or 0)
        return version

    async def delete(self, namespace: str, key: str, *, expected_version: int | None = None) -> bool:
        """Delete a document, optionally only at the expected version; see `Store.delete`."""
        check_expected_version(expected_version)
        now = self._now()

        async def remove(connection: _Connection) -> bool | None:
            if expected_version is None:
                row = await connection.fetchrow(
                    "DELETE FROM documents WHERE namespace = $1 AND key = $2 RETURNING expires_at", namespace, key
                )
                if row is None:
                    return False
                expires_at = cast(datetime | None, row["expires_at"])
                return expires_at is None or expires_at > now
            if expected_version == 0:
                live = await connection.fetchval(
                    f"SELECT 1 FROM documents WHERE namespace = $1 AND key = $2 AND {_LIVE}",  # noqa: S608 - constant fragment
                    namespace,
                    key,
                    now,
                )
                return None if live is not None else False
            deleted = await connection.fetchval(
                f"DELETE FROM documents WHERE namespace = $1 AND key = $2 AND {_LIVE} AND version = $4 RETURNING 1",  # noqa: S608 - constant fragment
                namespace,
                key,
                now,
                expected_version,
            )
            return True if deleted is not None else None

        deleted = await self._run(remove)
        if deleted is None:
            raise VersionConflict(namespace, key, expected_version or 0)
        return deleted

    async def claim(self, namespace: str, key: str, ttl: timedelta) -> bool:
        """Claim a key for `ttl`; True only for the first caller while unexpired. See `Store.claim`."""
        now = self._now()
        expires_at = expiry(now, ttl)

        async def insert(connection: _Connection) -> bool:
            won = await connection.fetchval(
                "INSERT INTO claims (namespace, key, expires_at) VALUES ($1, $2, $3) "
                "ON CONFLICT (namespace, key) DO UPDATE SET expires_at = excluded.expires_at "
                "WHERE claims.expires_at <= $4 RETURNING 1",
                namespace,
                key,
                expires_at,
                now,
            )
            return won is not None

        return await self._run(insert)

    async def consume(self, namespace: str, key: str) -> Document | None:
        """Atomically read and delete a live document; see `Store.consume`."""
        now = self._now()

        async def take(connection: _Connection) -> Document | None:
            row = await connection.fetchrow(
                f"DELETE FROM documents WHERE namespace = $1 AND key = $2 AND {_LIVE} "  # noqa: S608 - constant fragment
                "RETURNING kind, value, version, expires_at",
                namespace,
                key,
                now,
            )
            return None if row is None else _document(row)

        return await self._run(take)

    async def append_audit(self, entry: AuditEntry) -> int:
        """Append an audit entry and return its sequence id; see `Store.append_audit`."""
        if entry.id is not None:
            raise ValueError("an audit entry to append must not carry an id")
        params = (
            entry.at,
            entry.tenant_id,
            entry.teacher_id,
            entry.class_id,
            entry.assignment_id,
            entry.submission_id,
            entry.student_id,
            entry.action,
            _json(entry.before),
            _json(entry.after),
            entry.graph_request_id,
            entry.change_id,
            entry.undone_by,
        )

        async def insert(connection: _Connection) -> int:
            return cast(
                int,
                await connection.fetchval(
                    f"INSERT INTO audit ({_AUDIT_COLUMNS.removeprefix('id, ')}) "  # noqa: S608 - constant columns
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
                    *params,
                ),
            )

        return await self._run(insert)

    async def list_audit(
        self,
        *,
        tenant_id: TenantId,
        teacher_id: UserId | None = None,
        limit: int = 50,
        before_id: int | None = None,
    ) -> list[AuditEntry]:
        """List a tenant's (or one teacher's) audit entries newest first; see `Store.list_audit`."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        params: list[object] = [tenant_id]
        conditions = ["tenant_id = $1"]
        if teacher_id is not None:
            params.append(teacher_id)
            conditions.append(f"teacher_id = ${len(params)}")
        if before_id is not None:
            params.append(before_id)
            conditions.append(f"id < ${len(params)}")
        params.append(limit)
        sql = (
            f"SELECT {_AUDIT_COLUMNS} FROM audit WHERE {' AND '.join(conditions)} "  # noqa: S608 - constant fragments
            f"ORDER BY id DESC LIMIT ${len(params)}"
        )

        async def select(connection: _Connection) -> list[AuditEntry]:
            return [_audit_entry(row) for row in await connection.fetch(sql, *params)]

        return await self._run(select)

    async def last_change(self, tenant_id: TenantId, teacher_id: UserId) -> list[AuditEntry]:
        """The entries of the teacher's latest change not yet undone; see `Store.last_change`."""

        async def select(connection: _Connection) -> list[AuditEntry]:
            rows = await connection.fetch(
                f"SELECT {_AUDIT_COLUMNS} FROM audit WHERE tenant_id = $1 AND teacher_id = $2 "  # noqa: S608 - constant columns
                "AND undone_by IS NULL AND change_id = ("
                "  SELECT change_id FROM audit WHERE tenant_id = $1 AND teacher_id = $2 "
                "  AND undone_by IS NULL AND action != $3 ORDER BY id DESC LIMIT 1"
                ") ORDER BY id",
                tenant_id,
                teacher_id,
                UNDO_ACTION,
            )
            return [_audit_entry(row) for row in rows]

        return await self._run(select)

    async def mark_undone(self, change_id: str, undo_change_id: str) -> bool:
        """Mark a change as undone; True only for the call that marked it. See `Store.mark_undone`."""

        async def update(connection: _Connection) -> bool:
            # Rows are locked in id order, so two markers never deadlock; the one that waited re-checks
            # `undone_by IS NULL` against the winner's committed rows and marks nothing.
            status = await connection.execute(
                "UPDATE audit SET undone_by = $2 WHERE id IN ("
                "  SELECT id FROM audit WHERE change_id = $1 AND undone_by IS NULL ORDER BY id FOR UPDATE"
                ")",
                change_id,
                undo_change_id,
            )
            return _row_count(status) > 0

        return await self._run(update)

    async def purge_expired(self, now: datetime | None = None) -> int:
        """Delete expired documents and claims; returns how many. See `Store.purge_expired`."""
        cutoff = self._now() if now is None else check_aware(now)

        async def purge(connection: _Connection) -> int:
            return cast(
                int,
                await connection.fetchval(
                    "WITH d AS (DELETE FROM documents WHERE expires_at IS NOT NULL AND expires_at <= $1 RETURNING 1), "
                    "c AS (DELETE FROM claims WHERE expires_at <= $1 RETURNING 1) "
                    "SELECT (SELECT count(*) FROM d) + (SELECT count(*) FROM c)",
                    cutoff,
                ),
            )

        return await self._run(purge)

    async def ping(self) -> None:
        """Raise `StorageUnavailable` unless the database answers a query."""

        async def query(connection: _Connection) -> None:
            await connection.fetchval("SELECT 1 FROM schema_version LIMIT 1")

        await self._run(query)

    async def aclose(self) -> None:
        """Close the pool (dropping connections that do not close in time); later calls raise `StorageUnavailable`."""
        async with self._lock:
            pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            async with asyncio.timeout(self._command_timeout):
                await pool.close()
        except _UNAVAILABLE:
            pool.terminate()
        except BaseException:
            pool.terminate()
            raise


def _row_count(status: str) -> int:
    """The row count of a command status such as "UPDATE 3"."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0
