"""Durable state behind one `Store` protocol: versioned documents, claims, nonces and the audit log."""

from bot.storage.factory import open_store
from bot.storage.memory import MemoryStore
from bot.storage.protocol import (
    UNDO_ACTION,
    AuditEntry,
    Clock,
    Document,
    DocumentValue,
    StorageConfigError,
    StorageError,
    StorageUnavailable,
    Store,
    VersionConflict,
)
from bot.storage.sqlite import SqliteStore

__all__ = [
    "UNDO_ACTION",
    "AuditEntry",
    "Clock",
    "Document",
    "DocumentValue",
    "MemoryStore",
    "SqliteStore",
    "StorageConfigError",
    "StorageError",
    "StorageUnavailable",
    "Store",
    "VersionConflict",
    "open_store",
]
