"""Classes, members and teachers as Graph answers them."""

from __future__ import annotations

import httpx

from sandbox.school import School
from tests.sandbox.conftest import BASE_URL, STUDENT_SCOPES, auth


async def test_taught_classes_lists_only_classes_the_caller_teaches(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    response = await graph.get("/education/me/taughtClasses", headers=auth(dana))
    assert response.status_code == 200
    body = response.json()
    assert body["@odata.context"] == f"{BASE_URL}/v1.0/$metadata#education/me/taughtClasses"
    assert {c["displayName"] for c in body["value"]} == {"Biology 101", "7B English"}
    bio = next(c for c in body["value"] if c["displayName"] == "Biology 101")
    assert bio["mailNickname"] == "Biology101"
    assert bio["externalName"] and bio["classCode"]
    assert set(bio["createdBy"]) == {"application", "device", "user"}


async def test_student_classes_and_no_taught_classes(graph: httpx.AsyncClient, school: School) -> None:
    alex = school.user_named("Alex Kim")
    classes = await graph.get("/education/me/classes", headers=auth(alex, STUDENT_SCOPES))
    assert {c["displayName"] for c in classes.json()["value"]} == {"Biology 101", "7B English"}
    taught = await graph.get("/education/me/taughtClasses", headers=auth(alex, STUDENT_SCOPES))
    assert taught.json()["value"] == []


async def test_get_class(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    cls = school.class_named("7B English")
    response = await graph.get(f"/education/classes/{cls.id}/", headers=auth(dana))
    assert response.status_code == 200
    body = response.json()
    assert body["@odata.context"].endswith("$metadata#education/classes/$entity")
    assert body["id"] == cls.id and body["displayName"] == "7B English"


async def test_unknown_class_is_404(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    response = await graph.get("/education/classes/00000000-0000-0000-0000-000000000000", headers=auth(dana))
    assert response.status_code == 404
    assert "error" in response.json()


async def test_members_include_teachers_and_students(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    cls = school.class_named("Biology 101")
    response = await graph.get(f"/education/classes/{cls.id}/members", headers=auth(dana), params={"$top": "100"})
    body = response.json()
    assert body["@odata.context"].endswith("$metadata#Collection(microsoft.graph.educationUser)")
    roles = [m["primaryRole"] for m in body["value"]]
    assert roles.count("teacher") == 2 and roles.count("student") == 25
    lan = next(m for m in body["value"] if m["displayName"] == "Nguyễn Thị Lan")
    assert lan["student"] == {} and lan["surname"] == "Nguyễn" and lan["userPrincipalName"]


async def test_members_page_with_default_page_size(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    cls = school.class_named("Biology 101")
    first = (await graph.get(f"/education/classes/{cls.id}/members", headers=auth(dana))).json()
    assert len(first["value"]) == 20
    second = (await graph.get(first["@odata.nextLink"], headers=auth(dana))).json()
    assert len(second["value"]) == 7
    assert "@odata.nextLink" not in second


async def test_teachers(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    cls = school.class_named("Biology 101")
    response = await graph.get(f"/education/classes/{cls.id}/teachers", headers=auth(dana))
    assert {t["displayName"] for t in response.json()["value"]} == {"Dana Whitfield", "Priya Raman"}
    assert all(t["primaryRole"] == "teacher" and t["teacher"] == {} for t in response.json()["value"])
