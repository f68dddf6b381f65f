"""How long resolving a student and an assignment takes with a 40-student roster already cached."""

from __future__ import annotations

import asyncio
import statistics
import time

from bot.graph.ids import ClassId
from bot.graph.models import Assignment, EducationClass, EducationUser
from bot.roster import RosterCache, resolve_assignment, resolve_student

CLASS_ID = ClassId("bench-class")
TEACHER = "bench-tenant/bench-teacher"
ROUNDS = 3000

_GIVEN = [
    "Alice", "Bob", "Carol", "Alex", "Alex", "Alexandra", "José", "Jose", "Mary-Jane", "Luis",
    "Lan", "Will", "Sam", "Emma", "Noah", "Olivia", "Liam", "Sophie", "Ethan", "Chloé",
    "Aaliyah", "Mateo", "Hannah", "Zoe", "Kai", "Isabella", "Ryan", "Grace", "Jack", "Mia",
    "Lucas", "Ava", "Daniel", "Lily", "Ben", "Freya", "Omar", "Ruby", "Tom", "Emma",
]  # fmt: skip
_SURNAMES = [
    "Smith", "Jones", "Diaz", "Kim", "Lee", "Petrova", "Núñez", "Nunez", "O'Connor", "de la Cruz",
    "Nguyễn", "Turner", "Patel", "Brown", "Wilson", "Martin", "O'Brien", "Müller", "Zhang", "Dubois",
    "Johnson", "García", "Schmidt", "van der Berg", "Nakamura", "Rossi", "Cooper", "Ali", "Murphy", "Chen",
    "Silva", "Novak", "Kowalski", "Evans", "Carter", "Lindqvist", "Haddad", "Clarke", "Becker", "Thompson",
]  # fmt: skip
_TITLES = ["Essay 1", "Essay 2", "Lab 3", "Quiz 1", "Unit 3 Quiz 2", "Field Trip Reflection", "Cell Diagram"]
_QUERIES = [
    ("Alice", "Essay 2"),
    ("Alex", "essay two"),
    ("jose nunez", "Essay #2"),
    ("Mary Jane O'Connor", "lab"),
    ("de la Cruz", "quiz"),
    ("Alcie", "Esay 2"),
    ("Smith, Alice", "Unit 3 Quiz 2"),
    ("asmith", "essay 02"),
]


class _Roster:
    """A RosterSource answering from memory."""

    def __init__(self) -> None:
        self.students = [
            EducationUser.model_validate(
                {
                    "id": f"student-{index}",
                    "displayName": f"{given} {surname}",
                    "givenName": given,
                    "surname": surname,
                    "mailNickname": "asmith" if index == 0 else f"student{index}",
                    "primaryRole": "student",
                }
            )
            for index, (given, surname) in enumerate(zip(_GIVEN, _SURNAMES, strict=True))
        ]
        self.assignments = [
            Assignment.model_validate({"id": f"assignment-{index}", "displayName": title, "status": "assigned"})
            for index, title in enumerate(_TITLES)
        ]

    async def my_taught_classes(self) -> list[EducationClass]:
        return [EducationClass(id=CLASS_ID, display_name="Bench 101")]

    async def list_members(self, class_id: ClassId) -> list[EducationUser]:
        return list(self.students)

    async def list_assignments(self, class_id: ClassId) -> list[Assignment]:
        return list(self.assignments)


async def _measure() -> list[float]:
    source = _Roster()
    cache = RosterCache()
    await cache.students(source, TEACHER, CLASS_ID)
    await cache.assignments(source, TEACHER, CLASS_ID)
    samples: list[float] = []
    for round_number in range(ROUNDS):
        student, assignment = _QUERIES[round_number % len(_QUERIES)]
        start = time.perf_counter_ns()
        students = await cache.students(source, TEACHER, CLASS_ID)
        assignments = await cache.assignments(source, TEACHER, CLASS_ID)
        resolve_student(students, student)
        resolve_assignment(assignments, assignment)
        samples.append((time.perf_counter_ns() - start) / 1000)
    return samples


def run() -> dict[str, float]:
    """Median and 99th-percentile microseconds to resolve one student and one assignment from the cache."""
    samples = asyncio.run(_measure())
    return {
        "resolve_median_us": statistics.median(samples),
        "resolve_p99_us": statistics.quantiles(samples, n=100)[98],
    }


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name}: {value:.1f}")
