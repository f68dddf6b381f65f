"""What only the SQLite store promises: persistence, schema versioning, WAL, and several stores on one file."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.graph.ids import AssignmentId, ClassId, SubmissionId, TenantId, UserId
from bot.storage import AuditEntry, SqliteStore, StorageError, StorageUnavailable, VersionConflict
from bot.storage.sqlite import SCHEMA_VERSION

TENANT = TenantId("tenant-a")


def entry(change_id: str) -> AuditEntry:
    return AuditEntry(
        at=datetime(2025, 3, 1, 9, 0, tzinfo=UTC),
        tenant_id=TENANT,
        teacher_id=UserId("teacher-1"),
        class_id=ClassId("class-1"),
        assignment_id=AssignmentId("assignment-1"),
        submission_id=SubmissionId("submission-1"),
        student_id=UserId("student-1"),
        action="grade",
        before={"points": None},
        after={"points": 18},
        change_id=change_id,
    )


async def test_state_survives_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "assistant.db"
    store = await SqliteStore.connect(path)
    await store.put("ref", "conv-1", {"serviceUrl": "https://smba.example"}, expected_version=0)
    await store.put("token_cache", "user-1", b"\x01\x02secret", expected_version=0)
    await store.claim("activity", "act-1", timedelta(hours=24))
    entry_id = await store.append_audit(entry("change-1"))
    await store.aclose()

    reopened = await SqliteStore.connect(path)
    try:
        ref = await reopened.get("ref", "conv-1")
        cache = await reopened.get("token_cache", "user-1")
        claimed_again = await reopened.claim("activity", "act-1", timedelta(hours=24))
        history = await reopened.list_audit(tenant_id=TENANT)
    finally:
        await reopened.aclose()

    assert ref is not None and ref.value == {"serviceUrl": "https://smba.example"}
    assert cache is not None and cache.value == b"\x01\x02secret"
    assert claimed_again is False
    assert [item.id for item in history] == [entry_id]


async def test_schema_version_is_recorded_once(tmp_path: Path) -> None:
    path = tmp_path / "assistant.db"
    await (await SqliteStore.connect(path)).aclose()
    store = await SqliteStore.connect(path)
    try:
        version = await store.schema_version()
    finally:
        await store.aclose()

    with sqlite3.connect(path) as raw:
        rows = raw.execute("SELECT version FROM schema_version").fetchall()
    assert version == SCHEMA_VERSION
    assert rows == [(version,) for version in range(1, SCHEMA_VERSION + 1)]


async def test_database_from_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "assistant.db"
    await (await SqliteStore.connect(path)).aclose()
    with sqlite3.connect(path) as raw:
        raw.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION + 1,))

    with pytest.raises(StorageError, match="schema version"):
        await SqliteStore.connect(path)


async def test_database_runs_in_wal_mode_and_parent_directories_are_created(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "data" / "assistant.db"

    await (await SqliteStore.connect(path)).aclose()

    with sqlite3.connect(path) as raw:
        mode = raw.execute("PRAGMA journal_mode").fetchone()
    assert path.is_file()
    assert mode == ("wal",)


async def test_in_memory_database_works() -> None:
    store = await SqliteStore.connect(":memory:")
    try:
        await store.put("ref", "conv-1", {"a": 1}, expected_version=0)
        document = await store.get("ref", "conv-1")
        version = await store.schema_version()
    finally:
        await store.aclose()

    assert document is not None and document.value == {"a": 1}
    assert version == SCHEMA_VERSION


async def test_two_stores_on_one_file_see_each_others_claims(tmp_path: Path) -> None:
    path = tmp_path / "assistant.db"
    first, second = await asyncio.gather(SqliteStore.connect(path), SqliteStore.connect(path))
    try:
        results = await asyncio.gather(
            *((first if n % 2 else second).claim("activity", "act-1", timedelta(hours=24)) for n in range(20))
        )
        await first.put("job", "j1", {"winner": None}, expected_version=0)
        seen_by_second = await second.get("job", "j1")
        await second.put("job", "j1", {"winner": "second"}, expected_version=1)
        with pytest.raises(VersionConflict):
            await first.put("job", "j1", {"winner": "first"}, expected_version=1)
        final = await first.get("job", "j1")
    finally:
        await first.aclose()
        await second.aclose()

    assert results.count(True) == 1
    assert seen_by_second is not None and seen_by_second.version == 1
    assert final is not None and final.value == {"winner": "second"}


async def test_unopened_store_is_unavailable(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "assistant.db")

    with pytest.raises(StorageUnavailable):
        await store.ping()
    await store.open()
    try:
        await store.ping()
    finally:
        await store.aclose()


async def test_a_file_that_is_not_a_database_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "assistant.db"
    path.write_bytes(b"this is not a database file" * 100)

    with pytest.raises(StorageUnavailable):
        await SqliteStore.connect(path)


async def test_a_directory_that_cannot_be_created_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")

    with pytest.raises(StorageUnavailable):
        await SqliteStore.connect(blocker / "assistant.db")


async def test_naive_clock_is_refused(tmp_path: Path) -> None:
    store = await SqliteStore.connect(tmp_path / "assistant.db", clock=lambda: datetime(2025, 1, 1))
    try:
        with pytest.raises(ValueError, match="timezone"):
            await store.claim("activity", "act-1", timedelta(hours=1))
    finally:
        await store.aclose()


async def test_several_stores_opening_one_new_file_at_once_all_open(tmp_path: Path) -> None:
    # SQLite answers "database is locked" without waiting when two connections switch one file to WAL together.
    for attempt in range(20):
        path = tmp_path / f"race-{attempt}.db"
        stores = await asyncio.gather(*(SqliteStore.connect(path) for _ in range(4)))
        for store in stores:
            await store.aclose()
