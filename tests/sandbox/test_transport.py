"""The httpx MockTransport face: what a service receives and what the client gets back."""

from __future__ import annotations

import httpx

from sandbox.core import SandboxRequest, SandboxResponse, json_response
from sandbox.graph import GraphEducation
from sandbox.transport import mock_transport
from tests.sandbox.conftest import BASE_URL, auth


class _Recorder:
    """A service that remembers the last request and answers with a fixed response."""

    def __init__(self, answer: SandboxResponse) -> None:
        self.answer = answer
        self.seen: SandboxRequest | None = None

    async def handle(self, request: SandboxRequest) -> SandboxResponse:
        self.seen = request
        return self.answer


async def test_request_is_converted() -> None:
    recorder = _Recorder(json_response(201, {"ok": True}, {"x-extra": "1"}))
    async with httpx.AsyncClient(
        transport=mock_transport(recorder, BASE_URL + "/"), base_url="https://elsewhere"
    ) as client:
        response = await client.post(
            "/v1.0/education/classes/c1/assignments",
            params={"$filter": "status eq 'assigned'", "$top": "5"},
            headers={"X-Custom": "Value", "Prefer": "include-unknown-enum-members"},
            content=b'{"a": 1}',
        )
    seen = recorder.seen
    assert seen is not None
    assert seen.method == "POST"
    assert seen.path == "/v1.0/education/classes/c1/assignments"
    assert seen.query == {"$filter": "status eq 'assigned'", "$top": "5"}
    assert seen.header("X-Custom") == "Value" and seen.headers["x-custom"] == "Value"
    assert seen.header("prefer") == "include-unknown-enum-members"
    assert seen.body == b'{"a": 1}' and seen.json() == {"a": 1}
    assert seen.base_url == BASE_URL
    assert response.status_code == 201
    assert response.json() == {"ok": True}
    assert response.headers["x-extra"] == "1"
    assert response.headers["content-type"].startswith("application/json")


async def test_graph_service_through_the_transport(service: GraphEducation) -> None:
    dana = service.school.user_named("Dana Whitfield")
    async with httpx.AsyncClient(transport=mock_transport(service, BASE_URL)) as client:
        response = await client.get("https://graph.example/v1.0/education/me/taughtClasses", headers=auth(dana))
    assert response.status_code == 200
    assert response.json()["@odata.context"].startswith(f"{BASE_URL}/v1.0/$metadata#")
