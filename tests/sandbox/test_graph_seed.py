"""Invariants of the seed school that the bot's tests rely on."""

from __future__ import annotations

from collections import Counter

from sandbox.school import School, load_school

TENANT = "4f1c3b2a-0000-4000-8000-00000000c0de"


def test_seed_loads_with_the_documented_tenant() -> None:
    school = load_school()
    assert school.tenantId == TENANT
    assert school.about, "the seed documents itself in _about"


def test_seed_has_hard_names_and_enough_students() -> None:
    school = load_school()
    names = {u.displayName for u in school.users}
    for hard in (
        "Alex Kim",
        "Alex Lee",
        "Alexandra Petrova",
        "José Núñez",
        "Jose Nunez",
        "Mary-Jane O'Connor",
        "Luis de la Cruz",
        "Nguyễn Thị Lan",
        "Will",
        "Alice Smith",
        "Bob Jones",
        "Carol Diaz",
    ):
        assert hard in names
    students = [u for u in school.users if u.primaryRole == "student"]
    assert len(students) >= 25
    assert len([u for u in school.users if u.primaryRole == "teacher"]) >= 3
    assert len({u.id for u in school.users}) == len(school.users)


def test_class_structure() -> None:
    school = load_school()
    bio = school.class_named("Biology 101")
    eng = school.class_named("7B English")
    assert len(bio.studentIds) == 25
    both = set(bio.studentIds) & set(eng.studentIds)
    assert school.user_named("Alex Kim").id in both
    teaching_two = [t for t in bio.teacherIds if t in eng.teacherIds]
    assert teaching_two, "one teacher teaches both classes"
    other = school.class_named("10C History")
    assert not set(other.teacherIds) & (set(bio.teacherIds) | set(eng.teacherIds))
    # José Núñez and Jose Nunez are different people.
    assert school.user_named("José Núñez").id != school.user_named("Jose Nunez").id
    for cls in (bio, eng):
        assert cls.mailNickname and cls.externalName and cls.classCode


def test_assignments_cover_the_grading_cases() -> None:
    school = load_school()
    bio = school.class_named("Biology 101")
    eng = school.class_named("7B English")
    assert school.assignment_named(bio.id, "Essay 2").maxPoints == 100
    assert school.assignment_named(eng.id, "Essay 2").maxPoints == 100
    assert school.assignment_named(bio.id, "Lab 3").maxPoints == 20
    assert school.assignment_named(bio.id, "Lab 3").rubric is not None
    assert school.assignment_named(bio.id, "Unit 3 Quiz 2").maxPoints is not None
    assert school.assignment_named(bio.id, "Field Trip Reflection").maxPoints is None
    draft = school.assignment_named(bio.id, "Final Project Draft")
    assert draft.status == "draft"
    assert school.submissions_of(draft.id) == []
    assert any(a.status == "inactive" for a in school.assignments)


def test_submissions_cover_every_status_and_lateness() -> None:
    school = load_school()
    statuses = Counter(s.status for s in school.submissions)
    assert set(statuses) == {"working", "submitted", "returned", "reassigned", "excused"}
    late = [
        s
        for s in school.submissions
        if s.submittedDateTime is not None
        and (a := school.assignment(s.assignmentId)) is not None
        and a.dueDateTime is not None
        and s.submittedDateTime > a.dueDateTime
    ]
    assert late
    assert any(o.points is not None and o.publishedPoints is None for s in school.submissions for o in s.outcomes)


def test_every_submission_has_consistent_outcomes_and_links() -> None:
    school = load_school()
    assert len({s.id for s in school.submissions}) == len(school.submissions)
    for sub in school.submissions:
        assignment = school.assignment(sub.assignmentId)
        assert assignment is not None
        kinds = {o.kind for o in sub.outcomes}
        assert "feedback" in kinds
        assert ("points" in kinds) == (assignment.maxPoints is not None)
        assert ("rubric" in kinds) == (assignment.rubric is not None)
        assert sub.webUrl.startswith("https://teams.microsoft.com/l/entity/")
        cls = school.school_class(sub.classId)
        assert cls is not None and sub.userId in cls.studentIds


def test_seed_is_deterministic() -> None:
    first: School = load_school()
    second: School = load_school()
    assert [s.id for s in first.submissions] == [s.id for s in second.submissions]
