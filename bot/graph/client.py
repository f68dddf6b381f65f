"""The Graph education client: GraphHttp (one connection pool, headers, retries) and EducationClient (one method per
endpoint, for one teacher's delegated token).

    http = GraphHttp.create(settings)            # once, at start-up; `await http.aclose()` at shutdown
    graph = EducationClient(http, token)         # per teacher, per turn: cheap
    submission = await graph.return_submission(class_id, assignment_id, submission_id)
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar, cast
from uuid import uuid4

import httpx
from pydantic import TypeAdapter, ValidationError

from bot.graph import requests as build
from bot.graph.batch import BatchPart, BatchResult, build_batch_body, check_parts, parts_to_retry, read_batch_response
from bot.graph.errors import (
    GraphError,
    GraphMalformedResponse,
    GraphThrottled,
    GraphTimeout,
    GraphUnavailable,
    StatusWaitTimeout,
    error_from_response,
)
from bot.graph.ids import AssignmentId, ClassId, OutcomeId, SubmissionId
from bot.graph.models import (
    Assignment,
    AssignmentStatus,
    EducationClass,
    EducationUser,
    FeedbackOutcome,
    GraphModel,
    Outcome,
    PointsGrade,
    PointsOutcome,
    RubricOutcome,
    RubricQualityFeedback,
    RubricQualitySelectedLevel,
    Submission,
    SubmissionStatus,
)
from bot.graph.points import validate_points
from bot.graph.requests import GraphRequest
from bot.graph.retry import RETRYABLE_STATUSES, RetryBudget, RetryPolicy, parse_retry_after
from bot.http_transport import Answer, DirectClient, PooledTransport, parse_json
from bot.settings import Settings

__all__ = ["EducationClient", "GraphHttp", "GraphResponse"]

logger = logging.getLogger(__name__)

PREFER_HEADER = "include-unknown-enum-members"
DEFAULT_MAX_PAGES = 100
GRAPH_CONNECTIONS = 100
"""Connections to Graph kept open at once (every tenant, teacher and bulk job of the process together)."""

T = TypeVar("T")
M = TypeVar("M", bound=GraphModel)

BeforeRequest = Callable[[str | None, int, float], Awaitable[None]]
"""An optional hook awaited before every attempt: (tenant id or None, requests Graph will count, seconds left of the
call's retry budget). It may wait (a shared per-tenant self-limit, `bot.limits.GraphTenantLimiter.before_request`) or
raise GraphThrottled when the wait would overrun the budget."""

_CLASSES = TypeAdapter(list[EducationClass])
_USERS = TypeAdapter(list[EducationUser])
_ASSIGNMENTS = TypeAdapter(list[Assignment])
_SUBMISSIONS = TypeAdapter(list[Submission])
_OUTCOMES: TypeAdapter[list[Outcome]] = TypeAdapter(list[Outcome])


@dataclass(frozen=True)
class GraphResponse:
    """A successful (2xx) Graph answer: status, headers and the decoded JSON body (None when empty)."""

    status: int
    headers: Mapping[str, str]
    body: object


class GraphHttp:
    """Owns the one HTTP client (pool, keep-alive, timeouts), the base URL and the retry policy."""

    def __init__(
        self,
        client: DirectClient,
        base_url: str,
        retry: RetryPolicy,
        *,
        max_pages: int = DEFAULT_MAX_PAGES,
        before_request: BeforeRequest | None = None,
    ) -> None:
        self._client = client
        self.base_url = base_url.rstrip("/")
        self.retry = retry
        self.max_pages = max_pages
        self.before_request = before_request
        self._origin = httpx.URL(self.base_url)

    @classmethod
    def create(
        cls,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        base_url: str | None = None,
        retry: RetryPolicy | None = None,
        before_request: BeforeRequest | None = None,
    ) -> GraphHttp:
        """Build the shared Graph HTTP layer from settings.

        Args:
            settings: gives `graph_base_url`, `graph_timeout_seconds` and `graph_max_retry_seconds`.
            transport: an httpx transport to use instead of the network (tests: httpx.MockTransport).
            base_url: overrides `settings.graph_base_url` (e.g. a mock server that serves paths without /v1.0).
            retry: overrides the default policy (tests inject sleep/clock/random here).
            before_request: awaited before every attempt (the shared per-tenant self-limit); see `BeforeRequest`.

        Returns:
            A GraphHttp to share across teachers and turns; close it with `aclose()`.
        """
        policy = retry or RetryPolicy(budget_seconds=settings.graph_max_retry_seconds)
        root = (base_url or settings.graph_base_url).rstrip("/")
        client = DirectClient(
            # As many kept-alive connections as requests in flight at once (turns of several tenants, bulk batches):
            # with fewer, a busy minute re-handshakes TLS for most requests.
            transport or PooledTransport(max_connections=GRAPH_CONNECTIONS),
            timeout=settings.graph_timeout_seconds,
            base_url=root,
        )
        return cls(client, root, policy, before_request=before_request)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def send(
        self,
        request: GraphRequest,
        token: str,
        *,
        budget: RetryBudget | None = None,
        tenant_id: str | None = None,
    ) -> GraphResponse:
        """Send one GraphRequest with retries; return its 2xx answer.

        Args:
            request: built by a function of bot.graph.requests.
            token: the teacher's delegated access token (never logged).
            budget: share a retry budget across several sends (used by $batch); a fresh one by default.
            tenant_id: the teacher's tenant, for `before_request`; None for the default tenant.

        Raises:
            GraphError: the typed error for the status (GraphThrottled once retries or the budget run out),
                GraphTimeout, GraphUnavailable or GraphMalformedResponse.
            GraphThrottled: also from `before_request`, when the self-limit's wait would overrun the budget (nothing
                was sent); `before_request` may raise StorageUnavailable when the store holding the limits fails.
        """
        return await self._send(
            request.method, request.url, request.template, token, request.body, request.idempotent, budget, tenant_id
        )

    async def send_batch(
        self,
        body: Mapping[str, Any],
        token: str,
        *,
        idempotent: bool,
        budget: RetryBudget,
        tenant_id: str | None = None,
    ) -> object:
        """POST a `$batch` envelope (retried as a whole only when Graph did not process it); return the body.

        `before_request` is charged one request per part: Graph counts a batch's parts individually.
        """
        parts = body.get("requests")
        cost = max(1, len(cast(list[object], parts))) if isinstance(parts, list) else 1
        response = await self._send("POST", "/$batch", "/$batch", token, body, idempotent, budget, tenant_id, cost)
        return response.body

    async def follow(
        self, next_link: str, template: str, token: str, *, tenant_id: str | None = None
    ) -> GraphResponse | None:
        """GET an `@odata.nextLink`; None when the link is not a URL (nothing to follow).

        Raises:
            GraphError: the link points at another host (the token is never sent there), or the GET failed.
        """
        url = httpx.URL(next_link)
        if not url.is_absolute_url:
            logger.warning("ignored an @odata.nextLink that is not an absolute URL on %s", template)
            return None
        if (url.scheme, url.host, url.port) != (self._origin.scheme, self._origin.host, self._origin.port):
            raise GraphMalformedResponse(f"refused to follow an @odata.nextLink to another host ({url.host})")
        return await self._send("GET", next_link, f"{template} (next page)", token, None, True, None, tenant_id)

    def _headers(self, token: str, client_request_id: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {token}",
            "Prefer": PREFER_HEADER,
            "client-request-id": client_request_id,
            "Accept": "application/json",
        }

    async def _send(
        self,
        method: str,
        url: str,
        template: str,
        token: str,
        body: Mapping[str, Any] | None,
        idempotent: bool,
        budget: RetryBudget | None,
        tenant_id: str | None = None,
        cost: int = 1,
    ) -> GraphResponse:
        budget = budget or self.retry.start()
        client_request_id = str(uuid4())  # one id for the logical call, kept across its retries
        headers = self._headers(token, client_request_id)
        clock = self.retry.clock
        while True:
            if self.before_request is not None:
                await self.before_request(tenant_id, cost, budget.remaining())
            budget.attempts += 1
            started = clock()
            failure: GraphError
            try:
                response = await self._client.request(
                    method, url, headers=headers, json=dict(body) if body is not None else None
                )
            except httpx.TimeoutException as exc:
                self._log(method, template, None, None, started)
                failure = GraphTimeout(
                    f"Graph did not answer {method} {template} in time", client_request_id=client_request_id
                )
                # A connect timeout never reached Graph; a read timeout may have been processed.
                retry_safe = idempotent or isinstance(exc, httpx.ConnectTimeout)
                cause: Exception = exc
            except httpx.TransportError as exc:
                self._log(method, template, None, None, started)
                failure = GraphUnavailable(
                    f"Graph could not be reached for {method} {template} ({type(exc).__name__})",
                    client_request_id=client_request_id,
                )
                retry_safe = idempotent or isinstance(exc, httpx.ConnectError)
                cause = exc
            else:
                status = response.status_code
                request_id = response.headers.get("request-id")
                self._log(method, template, status, request_id, started)
                if 200 <= status < 300:
                    return GraphResponse(status, response.headers, self._decode(response, method, template))
                retry_after = parse_retry_after(response.headers.get("Retry-After"), self.retry.now())
                # 429 and 503 mean Graph did not process the request, so even POST return/reassign/excuse (and
                # a $batch holding them) is safe to send again. A 504 may have been processed: idempotent only.
                if status in RETRYABLE_STATUSES:
                    wait = budget.wait_for(retry_after)
                    if (idempotent or status != 504) and budget.can_retry(wait):
                        await budget.sleep(wait)
                        continue
                    retry_after = wait
                raise error_from_response(
                    status,
                    response.headers,
                    response.content,
                    retry_after=retry_after,
                    client_request_id=client_request_id,
                )
            if retry_safe:
                wait = budget.wait_for(None)
                if budget.can_retry(wait):
                    await budget.sleep(wait)
                    continue
            raise failure from cause

    def _log(self, method: str, template: str, status: int | None, request_id: str | None, started: float) -> None:
        elapsed_ms = (self.retry.clock() - started) * 1000
        logger.debug(
            "graph %s %s -> %s request-id=%s %.0f ms", method, template, status or "no answer", request_id, elapsed_ms
        )

    @staticmethod
    def _decode(response: Answer, method: str, template: str) -> object:
        if response.status_code == 204 or not response.content:
            return None
        try:
            return parse_json(response.content)
        except (ValueError, UnicodeDecodeError):
            raise GraphMalformedResponse(
                f"Graph answered {method} {template} with a body that is not JSON",
                status=response.status_code,
                request_id=response.headers.get("request-id"),
            ) from None


def _validate(adapter: TypeAdapter[T], value: object, what: str) -> T:
    try:
        return adapter.validate_python(value)
    except ValidationError:
        # The pydantic message would quote the payload (student names); keep it out.
        raise GraphMalformedResponse(f"Graph's answer did not read as {what}") from None


def _parse(model: type[M], value: object) -> M:
    try:
        return model.model_validate(value)
    except ValidationError:
        raise GraphMalformedResponse(f"Graph's answer did not read as {model.__name__}") from None


class EducationClient:
    """One teacher's view of Graph education, for one turn: one async method per endpoint."""

    def __init__(self, http: GraphHttp, token: str, *, tenant_id: str | None = None) -> None:
        """Create a client for one teacher's turn.

        Args:
            http: the shared Graph HTTP layer.
            token: the teacher's delegated access token (never logged).
            tenant_id: the teacher's tenant, which the shared Graph self-limit counts against (None: the default).
        """
        self._http = http
        self._token = token
        self._tenant_id = tenant_id

    def __repr__(self) -> str:
        return f"EducationClient(base_url={self._http.base_url!r})"  # never the token

    async def _one(self, request: GraphRequest, model: type[M]) -> M:
        response = await self._http.send(request, self._token, tenant_id=self._tenant_id)
        return _parse(model, response.body)

    async def _list(self, request: GraphRequest, adapter: TypeAdapter[list[T]], what: str) -> list[T]:
        items: list[T] = []
        response: GraphResponse | None = await self._http.send(request, self._token, tenant_id=self._tenant_id)
        pages = 0
        while response is not None:
            pages += 1
            body = response.body
            if not isinstance(body, dict) or not isinstance(body.get("value"), list):  # pyright: ignore[reportUnknownMemberType]
                raise GraphMalformedResponse(f"Graph's answer to {request.template} is not a collection")
            page: dict[str, object] = body  # pyright: ignore[reportUnknownVariableType]
            items.extend(_validate(adapter, page["value"], what))
            next_link = page.get("@odata.nextLink")
            if not isinstance(next_link, str) or not next_link:
                break
            if pages >= self._http.max_pages:
                raise GraphMalformedResponse(
                    f"{request.template} has more than {self._http.max_pages} pages; stopped following nextLink"
                )
            response = await self._http.follow(next_link, request.template, self._token, tenant_id=self._tenant_id)
        return items

    async def my_taught_classes(self) -> list[EducationClass]:
        """The classes the teacher teaches (all pages)."""
        return await self._list(build.my_taught_classes(), _CLASSES, "classes")

    async def my_classes(self) -> list[EducationClass]:
        """The classes the signed-in user belongs to (all pages)."""
        return await self._list(build.my_classes(), _CLASSES, "classes")

    async def get_class(self, class_id: ClassId) -> EducationClass:
        """One class."""
        return await self._one(build.get_class(class_id), EducationClass)

    async def list_members(self, class_id: ClassId) -> list[EducationUser]:
        """Everyone in the class, students and teachers (all pages)."""
        return await self._list(build.list_members(class_id), _USERS, "users")

    async def list_teachers(self, class_id: ClassId) -> list[EducationUser]:
        """The class's teachers (all pages)."""
        return await self._list(build.list_teachers(class_id), _USERS, "users")

    async def list_assignments(
        self,
        class_id: ClassId,
        *,
        status_filter: Sequence[AssignmentStatus] | None = None,
        select: Sequence[str] | None = None,
        top: int | None = None,
    ) -> list[Assignment]:
        """The class's assignments (all pages), optionally only some statuses.

        Args:
            class_id: the class.
            status_filter: e.g. `[AssignmentStatus.ASSIGNED, AssignmentStatus.DRAFT]`.
            select: camelCase properties to fetch (`id` is always included).
            top: page size.

        Raises:
            ValueError: a bad `select` name or `top`.
            GraphError: as GraphHttp.send.
        """
        request = build.list_assignments(class_id, status_filter=status_filter, select=select, top=top)
        return await self._list(request, _ASSIGNMENTS, "assignments")

    async def get_assignment(self, class_id: ClassId, assignment_id: AssignmentId) -> Assignment:
        """One assignment."""
        return await self._one(build.get_assignment(class_id, assignment_id), Assignment)

    async def list_submissions(
        self, class_id: ClassId, assignment_id: AssignmentId, *, expand_outcomes: bool = True, top: int | None = None
    ) -> list[Submission]:
        """Every submission of an assignment (all pages), by default with its outcomes."""
        request = build.list_submissions(class_id, assignment_id, expand_outcomes=expand_outcomes, top=top)
        return await self._list(request, _SUBMISSIONS, "submissions")

    async def get_submission(
        self,
        class_id: ClassId,
        assignment_id: AssignmentId,
        submission_id: SubmissionId,
        *,
        expand_outcomes: bool = False,
    ) -> Submission:
        """One submission, optionally with its outcomes."""
        request = build.get_submission(class_id, assignment_id, submission_id, expand_outcomes=expand_outcomes)
        return await self._one(request, Submission)

    async def list_outcomes(
        self, class_id: ClassId, assignment_id: AssignmentId, submission_id: SubmissionId
    ) -> list[Outcome]:
        """A submission's outcomes (points, feedback, rubric, feedback resources, unknown types)."""
        request = build.list_outcomes(class_id, assignment_id, submission_id)
        return await self._list(request, _OUTCOMES, "outcomes")

    async def update_points(
        self,
        class_id: ClassId,
        assignment_id: AssignmentId,
        submission_id: SubmissionId,
        outcome_id: OutcomeId,
        points: float,
    ) -> PointsOutcome:
        """Set the draft points of a submission (published when it is returned).

        Raises:
            InvalidPoints: before any request, for negative, non-finite, non-numeric or too large points.
            GraphError: as GraphHttp.send (e.g. GraphBadRequest `invalidGrading`, GraphNotFound `20241`).
        """
        value = validate_points(points)
        request = build.update_points(class_id, assignment_id, submission_id, outcome_id, value)
        response = await self._http.send(request, self._token, tenant_id=self._tenant_id)
        if response.body is None:  # a 204 answer: the outcome is what we wrote
            return PointsOutcome(id=outcome_id, points=PointsGrade(points=value))
        return _parse(PointsOutcome, response.body)

    async def update_feedback(
        self,
        class_id: ClassId,
        assignment_id: AssignmentId,
        submission_id: SubmissionId,
        outcome_id: OutcomeId,
        text: str,
    ) -> FeedbackOutcome:
        """Set the draft feedback text of a submission (published when it is returned)."""
        request = build.update_feedback(class_id, assignment_id, submission_id, outcome_id, text)
        return await self._one(request, FeedbackOutcome)

    async def update_rubric(
        self,
        class_id: ClassId,
        assignment_id: AssignmentId,
        submission_id: SubmissionId,
        outcome_id: OutcomeId,
        selected_levels: Sequence[RubricQualitySelectedLevel],
        quality_feedback: Sequence[RubricQualityFeedback],
    ) -> RubricOutcome:
        """Set the selected rubric levels and per-quality feedback of a submission."""
        request = build.update_rubric(
            class_id, assignment_id, submission_id, outcome_id, selected_levels, quality_feedback
        )
        return await self._one(request, RubricOutcome)

    async def return_submission(
        self, class_id: ClassId, assignment_id: AssignmentId, submission_id: SubmissionId
    ) -> Submission:
        """Return the work: the student sees the published points and feedback."""
        return await self._one(build.return_submission(class_id, assignment_id, submission_id), Submission)

    async def reassign(self, class_id: ClassId, assignment_id: AssignmentId, submission_id: SubmissionId) -> Submission:
        """Send the work back to the student to try again."""
        return await self._one(build.reassign(class_id, assignment_id, submission_id), Submission)

    async def excuse(self, class_id: ClassId, assignment_id: AssignmentId, submission_id: SubmissionId) -> Submission:
        """Excuse the student from the assignment."""
        return await self._one(build.excuse(class_id, assignment_id, submission_id), Submission)

    async def wait_for_status(
        self,
        class_id: ClassId,
        assignment_id: AssignmentId,
        submission_id: SubmissionId,
        statuses: Collection[SubmissionStatus],
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 -- a polling deadline on the injected clock, not a cancellation
        interval: float = 0.25,
    ) -> Submission:
        """Poll a submission until its status is one of `statuses` (Graph applies return/reassign asynchronously).

        Args:
            class_id: the class.
            assignment_id: the assignment.
            submission_id: the submission.
            statuses: the statuses that end the wait.
            timeout: give up after this many seconds.
            interval: seconds between reads.

        Returns:
            The submission as first read with a wanted status.

        Raises:
            StatusWaitTimeout: the status did not arrive in time; carries the last status seen.
            GraphError: as GraphHttp.send.
        """
        clock, sleep = self._http.retry.clock, self._http.retry.sleep
        started = clock()
        while True:
            submission = await self.get_submission(class_id, assignment_id, submission_id)
            if submission.status in statuses:
                return submission
            waited = clock() - started
            if waited + interval > timeout:
                raise StatusWaitTimeout(
                    f"submission still {submission.status.value} after {waited:.2f} s",
                    last_status=submission.status,
                    waited=waited,
                )
            await sleep(interval)

    async def batch(self, parts: Sequence[BatchPart]) -> list[BatchResult]:
        """Send up to 20 requests in one `$batch`; return one result per part, in request order.

        Throttled parts (429/503, and 504 for idempotent parts) and the 424 dependants they took down are sent
        again, honouring their Retry-After, within one retry budget; parts that succeeded are never resent.

        Raises:
            ValueError: more than 20 parts, duplicate ids, or a `depends_on` that names no earlier part.
            GraphError: the `$batch` call itself failed.
        """
        check_parts(parts)
        if not parts:
            return []
        budget = self._http.retry.start()
        now = self._http.retry.now
        final: dict[str, BatchResult] = {}
        pending = list(parts)
        while True:
            body = await self._http.send_batch(
                build_batch_body(pending),
                self._token,
                idempotent=all(p.request.idempotent for p in pending),
                budget=budget,
                tenant_id=self._tenant_id,
            )
            results = read_batch_response(body, pending, lambda h: parse_retry_after(_get(h, "Retry-After"), now()))
            again = parts_to_retry(pending, results)
            final.update((r.id, r) for r in results if r.id not in again)
            if not again:
                break
            waits = [e.retry_after for r in results if r.id in again and isinstance(e := r.error, GraphThrottled)]
            wait = max((w for w in waits if w > 0), default=None)
            wait = budget.wait_for(wait)
            if not budget.can_retry(wait):
                for r in results:
                    if r.id in again:
                        final[r.id] = _with_wait(r, wait)
                break
            await budget.sleep(wait)
            pending = [p for p in pending if p.id in again]
        return [final[p.id] for p in parts]


def _get(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def _with_wait(result: BatchResult, wait: float) -> BatchResult:
    if result.status not in RETRYABLE_STATUSES:
        return result
    error = error_from_response(result.status, result.headers, result.body, retry_after=wait)
    return replace(result, error=error)
