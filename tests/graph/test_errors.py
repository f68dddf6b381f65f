"""Graph's documented errors become typed exceptions carrying code, inner code and request id."""

from __future__ import annotations

import httpx
import pytest

from bot.graph.client import EducationClient
from bot.graph.errors import (
    GraphBadRequest,
    GraphConflict,
    GraphError,
    GraphForbidden,
    GraphNotFound,
    GraphThrottled,
    GraphUnauthorized,
    error_from_response,
)
from bot.graph.ids import AssignmentId, ClassId, OutcomeId, SubmissionId
from tests.graph.conftest import TOKEN, FakeGraph, example, example_response

C, A, S, OUT = ClassId("c"), AssignmentId("a"), SubmissionId("s"), OutcomeId("o")
OUTCOME = "/education/classes/c/assignments/a/submissions/s/outcomes/o"


async def test_invalid_grading_400(client: EducationClient, fake: FakeGraph) -> None:
    fake.add("PATCH", OUTCOME, example_response("educationoutcome-update.error-400-invalidGrading"))
    with pytest.raises(GraphBadRequest) as caught:
        await client.update_points(C, A, S, OUT, 85)
    error = caught.value
    assert (error.status, error.code, error.inner_code) == (400, "badRequest", "invalidGrading")
    assert error.message == "Bad request."
    assert len(fake.seen) == 1  # a 400 is not retried


async def test_outcome_not_found_404_with_numeric_code_and_header_request_id(
    client: EducationClient, fake: FakeGraph
) -> None:
    response = example_response("educationoutcome-update.error-404-20241")
    response.headers["request-id"] = "hdr-req-1"
    fake.add("PATCH", OUTCOME, response)
    with pytest.raises(GraphNotFound) as caught:
        await client.update_feedback(C, A, S, OUT, "well done")
    error = caught.value
    assert (error.status, error.code, error.inner_code, error.request_id) == (404, "20241", None, "hdr-req-1")
    assert "Outcome id" in error.message
    assert "20241" in str(error) and "hdr-req-1" in str(error)


async def test_throttled_example_after_retries(client: EducationClient, fake: FakeGraph) -> None:
    fake.add("GET", "/education/me/classes", example_response("throttling.429"))
    with pytest.raises(GraphThrottled) as caught:
        await client.my_classes()
    error = caught.value
    assert (error.code, error.inner_code) == ("TooManyRequests", "429")
    assert error.request_id == "94fb3b52-452a-4535-a601-69e0a90e3aa2"
    assert error.retry_after == 2.128


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, GraphBadRequest),
        (401, GraphUnauthorized),
        (403, GraphForbidden),
        (404, GraphNotFound),
        (409, GraphConflict),
    ],
)
async def test_status_maps_to_exception(
    client: EducationClient, fake: FakeGraph, status: int, cls: type[GraphError]
) -> None:
    fake.add(
        "POST",
        "/education/classes/c/assignments/a/submissions/s/return",
        httpx.Response(
            status,
            json={
                "error": {"code": "someCode", "message": "nope", "innererror": {"code": "inner", "request-id": "r1"}}
            },
        ),
    )
    with pytest.raises(cls) as caught:
        await client.return_submission(C, A, S)
    assert (caught.value.code, caught.value.inner_code, caught.value.request_id) == ("someCode", "inner", "r1")
    assert caught.value.client_request_id == fake.seen[0].headers["client-request-id"]
    assert TOKEN not in str(caught.value)


async def test_unlisted_status_is_the_base_error(client: EducationClient, fake: FakeGraph) -> None:
    fake.add("GET", "/education/me/classes", httpx.Response(412, json={"error": {"code": "preconditionFailed"}}))
    with pytest.raises(GraphError) as caught:
        await client.my_classes()
    assert type(caught.value) is GraphError and caught.value.status == 412


@pytest.mark.parametrize(
    "body", [b"<html>Bad gateway</html>", b"", b"{not json", b'"just a string"', b'{"error": "flat"}']
)
def test_unreadable_error_bodies_do_not_crash(body: bytes) -> None:
    error = error_from_response(403, {"Request-Id": "from-header"}, body)
    assert isinstance(error, GraphForbidden)
    assert (error.code, error.inner_code, error.request_id) == ("", None, "from-header")
    assert error.message == "Graph answered HTTP 403"


def test_batch_part_error_with_empty_code() -> None:
    part = example("batch.example")["response"]["body"]["responses"][1]
    error = error_from_response(part["status"], part["headers"], part["body"])
    assert isinstance(error, GraphForbidden)
    assert error.code == "" and error.request_id == "93b6f17e-c05d-4f45-ad2a-6665c708d8a0"
    assert str(error).startswith("403: You do not have")


def test_errors_can_be_raised_by_callers_with_only_what_they_know() -> None:
    throttled = GraphThrottled(retry_after=2.128)
    assert throttled.retry_after == 2.128 and isinstance(throttled, GraphError)
    assert str(GraphNotFound(code="20241")) == "GraphNotFound 20241: Microsoft Graph request failed"
