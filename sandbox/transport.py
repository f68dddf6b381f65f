"""The in-process face of a sandbox service: an `httpx.MockTransport` for fast tests without sockets."""

from __future__ import annotations

import httpx

from sandbox.core import SandboxRequest, Service


def mock_transport(service: Service, base_url: str) -> httpx.MockTransport:
    """An httpx transport that hands every request to `service` in-process.

    Args:
        service: the sandbox service that answers.
        base_url: the origin the service should believe it is reached at (e.g. `https://127.0.0.1:8444`); used
            for absolute links such as `@odata.nextLink`.

    Returns:
        A transport for `httpx.AsyncClient(transport=...)`.
    """
    origin = base_url.rstrip("/")

    async def handler(request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        sandbox_request = SandboxRequest(
            method=request.method,
            path=request.url.path,
            query=dict(request.url.params.multi_items()),
            headers={name.lower(): value for name, value in request.headers.items()},
            body=body,
            base_url=origin,
        )
        answer = await service.handle(sandbox_request)
        return httpx.Response(answer.status, headers=answer.headers, content=answer.body, request=request)

    return httpx.MockTransport(handler)
