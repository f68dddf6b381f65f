"""Typed exceptions for Graph failures, parsed from Graph's OData error envelope.

Graph's errors are not uniform: `innerError` and `innererror` both occur, codes may be numeric strings ("20241"),
`error.code` may be empty, and a proxy may answer with HTML. Parsing never fails; what cannot be read stays empty.
Messages never carry tokens or request bodies.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Literal, cast

from bot.graph.models import SubmissionStatus

__all__ = [
    "GraphBadRequest",
    "GraphConflict",
    "GraphError",
    "GraphForbidden",
    "GraphMalformedResponse",
    "GraphNotFound",
    "GraphThrottled",
    "GraphTimeout",
    "GraphUnauthorized",
    "GraphUnavailable",
    "InvalidPoints",
    "PointsProblem",
    "StatusWaitTimeout",
    "error_from_response",
]


class GraphError(Exception):
    """A Graph call failed. `code`/`inner_code` are Graph's strings; `status` is None when no response came back."""

    def __init__(
        self,
        message: str = "Microsoft Graph request failed",
        *,
        status: int | None = None,
        code: str = "",
        inner_code: str | None = None,
        request_id: str | None = None,
        client_request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.inner_code = inner_code
        self.request_id = request_id
        self.client_request_id = client_request_id

    def __str__(self) -> str:
        parts = [str(self.status) if self.status is not None else type(self).__name__]
        codes = "/".join(c for c in (self.code, self.inner_code or "") if c)
        if codes:
            parts.append(codes)
        text = " ".join(parts) + f": {self.message}"
        return f"{text} (request-id {self.request_id})" if self.request_id else text


class GraphBadRequest(GraphError):
    """400: Graph refused the request (e.g. inner code `invalidGrading`)."""


class GraphUnauthorized(GraphError):
    """401: the token is missing, expired or for the wrong audience."""


class GraphForbidden(GraphError):
    """403: the signed-in user may not do this (e.g. not a teacher of the class)."""


class GraphNotFound(GraphError):
    """404: no such class, assignment, submission or outcome (outcomes answer code `20241`)."""


class GraphConflict(GraphError):
    """409: the resource changed state underneath the request."""


class GraphThrottled(GraphError):
    """429/503/504 after retries ran out; `retry_after` is how long Graph asked to wait, in seconds."""

    def __init__(
        self,
        message: str = "Microsoft Graph is throttling requests",
        *,
        retry_after: float,
        status: int | None = None,
        code: str = "",
        inner_code: str | None = None,
        request_id: str | None = None,
        client_request_id: str | None = None,
    ) -> None:
        super().__init__(
            message,
            status=status,
            code=code,
            inner_code=inner_code,
            request_id=request_id,
            client_request_id=client_request_id,
        )
        self.retry_after = retry_after


class GraphTimeout(GraphError):
    """Graph did not answer within the configured timeout."""


class GraphUnavailable(GraphError):
    """Graph could not be reached (connection refused or reset)."""


class GraphMalformedResponse(GraphError):
    """Graph answered 2xx with a body this client cannot read as the resource it asked for."""


class StatusWaitTimeout(GraphError):
    """A submission did not reach the awaited status in time; `last_status` is what it had when we gave up."""

    def __init__(
        self,
        message: str = "the submission did not reach the awaited status in time",
        *,
        last_status: SubmissionStatus | None,
        waited: float,
    ) -> None:
        super().__init__(message)
        self.last_status = last_status
        self.waited = waited


PointsProblem = Literal["not_a_number", "not_finite", "negative", "too_large"]


class InvalidPoints(ValueError):
    """Points a teacher gave cannot be sent to Graph; raised before any request. `reason` says why."""

    def __init__(self, reason: PointsProblem) -> None:
        super().__init__(f"invalid points: {reason}")
        self.reason: PointsProblem = reason


_BY_STATUS: dict[int, type[GraphError]] = {
    400: GraphBadRequest,
    401: GraphUnauthorized,
    403: GraphForbidden,
    404: GraphNotFound,
    409: GraphConflict,
}


def _as_str(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _decode(body: object) -> object:
    if isinstance(body, bytes | bytearray):
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return None
    return body


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    body: object,
    *,
    retry_after: float | None = None,
    client_request_id: str | None = None,
) -> GraphError:
    """Build the typed exception for a failed Graph response (a whole response or one `$batch` part).

    Args:
        status: the HTTP status code.
        headers: the response (or part) headers; `request-id` is read from here if the body lacks it.
        body: raw bytes or already-decoded JSON; anything unreadable is tolerated.
        retry_after: for 429/503/504, the wait in seconds to put on the GraphThrottled.
        client_request_id: the correlation id the client sent.

    Returns:
        The GraphError subclass for the status, carrying Graph's code, inner code, message and request id.
    """
    decoded = _decode(body)
    code, inner_code, message, request_id = "", None, "", None
    error = cast(dict[str, object], decoded).get("error") if isinstance(decoded, dict) else None
    if isinstance(error, dict):
        error = cast(dict[str, object], error)
        code = _as_str(error.get("code")) or ""
        message = _as_str(error.get("message")) or ""
        inner = error.get("innerError", error.get("innererror"))
        if isinstance(inner, dict):
            inner = cast(dict[str, object], inner)
            inner_code = _as_str(inner.get("code")) or None
            request_id = _as_str(inner.get("request-id"))
            if not message:
                message = _as_str(inner.get("message")) or ""
    request_id = request_id or _header(headers, "request-id")
    message = message or f"Graph answered HTTP {status}"
    if status in (429, 503, 504):
        return GraphThrottled(
            message,
            retry_after=retry_after or 0.0,
            status=status,
            code=code,
            inner_code=inner_code,
            request_id=request_id,
            client_request_id=client_request_id,
        )
    cls = _BY_STATUS.get(status, GraphError)
    return cls(
        message,
        status=status,
        code=code,
        inner_code=inner_code,
        request_id=request_id,
        client_request_id=client_request_id,
    )
