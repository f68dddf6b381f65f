"""Knobs (latency, throttling, delayed actions) and the /_sandbox control endpoints."""

from __future__ import annotations

import time

import httpx

from sandbox.graph import GraphEducation, Knobs
from tests.sandbox.conftest import FakeClock, auth, fake_verify, submission_of, submission_url


async def test_latency_is_added_per_request(graph: httpx.AsyncClient, service: GraphEducation) -> None:
    dana = service.school.user_named("Dana Whitfield")
    service.knobs.latency_seconds = 0.05
    started = time.perf_counter()
    response = await graph.get("/education/me/classes", headers=auth(dana))
    assert response.status_code == 200
    assert time.perf_counter() - started >= 0.05


async def test_throttle_next_is_deterministic(graph: httpx.AsyncClient, service: GraphEducation) -> None:
    dana = service.school.user_named("Dana Whitfield")
    service.knobs.throttle_next = 2
    service.knobs.retry_after = "2.128"
    first = await graph.get("/education/me/classes", headers=auth(dana))
    second = await graph.get("/education/me/classes", headers=auth(dana))
    third = await graph.get("/education/me/classes", headers=auth(dana))
    assert [first.status_code, second.status_code, third.status_code] == [429, 429, 200]
    assert first.headers["retry-after"] == "2.128"
    # examples/graph/throttling.429.json
    error = first.json()["error"]
    assert error["code"] == "TooManyRequests"
    assert error["innerError"]["code"] == "429"


async def test_throttle_status_503_without_retry_after(graph: httpx.AsyncClient, service: GraphEducation) -> None:
    dana = service.school.user_named("Dana Whitfield")
    service.knobs.throttle_next = 1
    service.knobs.throttle_status = 503
    service.knobs.retry_after = None
    response = await graph.get("/education/me/classes", headers=auth(dana))
    assert response.status_code == 503
    assert "retry-after" not in response.headers


async def test_throttle_rate_is_seeded(graph: httpx.AsyncClient, service: GraphEducation) -> None:
    dana = service.school.user_named("Dana Whitfield")
    service.knobs.throttle_rate = 1.0
    assert (await graph.get("/education/me/classes", headers=auth(dana))).status_code == 429
    service.knobs.throttle_rate = 0.5

    async def run() -> list[int]:
        return [(await graph.get("/education/me/classes", headers=auth(dana))).status_code for _ in range(20)]

    service.reset()
    service.knobs.throttle_rate = 0.5
    first = await run()
    service.reset()
    service.knobs.throttle_rate = 0.5
    second = await run()
    assert first == second
    assert 429 in first and 200 in first


async def test_action_delay_shows_old_status_until_the_delay_passes(
    graph: httpx.AsyncClient, service: GraphEducation, clock: FakeClock
) -> None:
    school = service.school
    dana = school.user_named("Dana Whitfield")
    cls = school.class_named("Biology 101")
    essay = school.assignment_named(cls.id, "Essay 2")
    sub = submission_of(school, cls, essay, school.user_named("Alice Smith"))
    service.knobs.action_delay_seconds = 30
    url = submission_url(cls, essay, sub)
    posted = await graph.post(url + "/return", headers=auth(dana))
    assert posted.status_code == 200 and posted.json()["status"] == "returned"
    assert (await graph.get(url, headers=auth(dana))).json()["status"] == "submitted"
    clock.advance(29)
    assert (await graph.get(url, headers=auth(dana))).json()["status"] == "submitted"
    clock.advance(2)
    assert (await graph.get(url, headers=auth(dana))).json()["status"] == "returned"
    settled = service.submission_for(cls.id, essay.id, sub.userId)
    assert settled is not None and settled.returnedBy == dana.id


async def test_action_delay_validates_against_the_pending_status(
    graph: httpx.AsyncClient, service: GraphEducation, clock: FakeClock
) -> None:
    school = service.school
    dana = school.user_named("Dana Whitfield")
    cls = school.class_named("Biology 101")
    essay = school.assignment_named(cls.id, "Essay 2")
    sub = submission_of(school, cls, essay, school.user_named("Bob Jones"))
    service.knobs.action_delay_seconds = 10
    url = submission_url(cls, essay, sub)
    assert (await graph.post(url + "/excuse", headers=auth(dana))).status_code == 200
    assert (await graph.post(url + "/excuse", headers=auth(dana))).status_code == 400
    clock.advance(11)
    settled = service.submission_for(cls.id, essay.id, sub.userId)
    assert settled is not None and settled.status == "excused"


async def test_sandbox_knobs_over_http(sandbox_client: httpx.AsyncClient, service: GraphEducation) -> None:
    response = await sandbox_client.post("/_sandbox/knobs", json={"throttle_next": 3, "retry_after": "5"})
    assert response.status_code == 200
    assert service.knobs.throttle_next == 3 and service.knobs.retry_after == "5"
    bad = await sandbox_client.post("/_sandbox/knobs", json={"throttle_status": 500})
    assert bad.status_code == 400
    assert service.knobs.throttle_status == 429
    assert (await sandbox_client.get("/_sandbox/knobs")).json()["throttle_next"] == 3


async def test_sandbox_state_requests_and_reset(
    graph: httpx.AsyncClient, sandbox_client: httpx.AsyncClient, service: GraphEducation
) -> None:
    school = service.school
    dana = school.user_named("Dana Whitfield")
    cls = school.class_named("Biology 101")
    essay = school.assignment_named(cls.id, "Essay 2")
    sub = submission_of(school, cls, essay, school.user_named("Alice Smith"))
    await graph.post(submission_url(cls, essay, sub) + "/return", headers=auth(dana))
    await graph.get("/education/me/classes", headers=auth(dana))

    log = (await sandbox_client.get("/_sandbox/requests")).json()
    assert log["count"] == 2
    assert log["requests"][0] == {
        "method": "POST",
        "path": f"/v1.0{submission_url(cls, essay, sub)}/return",
        "batchPart": False,
    }

    state = (await sandbox_client.get("/_sandbox/state")).json()
    saved = next(s for s in state["submissions"] if s["id"] == sub.id)
    assert saved["status"] == "returned"
    assert {"classes", "users", "assignments", "submissions", "knobs"} <= set(state)

    assert (await sandbox_client.post("/_sandbox/reset")).status_code == 200
    restored = service.submission_for(cls.id, essay.id, sub.userId)
    assert restored is not None and restored.status == "submitted"
    assert service.request_count == 0


async def test_reset_request_log(graph: httpx.AsyncClient, service: GraphEducation) -> None:
    dana = service.school.user_named("Dana Whitfield")
    await graph.get("/education/me/classes", headers=auth(dana))
    assert service.request_count == 1
    service.reset_request_log()
    assert service.request_count == 0


async def test_initial_knobs_survive_reset() -> None:
    service = GraphEducation.from_seed(verify_token=fake_verify, knobs=Knobs(page_size=5))
    service.knobs.page_size = 50
    service.reset()
    assert service.knobs.page_size == 5
