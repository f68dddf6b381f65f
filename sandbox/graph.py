"""A local stand-in for Microsoft Graph education v1.0: classes, assignments, submissions, outcomes and `$batch`.

Built from Microsoft's documentation and the documented examples in /work/shared/specs/examples/graph, never from
the bot's client. Where the docs are silent, the choice made here is marked "undocumented" in a comment.

What the docs say and where it is implemented:
- Submission transitions: concepts/submissions-status-transition.md, table "Submission status transitions based on
  allowed actions" -> `_TRANSITIONS`. "Any action and status transition not listed in the table is not allowed."
- Prefer: include-unknown-enum-members (educationsubmission-reassign.md, -excuse.md, educationassignment-get.md):
  without it a reassigned or excused submission reads as `returned`, reassignedDateTime/By (or excusedDateTime/By)
  copied into returnedDateTime/By; an inactive assignment reads as `unknownFutureValue` -> `_submission_json`,
  `_assignment_json`.
- Outcome PATCH (educationoutcome-update.md): write `points`/`feedback`, never `published*`; 400 `invalidGrading`
  for negative/too large points; 404 code "20241" for an unknown outcome id -> `_patch_outcome`.
- Return "makes the grade and feedback ... available to the student" (publishes); reassign returns "with feedback
  for review" (publishes too); excuse: "Grading rubrics and feedback are deleted" -> `_apply_action`.
- JSON batching (concepts/json-batching.md): <= 20 requests, unique case-insensitive ids, relative urls, a body needs
  a Content-Type header, dependants of a failed request get 424, throttled parts get 429 -> `_batch`.
- Throttling (concepts/throttling-limits.md, "Assignment service limits"): 350 requests per 10 s and 10,000 per hour
  per app per tenant, each `$batch` part counted on its own; over either, 429 `TooManyRequests` with `Retry-After`
  (the shape of examples/graph/throttling.429.json) -> `_charge_quota`, `sandbox.quota`. Knobs can lower, raise or
  switch off either window, and inject throttling on top.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import math
import random
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.http_transport import json_bytes
from sandbox.core import InvalidToken, SandboxRequest, SandboxResponse, TokenVerifier, json_response
from sandbox.quota import Quota, QuotaWindow
from sandbox.school import (
    Assignment,
    Feedback,
    ItemBody,
    Outcome,
    PointsGrade,
    QualityFeedback,
    School,
    SchoolClass,
    SelectedLevel,
    Submission,
    SubmissionStatus,
    User,
    load_school,
)

logger = logging.getLogger(__name__)

Json = dict[str, Any]
Action = Literal["submit", "unsubmit", "return", "reassign", "excuse"]

PREFER_UNKNOWN_ENUMS = "include-unknown-enum-members"
MAX_BATCH_REQUESTS = 20
MAX_POINTS = 9_999_999  # "Points must be less than 9999999 when using PointsGradeType."

# concepts/submissions-status-transition.md: {action: {current status: new status}}. "Turn in" is submit, "Undo turn
# in" is unsubmit, "Return for revision" is reassign. Pairs not listed are refused.
_TRANSITIONS: dict[Action, dict[SubmissionStatus, SubmissionStatus]] = {
    "submit": {"working": "submitted", "returned": "submitted", "reassigned": "submitted", "excused": "submitted"},
    "unsubmit": {"submitted": "working"},
    "return": {
        "working": "returned",
        "submitted": "returned",
        "returned": "returned",
        "reassigned": "returned",
        "excused": "returned",
    },
    "reassign": {
        "working": "reassigned",
        "submitted": "reassigned",
        "returned": "reassigned",
        "reassigned": "reassigned",
        "excused": "reassigned",
    },
    "excuse": {"working": "excused", "submitted": "excused", "returned": "excused", "reassigned": "excused"},
}

# Delegated scopes per operation. Roster reads: EduRoster.ReadBasic or higher. Assignment reads: any EduAssignments.*.
# Outcome PATCH, submit and unsubmit: EduAssignments.ReadWriteBasic or .ReadWrite (includes/permissions/
# educationoutcome-update-permissions.md, educationsubmission-submit-permissions.md). Return, reassign and excuse:
# only EduAssignments.ReadWrite ("Higher privileged permissions: Not available" on their pages).
_ROSTER_READ = frozenset({"EduRoster.ReadBasic", "EduRoster.Read", "EduRoster.ReadWrite"})
_ASSIGNMENTS_READ = frozenset(
    {"EduAssignments.ReadBasic", "EduAssignments.Read", "EduAssignments.ReadWriteBasic", "EduAssignments.ReadWrite"}
)
_ASSIGNMENTS_WRITE = frozenset({"EduAssignments.ReadWriteBasic", "EduAssignments.ReadWrite"})
_GRADES_PUBLISH = frozenset({"EduAssignments.ReadWrite"})

_OUTCOME_TYPES = {
    "feedback": "#microsoft.graph.educationFeedbackOutcome",
    "points": "#microsoft.graph.educationPointsOutcome",
    "rubric": "#microsoft.graph.educationRubricOutcome",
}


class Knobs(BaseModel):
    """Run-time switches for latency, throttling and asynchronous actions; settable via `POST /_sandbox/knobs`.

    Attributes:
        latency_seconds: awaited before answering each HTTP request (once per `$batch`, not per part).
        throttle_rate: fraction (0..1) of Graph requests and batch parts answered with `throttle_status`, drawn
            from a `random.Random(random_seed)` so runs repeat.
        throttle_status: 429 (`TooManyRequests`, as on the throttling page) or 503.
        retry_after: the `Retry-After` value sent when throttling ("2", "2.128", an HTTP-date); None omits it.
        throttle_next: throttle exactly the next N Graph requests or batch parts (checked before the rate).
        action_delay_seconds: return/reassign/excuse/submit/unsubmit answer 200 at once, but GETs show the new
            status only after this many seconds of the service clock.
        page_size: page size of collections when the caller gives no `$top`.
        random_seed: seed of the throttling random generator.
        quota_per_10_seconds: requests per app per tenant in any 10 s (documented: 350); None: no such limit.
        quota_per_hour: requests per app per tenant in any hour (documented: 10,000); None: no such limit.
    """

    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    latency_seconds: float = Field(default=0.0, ge=0)
    throttle_rate: float = Field(default=0.0, ge=0, le=1)
    throttle_status: Literal[429, 503] = 429
    retry_after: str | None = "2"
    throttle_next: int = Field(default=0, ge=0)
    action_delay_seconds: float = Field(default=0.0, ge=0)
    page_size: int = Field(default=20, ge=1)
    random_seed: int = 0
    quota_per_10_seconds: int | None = Field(default=350, ge=1)
    quota_per_hour: int | None = Field(default=10_000, ge=1)

    def quota_windows(self) -> tuple[QuotaWindow, ...]:
        """The per-app-per-tenant quota windows in force."""
        limits = ((self.quota_per_10_seconds, 10.0), (self.quota_per_hour, 3600.0))
        return tuple(QuotaWindow(requests, seconds) for requests, seconds in limits if requests is not None)


class Inspected(Protocol):
    """What `/_sandbox/requests` and `/_sandbox/reset` act on: one tenant's service, or all tenants together."""

    @property
    def requests(self) -> list[RequestRecord]: ...

    @property
    def request_count(self) -> int: ...

    def reset_request_log(self) -> None: ...

    def reset(self) -> None: ...


def log_and_reset_routes(service: Inspected, method: str, path: str) -> SandboxResponse | None:
    """The answer to `GET`/`DELETE /_sandbox/requests` or `POST /_sandbox/reset`; None for any other route."""
    if path == "/_sandbox/requests" and method == "GET":
        records = [{"method": r.method, "path": r.path, "batchPart": r.batch_part} for r in service.requests]
        return json_response(200, {"count": service.request_count, "requests": records})
    if path == "/_sandbox/requests" and method == "DELETE":
        service.reset_request_log()
        return SandboxResponse(status=204)
    if path == "/_sandbox/reset" and method == "POST":
        service.reset()
        return json_response(200, {"reset": True})
    return None


def _too_many_requests(headers: dict[str, str]) -> GraphError:
    """Graph's 429, shaped as examples/graph/throttling.429.json."""
    return GraphError(
        429,
        "TooManyRequests",
        "Please retry again later.",
        inner_code="429",
        inner_message="Please retry after",
        headers=headers,
    )


@dataclass(frozen=True)
class RequestRecord:
    """One request the service answered (a `$batch` part is recorded with `batch_part=True`)."""

    method: str
    path: str
    batch_part: bool = False


class GraphError(Exception):
    """An OData error answer; raised inside handlers and turned into a response by `handle`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        inner_code: str | None = None,
        inner_message: str | None = None,
        bare: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.inner_code = inner_code
        self.inner_message = inner_message
        self.bare = bare  # no innerError at all (the documented 404 "20241" has none)
        self.headers = dict(headers or {})


@dataclass(frozen=True)
class _Caller:
    oid: str
    scopes: frozenset[str]
    app: str = ""
    """The client the token was issued to (`appid`, or `azp` in v2 tokens): the "app" of per-app quotas."""


@dataclass
class _Context:
    request: SandboxRequest
    request_id: str
    client_request_id: str
    prefer_unknown: bool
    caller: _Caller | None = None
    response_headers: dict[str, str] = field(default_factory=lambda: {})

    @property
    def base(self) -> str:
        return f"{self.request.base_url.rstrip('/')}/v1.0"


@dataclass
class _Pending:
    due: datetime
    submission_id: str
    action: Action
    caller: str
    at: datetime


def _iso(value: datetime | None) -> str | None:
    """Graph's timestamp form: UTC, `Z`, seven fractional digits when there are any."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _identity(user_id: str | None) -> Json:
    """An identitySet as Graph writes it: all three keys, user display name null (see the examples' README, item 2)."""
    return {"application": None, "device": None, "user": {"id": user_id, "displayName": None}}


def _short_identity(user_id: str | None) -> Json | None:
    """The `{user: {id}}` form used inside outcomes (educationoutcome-update examples)."""
    return None if user_id is None else {"user": {"id": user_id, "displayName": None}}


def _body_json(body: ItemBody | None) -> Json | None:
    return None if body is None else {"content": body.content, "contentType": body.contentType}


class GraphEducation:
    """The sandbox Graph education service: state plus `handle(request) -> response`."""

    def __init__(
        self,
        school: School,
        *,
        verify_token: TokenVerifier,
        knobs: Knobs | None = None,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """Serve `school`.

        Args:
            school: the state to serve; kept as the seed that `reset()` restores.
            verify_token: validates bearer tokens, returning claims (`oid`, `tid`, `scp`) or raising InvalidToken.
            knobs: latency/throttling switches; defaults to none active.
            clock: current time (UTC); injectable so tests can step past `action_delay_seconds`.
            sleep: awaited for `latency_seconds`.
        """
        self._seed = school.model_copy(deep=True)
        self.school = school
        self._initial_knobs = (knobs or Knobs()).model_copy()
        self.knobs = knobs or Knobs()
        self._verify_token = verify_token
        self._clock = clock or (lambda: datetime.now(UTC))
        self._sleep = sleep
        self._rng = random.Random(self.knobs.random_seed)
        self._pending: list[_Pending] = []
        self._log: list[RequestRecord] = []
        self._quota = Quota(self.knobs.quota_windows())

    @classmethod
    def from_seed(
        cls,
        *,
        verify_token: TokenVerifier,
        knobs: Knobs | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> GraphEducation:
        """A service over the seed school in `sandbox/school.json`."""
        return cls(load_school(), verify_token=verify_token, knobs=knobs, clock=clock)

    # ----------------------------------------------------------------------------------------------- inspection

    @property
    def request_count(self) -> int:
        """HTTP round trips answered since the last reset (a `$batch` counts once; `/_sandbox/*` not at all)."""
        return sum(1 for r in self._log if not r.batch_part)

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request answered, including `$batch` parts."""
        return list(self._log)

    def reset_request_log(self) -> None:
        """Forget the requests answered so far."""
        self._log.clear()

    def reset(self) -> None:
        """Restore the seed school, the initial knobs and an empty request log."""
        self.school = self._seed.model_copy(deep=True)
        self.knobs = self._initial_knobs.model_copy()
        self._rng = random.Random(self.knobs.random_seed)
        self._pending.clear()
        self._log.clear()
        self._quota = Quota(self.knobs.quota_windows())

    def submission_for(self, class_id: str, assignment_id: str, user_id: str) -> Submission | None:
        """The submission of one student for one assignment, as a GET would see it now."""
        self._settle()
        for sub in self.school.submissions:
            if sub.classId == class_id and sub.assignmentId == assignment_id and sub.userId == user_id:
                return sub
        return None

    def outcomes_of(self, submission_id: str) -> list[Outcome]:
        """The outcomes of a submission (empty when the id is unknown)."""
        self._settle()
        sub = self.school.submission(submission_id)
        return list(sub.outcomes) if sub else []

    def state(self) -> Json:
        """A JSON snapshot of everything: what `GET /_sandbox/state` answers."""
        self._settle()
        snapshot = self.school.model_dump(mode="json", by_alias=True)
        snapshot["knobs"] = self.knobs.model_dump(mode="json")
        snapshot["pendingActions"] = [
            {"submissionId": p.submission_id, "action": p.action, "due": _iso(p.due)} for p in self._pending
        ]
        return snapshot

    # ----------------------------------------------------------------------------------------------- entry point

    async def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer one request: sandbox control paths, `$batch`, or a single Graph call."""
        path = request.path.rstrip("/") or "/"
        if path.startswith("/_sandbox/"):
            return self._sandbox(request, path)
        self._log.append(RequestRecord(request.method.upper(), path))
        if self.knobs.latency_seconds > 0:
            await self._sleep(self.knobs.latency_seconds)
        if path == "/v1.0/$batch":
            return await self._batch(request)
        return self._dispatch(request, path)

    def _dispatch(self, request: SandboxRequest, path: str) -> SandboxResponse:
        ctx = _Context(
            request=request,
            request_id=str(uuid.uuid4()),
            client_request_id=request.header("client-request-id") or str(uuid.uuid4()),
            prefer_unknown=PREFER_UNKNOWN_ENUMS in (request.header("prefer") or "").lower(),
        )
        if ctx.prefer_unknown:
            # Graph names the preference it honoured (RFC 7240 Preference-Applied).
            ctx.response_headers["preference-applied"] = PREFER_UNKNOWN_ENUMS
        try:
            self._maybe_throttle()
            self._settle()
            ctx.caller = self._authenticate(request)
            self._charge_quota(ctx.caller)
            status, payload = self._route(ctx, request.method.upper(), path)
        except GraphError as err:
            return self._error_response(ctx, err)
        return self._respond(ctx, status, payload)

    def _respond(self, ctx: _Context, status: int, payload: Json) -> SandboxResponse:
        headers = {
            "request-id": ctx.request_id,
            "client-request-id": ctx.client_request_id,
            "odata-version": "4.0",
            **ctx.response_headers,
        }
        return json_response(status, payload, headers)

    def _error_response(self, ctx: _Context, err: GraphError) -> SandboxResponse:
        error: Json = {"code": err.code, "message": err.message}
        if not err.bare:
            inner: Json = {}
            if err.inner_code is not None:
                inner["code"] = err.inner_code
            if err.inner_message is not None:
                inner["message"] = err.inner_message
            inner["date"] = self._clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
            inner["request-id"] = ctx.request_id
            inner["client-request-id"] = ctx.client_request_id
            error["innerError"] = inner
        response = self._respond(ctx, err.status, {"error": error})
        response.headers.pop("preference-applied", None)
        response.headers.update(err.headers)
        return response

    # ----------------------------------------------------------------------------------------------- knobs

    def _maybe_throttle(self) -> None:
        knobs = self.knobs
        throttled = False
        if knobs.throttle_next > 0:
            knobs.throttle_next -= 1
            throttled = True
        elif knobs.throttle_rate > 0 and self._rng.random() < knobs.throttle_rate:
            throttled = True
        if not throttled:
            return
        headers = {"retry-after": knobs.retry_after} if knobs.retry_after is not None else {}
        if knobs.throttle_status == 429:
            raise _too_many_requests(headers)
        raise GraphError(503, "serviceNotAvailable", "Service unavailable; please retry later.", headers=headers)

    def _charge_quota(self, caller: _Caller) -> None:
        """Count the request against its app's quota in this tenant, or refuse it with 429 and `Retry-After`."""
        windows = self.knobs.quota_windows()
        if windows != self._quota.windows:  # the knobs changed: count afresh under the new windows
            self._quota = Quota(windows)
        wait = self._quota.charge(caller.app, self._clock().timestamp())
        if wait is not None:
            # Retry-After in seconds, fractional as in Microsoft's sample, rounded up to the millisecond so that
            # waiting exactly that long is enough.
            raise _too_many_requests({"retry-after": f"{math.ceil(wait * 1000) / 1000:g}"})

    def _settle(self) -> None:
        """Apply delayed actions whose time has come."""
        if not self._pending:
            return
        now = self._clock()
        due = [p for p in self._pending if p.due <= now]
        if not due:
            return
        self._pending = [p for p in self._pending if p.due > now]
        for pending in due:
            sub = self.school.submission(pending.submission_id)
            if sub is not None:
                self._apply_action(sub, pending.action, pending.caller, pending.at)

    # ----------------------------------------------------------------------------------------------- sandbox API

    def _sandbox(self, request: SandboxRequest, path: str) -> SandboxResponse:
        method = request.method.upper()
        if path == "/_sandbox/state" and method == "GET":
            return json_response(200, self.state())
        if (answer := log_and_reset_routes(self, method, path)) is not None:
            return answer
        if path == "/_sandbox/knobs" and method == "GET":
            return json_response(200, self.knobs.model_dump(mode="json"))
        if path == "/_sandbox/knobs" and method == "POST":
            try:
                changes = request.json() or {}
                if not isinstance(changes, dict):
                    raise ValueError("knobs body must be a JSON object")
                merged = self.knobs.model_dump() | changes
                new = Knobs.model_validate(merged)
            except (ValueError, ValidationError) as exc:
                return json_response(400, {"error": {"code": "badRequest", "message": str(exc)}})
            if new.random_seed != self.knobs.random_seed:
                self._rng = random.Random(new.random_seed)
            self.knobs = new
            return json_response(200, self.knobs.model_dump(mode="json"))
        return json_response(404, {"error": {"code": "NotFound", "message": f"No sandbox route {method} {path}"}})

    # ----------------------------------------------------------------------------------------------- auth

    def _authenticate(self, request: SandboxRequest) -> _Caller:
        header = request.header("authorization") or ""
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if not header:
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
        if scheme.lower() != "bearer" or not token:
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
        try:
            claims = self._verify_token(token)
        except InvalidToken as exc:
            raise GraphError(401, "InvalidAuthenticationToken", f"Access token validation failure. {exc}") from None
        tid = claims.get("tid")
        if tid is not None and tid != self.school.tenantId:
            raise GraphError(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid tenant.")
        oid = str(claims.get("oid") or "")
        if not oid:
            raise GraphError(401, "InvalidAuthenticationToken", "Access token validation failure. No oid claim.")
        scopes = frozenset(str(claims.get("scp") or "").split())
        return _Caller(oid=oid, scopes=scopes, app=str(claims.get("appid") or claims.get("azp") or ""))

    @staticmethod
    def _require_scope(ctx: _Context, allowed: frozenset[str]) -> _Caller:
        caller = ctx.caller
        assert caller is not None
        if not caller.scopes & allowed:
            raise GraphError(403, "AccessDenied", "Insufficient privileges to complete the operation.")
        return caller

    def _require_user(self, caller: _Caller) -> User:
        user = self.school.user(caller.oid)
        if user is None:
            raise GraphError(403, "AccessDenied", "The signed-in user is not an education user in this tenant.")
        return user

    # ----------------------------------------------------------------------------------------------- routing

    def _route(self, ctx: _Context, method: str, path: str) -> tuple[int, Json]:
        if not path.startswith("/v1.0/"):
            raise GraphError(400, "BadRequest", f"Invalid version in request path '{path}'.")
        segments = [s.removeprefix("microsoft.graph.") for s in path[len("/v1.0/") :].split("/")]
        if not segments or segments[0] != "education" or len(segments) < 2:
            raise GraphError(400, "BadRequest", f"Resource not found for the segment '{segments[0]}'.")
        rest = segments[1:]
        if rest[0] == "me":
            return self._route_me(ctx, method, rest[1:])
        if rest[0] == "classes" and len(rest) >= 2:
            return self._route_class(ctx, method, rest[1], rest[2:])
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{rest[0]}'.")

    @staticmethod
    def _method(method: str, allowed: str) -> None:
        if method != allowed:
            # The only documented 405 body (concepts/json-batching.md example response, request 4).
            raise GraphError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")

    def _route_me(self, ctx: _Context, method: str, rest: list[str]) -> tuple[int, Json]:
        if rest == ["taughtClasses"] or rest == ["classes"]:
            self._method(method, "GET")
            caller = self._require_scope(ctx, _ROSTER_READ)
            self._require_user(caller)
            if rest == ["taughtClasses"]:
                classes = [c for c in self.school.classes if caller.oid in c.teacherIds]
            else:
                classes = [c for c in self.school.classes if caller.oid in c.teacherIds + c.studentIds]
            items = [self._class_json(c) for c in classes]
            return 200, self._collection(ctx, items, f"{ctx.base}/$metadata#education/me/{rest[0]}")
        if rest and rest[0] == "assignments":
            # Only the list is served; the bot reads it and writes through /education/classes/... . Any other verb
            # or deeper path under /me/assignments is refused (undocumented which error; this is Graph's only
            # documented 405 shape).
            if method != "GET" or len(rest) > 1:
                self._method(method, "GET")
                raise GraphError(400, "BadRequest", f"Resource not found for the segment '{rest[1]}'.")
            caller = self._require_scope(ctx, _ASSIGNMENTS_READ)
            self._require_user(caller)
            items: list[Json] = []
            for cls in self.school.classes:
                role = self._role(cls, caller.oid)
                if role is None:
                    continue
                for assignment in self.school.assignments_of(cls.id):
                    if role == "teacher" or assignment.status != "draft":
                        items.append(self._assignment_json(ctx, assignment))
            return 200, self._collection(ctx, items, f"{ctx.base}/$metadata#education/me/assignments")
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{rest[0] if rest else 'me'}'.")

    def _route_class(self, ctx: _Context, method: str, class_id: str, rest: list[str]) -> tuple[int, Json]:
        if not rest or rest[0] in ("members", "teachers"):
            self._method(method, "GET")
            self._require_scope(ctx, _ROSTER_READ)
            cls = self._class(class_id)
            if not rest:
                payload = {"@odata.context": f"{ctx.base}/$metadata#education/classes/$entity", **self._class_json(cls)}
                return 200, self._select(ctx, payload)
            ids = cls.teacherIds if rest[0] == "teachers" else cls.teacherIds + cls.studentIds
            users = [u for u in (self.school.user(i) for i in ids) if u is not None]
            items = [self._user_json(u) for u in users]
            if len(rest) > 1:
                raise GraphError(400, "BadRequest", f"Resource not found for the segment '{rest[1]}'.")
            return 200, self._collection(ctx, items, f"{ctx.base}/$metadata#Collection(microsoft.graph.educationUser)")
        if rest[0] != "assignments":
            raise GraphError(400, "BadRequest", f"Resource not found for the segment '{rest[0]}'.")
        cls = self._class(class_id)
        if len(rest) == 1:
            self._method(method, "GET")
            caller = self._require_scope(ctx, _ASSIGNMENTS_READ)
            role = self._member_role(cls, caller)
            assignments = [a for a in self.school.assignments_of(cls.id) if role == "teacher" or a.status != "draft"]
            items = [self._assignment_json(ctx, a) for a in assignments]
            context = f"{ctx.base}/$metadata#education/classes('{cls.id}')/assignments"
            return 200, self._collection(ctx, items, context)
        assignment = self._assignment(cls, rest[1])
        if len(rest) == 2:
            self._method(method, "GET")
            caller = self._require_scope(ctx, _ASSIGNMENTS_READ)
            role = self._member_role(cls, caller)
            if role != "teacher" and assignment.status == "draft":
                raise self._not_found("assignment", assignment.id)
            payload = {
                "@odata.context": f"{ctx.base}/$metadata#education/classes('{cls.id}')/assignments/$entity",
                **self._assignment_json(ctx, assignment),
            }
            payload = self._expand_assignment(ctx, assignment, payload)
            return 200, self._select(ctx, payload)
        if rest[2] != "submissions":
            raise GraphError(400, "BadRequest", f"Resource not found for the segment '{rest[2]}'.")
        sub_context = f"{ctx.base}/$metadata#education/classes('{cls.id}')/assignments('{assignment.id}')/submissions"
        if len(rest) == 3:
            self._method(method, "GET")
            caller = self._require_scope(ctx, _ASSIGNMENTS_READ)
            role = self._member_role(cls, caller)
            subs = [s for s in self.school.submissions_of(assignment.id) if role == "teacher" or s.userId == caller.oid]
            expand = self._expand_set(ctx, "submission")
            items = [self._expand_submission(ctx, s, self._submission_json(ctx, s), expand, nested=True) for s in subs]
            if expand:
                sub_context += "(" + ",".join(f"{e}()" for e in sorted(expand)) + ")"
            return 200, self._collection(ctx, items, sub_context)
        sub = self._submission(assignment, rest[3])
        tail = rest[4:]
        if not tail:
            self._method(method, "GET")
            caller = self._require_scope(ctx, _ASSIGNMENTS_READ)
            self._check_can_read_submission(cls, sub, caller)
            expand = self._expand_set(ctx, "submission")
            context = sub_context + ("(" + ",".join(f"{e}()" for e in sorted(expand)) + ")" if expand else "")
            payload = {"@odata.context": f"{context}/$entity", **self._submission_json(ctx, sub)}
            return 200, self._select(ctx, self._expand_submission(ctx, sub, payload, expand, nested=False))
        if tail[0] == "outcomes":
            return self._route_outcomes(ctx, method, cls, assignment, sub, tail[1:])
        if tail[0] in _TRANSITIONS and len(tail) == 1:
            self._method(method, "POST")
            return self._action(ctx, cls, assignment, sub, tail[0])
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{tail[0]}'.")

    def _route_outcomes(
        self, ctx: _Context, method: str, cls: SchoolClass, assignment: Assignment, sub: Submission, rest: list[str]
    ) -> tuple[int, Json]:
        context = (
            f"{ctx.base}/$metadata#education/classes('{cls.id}')/assignments('{assignment.id}')"
            f"/submissions('{sub.id}')/outcomes"
        )
        if not rest:
            self._method(method, "GET")
            caller = self._require_scope(ctx, _ASSIGNMENTS_READ)
            self._check_can_read_submission(cls, sub, caller)
            return 200, self._collection(ctx, [self._outcome_json(o) for o in sub.outcomes], context)
        if len(rest) > 1:
            raise GraphError(400, "BadRequest", f"Resource not found for the segment '{rest[1]}'.")
        if method == "GET":
            caller = self._require_scope(ctx, _ASSIGNMENTS_READ)
            self._check_can_read_submission(cls, sub, caller)
            outcome = self._outcome(sub, rest[0])
            return 200, self._select(ctx, {"@odata.context": f"{context}/$entity", **self._outcome_json(outcome)})
        self._method(method, "PATCH")
        caller = self._require_scope(ctx, _ASSIGNMENTS_WRITE)
        self._require_teacher(cls, caller)
        return 200, self._patch_outcome(ctx, assignment, sub, rest[0], caller)

    # ----------------------------------------------------------------------------------------------- lookups & roles

    @staticmethod
    def _not_found(kind: str, entity_id: str) -> GraphError:
        # Undocumented for classes/assignments/submissions; modelled on the documented outcome 404 message.
        return GraphError(404, "NotFound", f"Entity not found. {kind.capitalize()} id: {entity_id}")

    def _class(self, class_id: str) -> SchoolClass:
        cls = self.school.school_class(class_id)
        if cls is None:
            raise self._not_found("class", class_id)
        return cls

    def _assignment(self, cls: SchoolClass, assignment_id: str) -> Assignment:
        assignment = self.school.assignment(assignment_id)
        if assignment is None or assignment.classId != cls.id:
            raise self._not_found("assignment", assignment_id)
        return assignment

    def _submission(self, assignment: Assignment, submission_id: str) -> Submission:
        sub = self.school.submission(submission_id)
        if sub is None or sub.assignmentId != assignment.id:
            raise self._not_found("submission", submission_id)
        return sub

    @staticmethod
    def _outcome(sub: Submission, outcome_id: str) -> Outcome:
        for outcome in sub.outcomes:
            if outcome.id == outcome_id:
                return outcome
        # examples/graph/educationoutcome-update.error-404-20241.json: numeric-string code, no innerError.
        raise GraphError(404, "20241", f"Entity not found. Outcome id: {outcome_id}", bare=True)

    @staticmethod
    def _role(school_class: SchoolClass, oid: str) -> Literal["teacher", "student"] | None:
        if oid in school_class.teacherIds:
            return "teacher"
        if oid in school_class.studentIds:
            return "student"
        return None

    def _member_role(self, cls: SchoolClass, caller: _Caller) -> Literal["teacher", "student"]:
        role = self._role(cls, caller.oid)
        if role is None:
            raise GraphError(403, "Forbidden", "The caller is not a member of this class.")
        return role

    def _require_teacher(self, cls: SchoolClass, caller: _Caller) -> None:
        if self._role(cls, caller.oid) != "teacher":
            # "Only teachers can perform this action." (return/reassign/excuse/outcome update pages)
            raise GraphError(403, "Forbidden", "Only teachers of this class can perform this action.")

    def _check_can_read_submission(self, cls: SchoolClass, sub: Submission, caller: _Caller) -> None:
        role = self._member_role(cls, caller)
        if role == "student" and sub.userId != caller.oid:
            # "Only the assignedTo student can see and modify the submission." (educationsubmission-get)
            raise GraphError(403, "Forbidden", "A student can only read their own submissions.")

    # ----------------------------------------------------------------------------------------------- actions

    def _action(
        self, ctx: _Context, cls: SchoolClass, assignment: Assignment, sub: Submission, action: Action
    ) -> tuple[int, Json]:
        if action in ("submit", "unsubmit"):
            caller = self._require_scope(ctx, _ASSIGNMENTS_WRITE)
            if sub.userId != caller.oid:
                raise GraphError(403, "Forbidden", "Only the student the submission belongs to can do this.")
        else:
            caller = self._require_scope(ctx, _GRADES_PUBLISH)
            self._require_teacher(cls, caller)
        # Validate against the status the submission will have once earlier delayed actions land.
        projected = sub.model_copy(deep=True)
        for pending in self._pending:
            if pending.submission_id == sub.id:
                self._apply_action(projected, pending.action, pending.caller, pending.at)
        new_status = _TRANSITIONS[action].get(projected.status)
        if new_status is None:
            # Undocumented error body: the docs only say transitions not in the table "are not allowed".
            raise GraphError(
                400,
                "badRequest",
                "Bad request.",
                inner_code="invalidSubmissionStatusTransition",
                inner_message=f"Cannot {action} a submission whose status is '{projected.status}'.",
            )
        now = self._clock()
        self._apply_action(projected, action, caller.oid, now)
        delay = self.knobs.action_delay_seconds
        if delay > 0:
            # "all the calls are asynchronous ... the caller must be polling to get the result."
            self._pending.append(_Pending(now + timedelta(seconds=delay), sub.id, action, caller.oid, now))
        else:
            self._apply_action(sub, action, caller.oid, now)
        logger.debug("submission %s: %s by %s", sub.id, action, caller.oid)
        # Context strings as documented: return/reassign use "#educationSubmission", excuse the qualified name.
        type_name = "microsoft.graph.educationSubmission" if action == "excuse" else "educationSubmission"
        body = {
            "@odata.context": f"{ctx.base}/$metadata#{type_name}",
            "@odata.type": "#microsoft.graph.educationSubmission",
            **self._submission_json(ctx, projected),
        }
        return 200, body

    @staticmethod
    def _apply_action(sub: Submission, action: Action, caller: str, at: datetime) -> None:
        new_status = _TRANSITIONS[action].get(sub.status)
        if new_status is None:
            return
        sub.status = new_status
        if action == "submit":
            sub.submittedDateTime, sub.submittedBy = at, caller
        elif action == "unsubmit":
            sub.unsubmittedDateTime, sub.unsubmittedBy = at, caller
        elif action == "return":
            sub.returnedDateTime, sub.returnedBy = at, caller
        elif action == "reassign":
            sub.reassignedDateTime, sub.reassignedBy = at, caller
        else:
            sub.excusedDateTime, sub.excusedBy = at, caller
        # Other timestamps stay as they were: the documented return response keeps reassignedDateTime, and the
        # excuse response (with Prefer) keeps an earlier returnedDateTime.
        for outcome in sub.outcomes:
            if action in ("return", "reassign"):
                outcome.publishedFeedback = outcome.feedback.model_copy(deep=True) if outcome.feedback else None
                outcome.publishedPoints = outcome.points.model_copy(deep=True) if outcome.points else None
                if outcome.kind == "rubric":
                    outcome.publishedRubricQualityFeedback = [
                        q.model_copy() for q in outcome.rubricQualityFeedback or []
                    ]
                    outcome.publishedRubricQualitySelectedLevels = [
                        s.model_copy() for s in outcome.rubricQualitySelectedLevels or []
                    ]
            elif action == "excuse":
                # "Grading rubrics and feedback are deleted." Points are not mentioned, so they stay.
                if outcome.kind == "feedback":
                    outcome.feedback = outcome.publishedFeedback = None
                elif outcome.kind == "rubric":
                    cleared = [QualityFeedback(qualityId=q.qualityId) for q in outcome.rubricQualityFeedback or []]
                    outcome.rubricQualityFeedback = cleared
                    outcome.publishedRubricQualityFeedback = [q.model_copy() for q in cleared]
                    outcome.rubricQualitySelectedLevels = []
                    outcome.publishedRubricQualitySelectedLevels = []
                else:
                    continue
                outcome.lastModifiedBy, outcome.lastModifiedDateTime = caller, at

    # ----------------------------------------------------------------------------------------------- outcome PATCH

    def _patch_outcome(
        self, ctx: _Context, assignment: Assignment, sub: Submission, outcome_id: str, caller: _Caller
    ) -> Json:
        try:
            body = ctx.request.json()
        except (ValueError, UnicodeDecodeError):
            raise GraphError(400, "BadRequest", "The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise GraphError(400, "BadRequest", "The request body must be a JSON object.")
        outcome = self._outcome(sub, outcome_id)
        type_name = _OUTCOME_TYPES[outcome.kind]
        odata_type = body.get("@odata.type")
        if odata_type is not None and odata_type != type_name:
            if odata_type == _OUTCOME_TYPES["points"] and assignment.maxPoints is None:
                raise _invalid_grading("Points can't be set on an assignment that isn't graded with points.")
            raise GraphError(
                400,
                "BadRequest",
                f"The outcome {outcome.id} is a {type_name.removeprefix('#')}, not {odata_type.removeprefix('#')}.",
            )
        writable = {"feedback": {"feedback"}, "points": {"points"}, "rubric": {"rubricQualityFeedback",
                    "rubricQualitySelectedLevels"}}[outcome.kind]  # fmt: skip
        for key in body:
            if key.startswith("@odata."):
                continue
            if key not in writable:
                if key == "points" and assignment.maxPoints is None:
                    raise _invalid_grading("Points can't be set on an assignment that isn't graded with points.")
                raise _unknown_property(key, type_name)
        now = self._clock()
        if outcome.kind == "points":
            outcome.points = self._parse_points(body["points"], caller.oid, now) if "points" in body else outcome.points
        elif outcome.kind == "feedback":
            if "feedback" in body:
                outcome.feedback = self._parse_feedback(body["feedback"], caller.oid, now)
        else:
            self._patch_rubric(assignment, outcome, body)
        outcome.lastModifiedBy, outcome.lastModifiedDateTime = caller.oid, now
        return {
            "@odata.context": (
                f"{ctx.base}/$metadata#education/classes('{sub.classId}')/assignments('{sub.assignmentId}')"
                f"/submissions('{sub.id}')/outcomes/$entity"
            ),
            **self._outcome_json(outcome),
        }

    @staticmethod
    def _parse_points(value: Any, caller: str, now: datetime) -> PointsGrade | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise GraphError(400, "BadRequest", "points must be an educationAssignmentPointsGrade object.")
        for key in value:
            if not key.startswith("@odata.") and key != "points":
                raise _unknown_property(key, "#microsoft.graph.educationAssignmentPointsGrade")
        points = value.get("points")
        if points is None:
            return None
        if isinstance(points, bool) or not isinstance(points, int | float):
            raise _invalid_grading("Points must be a number when using PointsGradeType.")
        if not math.isfinite(points) or points >= MAX_POINTS:
            raise _invalid_grading("Points must be less than 9999999 when using PointsGradeType.")
        if points < 0:
            raise _invalid_grading("Points must be greater than or equal to 0 when using PointsGradeType.")
        return PointsGrade(points=float(points), gradedDateTime=now, gradedBy=caller)

    @staticmethod
    def _parse_feedback(value: Any, caller: str, now: datetime) -> Feedback | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise GraphError(400, "BadRequest", "feedback must be an educationFeedback object.")
        for key in value:
            if not key.startswith("@odata.") and key != "text":
                raise _unknown_property(key, "#microsoft.graph.educationFeedback")
        text = _parse_item_body(value.get("text"))
        return Feedback(text=text, feedbackDateTime=now, feedbackBy=caller)

    @staticmethod
    def _patch_rubric(assignment: Assignment, outcome: Outcome, body: Json) -> None:
        rubric = assignment.rubric
        qualities = {q.qualityId for q in rubric.qualities} if rubric else set[str]()
        levels = {lv.levelId for lv in rubric.levels} if rubric else set[str]()
        if "rubricQualityFeedback" in body:
            entries = body["rubricQualityFeedback"]
            if not isinstance(entries, list):
                raise GraphError(400, "BadRequest", "rubricQualityFeedback must be a collection.")
            parsed: list[QualityFeedback] = []
            for entry in entries:
                if not isinstance(entry, dict) or entry.get("qualityId") not in qualities:
                    raise GraphError(400, "BadRequest", "rubricQualityFeedback names a quality the rubric lacks.")
                parsed.append(
                    QualityFeedback(qualityId=entry["qualityId"], feedback=_parse_item_body(entry.get("feedback")))
                )
            given = {p.qualityId: p for p in parsed}
            outcome.rubricQualityFeedback = [
                given.get(q.qualityId) or q for q in outcome.rubricQualityFeedback or []
            ] or parsed
        if "rubricQualitySelectedLevels" in body:
            entries = body["rubricQualitySelectedLevels"]
            if not isinstance(entries, list):
                raise GraphError(400, "BadRequest", "rubricQualitySelectedLevels must be a collection.")
            selected: list[SelectedLevel] = []
            for entry in entries:
                if (
                    not isinstance(entry, dict)
                    or entry.get("qualityId") not in qualities
                    or entry.get("columnId") not in levels
                ):
                    raise GraphError(400, "BadRequest", "rubricQualitySelectedLevels names an unknown quality/level.")
                selected.append(SelectedLevel(qualityId=entry["qualityId"], columnId=entry["columnId"]))
            outcome.rubricQualitySelectedLevels = selected

    # ----------------------------------------------------------------------------------------------- $batch

    async def _batch(self, request: SandboxRequest) -> SandboxResponse:
        ctx = _Context(
            request=request,
            request_id=str(uuid.uuid4()),
            client_request_id=request.header("client-request-id") or str(uuid.uuid4()),
            prefer_unknown=False,
        )
        try:
            if request.method.upper() != "POST":
                self._method(request.method.upper(), "POST")
            parts = self._parse_batch(request)
        except GraphError as err:
            return self._error_response(ctx, err)
        results: dict[str, Json] = {}
        for part in self._batch_order(parts):
            key = part["id"].lower()
            deps = [d.lower() for d in part.get("dependsOn") or []]
            if any(results[d]["status"] >= 400 for d in deps):
                results[key] = {
                    "id": part["id"],
                    "status": 424,
                    "headers": {"Content-Type": "application/json"},
                    "body": {"error": {"code": "failedDependency", "message": "A request this one depends on failed."}},
                }
                continue
            results[key] = self._batch_part(request, part)
        responses = [results[p["id"].lower()] for p in parts]
        return self._respond(ctx, 200, {"responses": responses})

    def _parse_batch(self, request: SandboxRequest) -> list[Json]:
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError):
            raise GraphError(400, "BadRequest", "Invalid batch payload: not JSON.") from None
        if not isinstance(body, dict) or not isinstance(body.get("requests"), list):
            raise GraphError(400, "BadRequest", "Invalid batch payload: a 'requests' array is required.")
        parts: list[Any] = body["requests"]
        if len(parts) > MAX_BATCH_REQUESTS:
            raise GraphError(
                400, "BadRequest", f"Number of batch requests exceeds the maximum of {MAX_BATCH_REQUESTS}."
            )
        seen: set[str] = set()
        for part in parts:
            if not isinstance(part, dict):
                raise GraphError(400, "BadRequest", "Invalid batch payload: each request must be an object.")
            for key in ("id", "method", "url"):
                if not isinstance(part.get(key), str) or not part[key]:
                    raise GraphError(400, "BadRequest", f"Invalid batch payload: every request needs '{key}'.")
            key = part["id"].lower()
            if key in seen:
                raise GraphError(400, "BadRequest", f"Batch request id '{part['id']}' is not unique.")
            seen.add(key)
            headers = part.get("headers") or {}
            if not isinstance(headers, dict):
                raise GraphError(400, "BadRequest", "Invalid batch payload: headers must be an object.")
            if part.get("body") is not None and not any(h.lower() == "content-type" for h in headers):
                raise GraphError(400, "BadRequest", "Batch request with a body must have a Content-Type header.")
        for part in parts:
            depends = part.get("dependsOn") or []
            if not isinstance(depends, list) or any(not isinstance(d, str) or d.lower() not in seen for d in depends):
                raise GraphError(400, "BadRequest", f"Batch request '{part['id']}' depends on an unknown request id.")
        return parts

    @staticmethod
    def _batch_order(parts: list[Json]) -> list[Json]:
        """Request order, except that a request runs only after the ones it depends on."""
        by_id = {p["id"].lower(): p for p in parts}
        done: set[str] = set()
        ordered: list[Json] = []

        def visit(part: Json, trail: frozenset[str]) -> None:
            key = part["id"].lower()
            if key in done:
                return
            if key in trail:
                raise GraphError(400, "BadRequest", "Batch requests have a circular dependsOn.")
            for dep in part.get("dependsOn") or []:
                visit(by_id[dep.lower()], trail | {key})
            done.add(key)
            ordered.append(part)

        for part in parts:
            visit(part, frozenset())
        return ordered

    def _batch_part(self, outer: SandboxRequest, part: Json) -> Json:
        url: str = part["url"]
        split = urlsplit(url)
        if split.scheme or split.netloc:
            status, headers, body = (
                400,
                {"content-type": "application/json"},
                {
                    "error": {
                        "code": "BadRequest",
                        "message": "Batch request urls must be relative, like /education/...",
                    }
                },
            )
        else:
            path = "/v1.0/" + split.path.lstrip("/")
            path = path.rstrip("/") or "/"
            part_headers = {str(k).lower(): str(v) for k, v in (part.get("headers") or {}).items()}
            if "authorization" in outer.headers and "authorization" not in part_headers:
                part_headers["authorization"] = outer.headers["authorization"]
            raw_body = part.get("body")
            sub_request = SandboxRequest(
                method=str(part["method"]).upper(),
                path=path,
                query=dict(parse_qsl(split.query, keep_blank_values=True)),
                headers=part_headers,
                body=b"" if raw_body is None else json_bytes(raw_body),
                base_url=outer.base_url,
            )
            self._log.append(RequestRecord(sub_request.method, path, batch_part=True))
            if path == "/v1.0/$batch":
                response = json_response(400, {"error": {"code": "BadRequest", "message": "Nested $batch."}})
            else:
                response = self._dispatch(sub_request, path)
            status, headers, body = response.status, response.headers, response.json()
        canonical = {"-".join(w.capitalize() for w in k.split("-")): v for k, v in headers.items()}
        return {"id": part["id"], "status": status, "headers": canonical, "body": body}

    # ----------------------------------------------------------------------------------------------- query options

    def _collection(self, ctx: _Context, items: list[Json], context: str) -> Json:
        """Apply $filter, $orderby, $count, paging ($top/$skiptoken) and $select to a collection."""
        query = ctx.request.query
        if "$filter" in query:
            predicate = _parse_filter(query["$filter"])
            items = [i for i in items if predicate(i)]
        if "$orderby" in query:
            items = _order(items, query["$orderby"])
        page_size = self.knobs.page_size
        if "$top" in query:
            try:
                page_size = int(query["$top"])
            except ValueError:
                page_size = -1
            if page_size < 1:
                raise GraphError(400, "BadRequest", f"Invalid value '{query['$top']}' for $top query option.")
        offset = 0
        if "$skiptoken" in query:
            offset = _decode_skiptoken(query["$skiptoken"])
        page = items[offset : offset + page_size]
        selected = self._select_fields(ctx)
        if selected:
            context = _context_with_select(context, selected)
        payload: Json = {"@odata.context": context}
        if query.get("$count", "").lower() == "true":
            payload["@odata.count"] = len(items)
        if offset + page_size < len(items):
            params = {k: v for k, v in query.items() if k != "$skiptoken"}
            params["$skiptoken"] = _encode_skiptoken(offset + page_size)
            payload["@odata.nextLink"] = f"{ctx.base}{ctx.request.path.removeprefix('/v1.0')}?" + urlencode(
                params, safe="$'(),/"
            )
        payload["value"] = [_pick(i, selected) if selected else i for i in page]
        return payload

    @staticmethod
    def _select_fields(ctx: _Context) -> list[str]:
        raw = ctx.request.query.get("$select", "")
        return [s.strip() for s in raw.split(",") if s.strip()]

    def _select(self, ctx: _Context, payload: Json) -> Json:
        selected = self._select_fields(ctx)
        if not selected:
            return payload
        unknown = [s for s in selected if s not in payload]
        if unknown:
            raise GraphError(400, "BadRequest", f"Could not find a property named '{unknown[0]}' on this type.")
        picked = _pick(payload, selected)
        if "@odata.context" in picked:
            picked["@odata.context"] = _context_with_select(picked["@odata.context"], selected)
        return picked

    def _expand_set(self, ctx: _Context, kind: Literal["submission", "assignment"]) -> set[str]:
        raw = ctx.request.query.get("$expand", "")
        wanted = {s.strip() for s in raw.split(",") if s.strip()}
        allowed = {"outcomes", "resources", "submittedResources"} if kind == "submission" else {"resources", "rubric"}
        if "*" in wanted:
            return allowed
        unknown = wanted - allowed
        if unknown:
            type_name = f"microsoft.graph.education{kind.capitalize()}"
            raise GraphError(
                400, "BadRequest", f"Could not find a property named '{min(unknown)}' on type '{type_name}'."
            )
        return wanted

    def _expand_submission(
        self, ctx: _Context, sub: Submission, payload: Json, expand: set[str], *, nested: bool
    ) -> Json:
        base = (
            f"{ctx.base}/$metadata#education/classes('{sub.classId}')/assignments('{sub.assignmentId}')"
            f"/submissions('{sub.id}')"
        )
        for name in sorted(expand):
            if not nested:
                # educationsubmission-get example 2: each expanded property carries its own context.
                payload[f"{name}@odata.context"] = f"{base}/{name}"
            if name == "outcomes":
                payload[name] = [self._outcome_json(o) for o in sub.outcomes]
            else:
                payload[name] = []
        return payload

    def _expand_assignment(self, ctx: _Context, assignment: Assignment, payload: Json) -> Json:
        for name in sorted(self._expand_set(ctx, "assignment")):
            if name == "resources":
                payload["resources"] = []
            elif assignment.rubric is None:
                payload["rubric"] = None
            else:
                rubric = assignment.rubric
                payload["rubric"] = {
                    "id": rubric.id,
                    "displayName": rubric.displayName,
                    "qualities": [
                        {
                            "qualityId": q.qualityId,
                            "displayName": q.displayName,
                            "description": {"content": q.description or "", "contentType": "text"},
                            "weight": q.weight,
                            "criteria": [],
                        }
                        for q in rubric.qualities
                    ],
                    "levels": [
                        {
                            "levelId": lv.levelId,
                            "displayName": lv.displayName,
                            "grading": None
                            if lv.points is None
                            else {
                                "@odata.type": "#microsoft.graph.educationAssignmentPointsGradeType",
                                "maxPoints": lv.points,
                            },
                        }
                        for lv in rubric.levels
                    ],
                }
        return payload

    # ----------------------------------------------------------------------------------------------- serialisers

    @staticmethod
    def _class_json(school_class: SchoolClass) -> Json:
        term = school_class.term
        return {
            "id": school_class.id,
            "displayName": school_class.displayName,
            "mailNickname": school_class.mailNickname,
            "description": school_class.description,
            "createdBy": _identity(school_class.createdBy),
            "classCode": school_class.classCode,
            "externalName": school_class.externalName,
            "externalId": school_class.externalId,
            "externalSource": "sis",
            "externalSourceDetail": None,
            "grade": school_class.grade,
            "term": None
            if term is None
            else {
                "externalId": term.externalId,
                "startDate": term.startDate,
                "endDate": term.endDate,
                "displayName": term.displayName,
            },
        }

    @staticmethod
    def _user_json(user: User) -> Json:
        # Shape of examples/graph/educationclass-list-members.example.json.
        return {
            "id": user.id,
            "accountEnabled": True,
            "displayName": user.displayName,
            "givenName": user.givenName,
            "surname": user.surname,
            "mail": user.mail,
            "mailNickname": user.mailNickname,
            "userPrincipalName": user.userPrincipalName,
            "userType": "Member",
            "primaryRole": user.primaryRole,
            "onPremisesInfo": {"immutableId": None},
            user.primaryRole: {},
        }

    @staticmethod
    def _assignment_json(ctx: _Context, a: Assignment) -> Json:
        status: str = a.status
        if status == "inactive" and not ctx.prefer_unknown:
            # educationassignment-get examples 2/3: inactive -> unknownFutureValue without the Prefer header.
            status = "unknownFutureValue"
        web_context = json.dumps(
            {
                "subEntityId": json.dumps(
                    {
                        "version": "1.0",
                        "config": {"classes": [{"id": a.classId, "assignmentIds": [a.id]}]},
                        "action": "navigate",
                        "view": "assignment-viewer",
                    },
                    separators=(",", ":"),
                ),
                "channelId": None,
            },
            separators=(",", ":"),
        )
        return {
            "classId": a.classId,
            "displayName": a.displayName,
            "closeDateTime": _iso(a.closeDateTime),
            "dueDateTime": _iso(a.dueDateTime),
            "assignDateTime": _iso(a.assignDateTime),
            "assignedDateTime": _iso(a.assignedDateTime),
            "allowLateSubmissions": a.allowLateSubmissions,
            "resourcesFolderUrl": None,
            "feedbackResourcesFolderUrl": None,
            "createdDateTime": _iso(a.createdDateTime),
            "lastModifiedDateTime": _iso(a.lastModifiedDateTime),
            "allowStudentsToAddResourcesToSubmission": True,
            "status": status,
            "notificationChannelUrl": None,
            "webUrl": "https://teams.microsoft.com/l/entity/66aeee93-507d-479a-a3ef-8f494af43945/classroom?context="
            + _quote(web_context),
            "addToCalendarAction": "none",
            "addedStudentAction": "none",
            "moduleUrl": None,
            "id": a.id,
            "instructions": {"content": a.instructions, "contentType": "text"},
            "grading": None
            if a.maxPoints is None
            else {
                "@odata.type": "#microsoft.graph.educationAssignmentPointsGradeType",
                "maxPoints": _number(a.maxPoints),
            },
            "assignTo": {"@odata.type": "#microsoft.graph.educationAssignmentClassRecipient"},
            "createdBy": _identity(a.createdBy),
            "lastModifiedBy": _identity(a.lastModifiedBy),
        }

    @staticmethod
    def _submission_json(ctx: _Context, sub: Submission) -> Json:
        status: str = sub.status
        returned_at, returned_by = sub.returnedDateTime, sub.returnedBy
        if not ctx.prefer_unknown:
            # educationsubmission-reassign.without-prefer.json: reassigned reads as returned with
            # returnedDateTime == reassignedDateTime; excuse.without-prefer.json: excused reads as returned with
            # returnedDateTime == excusedDateTime and returnedBy == excusedBy.
            if status == "reassigned":
                status, returned_at, returned_by = "returned", sub.reassignedDateTime, sub.reassignedBy
            elif status == "excused":
                status, returned_at, returned_by = "returned", sub.excusedDateTime, sub.excusedBy
        return {
            "status": status,
            "submittedDateTime": _iso(sub.submittedDateTime),
            "unsubmittedDateTime": _iso(sub.unsubmittedDateTime),
            "returnedDateTime": _iso(returned_at),
            "reassignedDateTime": _iso(sub.reassignedDateTime),
            "excusedDateTime": _iso(sub.excusedDateTime),
            "resourcesFolderUrl": None,
            "webUrl": sub.webUrl,
            "id": sub.id,
            "assignmentId": sub.assignmentId,
            "recipient": {
                "@odata.type": "#microsoft.graph.educationSubmissionIndividualRecipient",
                "userId": sub.userId,
            },
            "submittedBy": _identity(sub.submittedBy),
            "unsubmittedBy": _identity(sub.unsubmittedBy),
            "returnedBy": _identity(returned_by),
            "reassignedBy": _identity(sub.reassignedBy),
            "excusedBy": _identity(sub.excusedBy),
        }

    @staticmethod
    def _outcome_json(outcome: Outcome) -> Json:
        payload: Json = {
            "@odata.type": _OUTCOME_TYPES[outcome.kind],
            "lastModifiedDateTime": _iso(outcome.lastModifiedDateTime),
            "id": outcome.id,
            "lastModifiedBy": None if outcome.lastModifiedBy is None else _identity(outcome.lastModifiedBy),
        }
        if outcome.kind == "feedback":
            payload["feedback"] = _feedback_json(outcome.feedback)
            payload["publishedFeedback"] = _feedback_json(outcome.publishedFeedback)
        elif outcome.kind == "points":
            payload["points"] = _points_json(outcome.points)
            payload["publishedPoints"] = _points_json(outcome.publishedPoints)
        else:
            payload["rubricQualityFeedback"] = _quality_feedback_json(outcome.rubricQualityFeedback)
            payload["rubricQualitySelectedLevels"] = _levels_json(outcome.rubricQualitySelectedLevels)
            payload["publishedRubricQualityFeedback"] = _quality_feedback_json(outcome.publishedRubricQualityFeedback)
            payload["publishedRubricQualitySelectedLevels"] = _levels_json(outcome.publishedRubricQualitySelectedLevels)
        return payload


# --------------------------------------------------------------------------------------------------- module helpers


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _quote(text: str) -> str:
    return quote(text, safe=",")


def _feedback_json(feedback: Feedback | None) -> Json | None:
    if feedback is None:
        return None
    return {
        "feedbackDateTime": _iso(feedback.feedbackDateTime),
        "text": _body_json(feedback.text),
        "feedbackBy": _short_identity(feedback.feedbackBy),
    }


def _points_json(grade: PointsGrade | None) -> Json | None:
    if grade is None:
        return None
    return {
        "@odata.type": "#microsoft.graph.educationAssignmentPointsGrade",
        "gradedDateTime": _iso(grade.gradedDateTime),
        "points": None if grade.points is None else _number(grade.points),
        "gradedBy": _short_identity(grade.gradedBy),
    }


def _quality_feedback_json(entries: list[QualityFeedback] | None) -> list[Json] | None:
    if entries is None:
        return None
    return [{"qualityId": e.qualityId, "feedback": _body_json(e.feedback)} for e in entries]


def _levels_json(entries: list[SelectedLevel] | None) -> list[Json] | None:
    if entries is None:
        return None
    return [{"qualityId": e.qualityId, "columnId": e.columnId} for e in entries]


def _parse_item_body(value: Any) -> ItemBody | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("content"), str):
        raise GraphError(400, "BadRequest", "An itemBody needs a string 'content'.")
    for key in value:
        if key not in ("content", "contentType", "@odata.type"):
            raise _unknown_property(key, "#microsoft.graph.itemBody")
    content_type = value.get("contentType", "text")
    if content_type not in ("text", "html"):
        raise GraphError(400, "BadRequest", f"Requested value '{content_type}' was not found in bodyType.")
    return ItemBody(content=value["content"], contentType=content_type)


def _invalid_grading(message: str) -> GraphError:
    # examples/graph/educationoutcome-update.error-400-invalidGrading.json
    return GraphError(400, "badRequest", "Bad request.", inner_code="invalidGrading", inner_message=message)


def _unknown_property(name: str, type_name: str) -> GraphError:
    # OData's wording for a property the (closed) type does not declare.
    return GraphError(
        400,
        "BadRequest",
        f"The property '{name}' does not exist on type '{type_name.removeprefix('#')}'. Make sure to only use "
        "property names that are defined by the type or mark the type as open type.",
    )


def _pick(item: Json, selected: list[str]) -> Json:
    return {k: v for k, v in item.items() if k in selected or k.startswith("@odata.")}


def _context_with_select(context: str, selected: list[str]) -> str:
    head, sep, tail = context.partition("/$entity")
    return f"{head}({','.join(selected)}){sep}{tail}"


def _encode_skiptoken(offset: int) -> str:
    return base64.urlsafe_b64encode(f"sandbox-offset:{offset}".encode()).decode().rstrip("=")


def _decode_skiptoken(token: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        prefix, _, number = raw.partition(":")
        if prefix != "sandbox-offset":
            raise ValueError(raw)
        return max(0, int(number))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise GraphError(400, "BadRequest", "The $skiptoken is not valid.") from None


def _order(items: list[Json], clause: str) -> list[Json]:
    for term in reversed([t.strip() for t in clause.split(",") if t.strip()]):
        name, _, direction = term.partition(" ")
        reverse = direction.strip().lower() == "desc"
        items = sorted(items, key=lambda i, n=name: (i.get(n) is None, str(_lookup(i, n) or "")), reverse=reverse)
    return items


def _lookup(item: Json, path: str) -> Any:
    value: Any = item
    for part in path.split("/"):
        value = value.get(part) if isinstance(value, dict) else None
    return value


# --------------------------------------------------------------------------------------------------- $filter

_TOKEN = re.compile(r"\s*(?:(\()|(\))|'((?:[^']|'')*)'|([A-Za-z_][A-Za-z0-9_/.]*)|(-?\d+(?:\.\d+)?))")


def _parse_filter(text: str) -> Callable[[Json], bool]:
    """A small OData $filter: `prop eq|ne literal` joined by and/or, with parentheses and `not`."""
    tokens: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None:
            raise GraphError(400, "BadRequest", f"Invalid filter clause: syntax error at position {pos}.")
        pos = match.end()
        if match.group(1):
            tokens.append(("(", None))
        elif match.group(2):
            tokens.append((")", None))
        elif match.group(3) is not None:
            tokens.append(("lit", match.group(3).replace("''", "'")))
        elif match.group(4):
            word = match.group(4)
            lowered = word.lower()
            if lowered in ("eq", "ne", "and", "or", "not"):
                tokens.append((lowered, None))
            elif lowered in ("true", "false"):
                tokens.append(("lit", lowered == "true"))
            elif lowered == "null":
                tokens.append(("lit", None))
            else:
                tokens.append(("name", word))
        else:
            number = match.group(5)
            tokens.append(("lit", float(number) if "." in number else int(number)))
    index = 0

    def peek() -> str | None:
        return tokens[index][0] if index < len(tokens) else None

    def take(kind: str) -> Any:
        nonlocal index
        if peek() != kind:
            raise GraphError(400, "BadRequest", "Invalid filter clause.")
        value = tokens[index][1]
        index += 1
        return value

    def parse_or() -> Callable[[Json], bool]:
        left = parse_and()
        while peek() == "or":
            take("or")
            right = parse_and()
            left = (lambda a, b: lambda i: a(i) or b(i))(left, right)
        return left

    def parse_and() -> Callable[[Json], bool]:
        left = parse_unary()
        while peek() == "and":
            take("and")
            right = parse_unary()
            left = (lambda a, b: lambda i: a(i) and b(i))(left, right)
        return left

    def parse_unary() -> Callable[[Json], bool]:
        if peek() == "not":
            take("not")
            inner = parse_unary()
            return lambda i: not inner(i)
        if peek() == "(":
            take("(")
            inner = parse_or()
            take(")")
            return inner
        name = take("name")
        op = peek()
        if op not in ("eq", "ne"):
            raise GraphError(400, "BadRequest", "Invalid filter clause: only eq and ne comparisons are supported.")
        take(op)
        literal = take("lit")
        if op == "eq":
            return lambda i: _lookup(i, name) == literal
        return lambda i: _lookup(i, name) != literal

    if not tokens:
        raise GraphError(400, "BadRequest", "Invalid filter clause: empty.")
    predicate = parse_or()
    if index != len(tokens):
        raise GraphError(400, "BadRequest", "Invalid filter clause.")
    return predicate
