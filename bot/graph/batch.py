"""JSON batching (`POST /$batch`): up to 20 GraphRequests in one round trip, each answered with its own status.

This module is pure: it builds the envelope, reads the answer back into request order, and picks the parts worth
sending again (throttled ones and the dependants that failed only because of them). EducationClient.batch runs it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from pydantic import ValidationError

from bot.graph.errors import GraphError, GraphMalformedResponse, error_from_response
from bot.graph.models import GraphModel
from bot.graph.requests import GraphRequest

__all__ = [
    "MAX_BATCH_PARTS",
    "BatchPart",
    "BatchResult",
    "build_batch_body",
    "check_parts",
    "parts_to_retry",
    "read_batch_response",
]

MAX_BATCH_PARTS = 20
"""Graph refuses a batch of more than 20 requests."""

PREFER_HEADER = "include-unknown-enum-members"

M = TypeVar("M", bound=GraphModel)


@dataclass(frozen=True)
class BatchPart:
    """One request of a batch. `id` is unique in the batch; `depends_on` names parts that must succeed first."""

    id: str
    request: GraphRequest
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class BatchResult:
    """Graph's answer to one part: its status, headers, decoded body and, when it failed, the typed error."""

    id: str
    status: int
    headers: Mapping[str, str] = field(default_factory=dict[str, str])
    body: object = None
    error: GraphError | None = None

    @property
    def ok(self) -> bool:
        """True for a 2xx answer."""
        return self.error is None

    def parse(self, model: type[M]) -> M:
        """Read the body as the model the part's builder expects (e.g. `result.parse(PointsOutcome)`).

        Raises:
            GraphError: the part failed (the typed error of its status).
            GraphMalformedResponse: the body is not that resource.
        """
        if self.error is not None:
            raise self.error
        try:
            return model.model_validate(self.body)
        except ValidationError:
            raise GraphMalformedResponse(
                f"batch part {self.id} did not read as {model.__name__}", status=self.status
            ) from None


def check_parts(parts: Sequence[BatchPart]) -> None:
    """Refuse a batch Graph would refuse, before anything is sent.

    Raises:
        ValueError: more than 20 parts, a duplicate or empty id, or a `depends_on` naming no earlier part.
    """
    if len(parts) > MAX_BATCH_PARTS:
        raise ValueError(f"a $batch holds at most {MAX_BATCH_PARTS} requests, got {len(parts)}")
    seen: set[str] = set()
    for part in parts:
        if not part.id or part.id in seen:
            raise ValueError(f"batch part ids must be unique and non-empty: {part.id!r}")
        missing = [d for d in part.depends_on if d not in seen]
        if missing:
            raise ValueError(f"batch part {part.id!r} depends on {missing[0]!r}, which does not precede it")
        seen.add(part.id)


def build_batch_body(parts: Sequence[BatchPart]) -> dict[str, Any]:
    """The `$batch` request body; `dependsOn` keeps only ids that are in this batch (earlier rounds succeeded)."""
    ids = {p.id for p in parts}
    requests: list[dict[str, Any]] = []
    for part in parts:
        headers = {"Prefer": PREFER_HEADER}
        entry: dict[str, Any] = {"id": part.id, "method": part.request.method, "url": part.request.url}
        if part.request.body is not None:
            headers["Content-Type"] = "application/json"
            entry["body"] = dict(part.request.body)
        entry["headers"] = headers
        depends_on = [d for d in part.depends_on if d in ids]
        if depends_on:
            entry["dependsOn"] = depends_on
        requests.append(entry)
    return {"requests": requests}


def _str_map(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in cast(dict[object, object], value).items()}


def read_batch_response(
    body: object, parts: Sequence[BatchPart], retry_after: Callable[[Mapping[str, str]], float | None]
) -> list[BatchResult]:
    """Read Graph's `{"responses": [...]}` into one BatchResult per part, in the order of `parts`.

    Args:
        body: the decoded `$batch` response body.
        parts: the parts that were sent.
        retry_after: reads a part's Retry-After header into seconds.

    Returns:
        Results in request order; a part Graph did not answer gets status 0 and a GraphMalformedResponse.
    """
    answers: dict[str, BatchResult] = {}
    raw = cast(dict[str, object], body).get("responses") if isinstance(body, dict) else None
    for item in cast(list[object], raw) if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        item = cast(dict[str, object], item)
        part_id, status = item.get("id"), item.get("status")
        if not isinstance(part_id, str) or not isinstance(status, int):
            continue
        headers = _str_map(item.get("headers"))
        part_body = item.get("body")
        error = None
        if not 200 <= status < 300:
            error = error_from_response(status, headers, part_body, retry_after=retry_after(headers))
        answers[part_id] = BatchResult(part_id, status, headers, part_body, error)
    return [
        answers.get(p.id)
        or BatchResult(p.id, 0, error=GraphMalformedResponse(f"Graph sent no answer for batch part {p.id}"))
        for p in parts
    ]


def _throttled(result: BatchResult, part: BatchPart) -> bool:
    if result.status in (429, 503):
        return True  # not processed: safe to send again, whatever the method
    return result.status == 504 and part.request.idempotent  # 504 may have been processed: only idempotent ones


def parts_to_retry(parts: Sequence[BatchPart], results: Iterable[BatchResult]) -> set[str]:
    """Ids worth sending again: throttled parts, and 424 parts that failed only because one of those did.

    Parts that succeeded, or failed for any other reason, are never in the set.
    """
    by_id = {r.id: r for r in results}
    retry = {p.id for p in parts if p.id in by_id and _throttled(by_id[p.id], p)}
    for part in parts:  # parts only depend on earlier parts, so one pass in order covers chains
        result = by_id.get(part.id)
        if result is not None and result.status == 424 and any(d in retry for d in part.depends_on):
            retry.add(part.id)
    return retry
