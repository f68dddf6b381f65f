"""The web app: `create_app(settings, router=...)` wires everything from Settings; `python app.py` runs it.

Routes: `POST /api/messages` (Bot Framework activities, through botbuilder's CloudAdapter behind `MessagesEndpoint`)
and `GET /healthz`.

Inbound auth is always on. The only way to turn it off is DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS=true, which is
honoured only when no MicrosoftAppId is set (a local Agents Playground session); with an app id it is ignored.
Without an app id and without that switch every activity is refused with 401.

Graceful shutdown: on SIGTERM `web.run_app` stops listening and runs `on_shutdown`, where the app drains within
SHUTDOWN_GRACE_SECONDS: `/api/messages` answers 503 (Retry-After) to anything new, the turns in flight finish (their
Graph writes and replies included), then running bulk jobs get what is left of the grace to finish and are cancelled
after it. A cancelled job stays open in the store with its in-flight batch recorded, so the next start resumes it
without writing any student twice (see `bot.actions.jobs`). Only then is the store closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from aiohttp import web
from botbuilder.integration.aiohttp import CloudAdapter  # pyright: ignore[reportMissingTypeStubs]

from bot.actions import jobs
from bot.actions.context import Services
from bot.auth.gate import TeamsSignIn
from bot.auth.obo import GraphToken
from bot.auth.signin import Credentials
from bot.cards.renderer import CardLibrary
from bot.graph.client import EducationClient, GraphHttp
from bot.hosting import (
    MAX_BODY_BYTES,
    CachedCredentialsFactory,
    ChannelTokenValidator,
    MessagesEndpoint,
    ReusingConnectorFactory,
    TeamsBotFrameworkAuthentication,
    healthz,
)
from bot.hosting.outbound import OutboundConnector
from bot.hosting.student_channel import ConnectorStudentChannel
from bot.http_transport import DirectClient, PooledTransport
from bot.limits import DeadLetters, Limits, build_limits
from bot.notify.notifier import Notifier
from bot.notify.references import StoredConversationReferences
from bot.router import AssistantRouter
from bot.settings import AppType, Settings, SettingsError, load_settings
from bot.storage import StorageUnavailable, open_store
from bot.teams_bot import ConversationReferences, TeamsBot, TurnOutbox
from bot.turn import Actor, Conversation, Outbox, Router, SignInGate

CARDS_DIR = Path(__file__).resolve().parent / "cards"
_CANCEL_AFTER_GRACE_SECONDS = 1.0
"""After the app's own drain, how long aiohttp still waits for a request handler before cancelling it."""
CONNECTOR_CONNECTIONS = 100
"""Connections to the Bot Connector kept open at once."""
YOUNG_GENERATION_THRESHOLD = 10_000
"""New GC-tracked objects before the youngest generation is collected (Python's default is 700); see
`create_production_app`."""

logger = logging.getLogger(__name__)


class GracefulShutdown:
    """One grace period shared by the shutdown steps: turns in flight first, then bulk jobs."""

    def __init__(self, endpoint: MessagesEndpoint, grace_seconds: float) -> None:
        """Drain `endpoint` within `grace_seconds` of the shutdown starting."""
        self.endpoint = endpoint
        self.grace_seconds = grace_seconds
        self._deadline: float | None = None

    def remaining(self) -> float:
        """Seconds left of the grace period (all of it before the shutdown starts)."""
        if self._deadline is None:
            return self.grace_seconds
        return max(0.0, self._deadline - asyncio.get_running_loop().time())

    async def drain_turns(self, _app: web.Application) -> None:
        """`on_shutdown`: refuse new activities with 503 and wait for the turns in flight."""
        self._deadline = asyncio.get_running_loop().time() + self.grace_seconds
        await self.endpoint.drain(self.remaining())


@dataclass(frozen=True)
class Hosting:
    """The parts `create_app` built, for the notify layer (proactive sends) and tests."""

    bot: TeamsBot
    adapter: CloudAdapter
    authentication: TeamsBotFrameworkAuthentication
    credentials: CachedCredentialsFactory
    connectors: ReusingConnectorFactory
    validator: ChannelTokenValidator | None
    students: ConnectorStudentChannel
    outbound: OutboundConnector
    shutdown: GracefulShutdown


HOSTING_KEY = web.AppKey("hosting", Hosting)
"""Where `create_app` keeps its `Hosting`."""


def create_app(
    settings: Settings,
    *,
    router: Router,
    references: ConversationReferences | None = None,
    sign_in: SignInGate | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> web.Application:
    """Build the aiohttp application from settings.

    Args:
        settings: the configuration (app id/secret/tenant, AUTHORITY_HOST, BOT_OPENID_METADATA_URL, ...).
        router: decides what each turn does.
        references: where conversation references are saved; in memory when omitted.
        sign_in: answers Teams' sign-in invokes (SSO token exchange).
        max_body_bytes: larger request bodies are refused with 413.

    Returns:
        The application; its cleanup closes the HTTP clients and MSAL sessions it opened.

    Raises:
        SettingsError: the settings ask for something this build does not support (UserAssignedMSI).
    """
    if settings.app_type == AppType.USER_ASSIGNED_MSI:
        raise SettingsError("configuration error: MicrosoftAppType: UserAssignedMSI is not supported")
    app_id = settings.app_id
    unauthenticated = settings.dangerously_allow_unauthenticated_requests and not app_id
    if settings.dangerously_allow_unauthenticated_requests and app_id:
        logger.warning("DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS is ignored because MicrosoftAppId is set")
    if unauthenticated:
        logger.warning("accepting unauthenticated requests (DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS, no app id)")

    http = httpx.AsyncClient(timeout=10.0)  # the channel's signing keys (rarely fetched)
    # Every turn posts its reply: keep as many connections alive as turns run at once, so a busy minute reuses them
    # instead of opening (and, against Teams, TLS-handshaking) a new one per reply.
    connector_http = DirectClient(PooledTransport(max_connections=CONNECTOR_CONNECTIONS), timeout=10.0)
    credentials = CachedCredentialsFactory(
        app_id=app_id,
        password=settings.app_password.get_secret_value(),
        authority_host=settings.authority_host,
        tenant_id=settings.app_tenant_id,
        allow_unauthenticated=unauthenticated,
    )
    connectors = ReusingConnectorFactory(app_id=app_id, scope=settings.bot_framework_scope, credentials=credentials)
    validator = (
        None
        if unauthenticated
        else ChannelTokenValidator(
            app_id=app_id, issuer=settings.bot_token_issuer, metadata_url=settings.bot_openid_metadata_url, http=http
        )
    )
    authentication = TeamsBotFrameworkAuthentication(
        app_id=app_id,
        scope=settings.bot_framework_scope,
        validator=validator,
        credentials=credentials,
        connectors=connectors,
    )
    adapter = CloudAdapter(authentication)
    outbound = OutboundConnector(credentials, connector_http, app_id=app_id, scope=settings.bot_framework_scope)
    stored_service_url = references.service_url if isinstance(references, StoredConversationReferences) else None
    students = ConnectorStudentChannel(outbound, app_id=app_id, stored_service_url=stored_service_url)
    bot = TeamsBot(
        router,
        app_id=app_id,
        connector=outbound,
        references=references,
        sign_in=sign_in,
        service_url_seen=students.remember_service_url,
    )
    endpoint = MessagesEndpoint(
        adapter=adapter,
        authentication=authentication,
        on_turn=bot.on_turn,  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        allowed_tenants=settings.allowed_tenant_ids,
        max_body_bytes=max_body_bytes,
    )

    shutdown = GracefulShutdown(endpoint, settings.shutdown_grace_seconds)

    app = web.Application()
    app.router.add_post("/api/messages", endpoint.handle)
    app.router.add_get("/healthz", healthz)
    app.on_shutdown.append(shutdown.drain_turns)
    app[HOSTING_KEY] = Hosting(
        bot=bot,
        adapter=adapter,
        authentication=authentication,
        credentials=credentials,
        connectors=connectors,
        validator=validator,
        students=students,
        outbound=outbound,
        shutdown=shutdown,
    )

    async def close(_: web.Application) -> None:
        await connectors.close()
        credentials.close()
        await http.aclose()
        await connector_http.aclose()

    app.on_cleanup.append(close)
    return app


@dataclass
class Assistant:
    """The grading assistant behind the Bot Framework edge, built from Settings."""

    services: Services
    credentials: Credentials
    router: AssistantRouter
    sign_in: TeamsSignIn
    limits: Limits

    async def aclose(self) -> None:
        await self.credentials.aclose()
        await self.services.graph.aclose()
        await self.services.store.aclose()


async def build_assistant(settings: Settings, *, cards_dir: Path = CARDS_DIR) -> Assistant:
    """Open the store, load and check the card templates, and wire Graph, auth and the router."""
    store = await open_store(settings.storage_url.get_secret_value())
    limits = build_limits(settings, store)
    services = Services(
        settings=settings,
        graph=GraphHttp.create(settings, before_request=limits.graph.before_request),
        store=store,
        cards=CardLibrary.load(cards_dir, _schema_if_present()),
    )
    credentials = Credentials.create(settings, store)
    router = AssistantRouter(services, credentials)
    return Assistant(services, credentials, router, TeamsSignIn(settings, credentials), limits)


async def create_assistant_app(settings: Settings) -> web.Application:
    """The whole product: `create_app` with the real router, notifications wired to the Bot Connector."""
    assistant = await build_assistant(settings)
    references = StoredConversationReferences(assistant.services.store)
    app = create_app(settings, router=assistant.router, sign_in=assistant.sign_in, references=references)
    hosting = app[HOSTING_KEY]
    store = assistant.services.store
    assistant.services.notifier = Notifier(
        hosting.students, store, limits=assistant.limits.teams, dead_letters=DeadLetters(store)
    )

    async def client_for(actor: Actor) -> EducationClient | None:
        token = await assistant.credentials.graph_token(actor)
        if not isinstance(token, GraphToken):
            return None
        return EducationClient(assistant.services.graph, token.access_token, tenant_id=actor.tenant_id)

    def outbox_for(conversation: Conversation) -> Outbox:
        return TurnOutbox.for_conversation(
            hosting.outbound, conversation, app_id=settings.app_id, tenant_id=settings.app_tenant_id
        )

    async def background(_: web.Application) -> AsyncIterator[None]:
        """Resume unfinished bulk jobs now and every 30 s (paused, or their runner gone); purge expired state hourly."""
        sweep = await jobs.start_sweep(assistant.services, client_for, outbox_factory=outbox_for)
        purger = asyncio.create_task(_purge_hourly(assistant.services))
        yield
        purger.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await purger
        await sweep.stop()  # after on_shutdown's finish_jobs: releases the leases, so another instance resumes at once
        await assistant.aclose()

    app.cleanup_ctx.append(background)

    async def finish_jobs(_: web.Application) -> None:
        """`on_shutdown`, after the turns drained: bulk jobs get what is left of the grace, then stop resumably."""
        await jobs.stop_jobs(assistant.services, grace=hosting.shutdown.remaining())

    app.on_shutdown.append(finish_jobs)
    app[ASSISTANT_KEY] = assistant
    return app


async def create_production_app(settings: Settings) -> web.Application:
    """`create_assistant_app` as `python app.py` serves it, with the cyclic garbage collector set for a server.

    - After start-up, the objects built so far (settings, card templates, clients, caches' skeletons, imported
      modules) are frozen out of the collector's reach (`gc.freeze()`). They live as long as the process, yet every
      full collection walked them all: under load those passes took 60-100 ms each, all of it on the event loop.
    - The youngest generation is collected after `YOUNG_GENERATION_THRESHOLD` new objects instead of Python's 700. A
      turn's objects live for its Graph round trip (~200 ms); at the default, under load the young generation was
      collected dozens of times a second, nearly every in-flight turn's objects were promoted to the oldest
      generation, and that promotion triggered a full collection every second or two. Measured with `make bench`
      at 250 grades a second: time spent collecting fell from about 2.3 s to 0.3 s a run, and the full collections
      from 11-13 (up to 100 ms each) to one (28-32 ms).
    """
    app = await create_assistant_app(settings)

    async def freeze_long_lived(_: web.Application) -> None:
        gc.freeze()
        _young, middle, oldest = gc.get_threshold()
        gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, oldest)

    app.on_startup.append(freeze_long_lived)  # after every other start-up step, incl. the background tasks
    return app


async def _purge_hourly(services: Services) -> None:
    while True:
        await asyncio.sleep(3600)
        try:
            await services.store.purge_expired()
        except StorageUnavailable:
            logger.warning("could not purge expired state: the store is unavailable")


ASSISTANT_KEY = web.AppKey("assistant", Assistant)


def _schema_if_present() -> Path | None:
    """The Adaptive Card schema from the specs beside the checkout (development and CI); absent in production."""
    schema = Path(__file__).resolve().parent.parent / "shared" / "specs" / "adaptive-card.schema.json"
    return schema if schema.is_file() else None


def main() -> None:
    """Run the app on HOST:PORT; a bad setting prints one line and exits with status 2."""
    try:
        settings = load_settings()
    except SettingsError as error:
        print(error, file=sys.stderr)  # noqa: T201
        sys.exit(2)
    logging.basicConfig(level=logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # it logs every Graph URL at INFO
    # The app's own `on_shutdown` waits out the grace period; aiohttp then cancels whatever still runs.
    web.run_app(
        create_production_app(settings),
        host=settings.host,
        port=settings.port,
        shutdown_timeout=_CANCEL_AFTER_GRACE_SECONDS,
    )


if __name__ == "__main__":
    main()
