"""Resolution against the sandbox school's roster (sandbox/school.json), read as plain JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.graph.ids import ClassId
from bot.graph.models import Assignment, EducationClass, EducationUser
from bot.roster import (
    Ambiguous,
    MatchKind,
    NotFound,
    Resolved,
    RosterCache,
    Target,
    locate,
    resolve_assignment,
    resolve_student,
)

SCHOOL_PATH = Path(__file__).resolve().parents[2] / "sandbox" / "school.json"

pytestmark = pytest.mark.skipif(not SCHOOL_PATH.exists(), reason="sandbox/school.json not written yet")


class School:
    """The seed file as Graph models: users, classes with their members, assignments per class."""

    def __init__(self, seed: dict[str, Any]) -> None:
        self.users = {user["id"]: EducationUser.model_validate(user) for user in seed["users"]}
        self.classes = [EducationClass.model_validate(c) for c in seed["classes"]]
        self.teacher_ids = {c["id"]: list(c["teacherIds"]) for c in seed["classes"]}
        self.members = {
            c["id"]: [self.users[user_id] for user_id in [*c["teacherIds"], *c["studentIds"]]] for c in seed["classes"]
        }
        self.assignments: dict[str, list[Assignment]] = {c["id"]: [] for c in seed["classes"]}
        for raw in seed["assignments"]:
            points = raw.get("maxPoints")
            grading = (
                {"@odata.type": "#microsoft.graph.educationAssignmentPointsGradeType", "maxPoints": points}
                if points is not None
                else None
            )
            assignment = Assignment.model_validate({**raw, "grading": grading})
            self.assignments[raw["classId"]].append(assignment)

    def class_named(self, name: str) -> EducationClass:
        return next(c for c in self.classes if c.display_name == name)

    def user_named(self, name: str) -> EducationUser:
        return next(user for user in self.users.values() if user.display_name == name)


class TeacherView:
    """A RosterSource for one sandbox teacher."""

    def __init__(self, school: School, teacher_id: str) -> None:
        self.school = school
        self.teacher_id = teacher_id

    async def my_taught_classes(self) -> list[EducationClass]:
        return [c for c in self.school.classes if self.teacher_id in self.school.teacher_ids[c.id]]

    async def list_members(self, class_id: ClassId) -> list[EducationUser]:
        return list(self.school.members[class_id])

    async def list_assignments(self, class_id: ClassId) -> list[Assignment]:
        return list(self.school.assignments[class_id])


@pytest.fixture(scope="module")
def school() -> School:
    return School(json.loads(SCHOOL_PATH.read_text(encoding="utf-8")))


def test_every_student_resolves_exactly_by_display_name_and_mail_nickname(school: School) -> None:
    checked = 0
    for education_class in school.classes:
        members = school.members[education_class.id]
        for student in (m for m in members if m.primary_role == "student"):
            by_name = resolve_student(members, student.display_name)
            assert by_name == Resolved(student, exact=True, matched_on=MatchKind.DISPLAY_NAME), student.display_name
            assert student.mail_nickname is not None
            by_nickname = resolve_student(members, student.mail_nickname)
            assert isinstance(by_nickname, Resolved)
            assert by_nickname.value == student
            assert by_nickname.exact
            checked += 1
    assert checked > 30


def test_every_assigned_assignment_resolves_exactly_by_title(school: School) -> None:
    for assignments in school.assignments.values():
        for assignment in assignments:
            resolution = resolve_assignment(assignments, assignment.display_name)
            assert resolution == Resolved(assignment, exact=True, matched_on=MatchKind.DISPLAY_NAME)


def test_hard_names_in_biology(school: School) -> None:
    members = school.members[school.class_named("Biology 101").id]
    alex = resolve_student(members, "Alex")
    assert isinstance(alex, Ambiguous)
    assert [s.display_name for s in alex.candidates] == ["Alex Kim", "Alex Lee"]
    assert resolve_student(members, "de la Cruz") == Resolved(
        school.user_named("Luis de la Cruz"), exact=True, matched_on=MatchKind.SURNAME
    )
    assert resolve_student(members, "Mary Jane O'Connor") == Resolved(
        school.user_named("Mary-Jane O'Connor"), exact=True, matched_on=MatchKind.DISPLAY_NAME
    )
    lan = resolve_student(members, "Nguyen Thi Lan")
    assert lan == Resolved(school.user_named("Nguyễn Thị Lan"), exact=False, matched_on=MatchKind.DISPLAY_NAME)
    alcie = resolve_student(members, "Alcie")
    assert isinstance(alcie, NotFound)
    assert alcie.suggestions[0] == school.user_named("Alice Smith")


def test_accent_twins_across_a_teachers_classes(school: School) -> None:
    biology = school.members[school.class_named("Biology 101").id]
    english = school.members[school.class_named("7B English").id]
    both = [*biology, *english]
    assert isinstance(resolve_student(both, "jose nunez"), Ambiguous)
    accented = resolve_student(both, "José Núñez")
    assert accented == Resolved(school.user_named("José Núñez"), exact=True, matched_on=MatchKind.DISPLAY_NAME)


async def test_locate_finds_the_class_from_the_names(school: School) -> None:
    dana = TeacherView(school, school.user_named("Dana Whitfield").id)
    cache = RosterCache()

    async def find(student: str, assignment: str) -> Target | Ambiguous[EducationClass] | NotFound[EducationClass]:
        return await locate(
            dana, "tenant/dana", student=student, assignment=assignment, hint=None, channel_class_id=None, cache=cache
        )

    jose = await find("Jose Nunez", "Essay 2")
    assert isinstance(jose, Target)
    assert jose.education_class.display_name == "7B English"
    assert jose.ready

    alex = await find("Alex Kim", "Essay 2")
    assert isinstance(alex, Ambiguous)
    assert {c.display_name for c in alex.candidates} == {"Biology 101", "7B English"}

    lab = await find("Alice", "Lab 3")
    assert isinstance(lab, Target)
    assert lab.education_class.display_name == "Biology 101"
