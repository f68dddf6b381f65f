"""A short-lived index of submissions by student, so a warm grade needs no lookup round trip.

Submission and outcome ids never change for a (assignment, student) pair, so a cached id is always the right write
target; the cached outcome values (shown as "old" on confirmations and kept for undo) are refreshed after every write
this bot makes and expire quickly. Keyed by teacher, so one teacher's reads are never served to another.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from bot.graph.client import EducationClient
from bot.graph.ids import AssignmentId, ClassId, UserId
from bot.graph.models import Submission

_Key = tuple[str, ClassId, AssignmentId]


class SubmissionIndex:
    """Submissions of an assignment (with outcomes) per teacher, for `ttl` seconds."""

    def __init__(
        self, *, ttl: float = 120.0, max_entries: int = 512, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[_Key, tuple[float, dict[UserId, Submission]]] = OrderedDict()

    async def all(
        self, client: EducationClient, teacher_key: str, class_id: ClassId, assignment_id: AssignmentId
    ) -> dict[UserId, Submission]:
        """Every submission of the assignment by student id (fetched with outcomes when not cached)."""
        key = (teacher_key, class_id, assignment_id)
        cached = self._entries.get(key)
        if cached is not None and cached[0] > self._clock():
            self._entries.move_to_end(key)
            return cached[1]
        fetched = await client.list_submissions(class_id, assignment_id, expand_outcomes=True)
        by_student = {s.student_id: s for s in fetched if s.student_id is not None}
        self._store(key, by_student)
        return by_student

    async def find(
        self,
        client: EducationClient,
        teacher_key: str,
        class_id: ClassId,
        assignment_id: AssignmentId,
        student_id: UserId,
    ) -> Submission | None:
        """The student's submission, or None when the student has none for this assignment."""
        return (await self.all(client, teacher_key, class_id, assignment_id)).get(student_id)

    def peek(
        self, teacher_key: str, class_id: ClassId, assignment_id: AssignmentId, student_id: UserId
    ) -> Submission | None:
        """The cached submission, without fetching (None when not cached or expired)."""
        cached = self._entries.get((teacher_key, class_id, assignment_id))
        if cached is None or cached[0] <= self._clock():
            return None
        return cached[1].get(student_id)

    def remember(
        self, teacher_key: str, class_id: ClassId, assignment_id: AssignmentId, submission: Submission
    ) -> None:
        """Record a submission as it is after a write this bot made (keeps the index warm and current)."""
        key = (teacher_key, class_id, assignment_id)
        cached = self._entries.get(key)
        if cached is None or submission.student_id is None:
            return
        cached[1][submission.student_id] = submission

    def forget(self, teacher_key: str, class_id: ClassId | None = None) -> None:
        """Drop cached submissions (after a Graph 403/404, or when the teacher's rights may have changed)."""
        for key in [k for k in self._entries if k[0] == teacher_key and (class_id is None or k[1] == class_id)]:
            del self._entries[key]

    def _store(self, key: _Key, value: dict[UserId, Submission]) -> None:
        self._entries[key] = (self._clock() + self._ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
