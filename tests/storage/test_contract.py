"""The `Store` contract, run against every implementation: the same calls must give the same answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.graph.ids import AssignmentId, ClassId, SubmissionId, TenantId, UserId
from bot.storage import (
    UNDO_ACTION,
    AuditEntry,
    MemoryStore,
    SqliteStore,
    StorageUnavailable,
    Store,
    VersionConflict,
)
from bot.storage.postgres import PostgresStore
from tests.pg import PostgresServer, create_isolated, drop_isolated

START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
TENANT = TenantId("tenant-a")
OTHER_TENANT = TenantId("tenant-b")
TEACHER = UserId("teacher-1")
OTHER_TEACHER = UserId("teacher-2")


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, clock: FakeClock, tmp_path: Path) -> AsyncIterator[Store]:
    opened: Store
    if request.param == "memory":
        opened = MemoryStore(clock=clock)
    elif request.param == "sqlite":
        opened = await SqliteStore.connect(tmp_path / "store.db", clock=clock)
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = await create_isolated(server)
        opened = await PostgresStore.connect(url, clock=clock)
        try:
            yield opened
        finally:
            await opened.aclose()
            await drop_isolated(server, url)
        return
    yield opened
    await opened.aclose()


def entry(
    change_id: str,
    *,
    tenant_id: TenantId = TENANT,
    teacher_id: UserId = TEACHER,
    student: str = "student-1",
    action: str = "grade",
    points: float = 18,
) -> AuditEntry:
    return AuditEntry(
        at=START,
        tenant_id=tenant_id,
        teacher_id=teacher_id,
        class_id=ClassId("class-1"),
        assignment_id=AssignmentId("assignment-1"),
        submission_id=SubmissionId(f"submission-{student}"),
        student_id=UserId(student),
        action=action,
        before={"points": None},
        after={"points": points, "feedback": "Well argued."},
        graph_request_id="req-1",
        change_id=change_id,
    )


# Versioned documents


async def test_first_write_with_must_not_exist_creates_version_one(store: Store) -> None:
    version = await store.put("ref", "conv-1", {"serviceUrl": "https://smba.example"}, expected_version=0)

    document = await store.get("ref", "conv-1")
    assert version == 1
    assert document is not None
    assert document.value == {"serviceUrl": "https://smba.example"}
    assert document.version == 1
    assert document.expires_at is None


async def test_write_at_current_version_increments_it(store: Store) -> None:
    await store.put("job", "j1", {"done": 0}, expected_version=0)

    version = await store.put("job", "j1", {"done": 5}, expected_version=1)

    document = await store.get("job", "j1")
    assert version == 2
    assert document is not None
    assert (document.value, document.version) == ({"done": 5}, 2)


async def test_write_at_stale_version_conflicts_and_keeps_the_winner(store: Store) -> None:
    await store.put("job", "j1", {"done": 0}, expected_version=0)
    await store.put("job", "j1", {"done": 5}, expected_version=1)

    with pytest.raises(VersionConflict) as raised:
        await store.put("job", "j1", {"done": 3}, expected_version=1)

    document = await store.get("job", "j1")
    assert (raised.value.namespace, raised.value.key, raised.value.expected_version) == ("job", "j1", 1)
    assert document is not None
    assert (document.value, document.version) == ({"done": 5}, 2)


async def test_must_not_exist_conflicts_when_the_document_exists(store: Store) -> None:
    await store.put("ref", "conv-1", {"a": 1}, expected_version=0)

    with pytest.raises(VersionConflict):
        await store.put("ref", "conv-1", {"a": 2}, expected_version=0)

    document = await store.get("ref", "conv-1")
    assert document is not None
    assert document.value == {"a": 1}


async def test_expected_version_on_a_missing_document_conflicts(store: Store) -> None:
    with pytest.raises(VersionConflict):
        await store.put("ref", "missing", {"a": 1}, expected_version=3)

    assert await store.get("ref", "missing") is None


async def test_unconditional_write_creates_then_overwrites(store: Store) -> None:
    first = await store.put("ref", "conv-1", {"a": 1}, expected_version=None)
    second = await store.put("ref", "conv-1", {"a": 2}, expected_version=None)

    document = await store.get("ref", "conv-1")
    assert (first, second) == (1, 2)
    assert document is not None
    assert document.value == {"a": 2}


async def test_namespaces_keep_equal_keys_apart(store: Store) -> None:
    await store.put("ref", "k", {"which": "ref"}, expected_version=0)
    await store.put("job", "k", {"which": "job"}, expected_version=0)

    ref = await store.get("ref", "k")
    job = await store.get("job", "k")
    assert ref is not None and ref.value == {"which": "ref"}
    assert job is not None and job.value == {"which": "job"}


async def test_bytes_values_round_trip_unchanged(store: Store) -> None:
    blob = bytes(range(256)) + b"\x00encrypted"
    await store.put("token_cache", "user-1", blob, expected_version=0)

    document = await store.get("token_cache", "user-1")

    assert document is not None
    assert document.value == blob
    assert isinstance(document.value, bytes)


async def test_stored_value_is_a_copy_of_what_was_written(store: Store) -> None:
    value: dict[str, object] = {"items": [1, 2], "nested": {"x": "é"}}
    await store.put("job", "j1", value, expected_version=0)
    value["items"] = []

    document = await store.get("job", "j1")

    assert document is not None
    assert document.value == {"items": [1, 2], "nested": {"x": "é"}}


async def test_values_that_are_not_json_are_refused(store: Store) -> None:
    with pytest.raises(TypeError):
        await store.put("job", "j1", {"when": datetime.now(UTC)}, expected_version=0)
    with pytest.raises(TypeError):
        await store.put("job", "j1", {"nan": float("nan")}, expected_version=0)

    assert await store.get("job", "j1") is None


async def test_bad_ttl_and_negative_version_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="ttl"):
        await store.put("job", "j1", {}, expected_version=0, ttl=timedelta(0))
    with pytest.raises(ValueError, match="expected_version"):
        await store.put("job", "j1", {}, expected_version=-1)
    with pytest.raises(ValueError, match="ttl"):
        await store.claim("activity", "a1", timedelta(seconds=-1))

    assert await store.get("job", "j1") is None


async def test_delete_at_the_wrong_version_conflicts_and_keeps_the_document(store: Store) -> None:
    await store.put("confirm", "c1", {"n": 1}, expected_version=0)
    await store.put("confirm", "c1", {"n": 2}, expected_version=1)

    with pytest.raises(VersionConflict):
        await store.delete("confirm", "c1", expected_version=1)
    with pytest.raises(VersionConflict):
        await store.delete("confirm", "c1", expected_version=0)

    assert await store.get("confirm", "c1") is not None


async def test_delete_at_the_current_version_removes_the_document(store: Store) -> None:
    await store.put("confirm", "c1", {"n": 1}, expected_version=0)

    deleted = await store.delete("confirm", "c1", expected_version=1)

    assert deleted is True
    assert await store.get("confirm", "c1") is None


async def test_unconditional_delete_reports_whether_there_was_a_document(store: Store) -> None:
    await store.put("confirm", "c1", {"n": 1}, expected_version=0)

    assert await store.delete("confirm", "c1") is True
    assert await store.delete("confirm", "c1") is False
    assert await store.delete("confirm", "never") is False
    assert await store.delete("confirm", "never", expected_version=0) is False
    with pytest.raises(VersionConflict):
        await store.delete("confirm", "never", expected_version=1)


async def test_recreated_after_delete_starts_again_at_version_one(store: Store) -> None:
    await store.put("ref", "conv-1", {"a": 1}, expected_version=0)
    await store.delete("ref", "conv-1")

    version = await store.put("ref", "conv-1", {"a": 2}, expected_version=0)

    assert version == 1


# TTL


async def test_document_lives_until_its_ttl_then_reads_as_absent(store: Store, clock: FakeClock) -> None:
    await store.put("confirm", "c1", {"n": 1}, expected_version=0, ttl=timedelta(minutes=15))

    clock.advance(timedelta(minutes=14, seconds=59))
    alive = await store.get("confirm", "c1")
    clock.advance(timedelta(seconds=1))
    expired = await store.get("confirm", "c1")

    assert alive is not None
    assert alive.expires_at == START + timedelta(minutes=15)
    assert expired is None


async def test_expired_document_cannot_be_updated_but_can_be_recreated(store: Store, clock: FakeClock) -> None:
    await store.put("confirm", "c1", {"n": 1}, expected_version=0, ttl=timedelta(minutes=1))
    clock.advance(timedelta(minutes=2))

    with pytest.raises(VersionConflict):
        await store.put("confirm", "c1", {"n": 2}, expected_version=1)
    version = await store.put("confirm", "c1", {"n": 3}, expected_version=0)

    document = await store.get("confirm", "c1")
    assert document is not None
    assert document.value == {"n": 3}
    assert document.version == version
    assert document.expires_at is None
    assert version > 1  # the version keeps counting so a writer holding the expired version 1 cannot match


async def test_each_write_sets_its_own_expiry(store: Store, clock: FakeClock) -> None:
    await store.put("job", "j1", {"n": 1}, expected_version=0, ttl=timedelta(minutes=1))
    await store.put("job", "j1", {"n": 2}, expected_version=1, ttl=timedelta(hours=1))

    clock.advance(timedelta(minutes=30))

    document = await store.get("job", "j1")
    assert document is not None
    assert document.value == {"n": 2}


async def test_expired_document_does_not_count_as_deleted(store: Store, clock: FakeClock) -> None:
    await store.put("confirm", "c1", {"n": 1}, expected_version=0, ttl=timedelta(minutes=1))
    clock.advance(timedelta(minutes=1))

    assert await store.delete("confirm", "c1") is False


# Claims


async def test_only_the_first_claim_wins(store: Store) -> None:
    first = await store.claim("activity", "act-1", timedelta(hours=24))
    second = await store.claim("activity", "act-1", timedelta(hours=24))
    other_key = await store.claim("activity", "act-2", timedelta(hours=24))
    other_namespace = await store.claim("card_action", "act-1", timedelta(hours=24))

    assert (first, second, other_key, other_namespace) == (True, False, True, True)


async def test_expired_claim_can_be_claimed_again(store: Store, clock: FakeClock) -> None:
    await store.claim("activity", "act-1", timedelta(hours=24))

    clock.advance(timedelta(hours=23, minutes=59))
    still_held = await store.claim("activity", "act-1", timedelta(hours=24))
    clock.advance(timedelta(minutes=1))
    reclaimed = await store.claim("activity", "act-1", timedelta(hours=24))
    after_reclaim = await store.claim("activity", "act-1", timedelta(hours=24))

    assert (still_held, reclaimed, after_reclaim) == (False, True, False)


async def test_concurrent_claims_on_one_key_have_exactly_one_winner(store: Store) -> None:
    results = await asyncio.gather(*(store.claim("activity", "act-1", timedelta(hours=24)) for _ in range(20)))

    assert sorted(results) == [False] * 19 + [True]


# Concurrent versioned updates


async def test_concurrent_writers_at_one_version_have_exactly_one_winner(store: Store) -> None:
    await store.put("job", "j1", {"winner": None}, expected_version=0)

    async def write(writer: int) -> int | None:
        try:
            return await store.put("job", "j1", {"winner": writer}, expected_version=1)
        except VersionConflict:
            return None

    results = await asyncio.gather(*(write(writer) for writer in range(20)))

    winners = [writer for writer, result in enumerate(results) if result is not None]
    document = await store.get("job", "j1")
    assert len(winners) == 1
    assert document is not None
    assert document.value == {"winner": winners[0]}
    assert document.version == 2


async def test_concurrent_creators_have_exactly_one_winner(store: Store) -> None:
    async def create(writer: int) -> bool:
        try:
            await store.put("ref", "conv-1", {"writer": writer}, expected_version=0)
        except VersionConflict:
            return False
        return True

    results = await asyncio.gather(*(create(writer) for writer in range(20)))

    assert results.count(True) == 1


async def test_read_modify_write_with_retry_loses_no_update(store: Store) -> None:
    await store.put("job", "counter", {"n": 0}, expected_version=0)

    async def increment() -> None:
        while True:
            document = await store.get("job", "counter")
            assert document is not None and isinstance(document.value, dict)
            try:
                await store.put("job", "counter", {"n": document.value["n"] + 1}, expected_version=document.version)
            except VersionConflict:
                continue
            return

    await asyncio.gather(*(increment() for _ in range(20)))

    document = await store.get("job", "counter")
    assert document is not None
    assert (document.value, document.version) == ({"n": 20}, 21)


# Single-use nonces


async def test_consume_returns_the_document_once(store: Store) -> None:
    await store.put("nonce", "n1", {"action": "return_all"}, expected_version=0, ttl=timedelta(minutes=15))

    first = await store.consume("nonce", "n1")
    second = await store.consume("nonce", "n1")

    assert first is not None
    assert first.value == {"action": "return_all"}
    assert first.version == 1
    assert second is None
    assert await store.get("nonce", "n1") is None


async def test_expired_or_missing_nonce_is_not_consumed(store: Store, clock: FakeClock) -> None:
    await store.put("nonce", "n1", {"action": "return_all"}, expected_version=0, ttl=timedelta(minutes=15))
    clock.advance(timedelta(minutes=15))

    assert await store.consume("nonce", "n1") is None
    assert await store.consume("nonce", "never") is None


async def test_concurrent_consumes_have_exactly_one_winner(store: Store) -> None:
    await store.put("nonce", "n1", {"action": "return_all"}, expected_version=0, ttl=timedelta(minutes=15))

    results = await asyncio.gather(*(store.consume("nonce", "n1") for _ in range(20)))

    assert len([result for result in results if result is not None]) == 1


# Audit log


async def test_append_returns_increasing_ids_and_list_is_newest_first(store: Store) -> None:
    ids = [await store.append_audit(entry(f"change-{n}", student=f"s{n}")) for n in range(3)]

    listed = await store.list_audit(tenant_id=TENANT)

    assert ids == sorted(ids)
    assert len(set(ids)) == 3
    assert [item.id for item in listed] == list(reversed(ids))
    assert [item.student_id for item in listed] == ["s2", "s1", "s0"]


async def test_listed_entry_keeps_every_field(store: Store) -> None:
    written = entry("change-1", points=17.5)
    entry_id = await store.append_audit(written)

    [listed] = await store.list_audit(tenant_id=TENANT)

    assert listed == written.model_copy(update={"id": entry_id})
    assert listed.at.tzinfo is not None
    assert listed.at == START


async def test_list_pages_with_before_id_and_limit(store: Store) -> None:
    ids = [await store.append_audit(entry(f"change-{n}")) for n in range(5)]

    first_page = await store.list_audit(tenant_id=TENANT, limit=2)
    last_seen = first_page[-1].id
    assert last_seen is not None
    second_page = await store.list_audit(tenant_id=TENANT, limit=2, before_id=last_seen)
    third_page = await store.list_audit(tenant_id=TENANT, limit=2, before_id=ids[1])

    assert [item.id for item in first_page] == [ids[4], ids[3]]
    assert [item.id for item in second_page] == [ids[2], ids[1]]
    assert [item.id for item in third_page] == [ids[0]]


async def test_list_is_isolated_per_tenant_and_teacher(store: Store) -> None:
    mine = await store.append_audit(entry("c1"))
    colleague = await store.append_audit(entry("c2", teacher_id=OTHER_TEACHER))
    elsewhere = await store.append_audit(entry("c3", tenant_id=OTHER_TENANT))

    tenant_view = await store.list_audit(tenant_id=TENANT)
    teacher_view = await store.list_audit(tenant_id=TENANT, teacher_id=TEACHER)
    other_tenant_view = await store.list_audit(tenant_id=OTHER_TENANT, teacher_id=TEACHER)

    assert [item.id for item in tenant_view] == [colleague, mine]
    assert [item.id for item in teacher_view] == [mine]
    assert [item.id for item in other_tenant_view] == [elsewhere]


async def test_audit_refuses_an_entry_with_an_id_and_a_bad_limit(store: Store) -> None:
    with pytest.raises(ValueError, match="id"):
        await store.append_audit(entry("c1").model_copy(update={"id": 7}))
    with pytest.raises(ValueError, match="limit"):
        await store.list_audit(tenant_id=TENANT, limit=0)

    assert await store.list_audit(tenant_id=TENANT) == []


async def test_last_change_returns_every_entry_of_the_latest_change(store: Store) -> None:
    await store.append_audit(entry("change-a", student="s1"))
    b1 = await store.append_audit(entry("change-b", student="s1"))
    b2 = await store.append_audit(entry("change-b", student="s2"))
    await store.append_audit(entry("change-c", teacher_id=OTHER_TEACHER))
    await store.append_audit(entry("change-d", tenant_id=OTHER_TENANT))

    last = await store.last_change(TENANT, TEACHER)

    assert [item.id for item in last] == [b1, b2]
    assert {item.change_id for item in last} == {"change-b"}


async def test_undo_walks_back_through_changes(store: Store) -> None:
    a1 = await store.append_audit(entry("change-a", student="s1"))
    await store.append_audit(entry("change-b", student="s1"))

    marked = await store.mark_undone("change-b", "undo-1")
    await store.append_audit(entry("undo-1", student="s1", action=UNDO_ACTION))
    after_first_undo = await store.last_change(TENANT, TEACHER)
    await store.mark_undone("change-a", "undo-2")
    await store.append_audit(entry("undo-2", student="s1", action=UNDO_ACTION))
    after_second_undo = await store.last_change(TENANT, TEACHER)

    assert marked is True
    assert [item.id for item in after_first_undo] == [a1]
    assert after_second_undo == []
    history = await store.list_audit(tenant_id=TENANT, teacher_id=TEACHER)
    assert {item.change_id: item.undone_by for item in history} == {
        "undo-2": None,
        "undo-1": None,
        "change-b": "undo-1",
        "change-a": "undo-2",
    }


async def test_a_change_is_marked_undone_only_once(store: Store) -> None:
    await store.append_audit(entry("change-a", student="s1"))
    await store.append_audit(entry("change-a", student="s2"))

    results = await asyncio.gather(*(store.mark_undone("change-a", f"undo-{n}") for n in range(5)))
    unknown = await store.mark_undone("no-such-change", "undo-x")

    history = await store.list_audit(tenant_id=TENANT)
    winner = f"undo-{results.index(True)}"
    assert results.count(True) == 1
    assert unknown is False
    assert [item.undone_by for item in history] == [winner, winner]


async def test_last_change_is_empty_without_history(store: Store) -> None:
    assert await store.last_change(TENANT, TEACHER) == []


# Purge, ping, close


async def test_purge_removes_only_expired_documents_and_claims(store: Store, clock: FakeClock) -> None:
    await store.put("confirm", "short", {"n": 1}, expected_version=0, ttl=timedelta(minutes=15))
    await store.put("confirm", "long", {"n": 2}, expected_version=0, ttl=timedelta(days=2))
    await store.put("ref", "forever", {"n": 3}, expected_version=0)
    await store.claim("activity", "short", timedelta(minutes=5))
    await store.claim("activity", "long", timedelta(days=2))
    await store.append_audit(entry("c1"))
    clock.advance(timedelta(hours=1))

    purged = await store.purge_expired()
    purged_again = await store.purge_expired(clock.now)

    assert (purged, purged_again) == (2, 0)
    assert await store.get("confirm", "long") is not None
    assert await store.get("ref", "forever") is not None
    assert await store.claim("activity", "long", timedelta(days=1)) is False
    assert len(await store.list_audit(tenant_id=TENANT)) == 1


async def test_purge_takes_an_explicit_cutoff(store: Store) -> None:
    await store.put("confirm", "c1", {"n": 1}, expected_version=0, ttl=timedelta(minutes=15))

    purged = await store.purge_expired(START + timedelta(days=1))

    assert purged == 1
    assert await store.get("confirm", "c1") is None


async def test_closed_store_is_unavailable(store: Store) -> None:
    await store.ping()

    await store.aclose()
    await store.aclose()

    with pytest.raises(StorageUnavailable):
        await store.ping()
    with pytest.raises(StorageUnavailable):
        await store.claim("activity", "act-1", timedelta(hours=1))
    with pytest.raises(StorageUnavailable):
        await store.put("ref", "conv-1", {}, expected_version=None)
