"""`MemoryStore`: the `Store` protocol in dicts, for fast tests and `memory://`. Nothing survives the process."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.graph.ids import TenantId, UserId
from bot.storage.protocol import (
    UNDO_ACTION,
    AuditEntry,
    Clock,
    Document,
    DocumentValue,
    StorageUnavailable,
    ValueKind,
    VersionConflict,
    check_aware,
    check_expected_version,
    decode_value,
    encode_value,
    expiry,
    utc_now,
)


@dataclass(frozen=True, slots=True)
class _Row:
    kind: ValueKind
    payload: bytes
    version: int
    expires_at: datetime | None

    def live(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now

    def document(self) -> Document:
        return Document(value=decode_value(self.kind, self.payload), version=self.version, expires_at=self.expires_at)


class MemoryStore:
    """The `Store` protocol in memory, with the same semantics as `SqliteStore` (values are copied in and out)."""

    def __init__(self, *, clock: Clock = utc_now) -> None:
        """Create an empty store.

        Args:
            clock: returns the current time; injected by tests.
        """
        self._clock = clock
        self._lock = asyncio.Lock()
        self._documents: dict[tuple[str, str], _Row] = {}
        self._claims: dict[tuple[str, str], datetime] = {}
        self._audit: list[AuditEntry] = []
        self._closed = False

    def _now(self) -> datetime:
        if self._closed:
            raise StorageUnavailable("the store is closed")
        return check_aware(self._clock())

    async def get(self, namespace: str, key: str) -> Document | None:
        """Read a live document (None if absent or expired)."""
        async with self._lock:
            now = self._now()
            row = self._documents.get((namespace, key))
            return row.document() if row is not None and row.live(now) else None

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
        async with self._lock:
            now = self._now()
            expires_at = expiry(now, ttl)
            row = self._documents.get((namespace, key))
            live = row is not None and row.live(now)
            if expected_version is not None:
                current = row.version if row is not None and live else 0
                if current != expected_version:
                    raise VersionConflict(namespace, key, expected_version)
            version = 1 if row is None else row.version + 1
            self._documents[namespace, key] = _Row(kind, payload, version, expires_at)
            return version

    async def delete(self, namespace: str, key: str, *, expected_version: int | None = None) -> bool:
        """Delete a document, optionally only at the expected version; see `Store.delete`."""
        check_expected_version(expected_version)
        async with self._lock:
            now = self._now()
            row = self._documents.get((namespace, key))
            live = row is not None and row.live(now)
            if expected_version is not None:
                current = row.version if row is not None and live else 0
                if current != expected_version:
                    raise VersionConflict(namespace, key, expected_version)
            if expected_version == 0:
                return False
            self._documents.pop((namespace, key), None)
            return live

    async def claim(self, namespace: str, key: str, ttl: timedelta) -> bool:
        """Claim a key for `ttl`; True only for the first caller while unexpired. See `Store.claim`."""
        async with self._lock:
            now = self._now()
            expires_at = expiry(now, ttl)
            assert expires_at is not None
            held = self._claims.get((namespace, key))
            if held is not None and held > now:
                return False
            self._claims[namespace, key] = expires_at
            return True

    async def consume(self, namespace: str, key: str) -> Document | None:
        """Atomically read and delete a live document; see `Store.consume`."""
        async with self._lock:
            now = self._now()
            row = self._documents.get((namespace, key))
            if row is None or not row.live(now):
                return None
            del self._documents[namespace, key]
            return row.document()

    async def append_audit(self, entry: AuditEntry) -> int:
        """Append an audit entry and return its sequence id; see `Store.append_audit`."""
        if entry.id is not None:
            raise ValueError("an audit entry to append must not carry an id")
        async with self._lock:
            self._now()
            entry_id = len(self._audit) + 1
            self._audit.append(_copy(entry, entry_id=entry_id))
            return entry_id

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
        async with self._lock:
            self._now()
            found: list[AuditEntry] = []
            for entry in reversed(self._audit):
                if len(found) == limit:
                    break
                if entry.tenant_id != tenant_id or (teacher_id is not None and entry.teacher_id != teacher_id):
                    continue
                if before_id is not None and (entry.id or 0) >= before_id:
                    continue
                found.append(_copy(entry))
            return found

    async def last_change(self, tenant_id: TenantId, teacher_id: UserId) -> list[AuditEntry]:
        """The entries of the teacher's latest change not yet undone; see `Store.last_change`."""
        async with self._lock:
            self._now()
            mine = [
                entry
                for entry in self._audit
                if entry.tenant_id == tenant_id and entry.teacher_id == teacher_id and entry.undone_by is None
            ]
            undoable = [entry for entry in mine if entry.action != UNDO_ACTION]
            if not undoable:
                return []
            change_id = undoable[-1].change_id
            return [_copy(entry) for entry in mine if entry.change_id == change_id]

    async def mark_undone(self, change_id: str, undo_change_id: str) -> bool:
        """Mark a change as undone; True only for the call that marked it. See `Store.mark_undone`."""
        async with self._lock:
            self._now()
            marked = False
            for index, entry in enumerate(self._audit):
                if entry.change_id == change_id and entry.undone_by is None:
                    self._audit[index] = _copy(entry, undone_by=undo_change_id)
                    marked = True
            return marked

    async def purge_expired(self, now: datetime | None = None) -> int:
        """Delete expired documents and claims; returns how many. See `Store.purge_expired`."""
        async with self._lock:
            cutoff = self._now() if now is None else check_aware(now)
            documents = [name for name, row in self._documents.items() if not row.live(cutoff)]
            claims = [name for name, expires_at in self._claims.items() if expires_at <= cutoff]
            for name in documents:
                del self._documents[name]
            for name in claims:
                del self._claims[name]
            return len(documents) + len(claims)

    async def ping(self) -> None:
        """Raise `StorageUnavailable` once the store is closed."""
        if self._closed:
            raise StorageUnavailable("the store is closed")

    async def aclose(self) -> None:
        """Close the store; later calls raise `StorageUnavailable`."""
        self._closed = True


def _copy(entry: AuditEntry, *, entry_id: int | None = None, undone_by: str | None = None) -> AuditEntry:
    """A deep copy, so callers can never change what the store holds."""
    update: dict[str, object] = {}
    if entry_id is not None:
        update["id"] = entry_id
    if undone_by is not None:
        update["undone_by"] = undone_by
    return entry.model_copy(update=update, deep=True)
