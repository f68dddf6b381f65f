"""`SqliteStore`: the `Store` protocol on one SQLite file (the default for a single bot instance).

The standard `sqlite3` module is blocking, so every call runs on the store's own worker thread, which owns the one
connection: callers queue operations, the thread runs whatever is queued back to back and hands the answers to the
event loop in one wake-up per batch. (Under 64 concurrent turns a `to_thread` hop per operation, each behind an
asyncio lock, cost more event-loop time than the statements themselves.)

The database runs in WAL mode so readers never wait for the writer, and each operation is a single statement or an
immediate transaction, so several stores (or processes) on the same file stay consistent: the database, not the last
writer, decides every race.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

from bot.graph.ids import TenantId, UserId
from bot.storage.protocol import (
    UNDO_ACTION,
    AuditEntry,
    Clock,
    Document,
    DocumentValue,
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

MEMORY = ":memory:"

# Each entry migrates the schema from version N to N+1 (entry N-1). Never edit a released entry; append a new one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE documents (
            namespace TEXT NOT NULL,
            key TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('json', 'bytes')),
            value BLOB NOT NULL,
            version INTEGER NOT NULL CHECK (version > 0),
            expires_at INTEGER,
            PRIMARY KEY (namespace, key)
        ) WITHOUT ROWID""",
        "CREATE INDEX documents_expiry ON documents (expires_at) WHERE expires_at IS NOT NULL",
        """CREATE TABLE claims (
            namespace TEXT NOT NULL,
            key TEXT NOT NULL,
            expires_at INTEGER NOT NULL,
            PRIMARY KEY (namespace, key)
        ) WITHOUT ROWID""",
        "CREATE INDEX claims_expiry ON claims (expires_at)",
        """CREATE TABLE audit (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at INTEGER NOT NULL,
            tenant_id TEXT NOT NULL,
            teacher_id TEXT NOT NULL,
            class_id TEXT NOT NULL,
            assignment_id TEXT NOT NULL,
            submission_id TEXT NOT NULL,
            student_id TEXT NOT NULL,
            action TEXT NOT NULL,
            before TEXT NOT NULL,
            after TEXT NOT NULL,
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


def _micros(moment: datetime) -> int:
    """A timezone-aware datetime as whole microseconds since the Unix epoch (how times are stored)."""
    delta = check_aware(moment) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _from_micros(micros: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)


def _optional_micros(moment: datetime | None) -> int | None:
    return None if moment is None else _micros(moment)


def _document(row: Sequence[Any]) -> Document:
    kind, payload, version, expires_at = row
    return Document(
        value=decode_value(cast(str, kind), cast(bytes, payload)),
        version=cast(int, version),
        expires_at=None if expires_at is None else _from_micros(cast(int, expires_at)),
    )


def _audit_entry(row: Sequence[Any]) -> AuditEntry:
    record = dict(zip(_AUDIT_NAMES, row, strict=True))
    record["at"] = _from_micros(cast(int, record["at"]))
    record["before"] = json.loads(cast(str, record["before"]))
    record["after"] = json.loads(cast(str, record["after"]))
    return AuditEntry.model_validate(record)


def _schema_version(connection: sqlite3.Connection) -> int:
    connection.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = cast(tuple[int | None] | None, connection.execute("SELECT MAX(version) FROM schema_version").fetchone())
    return row[0] if row is not None and row[0] is not None else 0


class _Worker:
    """One thread that runs queued blocking calls in order and answers each batch with one event-loop wake-up."""

    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def run(self, call: Callable[[], _T]) -> asyncio.Future[_T]:
        """Queue `call`; the future gets its result or exception. A caller that stops waiting does not stop it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_T] = loop.create_future()
        self._queue.put(_Job(loop, future, call))
        return future

    def stop(self) -> None:
        """Let the thread end once the calls queued before this one have run."""
        self._queue.put(None)

    def _serve(self) -> None:
        while True:
            job = self._queue.get()
            batch: list[_Job] = []
            while job is not None:
                job.answer = _outcome(job.call)
                batch.append(job)
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
            _deliver(batch)
            if job is None:
                return


@dataclass
class _Job:
    """A queued call, the future awaiting it, and (once run) its result or exception."""

    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    call: Callable[[], Any]
    answer: tuple[bool, Any] = (False, None)


def _outcome(call: Callable[[], Any]) -> tuple[bool, Any]:
    try:
        return True, call()
    except BaseException as error:  # noqa: BLE001 - handed to the awaiting caller
        return False, error


def _deliver(batch: list[_Job]) -> None:
    """Hand each job's answer to its loop: one `call_soon_threadsafe` per loop for the whole batch."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
    for job in batch:
        by_loop.setdefault(job.loop, []).append(job)
    for loop, jobs in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, jobs)
        except RuntimeError:  # that loop is closed: nobody is waiting any more
            continue


def _settle(jobs: list[_Job]) -> None:
    for job in jobs:
        if job.future.done():  # the caller was cancelled
            continue
        ok, value = job.answer
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)


class SqliteStore:
    """The `Store` protocol on a SQLite file (or `:memory:`). Open it with `await SqliteStore.connect(path)`."""

    def __init__(self, path: Path | str, *, clock: Clock = utc_now, busy_timeout: float = 5.0) -> None:
        """Prepare a store; nothing is opened until `open()`.

        Args:
            path: the database file (its parent directory is created), or ":memory:".
            clock: returns the current time; injected by tests.
            busy_timeout: seconds to wait for another connection's write lock before giving up.
        """
        self._path = path if str(path) == MEMORY else Path(path)
        self._clock = clock
        self._busy_timeout = busy_timeout
        self._connection: sqlite3.Connection | None = None
        self._worker: _Worker | None = None
        self._lock = asyncio.Lock()
        """Serialises open and close (operations queue on the worker)."""

    @classmethod
    async def connect(cls, path: Path | str, *, clock: Clock = utc_now, busy_timeout: float = 5.0) -> SqliteStore:
        """Open a store, creating or migrating its schema.

        Args:
            path: the database file (its parent directory is created), or ":memory:".
            clock: returns the current time; injected by tests.
            busy_timeout: seconds to wait for another connection's write lock before giving up.

        Returns:
            The open store.

        Raises:
            StorageUnavailable: the file cannot be opened or migrated.
            StorageError: the database was written by a newer version of this code.
        """
        store = cls(path, clock=clock, busy_timeout=busy_timeout)
        await store.open()
        return store

    @property
    def path(self) -> Path | str:
        """The database file, or ":memory:"."""
        return self._path

    async def open(self) -> None:
        """Open the connection and bring the schema up to date (idempotent).

        Raises:
            StorageUnavailable: the file cannot be opened or migrated.
            StorageError: the database was written by a newer version of this code.
        """
        async with self._lock:
            if self._connection is not None:
                return
            worker = _Worker(f"sqlite-store-{Path(str(self._path)).name}")
            try:
                self._connection = await worker.run(self._open_blocking)
                self._worker = worker
            except sqlite3.Error as error:
                worker.stop()
                raise StorageUnavailable(f"cannot open the SQLite database: {error}") from error
            except OSError as error:
                worker.stop()
                raise StorageUnavailable(f"cannot create the SQLite database's directory: {error}") from error
            except BaseException:
                worker.stop()
                raise

    def _open_blocking(self) -> sqlite3.Connection:
        if isinstance(self._path, Path):
            self._path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(
            self._path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            self._enable_wal(connection)
            connection.execute("PRAGMA synchronous=NORMAL")
            self._migrate(connection)
        except BaseException:
            connection.close()
            raise
        return connection

    def _enable_wal(self, connection: sqlite3.Connection) -> None:
        """Switch to WAL. SQLite answers "database is locked" at once (no busy handler) when another connection is
        opening or migrating the same file at that moment, so retry within the busy timeout (this runs in a thread)."""
        deadline = time.monotonic() + self._busy_timeout
        while True:
            try:
                connection.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.02)

    @staticmethod
    def _migrate(connection: sqlite3.Connection) -> None:
        if _schema_version(connection) == SCHEMA_VERSION:
            return
        connection.execute("BEGIN IMMEDIATE")
        try:
            current = _schema_version(connection)
            if current > SCHEMA_VERSION:
                raise StorageError(f"the database has schema version {current}; this code knows up to {SCHEMA_VERSION}")
            for version in range(current, SCHEMA_VERSION):
                for statement in MIGRATIONS[version]:
                    connection.execute(statement)
                connection.execute("INSERT INTO schema_version (version) VALUES (?)", (version + 1,))
                logger.info("storage schema migrated to version %d", version + 1)
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise

    async def schema_version(self) -> int:
        """The schema version recorded in the database."""
        return await self._run(_schema_version)

    async def _run(self, operation: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run `operation` on the connection in the store's worker thread, after the operations queued before it."""
        connection = self._connection
        if connection is None or self._worker is None:
            raise StorageUnavailable("the store is not open")
        try:
            return await self._worker.run(lambda: operation(connection))
        except sqlite3.OperationalError as error:
            raise StorageUnavailable(f"the SQLite database is unavailable: {error}") from error
        except sqlite3.DatabaseError as error:
            raise StorageUnavailable(f"the SQLite database failed: {error}") from error

    def _now(self) -> datetime:
        return check_aware(self._clock())

    async def get(self, namespace: str, key: str) -> Document | None:
        """Read a live document (None if absent or expired)."""
        now = _micros(self._now())

        def read(connection: sqlite3.Connection) -> Document | None:
            row = cast(
                Sequence[Any] | None,
                connection.execute(
                    "SELECT kind, value, version, expires_at FROM documents "
                    "WHERE namespace = ? AND key = ? AND (expires_at IS NULL OR expires_at > ?)",
                    (namespace, key, now),
                ).fetchone(),
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
        expires_at = _optional_micros(expiry(now, ttl))
        now_micros = _micros(now)

        def write(connection: sqlite3.Connection) -> int | None:
            if expected_version is None:
                sql = (
                    "INSERT INTO documents (namespace, key, kind, value, version, expires_at) "
                    "VALUES (?, ?, ?, ?, 1, ?) ON CONFLICT (namespace, key) DO UPDATE SET "
                    "kind = excluded.kind, value = excluded.value, version = documents.version + 1, "
                    "expires_at = excluded.expires_at RETURNING version"
                )
                params: tuple[Any, ...] = (namespace, key, kind, payload, expires_at)
            elif expected_version == 0:
                # An expired row is replaced; its version keeps counting so a stale writer cannot match it.
                sql = (
                    "INSERT INTO documents (namespace, key, kind, value, version, expires_at) "
                    "VALUES (?, ?, ?, ?, 1, ?) ON CONFLICT (namespace, key) DO UPDATE SET "
                    "kind = excluded.kind, value = excluded.value, version = documents.version + 1, "
                    "expires_at = excluded.expires_at "
                    "WHERE documents.expires_at IS NOT NULL AND documents.expires_at <= ? RETURNING version"
                )
                params = (namespace, key, kind, payload, expires_at, now_micros)
            else:
                sql = (
                    "UPDATE documents SET kind = ?, value = ?, version = version + 1, expires_at = ? "
                    "WHERE namespace = ? AND key = ? AND version = ? AND (expires_at IS NULL OR expires_at > ?) "
                    "RETURNING version"
                )
                params = (kind, payload, expires_at, namespace, key, expected_version, now_micros)
            rows = cast(list[tuple[int]], connection.execute(sql, params).fetchall())
            return rows[0][0] if rows else None

        version = await self._run(write)
        if version is None:
            raise VersionConflict(namespace, key, expected_version or 0)
        return version

    async def delete(self, namespace: str, key: str, *, expected_version: int | None = None) -> bool:
        """Delete a document, optionally only at the expected version; see `Store.delete`."""
        check_expected_version(expected_version)
        now = _micros(self._now())

        def remove(connection: sqlite3.Connection) -> bool | None:
            if expected_version is None:
                rows = cast(
                    list[tuple[int | None]],
                    connection.execute(
                        "DELETE FROM documents WHERE namespace = ? AND key = ? RETURNING expires_at", (namespace, key)
                    ).fetchall(),
                )
                return bool(rows) and (rows[0][0] is None or rows[0][0] > now)
            if expected_version == 0:
                live = connection.execute(
                    "SELECT 1 FROM documents WHERE namespace = ? AND key = ? "
                    "AND (expires_at IS NULL OR expires_at > ?)",
                    (namespace, key, now),
                ).fetchone()
                return None if live is not None else False
            cursor = connection.execute(
                "DELETE FROM documents WHERE namespace = ? AND key = ? AND version = ? "
                "AND (expires_at IS NULL OR expires_at > ?)",
                (namespace, key, expected_version, now),
            )
            return True if cursor.rowcount == 1 else None

        deleted = await self._run(remove)
        if deleted is None:
            raise VersionConflict(namespace, key, expected_version or 0)
        return deleted

    async def claim(self, namespace: str, key: str, ttl: timedelta) -> bool:
        """Claim a key for `ttl`; True only for the first caller while unexpired. See `Store.claim`."""
        now = self._now()
        expires_at = _optional_micros(expiry(now, ttl))
        now_micros = _micros(now)

        def insert(connection: sqlite3.Connection) -> bool:
            rows = connection.execute(
                "INSERT INTO claims (namespace, key, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (namespace, key) DO UPDATE SET expires_at = excluded.expires_at "
                "WHERE claims.expires_at <= ? RETURNING 1",
                (namespace, key, expires_at, now_micros),
            ).fetchall()
            return bool(rows)

        return await self._run(insert)

    async def consume(self, namespace: str, key: str) -> Document | None:
        """Atomically read and delete a live document; see `Store.consume`."""
        now = _micros(self._now())

        def take(connection: sqlite3.Connection) -> Document | None:
            rows = cast(
                list[Sequence[Any]],
                connection.execute(
                    "DELETE FROM documents WHERE namespace = ? AND key = ? "
                    "AND (expires_at IS NULL OR expires_at > ?) RETURNING kind, value, version, expires_at",
                    (namespace, key, now),
                ).fetchall(),
            )
            return _document(rows[0]) if rows else None

        return await self._run(take)

    async def append_audit(self, entry: AuditEntry) -> int:
        """Append an audit entry and return its sequence id; see `Store.append_audit`."""
        if entry.id is not None:
            raise ValueError("an audit entry to append must not carry an id")
        params = (
            _micros(entry.at),
            entry.tenant_id,
            entry.teacher_id,
            entry.class_id,
            entry.assignment_id,
            entry.submission_id,
            entry.student_id,
            entry.action,
            json.dumps(entry.before, separators=(",", ":"), ensure_ascii=False),
            json.dumps(entry.after, separators=(",", ":"), ensure_ascii=False),
            entry.graph_request_id,
            entry.change_id,
            entry.undone_by,
        )

        def insert(connection: sqlite3.Connection) -> int:
            rows = cast(
                list[tuple[int]],
                connection.execute(
                    f"INSERT INTO audit ({_AUDIT_COLUMNS.removeprefix('id, ')}) "  # noqa: S608 - constant columns
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    params,
                ).fetchall(),
            )
            return rows[0][0]

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
        conditions = ["tenant_id = ?"]
        params: list[Any] = [tenant_id]
        if teacher_id is not None:
            conditions.append("teacher_id = ?")
            params.append(teacher_id)
        if before_id is not None:
            conditions.append("id < ?")
            params.append(before_id)
        params.append(limit)
        sql = f"SELECT {_AUDIT_COLUMNS} FROM audit WHERE {' AND '.join(conditions)} ORDER BY id DESC LIMIT ?"  # noqa: S608 - constant fragments

        def select(connection: sqlite3.Connection) -> list[AuditEntry]:
            rows = cast(list[Sequence[Any]], connection.execute(sql, params).fetchall())
            return [_audit_entry(row) for row in rows]

        return await self._run(select)

    async def last_change(self, tenant_id: TenantId, teacher_id: UserId) -> list[AuditEntry]:
        """The entries of the teacher's latest change not yet undone; see `Store.last_change`."""

        def select(connection: sqlite3.Connection) -> list[AuditEntry]:
            rows = cast(
                list[Sequence[Any]],
                connection.execute(
                    f"SELECT {_AUDIT_COLUMNS} FROM audit WHERE tenant_id = ? AND teacher_id = ? "  # noqa: S608 - constant columns
                    "AND undone_by IS NULL AND change_id = ("
                    "  SELECT change_id FROM audit WHERE tenant_id = ? AND teacher_id = ? "
                    "  AND undone_by IS NULL AND action != ? ORDER BY id DESC LIMIT 1"
                    ") ORDER BY id",
                    (tenant_id, teacher_id, tenant_id, teacher_id, UNDO_ACTION),
                ).fetchall(),
            )
            return [_audit_entry(row) for row in rows]

        return await self._run(select)

    async def mark_undone(self, change_id: str, undo_change_id: str) -> bool:
        """Mark a change as undone; True only for the call that marked it. See `Store.mark_undone`."""

        def update(connection: sqlite3.Connection) -> bool:
            cursor = connection.execute(
                "UPDATE audit SET undone_by = ? WHERE change_id = ? AND undone_by IS NULL", (undo_change_id, change_id)
            )
            return cursor.rowcount > 0

        return await self._run(update)

    async def purge_expired(self, now: datetime | None = None) -> int:
        """Delete expired documents and claims; returns how many. See `Store.purge_expired`."""
        cutoff = _micros(self._now() if now is None else now)

        def purge(connection: sqlite3.Connection) -> int:
            connection.execute("BEGIN IMMEDIATE")
            try:
                documents = connection.execute(
                    "DELETE FROM documents WHERE expires_at IS NOT NULL AND expires_at <= ?", (cutoff,)
                ).rowcount
                claims = connection.execute("DELETE FROM claims WHERE expires_at <= ?", (cutoff,)).rowcount
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
            return documents + claims

        return await self._run(purge)

    async def ping(self) -> None:
        """Raise `StorageUnavailable` unless the database answers a query."""

        def query(connection: sqlite3.Connection) -> None:
            connection.execute("SELECT 1 FROM schema_version LIMIT 1").fetchall()

        await self._run(query)

    async def aclose(self) -> None:
        """Close the connection (after the operations already queued); later calls raise `StorageUnavailable`."""
        async with self._lock:
            connection, self._connection = self._connection, None
            worker, self._worker = self._worker, None
            if connection is not None and worker is not None:
                try:
                    await worker.run(connection.close)
                finally:
                    worker.stop()
