"""The sandbox assembled: the seeded school's directory in Entra, Graph education checking Entra's tokens.

One `SandboxStack` serves in-process tests (`graph_transport()`, an httpx.MockTransport) and real HTTP
(`sandbox.run` / `python -m sandbox`), so both exercise the same cores.

By default there is one tenant, the seeded school. `SandboxStack.build(tenants=N)` adds N-1 more schools, copies of
the seed with their own ids and domain (`School.copy_for_tenant`), as a district or an ISV hosting the bot for many
schools would see: one Entra directory holding every tenant (the bot app admin-consented in each) and one Graph URL
serving them all (`sandbox.tenants.TenantGraphs`). `stack.tenant(k)` reaches tenant k's school and Graph state.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from sandbox.entra import ConfidentialApp, Directory, Entra, Tenant, User
from sandbox.graph import GraphEducation, Knobs
from sandbox.http import RunningService, serve
from sandbox.school import School, load_school, tenant_domain
from sandbox.tenants import TenantGraphs
from sandbox.tls import SandboxTls, ensure_sandbox_tls
from sandbox.transport import mock_transport

SANDBOX_APP_ID = "6d2c1f0e-5a7b-4c3d-9e8f-0a1b2c3d4e5f"
"""The sandbox bot's app registration (MicrosoftAppId)."""

GRAPH_PERMISSIONS = ("EduAssignments.ReadWrite", "EduRoster.ReadBasic")
"""Delegated permissions the bot asks for and the sandbox tenant has admin-consented."""

BOT_FRAMEWORK_RESOURCE = "https://api.botframework.com"


def new_app_secret() -> str:
    """A fresh client secret for one sandbox run."""
    return f"sandbox-{uuid.uuid4().hex}"


def directory_for(schools: School | Sequence[School], *, app_id: str, app_secret: str, graph_url: str) -> Directory:
    """The Entra directory of the sandbox schools: each school's tenant (tenant k's domain is `tenant_domain(k)`),
    every teacher and student, and the bot app, multi-tenant and admin-consented in every tenant (its home tenant is
    the first school's)."""
    listed = [schools] if isinstance(schools, School) else list(schools)
    users = [
        User(
            oid=user.id,
            tid=school.tenantId,
            name=user.displayName,
            preferred_username=user.userPrincipalName or f"{user.id}@sandbox.invalid",
        )
        for school in listed
        for user in school.users
    ]
    app = ConfidentialApp(
        app_id=app_id,
        client_secret=app_secret,
        home_tenant=listed[0].tenantId,
        delegated_permissions={graph_url: list(GRAPH_PERMISSIONS)},
        application_permissions={BOT_FRAMEWORK_RESOURCE: []},
    )
    tenants = [Tenant(id=school.tenantId, domain=tenant_domain(index)) for index, school in enumerate(listed)]
    return Directory(tenants=tenants, apps=[app], users=users)


@dataclass(frozen=True)
class TenantView:
    """One tenant of the sandbox: its Graph state and school, and lookups by display name within it."""

    index: int
    graph: GraphEducation

    @property
    def school(self) -> School:
        """The tenant's current school state (replaced by `graph.reset()`)."""
        return self.graph.school

    @property
    def tenant_id(self) -> str:
        return self.graph.school.tenantId

    def user_id(self, display_name: str) -> str:
        return self.school.user_named(display_name).id

    def class_id(self, display_name: str) -> str:
        return self.school.class_named(display_name).id

    def assignment_id(self, class_display_name: str, assignment_display_name: str) -> str:
        return self.school.assignment_named(self.class_id(class_display_name), assignment_display_name).id


@dataclass
class SandboxStack:
    """Entra + Graph education for the seeded school (tenant 0) and any further tenants. URLs may change once real
    ports are bound. `school` and the name lookups are tenant 0's; `graph` serves and inspects every tenant."""

    school: School
    entra: Entra
    graph: TenantGraphs
    graph_url: str
    app_id: str
    app_secret: str

    @classmethod
    def build(
        cls,
        *,
        authority_url: str = "https://127.0.0.1:8443",
        graph_url: str = "https://127.0.0.1:8444",
        app_id: str = SANDBOX_APP_ID,
        app_secret: str | None = None,
        knobs: Knobs | None = None,
        tenants: int = 1,
    ) -> SandboxStack:
        """Assemble the sandbox. Entra checks the Graph audience against `graph_url` (see `rebind`).

        Args:
            authority_url: where Entra is reached (AUTHORITY_HOST).
            graph_url: where Graph is reached (GRAPH_ENDPOINT).
            app_id: the bot's app id.
            app_secret: its client secret; a fresh one when omitted.
            knobs: Graph's latency/throttling switches, shared by every tenant.
            tenants: how many schools (tenants): the seeded one, then copies with their own ids (`copy_for_tenant`).

        Returns:
            The stack, not yet served (see `serve_stack`).

        Raises:
            ValueError: `tenants` is less than 1.
        """
        if tenants < 1:
            raise ValueError(f"a sandbox needs at least one tenant, not {tenants}")
        seed = load_school()
        schools = [seed, *(seed.copy_for_tenant(index) for index in range(1, tenants))]
        secret = app_secret or new_app_secret()
        graph_url = graph_url.rstrip("/")
        entra = Entra(
            authority_url,
            directory_for(schools, app_id=app_id, app_secret=secret, graph_url=graph_url),
            graph_resource=graph_url,
        )
        stack_ref: list[SandboxStack] = []

        def verify(token: str) -> Mapping[str, Any]:
            return entra.verify(token, audience=stack_ref[0].graph_url)

        shared = knobs or Knobs()
        graph = TenantGraphs([GraphEducation(school, verify_token=verify, knobs=shared) for school in schools])
        stack = cls(school=seed, entra=entra, graph=graph, graph_url=graph_url, app_id=app_id, app_secret=secret)
        stack_ref.append(stack)
        return stack

    @property
    def tenant_id(self) -> str:
        """Tenant 0's id (the seeded school's)."""
        return self.school.tenantId

    @property
    def tenant_count(self) -> int:
        return len(self.graph.tenants)

    @property
    def tenant_ids(self) -> list[str]:
        """Every tenant's id, tenant 0 first."""
        return [graph.school.tenantId for graph in self.graph.tenants]

    def tenant(self, index: int) -> TenantView:
        """Tenant `index` (0 is the seeded school).

        Raises:
            IndexError: no such tenant.
        """
        return TenantView(index, self.graph.tenant(index))

    def rebind(self, *, authority_url: str, graph_url: str) -> None:
        """Point issuers and audiences at the URLs the services were actually bound to."""
        graph_url = graph_url.rstrip("/")
        old = self.graph_url
        self.entra.base_url = authority_url.rstrip("/")
        self.entra.graph_resource = graph_url
        app = self.entra.app(self.app_id)
        app.delegated_permissions = {
            (graph_url if resource == old else resource): perms for resource, perms in app.delegated_permissions.items()
        }
        self.graph_url = graph_url

    def graph_token(self, user_id: str, *, scopes: tuple[str, ...] = GRAPH_PERMISSIONS) -> str:
        """A delegated Graph token for a sandbox user of any tenant, as on-behalf-of would issue it (for tests and
        benchmarks); users unknown to Entra get a tenant 0 token."""
        try:
            tenant = self.entra.user(user_id).tid
        except KeyError:
            tenant = self.tenant_id
        return self.entra.issue_access_token(
            audience=self.graph_url, tenant=tenant, app_id=self.app_id, user_oid=user_id, scopes=scopes
        )

    def graph_transport(self) -> httpx.MockTransport:
        """The Graph service in process: hand this to `GraphHttp.create(settings, transport=...)`."""
        return mock_transport(self.graph, self.graph_url)

    def user_id(self, display_name: str) -> str:
        """A tenant-0 user's id by display name."""
        return self.tenant(0).user_id(display_name)

    def class_id(self, display_name: str) -> str:
        """A tenant-0 class's id by display name."""
        return self.tenant(0).class_id(display_name)

    def assignment_id(self, class_display_name: str, assignment_display_name: str) -> str:
        """A tenant-0 assignment's id by its class's and its own display names."""
        return self.tenant(0).assignment_id(class_display_name, assignment_display_name)


@dataclass
class RunningStack:
    """The sandbox served over HTTPS on 127.0.0.1."""

    stack: SandboxStack
    tls: SandboxTls
    services: list[RunningService]

    @property
    def authority_url(self) -> str:
        return self.stack.entra.base_url

    @property
    def graph_url(self) -> str:
        return self.stack.graph_url

    def environment(self) -> dict[str, str]:
        """The settings that point the bot (and MSAL/httpx) at this sandbox; ALLOWED_TENANTS lists every tenant
        when there are several (the app's own tenant is the default allowed one)."""
        environment = {
            "AUTHORITY_HOST": self.authority_url,
            "GRAPH_ENDPOINT": self.graph_url,
            "MicrosoftAppId": self.stack.app_id,
            "MicrosoftAppPassword": self.stack.app_secret,
            "MicrosoftAppTenantId": self.stack.tenant_id,
            "SSL_CERT_FILE": str(self.tls.ca_path.resolve()),
            "REQUESTS_CA_BUNDLE": str(self.tls.ca_path.resolve()),
        }
        if self.stack.tenant_count > 1:
            environment["ALLOWED_TENANTS"] = ",".join(self.stack.tenant_ids)
        return environment

    async def stop(self) -> None:
        for service in reversed(self.services):
            await service.stop()


async def serve_stack(
    stack: SandboxStack, *, tls_directory: Path | None = None, entra_port: int = 0, graph_port: int = 0
) -> RunningStack:
    """Serve Entra and Graph over HTTPS on 127.0.0.1 (port 0 = any free port) and rebind the stack's URLs."""
    tls = ensure_sandbox_tls(tls_directory) if tls_directory else ensure_sandbox_tls()
    context = tls.server_context()
    entra = await serve(stack.entra, port=entra_port, ssl_context=context)
    graph = await serve(stack.graph, port=graph_port, ssl_context=context)
    stack.rebind(authority_url=entra.url, graph_url=graph.url)
    return RunningStack(stack=stack, tls=tls, services=[entra, graph])
