"""Assignments: listing, $filter, $select, paging, the inactive status rule and /me/assignments."""

from __future__ import annotations

import httpx

from sandbox.school import School
from tests.sandbox.conftest import BASE_URL, STUDENT_SCOPES, auth


async def test_list_assignments_shape(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    cls = school.class_named("Biology 101")
    body = (await graph.get(f"/education/classes/{cls.id}/assignments", headers=auth(dana))).json()
    assert body["@odata.context"] == f"{BASE_URL}/v1.0/$metadata#education/classes('{cls.id}')/assignments"
    by_name = {a["displayName"]: a for a in body["value"]}
    assert by_name["Essay 2"]["grading"] == {
        "@odata.type": "#microsoft.graph.educationAssignmentPointsGradeType",
        "maxPoints": 100,
    }
    assert by_name["Field Trip Reflection"]["grading"] is None
    assert by_name["Final Project Draft"]["status"] == "draft"
    assert by_name["Essay 2"]["classId"] == cls.id
    assert by_name["Essay 2"]["dueDateTime"] == "2025-03-07T23:59:00Z"


async def test_filter_status_eq_and_or(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    cls = school.class_named("Biology 101")
    url = f"/education/classes/{cls.id}/assignments"
    assigned = (await graph.get(url, params={"$filter": "status eq 'assigned'"}, headers=auth(dana))).json()
    assert {a["status"] for a in assigned["value"]} == {"assigned"}
    assert "Final Project Draft" not in {a["displayName"] for a in assigned["value"]}
    both = (
        await graph.get(url, params={"$filter": "status eq 'assigned' or status eq 'draft'"}, headers=auth(dana))
    ).json()
    assert {a["status"] for a in both["value"]} == {"assigned", "draft"}
    assert len(both["value"]) == len(assigned["value"]) + 1
    named = (
        await graph.get(url, params={"$filter": "(displayName eq 'Essay 2') and status ne 'draft'"}, headers=auth(dana))
    ).json()
    assert [a["displayName"] for a in named["value"]] == ["Essay 2"]


async def test_bad_filter_is_400(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    cls = school.class_named("Biology 101")
    response = await graph.get(
        f"/education/classes/{cls.id}/assignments", params={"$filter": "status gt"}, headers=auth(dana)
    )
    assert response.status_code == 400


async def test_select_and_top_paging(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    cls = school.class_named("Biology 101")
    params = {"$select": "id,displayName,status", "$top": "3"}
    page = (await graph.get(f"/education/classes/{cls.id}/assignments", params=params, headers=auth(dana))).json()
    assert page["@odata.context"].endswith("/assignments(id,displayName,status)")
    assert all(set(a) == {"id", "displayName", "status"} for a in page["value"])
    names = [a["displayName"] for a in page["value"]]
    while "@odata.nextLink" in page:
        assert page["@odata.nextLink"].startswith(f"{BASE_URL}/v1.0/education/classes/")
        page = (await graph.get(page["@odata.nextLink"], headers=auth(dana))).json()
        assert len(page["value"]) <= 3
        names += [a["displayName"] for a in page["value"]]
    assert sorted(names) == sorted(a.displayName for a in school.assignments_of(cls.id))


async def test_inactive_assignment_follows_prefer(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    cls = school.class_named("Biology 101")
    inactive = school.assignment_named(cls.id, "Cell Diagram")
    url = f"/education/classes/{cls.id}/assignments/{inactive.id}/"
    with_prefer = await graph.get(url, headers=auth(dana, prefer=True))
    assert with_prefer.json()["status"] == "inactive"
    assert with_prefer.headers["preference-applied"] == "include-unknown-enum-members"
    without = await graph.get(url, headers=auth(dana, prefer=False))
    assert without.json()["status"] == "unknownFutureValue"
    assert "preference-applied" not in without.headers


async def test_get_assignment_with_rubric_expanded(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    cls = school.class_named("Biology 101")
    lab = school.assignment_named(cls.id, "Lab 3")
    response = await graph.get(
        f"/education/classes/{cls.id}/assignments/{lab.id}", params={"$expand": "rubric"}, headers=auth(dana)
    )
    body = response.json()
    assert body["@odata.context"].endswith(f"classes('{cls.id}')/assignments/$entity")
    assert [q["displayName"] for q in body["rubric"]["qualities"]] == ["Method", "Results", "Conclusion"]
    assert len(body["rubric"]["levels"]) == 3


async def test_unknown_assignment_is_404(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    cls = school.class_named("Biology 101")
    other = school.assignment_named(school.class_named("7B English").id, "Quiz 1")
    response = await graph.get(f"/education/classes/{cls.id}/assignments/{other.id}", headers=auth(dana))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NotFound"


async def test_draft_assignment_has_no_submissions(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    cls = school.class_named("Biology 101")
    draft = school.assignment_named(cls.id, "Final Project Draft")
    response = await graph.get(f"/education/classes/{cls.id}/assignments/{draft.id}/submissions", headers=auth(dana))
    assert response.status_code == 200
    assert response.json()["value"] == []


async def test_me_assignments_is_read_only(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    alice = school.user_named("Alice Smith")
    teacher_view = (await graph.get("/education/me/assignments", headers=auth(dana), params={"$top": "50"})).json()
    class_ids = {a["classId"] for a in teacher_view["value"]}
    assert class_ids == {school.class_named("Biology 101").id, school.class_named("7B English").id}
    student_view = (await graph.get("/education/me/assignments", headers=auth(alice, STUDENT_SCOPES))).json()
    assert "draft" not in {a["status"] for a in student_view["value"]}
    cls = school.class_named("Biology 101")
    essay = school.assignment_named(cls.id, "Essay 2")
    refused = await graph.post(f"/education/me/assignments/{essay.id}/submissions/x/return", headers=auth(dana))
    assert refused.status_code == 405
    assert refused.json()["error"]["code"] == "Request_BadRequest"
    created = await graph.post("/education/me/assignments", json={"displayName": "x"}, headers=auth(dana))
    assert created.status_code == 405
