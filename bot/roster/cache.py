"""A per-teacher, short-lived cache of taught classes, class students and assignment lists.

It spares Graph's quota (the Assignments service allows roughly 350-500 requests per 10 s per app per tenant): a
teacher grading a pile of essays reads the roster once, not once per message. Everything is keyed by teacher
(tenant id + teacher object id), so one teacher's roster is never served to another, even for a shared class.
Entries expire after a TTL, the least recently used are evicted beyond a bound, concurrent requests for the same
entry share one fetch, and a Graph 403/404 drops what may be stale (`on_graph_error`).

`remembered` keeps the answer of a pure resolution ("Alice Smith" among this class's students) for as long as the
cache hands out the same roster tuple: a teacher grading a pile of essays names the same few students and the same
assignment again and again, and resolving a name (normalising every student's name forms) cost more CPU than the
rest of the grade's own logic (measured under load with `make bench`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Generic, Protocol, TypeVar, cast

from bot.graph.ids import ClassId, TenantId, UserId
from bot.graph.models import Assignment, EducationClass, EducationUser, UserRole

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

REMEMBERED_RESOLUTIONS = 4096
"""Resolutions kept at most (the least recently used go first)."""

_Key = tuple[str, str]
"""(teacher key, class id); the class id is "" for the taught-classes list."""

INVALIDATING_STATUSES = frozenset({403, 404})
"""Graph statuses after which cached roster data may be wrong (access removed, class or assignment deleted)."""


class RosterSource(Protocol):
    """Where roster data comes from: the Graph education client bound to one teacher's token."""

    async def my_taught_classes(self) -> list[EducationClass]: ...

    async def list_members(self, class_id: ClassId) -> list[EducationUser]: ...

    async def list_assignments(self, class_id: ClassId) -> list[Assignment]: ...


def teacher_key_for(tenant_id: TenantId, teacher_id: UserId) -> str:
    """The cache key of one teacher: tenant id and object id, so equal object ids in two tenants never collide."""
    return f"{tenant_id}/{teacher_id}"


@dataclass(frozen=True, slots=True)
class _Entry(Generic[T]):
    value: tuple[T, ...]
    expires_at: float


class _Shelf(Generic[T]):
    """One kind of cached list: TTL, LRU bound, and one shared fetch per key at a time."""

    def __init__(self, name: str, ttl: float, max_entries: int, clock: Callable[[], float]) -> None:
        self._name = name
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[_Key, _Entry[T]] = OrderedDict()
        self._inflight: dict[_Key, asyncio.Task[tuple[T, ...]]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: _Key, fetch: Callable[[], Awaitable[tuple[T, ...]]]) -> tuple[T, ...]:
        entry = self._entries.get(key)
        if entry is not None:
            if entry.expires_at > self._clock():
                self._entries.move_to_end(key)
                return entry.value
            del self._entries[key]
        task = self._inflight.get(key)
        if task is None:
            log.debug("roster cache miss: %s for class %r", self._name, key[1])
            task = asyncio.ensure_future(fetch())
            self._inflight[key] = task
            task.add_done_callback(partial(self._settle, key, self._clock() + self._ttl))
        # shield: a waiter that gives up must not cancel the fetch the other waiters share.
        return await asyncio.shield(task)

    def peek(self, key: _Key) -> tuple[T, ...] | None:
        """The fresh entry under `key`, or None (nothing is fetched)."""
        entry = self._entries.get(key)
        if entry is None or entry.expires_at <= self._clock():
            return None
        self._entries.move_to_end(key)
        return entry.value

    def _settle(self, key: _Key, expires_at: float, task: asyncio.Task[tuple[T, ...]]) -> None:
        if task.cancelled():
            if self._inflight.get(key) is task:
                del self._inflight[key]
            return
        error = task.exception()  # retrieved even when every waiter has gone, so asyncio does not warn
        if self._inflight.get(key) is not task:
            return  # invalidated while fetching: the result may already be stale, do not keep it
        del self._inflight[key]
        if error is not None:
            return
        self._entries[key] = _Entry(task.result(), expires_at)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def drop(self, teacher_key: str, class_id: str | None) -> None:
        """Forget the teacher's entries (only those of `class_id` when given), and any fetch under way for them."""
        for store in (self._entries, self._inflight):
            for key in [k for k in store if k[0] == teacher_key and (class_id is None or k[1] == class_id)]:
                del store[key]


class RosterCache:
    """Per-teacher cache of taught classes, class students and assignments, read through a `RosterSource`.

    The source is passed on every call because a source is bound to one teacher's token; `teacher_key` (see
    `teacher_key_for`) must be that teacher's. Returned tuples are shared between callers: they are immutable and
    so are the models in them.
    """

    def __init__(
        self,
        *,
        classes_ttl: float = 300.0,
        members_ttl: float = 300.0,
        assignments_ttl: float = 60.0,
        max_entries: int = 2048,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Create an empty cache.

        Args:
            classes_ttl: Seconds a teacher's taught-classes list is kept.
            members_ttl: Seconds a class's student list is kept.
            assignments_ttl: Seconds a class's assignment list is kept (short: teachers create assignments often).
            max_entries: Most entries kept per kind (classes lists, student lists, assignment lists); the least
                recently used go first.
            clock: Monotonic seconds; injectable for tests.
        """
        self._resolutions: OrderedDict[tuple[str, int, str], tuple[tuple[object, ...], object]] = OrderedDict()
        self._classes: _Shelf[EducationClass] = _Shelf("taught classes", classes_ttl, max_entries, clock)
        self._students: _Shelf[EducationUser] = _Shelf("students", members_ttl, max_entries, clock)
        self._assignments: _Shelf[Assignment] = _Shelf("assignments", assignments_ttl, max_entries, clock)

    def remembered(self, roster: tuple[T, ...], query: str, resolve: Callable[[tuple[T, ...], str], R]) -> R:
        """`resolve(roster, query)`, computed once per roster tuple this cache handed out (`resolve` must be pure).

        The entry holds the tuple itself, so its identity cannot be taken over by another list while the entry
        lives; a refreshed roster is a new tuple, so a stale answer is never returned.
        """
        key = (resolve.__qualname__, id(roster), query)
        hit = self._resolutions.get(key)
        if hit is not None and hit[0] is roster:
            self._resolutions.move_to_end(key)
            return cast(R, hit[1])
        answer = resolve(roster, query)
        self._resolutions[key] = (roster, answer)
        while len(self._resolutions) > REMEMBERED_RESOLUTIONS:
            self._resolutions.popitem(last=False)
        return answer

    async def taught_classes(self, source: RosterSource, teacher_key: str) -> tuple[EducationClass, ...]:
        """The classes the teacher teaches.

        Args:
            source: The Graph client bound to this teacher's token.
            teacher_key: This teacher's key.

        Returns:
            The classes, from cache when fresh.

        Raises:
            Whatever `source.my_taught_classes` raises; nothing is cached then.
        """

        async def fetch() -> tuple[EducationClass, ...]:
            return tuple(await source.my_taught_classes())

        return await self._classes.get((teacher_key, ""), fetch)

    async def students(self, source: RosterSource, teacher_key: str, class_id: ClassId) -> tuple[EducationUser, ...]:
        """The class's members whose primaryRole is student (teachers are left out).

        Args:
            source: The Graph client bound to this teacher's token.
            teacher_key: This teacher's key.
            class_id: The class.

        Returns:
            The students, from cache when fresh.

        Raises:
            Whatever `source.list_members` raises; nothing is cached then.
        """

        async def fetch() -> tuple[EducationUser, ...]:
            members = await source.list_members(class_id)
            return tuple(member for member in members if member.primary_role == UserRole.STUDENT)

        return await self._students.get((teacher_key, class_id), fetch)

    async def assignments(self, source: RosterSource, teacher_key: str, class_id: ClassId) -> tuple[Assignment, ...]:
        """The class's assignments, drafts included.

        Args:
            source: The Graph client bound to this teacher's token.
            teacher_key: This teacher's key.
            class_id: The class.

        Returns:
            The assignments, from cache when fresh.

        Raises:
            Whatever `source.list_assignments` raises; nothing is cached then.
        """

        async def fetch() -> tuple[Assignment, ...]:
            return tuple(await source.list_assignments(class_id))

        return await self._assignments.get((teacher_key, class_id), fetch)

    def fresh(
        self, teacher_key: str, class_id: ClassId
    ) -> tuple[tuple[EducationUser, ...] | None, tuple[Assignment, ...] | None]:
        """The class's students and assignments as cached now (None for either that is missing or stale)."""
        key = (teacher_key, class_id)
        return self._students.peek(key), self._assignments.peek(key)

    def invalidate(self, teacher_key: str, class_id: ClassId | None = None) -> None:
        """Forget cached data of one teacher: everything, or one class's students and assignments.

        Dropping one class also drops the teacher's taught-classes list, since a class that vanished or locked the
        teacher out means that list is stale too. A fetch under way for a dropped entry still answers its waiters
        but is not kept.

        Args:
            teacher_key: The teacher.
            class_id: The class, or None for all of the teacher's data.
        """
        self._classes.drop(teacher_key, None)
        self._students.drop(teacher_key, class_id)
        self._assignments.drop(teacher_key, class_id)

    def on_graph_error(self, teacher_key: str, class_id: ClassId | None, error_status: int) -> bool:
        """Drop what a failed Graph call shows may be stale; call it with the status of any Graph error.

        Args:
            teacher_key: The teacher whose call failed.
            class_id: The class the call was about, or None.
            error_status: The HTTP status Graph answered.

        Returns:
            True if the status was 403 or 404 and the teacher's data (for that class) was dropped; False otherwise.
        """
        if error_status not in INVALIDATING_STATUSES:
            return False
        self.invalidate(teacher_key, class_id)
        return True
