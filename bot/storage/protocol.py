"""The `Store` protocol: versioned documents, claims, single-use nonces and the audit log, with their types and errors.

Every race that matters is decided by the database: a document write names the version it read
(`expected_version`) and loses with `VersionConflict` if another writer got there first; a claim is an atomic
insert-if-absent; a nonce is an atomic read-and-delete. Expired documents and claims read as absent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol, TypeAlias, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.graph.ids import AssignmentId, ClassId, SubmissionId, TenantId, UserId

DocumentValue: TypeAlias = dict[str, Any] | bytes
"""A document holds either a JSON object (stored as JSON) or opaque bytes (for encrypted blobs such as token caches)."""

Clock: TypeAlias = Callable[[], datetime]
"""Returns the current time, timezone-aware. Injected so tests can move time."""

UNDO_ACTION = "undo"
"""The audit action of entries written by an undo; `last_change` never returns such a change."""


def utc_now() -> datetime:
    """The real clock: the current time in UTC."""
    return datetime.now(UTC)


# The rules below are shared by every implementation so they behave alike.

ValueKind: TypeAlias = Literal["json", "bytes"]


def encode_value(value: DocumentValue) -> tuple[ValueKind, bytes]:
    """Serialise a document value: a dict as compact UTF-8 JSON, bytes as they are.

    Raises:
        TypeError: the value is neither bytes nor a JSON-serialisable dict.
    """
    if isinstance(value, bytes | bytearray | memoryview):
        return "bytes", bytes(value)
    if not isinstance(value, dict):  # pyright: ignore[reportUnnecessaryIsInstance] - callers may be untyped
        raise TypeError(f"a document value must be a dict or bytes, not {type(value).__name__}")
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError as error:
        raise TypeError(f"a document value must be JSON-serialisable: {error}") from None
    return "json", text.encode()


def decode_value(kind: str, payload: bytes) -> DocumentValue:
    """Rebuild a document value serialised by `encode_value`."""
    if kind == "bytes":
        return bytes(payload)
    return cast(dict[str, Any], json.loads(payload))


def expiry(now: datetime, ttl: timedelta | None) -> datetime | None:
    """When something written at `now` with `ttl` expires (None: never).

    Raises:
        ValueError: `ttl` is not positive.
    """
    if ttl is None:
        return None
    if ttl <= timedelta(0):
        raise ValueError("ttl must be positive")
    return now + ttl


def check_expected_version(expected_version: int | None) -> None:
    """Refuse a negative expected version.

    Raises:
        ValueError: it is negative.
    """
    if expected_version is not None and expected_version < 0:
        raise ValueError("expected_version must be 0 (must not exist), a version, or None")


def check_aware(moment: datetime) -> datetime:
    """Return `moment` in UTC.

    Raises:
        ValueError: it has no timezone (a clock must return aware datetimes).
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("datetimes must be timezone-aware")
    return moment.astimezone(UTC)


class StorageError(Exception):
    """Base of every error the storage layer raises."""


class VersionConflict(StorageError):
    """A write named a version that is no longer (or not yet) the current one; re-read and retry or give up."""

    def __init__(self, namespace: str, key: str, expected_version: int) -> None:
        super().__init__(f"version conflict on {namespace}/{key}: expected version {expected_version}")
        self.namespace = namespace
        self.key = key
        self.expected_version = expected_version


class StorageUnavailable(StorageError):
    """The database cannot be reached (closed, locked too long, disk error); callers refuse writes."""


class StorageConfigError(StorageError):
    """The storage URL names something this build cannot open."""


@dataclass(frozen=True, slots=True)
class Document:
    """A stored document: its value, its version (1 for the first write, +1 per write) and when it expires."""

    value: DocumentValue
    version: int
    expires_at: datetime | None


class AuditEntry(BaseModel):
    """One student record change made on a teacher's behalf. `before`/`after` hold outcome values: never log them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int | None = None
    at: datetime
    tenant_id: TenantId
    teacher_id: UserId
    class_id: ClassId
    assignment_id: AssignmentId
    submission_id: SubmissionId
    student_id: UserId
    action: str = Field(min_length=1)
    before: dict[str, Any] = Field(default_factory=dict[str, Any])
    after: dict[str, Any] = Field(default_factory=dict[str, Any])
    graph_request_id: str | None = None
    change_id: str = Field(min_length=1)
    undone_by: str | None = None

    @field_validator("at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return check_aware(value)


class Store(Protocol):
    """Durable state shared by every bot instance. All methods may raise `StorageUnavailable`."""

    async def get(self, namespace: str, key: str) -> Document | None:
        """Read a document.

        Args:
            namespace: the concern owning the key, e.g. "conversation_ref".
            key: the document's key inside the namespace.

        Returns:
            The document, or None if it does not exist or has expired.
        """
        ...

    async def put(
        self,
        namespace: str,
        key: str,
        value: DocumentValue,
        *,
        expected_version: int | None,
        ttl: timedelta | None = None,
    ) -> int:
        """Write a document if its current version is the one expected.

        Args:
            namespace: the concern owning the key.
            key: the document's key.
            value: a JSON-serialisable dict, or bytes.
            expected_version: the version read before (compare-and-set); 0 means "must not exist (or be expired)";
                None writes unconditionally (last write wins: only for state where that is harmless).
            ttl: how long the document lives from now; None keeps it until deleted. Each write sets its own expiry.

        Returns:
            The new version.

        Raises:
            VersionConflict: the current version is not `expected_version`.
            TypeError: `value` is neither bytes nor a JSON-serialisable dict.
            ValueError: `ttl` is not positive or `expected_version` is negative.
        """
        ...

    async def delete(self, namespace: str, key: str, *, expected_version: int | None = None) -> bool:
        """Delete a document, optionally only at the version expected.

        Args:
            namespace: the concern owning the key.
            key: the document's key.
            expected_version: if given, delete only while the current version is this one (0: must not exist).

        Returns:
            True if a live document was deleted, False if there was none.

        Raises:
            VersionConflict: `expected_version` was given and does not match.
        """
        ...

    async def claim(self, namespace: str, key: str, ttl: timedelta) -> bool:
        """Claim a key for `ttl` (atomic insert-if-absent), e.g. to drop a redelivered activity.

        Args:
            namespace: the concern owning the key, e.g. "activity".
            key: the key to claim.
            ttl: how long the claim holds; after that the key can be claimed again.

        Returns:
            True only for the first caller while the claim is unexpired.

        Raises:
            ValueError: `ttl` is not positive.
        """
        ...

    async def consume(self, namespace: str, key: str) -> Document | None:
        """Atomically read and delete a live document (a single-use nonce).

        Args:
            namespace: the concern owning the key.
            key: the document's key.

        Returns:
            The document for the first caller; None if it was consumed already, never existed or has expired.
        """
        ...

    async def append_audit(self, entry: AuditEntry) -> int:
        """Append an audit entry.

        Args:
            entry: the entry, with `id` None.

        Returns:
            Its sequence id (increasing with every append).

        Raises:
            ValueError: `entry.id` is set.
        """
        ...

    async def list_audit(
        self,
        *,
        tenant_id: TenantId,
        teacher_id: UserId | None = None,
        limit: int = 50,
        before_id: int | None = None,
    ) -> list[AuditEntry]:
        """List a tenant's audit entries, newest first.

        Args:
            tenant_id: only this tenant's entries.
            teacher_id: only this teacher's entries, if given.
            limit: at most this many entries (at least 1).
            before_id: only entries older than this id (for the next page, pass the last id seen).

        Returns:
            The entries, highest id first.

        Raises:
            ValueError: `limit` is less than 1.
        """
        ...

    async def last_change(self, tenant_id: TenantId, teacher_id: UserId) -> list[AuditEntry]:
        """The entries of the teacher's most recent change that is not undone (undo changes themselves excluded).

        Args:
            tenant_id: the teacher's tenant.
            teacher_id: the teacher.

        Returns:
            The change's entries in the order they were appended; empty if there is nothing to undo.
        """
        ...

    async def mark_undone(self, change_id: str, undo_change_id: str) -> bool:
        """Mark every entry of a change as undone by another change (atomic: one caller wins).

        Args:
            change_id: the change being undone.
            undo_change_id: the change id of the undo's own entries.

        Returns:
            True if this call marked the change; False if it was already undone or does not exist.
        """
        ...

    async def purge_expired(self, now: datetime | None = None) -> int:
        """Delete expired documents and claims (the audit log is never purged).

        Args:
            now: the cut-off; the store's clock if None.

        Returns:
            How many documents and claims were deleted.
        """
        ...

    async def ping(self) -> None:
        """Check the database answers.

        Raises:
            StorageUnavailable: it does not.
        """
        ...

    async def aclose(self) -> None:
        """Close the store; later calls raise `StorageUnavailable`. Closing twice is harmless."""
        ...
