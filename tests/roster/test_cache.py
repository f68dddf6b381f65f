"""The per-teacher roster cache: freshness, isolation between teachers, shared fetches and invalidation."""

from __future__ import annotations

import asyncio

import pytest

from bot.graph.ids import ClassId, TenantId, UserId
from bot.graph.models import Assignment, EducationClass, EducationUser
from bot.roster import RosterCache, teacher_key_for
from bot.roster.resolver import Ambiguous, NotFound, Resolved, resolve_student

BIOLOGY = ClassId("c-bio")
ENGLISH = ClassId("c-eng")
TEACHER_A = teacher_key_for(TenantId("tenant-1"), UserId("teacher-a"))
TEACHER_B = teacher_key_for(TenantId("tenant-1"), UserId("teacher-b"))


class GraphDown(Exception):
    """The fake Graph failing."""


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _student(user_id: str, name: str, role: str = "student") -> EducationUser:
    return EducationUser.model_validate({"id": user_id, "displayName": name, "primaryRole": role})


def _assignment(assignment_id: str, name: str) -> Assignment:
    return Assignment.model_validate({"id": assignment_id, "displayName": name, "status": "assigned"})


class FakeGraph:
    """One teacher's Graph: editable roster data, an optional gate to hold fetches open, a count of reads."""

    def __init__(self, label: str) -> None:
        self.classes = [EducationClass.model_validate({"id": BIOLOGY, "displayName": f"Biology ({label})"})]
        self.members: dict[ClassId, list[EducationUser]] = {
            BIOLOGY: [_student(f"{label}-alice", f"Alice {label}"), _student(f"{label}-t", "Teacher", "teacher")],
            ENGLISH: [_student(f"{label}-bob", f"Bob {label}")],
        }
        self.assignments: dict[ClassId, list[Assignment]] = {BIOLOGY: [_assignment("a1", "Essay 1")], ENGLISH: []}
        self.reads = 0
        self.gate: asyncio.Event | None = None
        self.failures = 0

    async def _read(self) -> None:
        self.reads += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise GraphDown

    async def my_taught_classes(self) -> list[EducationClass]:
        await self._read()
        return list(self.classes)

    async def list_members(self, class_id: ClassId) -> list[EducationUser]:
        await self._read()
        return list(self.members[class_id])

    async def list_assignments(self, class_id: ClassId) -> list[Assignment]:
        await self._read()
        return list(self.assignments[class_id])


def _names(users: tuple[EducationUser, ...]) -> list[str]:
    return [user.display_name for user in users]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(clock: Clock) -> RosterCache:
    return RosterCache(classes_ttl=300, members_ttl=300, assignments_ttl=60, clock=clock)


async def test_students_are_the_members_with_the_student_role(cache: RosterCache) -> None:
    assert _names(await cache.students(FakeGraph("a"), TEACHER_A, BIOLOGY)) == ["Alice a"]


async def test_fresh_entries_are_served_from_cache_until_their_ttl(cache: RosterCache, clock: Clock) -> None:
    graph = FakeGraph("a")
    await cache.students(graph, TEACHER_A, BIOLOGY)
    graph.members[BIOLOGY] = [_student("new", "Newcomer")]
    clock.now += 299
    assert _names(await cache.students(graph, TEACHER_A, BIOLOGY)) == ["Alice a"]
    clock.now += 2
    assert _names(await cache.students(graph, TEACHER_A, BIOLOGY)) == ["Newcomer"]


async def test_assignments_expire_sooner_than_members(cache: RosterCache, clock: Clock) -> None:
    graph = FakeGraph("a")
    await cache.assignments(graph, TEACHER_A, BIOLOGY)
    await cache.students(graph, TEACHER_A, BIOLOGY)
    graph.assignments[BIOLOGY] = [_assignment("a2", "Essay 2")]
    graph.members[BIOLOGY] = []
    clock.now += 61
    assert [a.display_name for a in await cache.assignments(graph, TEACHER_A, BIOLOGY)] == ["Essay 2"]
    assert _names(await cache.students(graph, TEACHER_A, BIOLOGY)) == ["Alice a"]


async def test_taught_classes_are_cached_per_teacher(cache: RosterCache) -> None:
    graph_a, graph_b = FakeGraph("a"), FakeGraph("b")
    first_a = await cache.taught_classes(graph_a, TEACHER_A)
    first_b = await cache.taught_classes(graph_b, TEACHER_B)
    assert [c.display_name for c in first_a] == ["Biology (a)"]
    assert [c.display_name for c in first_b] == ["Biology (b)"]
    assert await cache.taught_classes(graph_a, TEACHER_A) == first_a
    assert graph_a.reads == 1


async def test_one_teachers_roster_is_never_served_to_another(cache: RosterCache) -> None:
    graph_a, graph_b = FakeGraph("a"), FakeGraph("b")
    assert _names(await cache.students(graph_a, TEACHER_A, BIOLOGY)) == ["Alice a"]
    assert _names(await cache.students(graph_b, TEACHER_B, BIOLOGY)) == ["Alice b"]
    assert graph_b.reads == 1


async def test_the_same_teacher_id_in_another_tenant_is_another_teacher(cache: RosterCache) -> None:
    other_tenant = teacher_key_for(TenantId("tenant-2"), UserId("teacher-a"))
    await cache.students(FakeGraph("a"), TEACHER_A, BIOLOGY)
    assert _names(await cache.students(FakeGraph("x"), other_tenant, BIOLOGY)) == ["Alice x"]


async def test_concurrent_requests_share_one_fetch(cache: RosterCache) -> None:
    graph = FakeGraph("a")
    graph.gate = asyncio.Event()
    waiting = [asyncio.create_task(cache.students(graph, TEACHER_A, BIOLOGY)) for _ in range(5)]
    await asyncio.sleep(0)
    graph.gate.set()
    results = await asyncio.gather(*waiting)
    assert graph.reads == 1
    assert all(_names(result) == ["Alice a"] for result in results)


async def test_a_waiter_giving_up_does_not_cancel_the_shared_fetch(cache: RosterCache) -> None:
    graph = FakeGraph("a")
    graph.gate = asyncio.Event()
    impatient = asyncio.create_task(cache.students(graph, TEACHER_A, BIOLOGY))
    patient = asyncio.create_task(cache.students(graph, TEACHER_A, BIOLOGY))
    await asyncio.sleep(0)
    impatient.cancel()
    graph.gate.set()
    assert _names(await patient) == ["Alice a"]
    assert impatient.cancelled()
    assert graph.reads == 1


async def test_a_failed_fetch_reaches_every_waiter_and_is_not_cached(cache: RosterCache) -> None:
    graph = FakeGraph("a")
    graph.gate = asyncio.Event()
    graph.failures = 1
    waiting = [asyncio.create_task(cache.students(graph, TEACHER_A, BIOLOGY)) for _ in range(2)]
    await asyncio.sleep(0)
    graph.gate.set()
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(outcome, GraphDown) for outcome in outcomes)
    assert _names(await cache.students(graph, TEACHER_A, BIOLOGY)) == ["Alice a"]


async def test_invalidating_a_class_refetches_it_and_the_class_list_only(cache: RosterCache) -> None:
    graph_a, graph_b = FakeGraph("a"), FakeGraph("b")
    await cache.taught_classes(graph_a, TEACHER_A)
    await cache.students(graph_a, TEACHER_A, BIOLOGY)
    await cache.students(graph_a, TEACHER_A, ENGLISH)
    await cache.students(graph_b, TEACHER_B, BIOLOGY)
    graph_a.members[BIOLOGY] = []
    graph_a.members[ENGLISH] = []
    graph_a.classes = []
    graph_b.members[BIOLOGY] = []

    cache.invalidate(TEACHER_A, BIOLOGY)

    assert await cache.students(graph_a, TEACHER_A, BIOLOGY) == ()
    assert await cache.taught_classes(graph_a, TEACHER_A) == ()
    assert _names(await cache.students(graph_a, TEACHER_A, ENGLISH)) == ["Bob a"]
    assert _names(await cache.students(graph_b, TEACHER_B, BIOLOGY)) == ["Alice b"]


async def test_invalidating_a_teacher_drops_all_their_data(cache: RosterCache) -> None:
    graph = FakeGraph("a")
    await cache.students(graph, TEACHER_A, BIOLOGY)
    await cache.assignments(graph, TEACHER_A, ENGLISH)
    graph.members[BIOLOGY] = []
    graph.assignments[ENGLISH] = [_assignment("a9", "Poem")]
    cache.invalidate(TEACHER_A)
    assert await cache.students(graph, TEACHER_A, BIOLOGY) == ()
    assert [a.display_name for a in await cache.assignments(graph, TEACHER_A, ENGLISH)] == ["Poem"]


@pytest.mark.parametrize(("status", "dropped"), [(403, True), (404, True), (429, False), (500, False)])
async def test_graph_errors_drop_stale_data_only_for_403_and_404(
    cache: RosterCache, status: int, dropped: bool
) -> None:
    graph = FakeGraph("a")
    await cache.students(graph, TEACHER_A, BIOLOGY)
    graph.members[BIOLOGY] = []
    assert cache.on_graph_error(TEACHER_A, BIOLOGY, status) is dropped
    students = await cache.students(graph, TEACHER_A, BIOLOGY)
    assert (students == ()) is dropped


async def test_a_fetch_under_way_when_invalidated_is_not_kept(cache: RosterCache) -> None:
    graph = FakeGraph("a")
    graph.gate = asyncio.Event()
    stale = asyncio.create_task(cache.students(graph, TEACHER_A, BIOLOGY))
    await asyncio.sleep(0)
    cache.invalidate(TEACHER_A, BIOLOGY)
    graph.gate.set()
    assert _names(await stale) == ["Alice a"]
    graph.members[BIOLOGY] = []
    assert await cache.students(graph, TEACHER_A, BIOLOGY) == ()


async def test_the_least_recently_used_entries_go_beyond_the_bound(clock: Clock) -> None:
    cache = RosterCache(max_entries=2, clock=clock)
    graphs = {key: FakeGraph(key) for key in ("a", "b", "c")}
    for key, graph in graphs.items():
        await cache.students(graph, f"tenant/{key}", BIOLOGY)
    await cache.students(graphs["c"], "tenant/c", BIOLOGY)
    await cache.students(graphs["b"], "tenant/b", BIOLOGY)
    await cache.students(graphs["a"], "tenant/a", BIOLOGY)
    assert [graph.reads for graph in graphs.values()] == [2, 1, 1]


async def test_a_resolution_is_remembered_only_while_the_roster_is_the_same(cache: RosterCache, clock: Clock) -> None:
    graph = FakeGraph("a")
    roster = await cache.students(graph, TEACHER_A, BIOLOGY)
    first = cache.remembered(roster, "Alice", resolve_student)
    assert isinstance(first, Resolved) and first.value.display_name == "Alice a"
    assert cache.remembered(await cache.students(graph, TEACHER_A, BIOLOGY), "Alice", resolve_student) is first
    assert isinstance(cache.remembered(roster, "Bob", resolve_student), NotFound)  # another query, its own answer

    graph.members[BIOLOGY] = [_student("a2", "Alice Newcomer"), _student("a3", "Alice Other")]
    clock.now += 301  # the roster is read again: a new tuple, so the old answer is not reused
    again = cache.remembered(await cache.students(graph, TEACHER_A, BIOLOGY), "Alice", resolve_student)
    assert isinstance(again, Ambiguous)
    assert sorted(user.display_name for user in again.candidates) == ["Alice Newcomer", "Alice Other"]


async def test_fresh_shows_only_what_is_cached_and_fresh(cache: RosterCache, clock: Clock) -> None:
    graph = FakeGraph("a")
    assert cache.fresh(TEACHER_A, BIOLOGY) == (None, None)
    students = await cache.students(graph, TEACHER_A, BIOLOGY)
    assert cache.fresh(TEACHER_A, BIOLOGY) == (students, None)
    assignments = await cache.assignments(graph, TEACHER_A, BIOLOGY)
    reads = graph.reads
    assert cache.fresh(TEACHER_A, BIOLOGY) == (students, assignments)
    assert cache.fresh(TEACHER_B, BIOLOGY) == (None, None)  # another teacher's cache stays theirs
    clock.now += 61  # assignments expire first
    assert cache.fresh(TEACHER_A, BIOLOGY) == (students, None)
    assert graph.reads == reads  # looking never fetches
