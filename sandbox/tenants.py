"""Graph education for several tenants behind one URL, as the real Graph serves every tenant at one host.

`TenantGraphs` is a sandbox `Service` over one `GraphEducation` per tenant (tenant 0 first). It reads the `tid` claim of
the request's bearer token without verifying it, only to pick the tenant, and hands the request over; that tenant's
`GraphEducation` then verifies the token fully, as it does alone. A request whose token names no served tenant (or has
no readable token) goes to tenant 0, which answers it exactly as a single-tenant Graph does (401 "Invalid tenant",
"Access token is empty", ...). A `$batch` is one request with one token, so it goes to one tenant as a whole.

All tenants share one `Knobs` object (latency and throttling apply everywhere), and the inspection API that tests and
benchmarks use on a `GraphEducation` (`knobs`, `request_count`, `requests`, `reset`, `submission_for`, ...) answers for
all tenants together; `school` and `state()` are tenant 0's. With one tenant everything is handed to it unchanged.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any

from sandbox.core import SandboxRequest, SandboxResponse, json_response
from sandbox.graph import GraphEducation, Json, Knobs, RequestRecord, log_and_reset_routes
from sandbox.school import Outcome, School, Submission

_ROUTE_CACHE_SIZE = 4096


class TenantGraphs:
    """One Graph education service for several tenants: state per tenant plus `handle(request) -> response`."""

    def __init__(self, graphs: Sequence[GraphEducation]) -> None:
        """Serve these tenants; the first is tenant 0 (the default route). Their knobs become one shared object.

        Args:
            graphs: one service per tenant, each over a school with a distinct `tenantId`.

        Raises:
            ValueError: no service, or two services for the same tenant.
        """
        if not graphs:
            raise ValueError("at least one tenant is needed")
        self._graphs = list(graphs)
        self._by_tenant = {graph.school.tenantId.lower(): graph for graph in self._graphs}
        if len(self._by_tenant) != len(self._graphs):
            raise ValueError("each tenant may be served only once")
        self._routes: dict[str, GraphEducation] = {}
        self.knobs = self._graphs[0].knobs

    # ----------------------------------------------------------------------------------------------- tenants

    @property
    def tenants(self) -> list[GraphEducation]:
        """The per-tenant services, tenant 0 first."""
        return list(self._graphs)

    def tenant(self, index: int) -> GraphEducation:
        """Tenant `index`'s service.

        Raises:
            IndexError: no such tenant.
        """
        return self._graphs[index]

    def for_tenant(self, tenant_id: str) -> GraphEducation | None:
        """The service of the tenant with this id (any case), if it is served."""
        return self._by_tenant.get(tenant_id.lower())

    # ----------------------------------------------------------------------------------------------- inspection

    @property
    def knobs(self) -> Knobs:
        """The switches every tenant obeys; assigning replaces them for all tenants."""
        return self._graphs[0].knobs

    @knobs.setter
    def knobs(self, value: Knobs) -> None:
        for graph in self._graphs:
            graph.knobs = value

    @property
    def school(self) -> School:
        """Tenant 0's school (the seeded one)."""
        return self._graphs[0].school

    @property
    def request_count(self) -> int:
        """HTTP round trips answered since the last reset, all tenants together (a `$batch` counts once)."""
        return sum(graph.request_count for graph in self._graphs)

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request answered, tenant after tenant (each tenant's in order), including `$batch` parts."""
        return [record for graph in self._graphs for record in graph.requests]

    def reset_request_log(self) -> None:
        """Forget the requests every tenant answered so far."""
        for graph in self._graphs:
            graph.reset_request_log()

    def reset(self) -> None:
        """Restore every tenant's seed school and empty request log, and tenant 0's initial knobs for all."""
        for graph in self._graphs:
            graph.reset()
        self.knobs = self._graphs[0].knobs

    def submission_for(self, class_id: str, assignment_id: str, user_id: str) -> Submission | None:
        """The submission of one student for one assignment in whichever tenant holds that class."""
        for graph in self._graphs:
            if graph.school.school_class(class_id) is not None:
                return graph.submission_for(class_id, assignment_id, user_id)
        return None

    def outcomes_of(self, submission_id: str) -> list[Outcome]:
        """The outcomes of a submission in whichever tenant holds it (empty when the id is unknown)."""
        for graph in self._graphs:
            if graph.school.submission(submission_id) is not None:
                return graph.outcomes_of(submission_id)
        return []

    def state(self) -> Json:
        """Tenant 0's snapshot (`GET /_sandbox/state`; `?tenant=<id>` picks another tenant)."""
        return self._graphs[0].state()

    # ----------------------------------------------------------------------------------------------- entry point

    async def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Hand the request to the tenant its token names (tenant 0 when none); `/_sandbox/*` covers all tenants."""
        if len(self._graphs) == 1:
            return await self._graphs[0].handle(request)
        path = request.path.rstrip("/") or "/"
        if path.startswith("/_sandbox/"):
            return await self._sandbox(request, path)
        return await self._route(request).handle(request)

    def _route(self, request: SandboxRequest) -> GraphEducation:
        header = request.header("authorization") or ""
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return self._graphs[0]
        graph = self._routes.get(token)
        if graph is None:
            graph = self._by_tenant.get(unverified_tenant(token).lower(), self._graphs[0])
            if len(self._routes) >= _ROUTE_CACHE_SIZE:
                self._routes.clear()
            self._routes[token] = graph
        return graph

    async def _sandbox(self, request: SandboxRequest, path: str) -> SandboxResponse:
        method = request.method.upper()
        first = self._graphs[0]
        if path == "/_sandbox/state" and method == "GET":
            chosen = self.for_tenant(request.query.get("tenant", first.school.tenantId))
            if chosen is None:
                return json_response(404, {"error": {"code": "NotFound", "message": "No such sandbox tenant."}})
            return await chosen.handle(request)
        if (answer := log_and_reset_routes(self, method, path)) is not None:
            return answer
        answer = await first.handle(request)  # knobs (GET/POST) and unknown routes: tenant 0 answers
        self.knobs = first.knobs
        return answer


def unverified_tenant(token: str) -> str:
    """The `tid` claim of a compact JWT, read without any check (for routing only); "" when unreadable."""
    parts = token.split(".")
    if len(parts) != 3:
        return ""
    payload = parts[1]
    try:
        claims: Any = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError):
        return ""
    tid = claims.get("tid") if isinstance(claims, dict) else None
    return tid if isinstance(tid, str) else ""
