"""What only the PostgreSQL store promises: several instances (pools) on one database, one migration however many
start together, and failing closed — quickly — when the database goes away, hangs or is busy."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg  # pyright: ignore[reportMissingTypeStubs]
import pytest

from bot.graph.ids import AssignmentId, ClassId, SubmissionId, TenantId, UserId
from bot.storage import AuditEntry, StorageError, StorageUnavailable, VersionConflict, open_store
from bot.storage.postgres import SCHEMA_VERSION, PostgresStore
from tests.pg import CLUSTER, PostgresServer, create_isolated, free_port

TENANT = TenantId("tenant-a")
TEACHER = UserId("teacher-1")
RACERS = 30


def entry(change_id: str, student: str = "student-1") -> AuditEntry:
    return AuditEntry(
        at=datetime(2025, 3, 1, 9, 0, tzinfo=UTC),
        tenant_id=TENANT,
        teacher_id=TEACHER,
        class_id=ClassId("class-1"),
        assignment_id=AssignmentId("assignment-1"),
        submission_id=SubmissionId(f"submission-{student}"),
        student_id=UserId(student),
        action="grade",
        before={"points": None},
        after={"points": 18},
        change_id=change_id,
    )


@pytest.fixture
async def instances(postgres_url: str) -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    """Two stores with pools of their own on one database: what two bot instances have."""
    first, second = await asyncio.gather(PostgresStore.connect(postgres_url), PostgresStore.connect(postgres_url))
    yield first, second
    await first.aclose()
    await second.aclose()


def alternate(
    stores: tuple[PostgresStore, PostgresStore], call: Callable[[PostgresStore, int], Awaitable[Any]]
) -> Awaitable[list[Any]]:
    """Run `call` RACERS times at once, half through each instance."""
    return asyncio.gather(*(call(stores[n % 2], n) for n in range(RACERS)))


# Two instances racing


async def test_claims_from_two_instances_have_one_winner(instances: tuple[PostgresStore, PostgresStore]) -> None:
    results = await alternate(instances, lambda store, _: store.claim("activity", "act-1", timedelta(hours=24)))

    assert results.count(True) == 1


async def test_versioned_writes_from_two_instances_have_one_winner(
    instances: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = instances
    await first.put("jobs", "j1", {"winner": None}, expected_version=0)

    async def write(store: PostgresStore, writer: int) -> bool:
        try:
            await store.put("jobs", "j1", {"winner": writer}, expected_version=1)
        except VersionConflict:
            return False
        return True

    results = await alternate(instances, write)

    document = await second.get("jobs", "j1")
    assert results.count(True) == 1
    assert document is not None
    assert (document.value, document.version) == ({"winner": results.index(True)}, 2)


async def test_creates_from_two_instances_have_one_winner(instances: tuple[PostgresStore, PostgresStore]) -> None:
    async def create(store: PostgresStore, writer: int) -> bool:
        try:
            await store.put("ref", "conv-1", {"writer": writer}, expected_version=0)
        except VersionConflict:
            return False
        return True

    results = await alternate(instances, create)

    assert results.count(True) == 1


async def test_read_modify_write_across_instances_loses_no_update(
    instances: tuple[PostgresStore, PostgresStore],
) -> None:
    await instances[0].put("jobs", "counter", {"n": 0}, expected_version=0)

    async def increment(store: PostgresStore, _: int) -> None:
        while True:
            document = await store.get("jobs", "counter")
            assert document is not None and isinstance(document.value, dict)
            try:
                await store.put("jobs", "counter", {"n": document.value["n"] + 1}, expected_version=document.version)
            except VersionConflict:
                continue
            return

    await alternate(instances, increment)

    document = await instances[1].get("jobs", "counter")
    assert document is not None
    assert (document.value, document.version) == ({"n": RACERS}, RACERS + 1)


async def test_a_nonce_is_consumed_by_one_instance_only(instances: tuple[PostgresStore, PostgresStore]) -> None:
    await instances[0].put("nonce", "n1", {"action": "return_all"}, expected_version=0, ttl=timedelta(minutes=15))

    results = await alternate(instances, lambda store, _: store.consume("nonce", "n1"))

    assert len([result for result in results if result is not None]) == 1


async def test_a_change_is_undone_by_one_instance_only(instances: tuple[PostgresStore, PostgresStore]) -> None:
    for student in ("s1", "s2", "s3"):
        await instances[0].append_audit(entry("change-a", student))

    results = await alternate(instances, lambda store, n: store.mark_undone("change-a", f"undo-{n}"))

    history = await instances[1].list_audit(tenant_id=TENANT)
    winner = f"undo-{results.index(True)}"
    assert results.count(True) == 1
    assert [item.undone_by for item in history] == [winner] * 3


async def test_audit_appends_from_two_instances_all_land_with_distinct_ids(
    instances: tuple[PostgresStore, PostgresStore],
) -> None:
    ids = await alternate(instances, lambda store, n: store.append_audit(entry("change-a", f"s{n}")))

    history = await instances[0].list_audit(tenant_id=TENANT, limit=100)
    assert len(set(ids)) == RACERS
    assert sorted(item.id for item in history if item.id is not None) == sorted(ids)


async def test_documents_and_bytes_written_by_one_instance_are_read_by_the_other(
    instances: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = instances
    await first.put("token_cache", "user-1", b"\x00\x01encrypted", expected_version=0)
    await first.put("ref", "conv-1", {"serviceUrl": "https://smba.example", "name": "é"}, expected_version=0)

    cache = await second.get("token_cache", "user-1")
    ref = await second.get("ref", "conv-1")

    assert cache is not None and cache.value == b"\x00\x01encrypted"
    assert ref is not None and ref.value == {"serviceUrl": "https://smba.example", "name": "é"}


# Schema


async def test_instances_starting_together_migrate_once(postgres_url: str) -> None:
    stores = await asyncio.gather(*(PostgresStore.connect(postgres_url) for _ in range(6)))
    try:
        versions = [await store.schema_version() for store in stores]
    finally:
        await asyncio.gather(*(store.aclose() for store in stores))

    connection = await asyncpg.connect(postgres_url)  # pyright: ignore[reportUnknownMemberType]
    try:
        rows = await connection.fetch("SELECT version FROM schema_version ORDER BY version")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
    finally:
        await connection.close()  # pyright: ignore[reportUnknownMemberType]
    assert versions == [SCHEMA_VERSION] * 6
    assert [row["version"] for row in rows] == list(range(1, SCHEMA_VERSION + 1))  # pyright: ignore[reportUnknownVariableType]


async def test_state_survives_the_instance_that_wrote_it(postgres_url: str) -> None:
    store = await PostgresStore.connect(postgres_url)
    await store.claim("activity", "act-1", timedelta(hours=24))
    entry_id = await store.append_audit(entry("change-1"))
    await store.aclose()

    reopened = await PostgresStore.connect(postgres_url)
    try:
        claimed_again = await reopened.claim("activity", "act-1", timedelta(hours=24))
        history = await reopened.list_audit(tenant_id=TENANT)
    finally:
        await reopened.aclose()

    assert claimed_again is False
    assert [item.id for item in history] == [entry_id]


async def test_a_database_from_a_newer_schema_is_refused(postgres_url: str) -> None:
    await (await PostgresStore.connect(postgres_url)).aclose()
    connection = await asyncpg.connect(postgres_url)  # pyright: ignore[reportUnknownMemberType]
    try:
        await connection.execute("INSERT INTO schema_version (version) VALUES ($1)", SCHEMA_VERSION + 1)  # pyright: ignore[reportUnknownMemberType]
    finally:
        await connection.close()  # pyright: ignore[reportUnknownMemberType]

    with pytest.raises(StorageError, match="schema version"):
        await PostgresStore.connect(postgres_url)


async def test_a_database_user_without_create_rights_runs_on_a_migrated_schema(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    await (await PostgresStore.connect(postgres_url)).aclose()
    schema = postgres_url.rsplit("search_path=", 1)[-1]
    role = f"app_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_server.url())  # pyright: ignore[reportUnknownMemberType]
    try:
        await admin.execute(f'CREATE ROLE "{role}" LOGIN')  # pyright: ignore[reportUnknownMemberType]
        await admin.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')  # pyright: ignore[reportUnknownMemberType]
        await admin.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"')  # pyright: ignore[reportUnknownMemberType]
        store = await PostgresStore.connect(postgres_url.replace("postgresql://postgres@", f"postgresql://{role}@"))
        try:
            entry_id = await store.append_audit(entry("change-1"))
            claimed = await store.claim("activity", "act-1", timedelta(hours=1))
        finally:
            await store.aclose()
    finally:
        await admin.execute(f'DROP OWNED BY "{role}"')  # pyright: ignore[reportUnknownMemberType]
        await admin.execute(f'DROP ROLE "{role}"')  # pyright: ignore[reportUnknownMemberType]
        await admin.close()  # pyright: ignore[reportUnknownMemberType]

    assert entry_id >= 1
    assert claimed is True


# Failing closed


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    """A server of this test's own, which it may kill."""
    server = CLUSTER.new_server()
    yield server
    server.remove()


async def within(seconds: float, call: Awaitable[object]) -> float:
    """Await `call`, which must raise StorageUnavailable, and return how long it took (asserted < `seconds`)."""
    started = time.monotonic()
    with pytest.raises(StorageUnavailable):
        await asyncio.wait_for(call, timeout=seconds * 5)
    elapsed = time.monotonic() - started
    assert elapsed < seconds
    return elapsed


async def test_every_call_fails_closed_within_two_seconds_when_the_database_dies(own_server: PostgresServer) -> None:
    url = await create_isolated(own_server)
    store = await PostgresStore.connect(url, connect_timeout=1.0, command_timeout=1.0)
    await store.put("jobs", "j1", {"n": 1}, expected_version=0)
    own_server.kill()

    try:
        calls: list[Awaitable[object]] = [
            store.ping(),
            store.get("jobs", "j1"),
            store.put("jobs", "j1", {"n": 2}, expected_version=1),
            store.delete("jobs", "j1"),
            store.claim("activity", "act-1", timedelta(hours=24)),
            store.consume("nonce", "n1"),
            store.append_audit(entry("change-1")),
            store.list_audit(tenant_id=TENANT),
            store.last_change(TENANT, TEACHER),
            store.mark_undone("change-1", "undo-1"),
            store.purge_expired(),
        ]
        for call in calls:
            await within(2.0, call)
    finally:
        await store.aclose()


async def test_the_store_recovers_when_the_database_comes_back(own_server: PostgresServer) -> None:
    url = await create_isolated(own_server)
    store = await PostgresStore.connect(url, connect_timeout=1.0, command_timeout=1.0)
    try:
        await store.put("jobs", "j1", {"n": 1}, expected_version=0)
        own_server.kill()
        await within(2.0, store.get("jobs", "j1"))

        own_server.start()
        after_outage = await store.get("jobs", "j1")
        own_server.kill()
        own_server.start()
        await asyncio.sleep(0.2)  # an idle instance: its event loop sees the old connections close
        after_quiet_restart = await store.get("jobs", "j1")
    finally:
        await store.aclose()

    assert after_outage is not None and after_outage.value == {"n": 1}
    assert after_quiet_restart is not None and after_quiet_restart.value == {"n": 1}


async def test_opening_a_store_on_a_closed_port_fails_fast() -> None:
    await within(2.0, open_store(f"postgresql://postgres@127.0.0.1:{free_port()}/assistant"))


async def test_a_server_that_never_answers_fails_within_the_connect_timeout() -> None:
    held: list[asyncio.StreamWriter] = []

    async def silent(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # accept the connection, say nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        await within(2.0, PostgresStore.connect(f"postgresql://postgres@127.0.0.1:{port}/db", connect_timeout=0.5))
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_statement_blocked_too_long_fails_closed_and_the_store_carries_on(postgres_url: str) -> None:
    store = await PostgresStore.connect(postgres_url, connect_timeout=1.0, command_timeout=0.5)
    blocker = await asyncpg.connect(postgres_url)  # pyright: ignore[reportUnknownMemberType]
    try:
        transaction = blocker.transaction()  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        await transaction.start()  # pyright: ignore[reportUnknownMemberType]
        await blocker.execute("LOCK TABLE claims IN ACCESS EXCLUSIVE MODE")  # pyright: ignore[reportUnknownMemberType]
        elapsed = await within(2.0, store.claim("activity", "act-1", timedelta(hours=1)))
        await transaction.rollback()  # pyright: ignore[reportUnknownMemberType]

        claimed = await store.claim("activity", "act-1", timedelta(hours=1))
    finally:
        await blocker.close()  # pyright: ignore[reportUnknownMemberType]
        await store.aclose()

    assert elapsed >= 0.4
    assert claimed is True


async def test_a_closed_store_refuses_calls(postgres_url: str) -> None:
    store = await PostgresStore.connect(postgres_url)
    await store.aclose()
    await store.aclose()

    with pytest.raises(StorageUnavailable):
        await store.get("jobs", "j1")
