"""JSON batching: limits, dependsOn, per-part auth and throttling."""

from __future__ import annotations

from typing import Any

import httpx

from sandbox.graph import GraphEducation
from sandbox.school import School
from tests.sandbox.conftest import auth, submission_of, submission_url


def _points_part(part_id: str, url: str, points: float, **extra: Any) -> dict[str, Any]:
    return {
        "id": part_id,
        "method": "PATCH",
        "url": url,
        "headers": {"Content-Type": "application/json"},
        "body": {"@odata.type": "#microsoft.graph.educationPointsOutcome", "points": {"points": points}},
        **extra,
    }


async def test_batch_mixed_results(graph: httpx.AsyncClient, service: GraphEducation, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    cls = school.class_named("Biology 101")
    essay = school.assignment_named(cls.id, "Essay 2")
    alice = submission_of(school, cls, essay, school.user_named("Alice Smith"))
    bob = submission_of(school, cls, essay, school.user_named("Bob Jones"))
    alice_points, bob_points = alice.outcome("points"), bob.outcome("points")
    assert alice_points and bob_points
    service.knobs.throttle_next = 1
    service.knobs.retry_after = "2.128"
    requests = [
        _points_part("throttled", submission_url(cls, essay, bob) + f"/outcomes/{bob_points.id}", 70),
        _points_part("ok", submission_url(cls, essay, alice) + f"/outcomes/{alice_points.id}", 85),
        {
            "id": "dependent",
            "method": "POST",
            "url": submission_url(cls, essay, bob) + "/return",
            "dependsOn": ["throttled"],
        },
        {"id": "notfound", "method": "GET", "url": submission_url(cls, essay, "missing")},
        {"id": "after-ok", "method": "POST", "url": submission_url(cls, essay, alice) + "/return", "dependsOn": ["ok"]},
    ]
    response = await graph.post("/$batch", json={"requests": requests}, headers=auth(dana))
    assert response.status_code == 200
    parts = {p["id"]: p for p in response.json()["responses"]}
    assert parts["throttled"]["status"] == 429
    assert parts["throttled"]["headers"]["Retry-After"] == "2.128"
    assert parts["throttled"]["body"]["error"]["code"] == "TooManyRequests"
    assert parts["ok"]["status"] == 200 and parts["ok"]["body"]["points"]["points"] == 85
    assert parts["dependent"]["status"] == 424
    assert parts["notfound"]["status"] == 404
    assert parts["after-ok"]["status"] == 200
    assert alice.status == "returned" and alice_points.publishedPoints is not None
    assert bob.status == "submitted" and bob_points.points is None
    assert service.request_count == 1
    assert len([r for r in service.requests if r.batch_part]) == 4


async def test_batch_parts_are_authorised_individually(graph: httpx.AsyncClient, school: School) -> None:
    alice = school.user_named("Alice Smith")
    cls = school.class_named("Biology 101")
    essay = school.assignment_named(cls.id, "Essay 2")
    bob = submission_of(school, cls, essay, school.user_named("Bob Jones"))
    requests = [{"id": "1", "method": "POST", "url": submission_url(cls, essay, bob) + "/return"}]
    response = await graph.post("/$batch", json={"requests": requests}, headers=auth(alice, "EduAssignments.ReadWrite"))
    assert response.json()["responses"][0]["status"] == 403
    assert bob.status == "submitted"


async def test_batch_prefer_is_per_part(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    cls = school.class_named("Biology 101")
    essay = school.assignment_named(cls.id, "Essay 2")
    will = submission_of(school, cls, essay, school.user_named("Will"))
    url = submission_url(cls, essay, will)
    requests = [
        {"id": "plain", "method": "GET", "url": url},
        {"id": "prefer", "method": "GET", "url": url, "headers": {"Prefer": "include-unknown-enum-members"}},
    ]
    parts = (await graph.post("/$batch", json={"requests": requests}, headers=auth(dana, prefer=False))).json()
    statuses = {p["id"]: p["body"]["status"] for p in parts["responses"]}
    assert statuses == {"plain": "returned", "prefer": "reassigned"}


async def test_batch_over_20_requests_is_400(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    requests = [{"id": str(i), "method": "GET", "url": "/education/me/classes"} for i in range(21)]
    response = await graph.post("/$batch", json={"requests": requests}, headers=auth(dana))
    assert response.status_code == 400
    assert "error" in response.json()
    ok = await graph.post("/$batch", json={"requests": requests[:20]}, headers=auth(dana))
    assert ok.status_code == 200 and len(ok.json()["responses"]) == 20


async def test_batch_malformed_payloads_are_400(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    for payload in (
        {"requests": [{"id": "1", "method": "GET", "url": "/education/me/classes"}] * 2},
        {"requests": [{"id": "1", "method": "GET", "url": "/education/me/classes", "dependsOn": ["9"]}]},
        {"requests": [{"id": "1", "method": "PATCH", "url": "/education/me", "body": {"a": 1}}]},
        {"nothing": []},
    ):
        response = await graph.post("/$batch", json=payload, headers=auth(dana))
        assert response.status_code == 400


async def test_batch_query_strings_and_paging_inside_parts(graph: httpx.AsyncClient, school: School) -> None:
    dana = school.user_named("Dana Whitfield")
    cls = school.class_named("Biology 101")
    requests = [
        {"id": "a", "method": "GET", "url": f"/education/classes/{cls.id}/assignments?$filter=status eq 'draft'"},
        {"id": "b", "method": "GET", "url": f"education/classes/{cls.id}/members?$top=5"},
    ]
    parts = {
        p["id"]: p
        for p in (await graph.post("/$batch", json={"requests": requests}, headers=auth(dana))).json()["responses"]
    }
    assert [a["displayName"] for a in parts["a"]["body"]["value"]] == ["Final Project Draft"]
    assert len(parts["b"]["body"]["value"]) == 5
    assert "$skiptoken=" in parts["b"]["body"]["@odata.nextLink"]
