"""$batch: envelope shape, per-part results in request order, throttled parts retried, nothing else resent."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from bot.graph import requests as build
from bot.graph.batch import BatchPart, BatchResult
from bot.graph.client import EducationClient
from bot.graph.errors import GraphError, GraphForbidden, GraphMalformedResponse, GraphThrottled, InvalidPoints
from bot.graph.ids import AssignmentId, ClassId, OutcomeId, SubmissionId
from bot.graph.models import PointsOutcome, Submission, SubmissionStatus
from tests.graph.conftest import FakeGraph, FakeTime, example

C, A = ClassId("c"), AssignmentId("a")
POINTS_BODY = example("educationoutcome-update.points")["response"]["body"]
RETURN_BODY = example("educationsubmission-return.example")["response"]["body"]

PartAnswer = tuple[int, dict[str, str], Any]


def _points(n: int, points: float = 10) -> BatchPart:
    return BatchPart(str(n), build.update_points(C, A, SubmissionId(f"s{n}"), OutcomeId(f"o{n}"), points))


def _return(n: int, depends_on: tuple[str, ...] = ()) -> BatchPart:
    return BatchPart(f"r{n}", build.return_submission(C, A, SubmissionId(f"s{n}")), depends_on)


THROTTLED: PartAnswer = (429, {"Retry-After": "1.5"}, {"error": {"code": "TooManyRequests", "message": "later"}})
FAILED_DEPENDENCY: PartAnswer = (424, {}, {"error": {"code": "failedDependency", "message": "dependency failed"}})
OK_POINTS: PartAnswer = (200, {"Content-Type": "application/json"}, POINTS_BODY)
OK_RETURN: PartAnswer = (200, {}, RETURN_BODY)
FORBIDDEN: PartAnswer = (
    403,
    {},
    {"error": {"code": "Forbidden", "message": "not your class", "innerError": {"request-id": "r9"}}},
)


@dataclass
class BatchServer:
    """Answers each $batch round from a script: round -> part id -> answer. Reverses order, as Graph may."""

    rounds: list[dict[str, PartAnswer]]
    received: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        envelope = json.loads(request.content)
        self.received.append(envelope)
        script = self.rounds[len(self.received) - 1]
        responses = [
            {
                "id": part["id"],
                "status": script[part["id"]][0],
                "headers": script[part["id"]][1],
                "body": script[part["id"]][2],
            }
            for part in reversed(envelope["requests"])
        ]
        return httpx.Response(200, json={"responses": responses})

    def ids(self, round_: int) -> list[str]:
        return [p["id"] for p in self.received[round_]["requests"]]


async def test_envelope_is_the_documented_shape(client: EducationClient, fake: FakeGraph) -> None:
    server = BatchServer([{"1": OK_POINTS, "r1": OK_RETURN}])
    fake.add("POST", "/$batch", server)
    await client.batch([_points(1, 85), _return(1, depends_on=("1",))])
    request = fake.seen[0]
    assert request.url == "https://graph.microsoft.com/v1.0/$batch"
    assert request.headers["Prefer"] == "include-unknown-enum-members"
    assert request.headers["Content-Type"] == "application/json"
    assert server.received[0] == {
        "requests": [
            {
                "id": "1",
                "method": "PATCH",
                "url": "/education/classes/c/assignments/a/submissions/s1/outcomes/o1",
                "body": example("educationoutcome-update.points")["request"]["body"],
                "headers": {"Prefer": "include-unknown-enum-members", "Content-Type": "application/json"},
            },
            {
                "id": "r1",
                "method": "POST",
                "url": "/education/classes/c/assignments/a/submissions/s1/return",
                "headers": {"Prefer": "include-unknown-enum-members"},
                "dependsOn": ["1"],
            },
        ]
    }


async def test_mixed_results_come_back_in_request_order(
    client: EducationClient, fake: FakeGraph, fake_time: FakeTime
) -> None:
    server = BatchServer(
        [
            {"1": OK_POINTS, "r1": OK_RETURN, "2": FORBIDDEN, "r2": FAILED_DEPENDENCY, "3": THROTTLED},
            {"3": OK_POINTS},
        ]
    )
    fake.add("POST", "/$batch", server)
    parts = [_points(1), _return(1, ("1",)), _points(2), _return(2, ("2",)), _points(3)]
    results = await client.batch(parts)
    assert [r.id for r in results] == ["1", "r1", "2", "r2", "3"]
    assert [r.status for r in results] == [200, 200, 403, 424, 200]
    assert isinstance(results[0].parse(PointsOutcome), PointsOutcome)
    assert results[1].parse(Submission).status is SubmissionStatus.RETURNED
    assert isinstance(results[2].error, GraphForbidden) and results[2].error.request_id == "r9"
    assert results[3].error is not None and results[3].error.status == 424
    with pytest.raises(GraphForbidden):
        results[2].parse(PointsOutcome)
    assert server.ids(1) == ["3"]  # only the throttled part was sent again
    assert fake_time.sleeps == [1.5]


async def test_dependants_of_a_throttled_part_are_resent_with_it(
    client: EducationClient, fake: FakeGraph, fake_time: FakeTime
) -> None:
    server = BatchServer(
        [
            {"1": OK_POINTS, "r1": OK_RETURN, "2": THROTTLED, "r2": FAILED_DEPENDENCY},
            {"2": OK_POINTS, "r2": OK_RETURN},
        ]
    )
    fake.add("POST", "/$batch", server)
    results = await client.batch([_points(1), _return(1, ("1",)), _points(2), _return(2, ("2",))])
    assert [r.status for r in results] == [200, 200, 200, 200]
    assert server.ids(1) == ["2", "r2"]
    assert server.received[1]["requests"][1]["dependsOn"] == ["2"]


async def test_dependency_that_already_succeeded_is_dropped_from_depends_on(
    client: EducationClient, fake: FakeGraph
) -> None:
    server = BatchServer([{"1": OK_POINTS, "r1": THROTTLED}, {"r1": OK_RETURN}])
    fake.add("POST", "/$batch", server)
    results = await client.batch([_points(1), _return(1, ("1",))])
    assert all(r.ok for r in results)
    assert server.received[1] == {
        "requests": [
            {
                "id": "r1",
                "method": "POST",
                "url": "/education/classes/c/assignments/a/submissions/s1/return",
                "headers": {"Prefer": "include-unknown-enum-members"},
            }
        ]
    }


async def test_throttled_parts_left_when_the_budget_runs_out(
    client: EducationClient, fake: FakeGraph, fake_time: FakeTime
) -> None:
    slow: PartAnswer = (429, {"retry-after": "4"}, {"error": {"code": "TooManyRequests", "message": "later"}})
    server = BatchServer([{"1": OK_POINTS, "2": slow}, {"2": slow}, {"2": slow}])
    fake.add("POST", "/$batch", server)
    results = await client.batch([_points(1), _points(2)])
    assert results[0].ok
    error = results[1].error
    assert isinstance(error, GraphThrottled) and error.retry_after == 4.0
    assert fake_time.sleeps == [4.0]  # a second 4 s wait would overrun the 6 s budget
    assert len(server.received) == 2
    with pytest.raises(GraphThrottled):
        results[1].parse(PointsOutcome)


async def test_throttled_part_without_retry_after_backs_off(
    client: EducationClient, fake: FakeGraph, fake_time: FakeTime
) -> None:
    bare: PartAnswer = (503, {}, None)
    server = BatchServer([{"1": bare}, {"1": OK_POINTS}])
    fake.add("POST", "/$batch", server)
    results = await client.batch([_points(1)])
    assert results[0].ok and fake_time.sleeps == [0.25]


async def test_504_part_of_a_post_is_not_resent(client: EducationClient, fake: FakeGraph, fake_time: FakeTime) -> None:
    server = BatchServer([{"r1": (504, {}, None)}])
    fake.add("POST", "/$batch", server)
    (result,) = await client.batch([_return(1)])
    assert isinstance(result.error, GraphThrottled) and result.status == 504
    assert len(server.received) == 1 and fake_time.sleeps == []


async def test_a_part_graph_did_not_answer(client: EducationClient, fake: FakeGraph) -> None:
    fake.add("POST", "/$batch", httpx.Response(200, json={"responses": [{"id": "1", "status": 204}]}))
    results = await client.batch([_points(1), _points(2)])
    assert results[0].ok and results[0].body is None
    assert isinstance(results[1].error, GraphMalformedResponse)


async def test_documented_batch_response_is_read_in_request_order(client: EducationClient, fake: FakeGraph) -> None:
    documented = example("batch.example-previous-doc-version")["response"]
    fake.add("POST", "/$batch", httpx.Response(200, json=documented["body"]))
    parts = [BatchPart(str(n), build.my_classes()) for n in range(1, 6)]
    results = await client.batch(parts)
    assert [(r.id, r.status) for r in results] == [("1", 302), ("2", 200), ("3", 401), ("4", 204), ("5", 200)]
    assert results[2].error is not None and results[2].error.code == "Forbidden"
    assert results[0].error is not None  # a redirect is not a success


async def test_more_than_20_parts_are_refused_before_sending(client: EducationClient, fake: FakeGraph) -> None:
    with pytest.raises(ValueError, match="at most 20"):
        await client.batch([_points(n) for n in range(21)])
    assert fake.seen == []


@pytest.mark.parametrize(
    "parts",
    [
        [BatchPart("1", build.my_classes()), BatchPart("1", build.my_classes())],
        [BatchPart("1", build.my_classes(), depends_on=("2",)), BatchPart("2", build.my_classes())],
        [BatchPart("", build.my_classes())],
    ],
)
async def test_inconsistent_parts_are_refused(client: EducationClient, fake: FakeGraph, parts: list[BatchPart]) -> None:
    with pytest.raises(ValueError, match="batch part"):
        await client.batch(parts)
    assert fake.seen == []


async def test_empty_batch_sends_nothing(client: EducationClient, fake: FakeGraph) -> None:
    assert await client.batch([]) == []
    assert fake.seen == []


def test_invalid_points_cannot_even_become_a_part() -> None:
    with pytest.raises(InvalidPoints):
        _points(1, -5)


async def test_whole_batch_throttled_is_retried_within_the_budget(
    client: EducationClient, fake: FakeGraph, fake_time: FakeTime
) -> None:
    server = BatchServer([{"1": OK_POINTS}])
    fake.add("POST", "/$batch", httpx.Response(429, headers={"Retry-After": "1"}), server)
    (result,) = await client.batch([_points(1)])
    assert result.ok and fake_time.sleeps == [1.0]


async def test_whole_batch_refused(client: EducationClient, fake: FakeGraph) -> None:
    fake.add("POST", "/$batch", httpx.Response(400, json={"error": {"code": "BadRequest", "message": "Invalid batch"}}))
    with pytest.raises(GraphError) as caught:
        await client.batch([_points(1)])
    assert caught.value.status == 400


def test_parse_reports_a_body_of_the_wrong_shape() -> None:
    result = BatchResult("1", 200, {}, {"no": "id"})
    with pytest.raises(GraphMalformedResponse):
        result.parse(PointsOutcome)
