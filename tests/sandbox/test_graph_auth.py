"""Authentication, scopes and who may write."""

from __future__ import annotations

import httpx

from sandbox.school import School
from tests.sandbox.conftest import STUDENT_SCOPES, auth, submission_of, submission_url


async def test_missing_authorization_is_401_with_odata_error(graph: httpx.AsyncClient, school: School) -> None:
    cls = school.class_named("Biology 101")
    response = await graph.get(f"/education/classes/{cls.id}", headers={"client-request-id": "abc-123"})
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "InvalidAuthenticationToken"
    assert error["innerError"]["client-request-id"] == "abc-123"
    assert error["innerError"]["request-id"] == response.headers["request-id"]
    assert "date" in error["innerError"]
    assert response.headers["client-request-id"] == "abc-123"


async def test_invalid_token_is_401(graph: httpx.AsyncClient) -> None:
    response = await graph.get("/education/me/classes", headers={"Authorization": "Bearer expired|EduRoster.Read"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"


async def test_every_response_carries_request_ids(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    response = await graph.get("/education/me/classes", headers=auth(dana))
    assert response.status_code == 200
    assert response.headers["request-id"]
    assert response.headers["client-request-id"]


async def test_roster_read_needs_a_roster_scope(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    response = await graph.get("/education/me/taughtClasses", headers=auth(dana, "EduAssignments.ReadWrite"))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "AccessDenied"


async def test_assignment_read_needs_an_assignments_scope(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    cls = school.class_named("Biology 101")
    response = await graph.get(f"/education/classes/{cls.id}/assignments", headers=auth(dana, "EduRoster.ReadBasic"))
    assert response.status_code == 403


async def test_return_needs_readwrite_not_readwritebasic(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    cls = school.class_named("Biology 101")
    essay = school.assignment_named(cls.id, "Essay 2")
    sub = submission_of(school, cls, essay, school.user_named("Alice Smith"))
    url = submission_url(cls, essay, sub) + "/return"
    response = await graph.post(url, headers=auth(dana, "EduAssignments.ReadWriteBasic"))
    assert response.status_code == 403
    assert sub.status == "submitted"


async def test_teacher_of_another_class_cannot_grade(graph: httpx.AsyncClient, school: School) -> None:
    marcus = school.user_named("Marcus Oyelaran")
    cls = school.class_named("Biology 101")
    essay = school.assignment_named(cls.id, "Essay 2")
    sub = submission_of(school, cls, essay, school.user_named("Alice Smith"))
    points = next(o for o in sub.outcomes if o.kind == "points")
    body = {"@odata.type": "#microsoft.graph.educationPointsOutcome", "points": {"points": 85}}
    response = await graph.patch(
        submission_url(cls, essay, sub) + f"/outcomes/{points.id}", json=body, headers=auth(marcus)
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] in ("Forbidden", "AccessDenied")
    assert points.points is None
    returned = await graph.post(submission_url(cls, essay, sub) + "/return", headers=auth(marcus))
    assert returned.status_code == 403
    assert sub.status == "submitted"


async def test_student_cannot_grade_or_return(graph: httpx.AsyncClient, school: School) -> None:
    alice = school.user_named("Alice Smith")
    cls = school.class_named("Biology 101")
    essay = school.assignment_named(cls.id, "Essay 2")
    sub = submission_of(school, cls, essay, alice)
    points = next(o for o in sub.outcomes if o.kind == "points")
    body = {"@odata.type": "#microsoft.graph.educationPointsOutcome", "points": {"points": 100}}
    url = submission_url(cls, essay, sub)
    patched = await graph.patch(
        f"{url}/outcomes/{points.id}", json=body, headers=auth(alice, "EduAssignments.ReadWrite")
    )
    assert patched.status_code == 403
    returned = await graph.post(f"{url}/return", headers=auth(alice, "EduAssignments.ReadWrite"))
    assert returned.status_code == 403
    assert points.points is None and sub.status == "submitted"


async def test_student_reads_only_own_submissions(graph: httpx.AsyncClient, school: School) -> None:
    alice = school.user_named("Alice Smith")
    bob = school.user_named("Bob Jones")
    cls = school.class_named("Biology 101")
    essay = school.assignment_named(cls.id, "Essay 2")
    listed = await graph.get(
        f"/education/classes/{cls.id}/assignments/{essay.id}/submissions", headers=auth(alice, STUDENT_SCOPES)
    )
    assert listed.status_code == 200
    assert [s["recipient"]["userId"] for s in listed.json()["value"]] == [alice.id]
    bobs = submission_of(school, cls, essay, bob)
    other = await graph.get(submission_url(cls, essay, bobs), headers=auth(alice, STUDENT_SCOPES))
    assert other.status_code == 403


async def test_student_does_not_see_draft_assignments(graph: httpx.AsyncClient, school: School) -> None:
    alice = school.user_named("Alice Smith")
    cls = school.class_named("Biology 101")
    listed = await graph.get(f"/education/classes/{cls.id}/assignments", headers=auth(alice, STUDENT_SCOPES))
    assert "Final Project Draft" not in {a["displayName"] for a in listed.json()["value"]}
