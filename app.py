"""The web app: `create_app(settings, router=...)` wires everything from Settings; `python app.py` runs it.

Routes: `POST /api/messages` (Bot Framework activities, through botbuilder's CloudAdapter behind `MessagesEndpoint`)
and `GET /healthz`.

Inbound auth is always on. The only way to turn it off is DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS=true, which is
honoured only when no MicrosoftAppId is set (a local Agents Playground session); with an app id it is ignored.
Without an app id and without that switch every activity is refused with 401.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass

import httpx
from aiohttp import web
from botbuilder.integration.aiohttp import CloudAdapter  # pyright: ignore[reportMissingTypeStubs]

from bot.hosting import (
    MAX_BODY_BYTES,
    CachedCredentialsFactory,
    ChannelTokenValidator,
    MessagesEndpoint,
    ReusingConnectorFactory,
    TeamsBotFrameworkAuthentication,
    healthz,
)
from bot.settings import AppType, Settings, SettingsError, load_settings
from bot.teams_bot import ConversationReferences, TeamsBot
from bot.turn import CardActionTurn, MessageTurn, Outbox, Reply, Router

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hosting:
    """The parts `create_app` built, for the notify layer (proactive sends) and tests."""

    bot: TeamsBot
    adapter: CloudAdapter
    authentication: TeamsBotFrameworkAuthentication
    credentials: CachedCredentialsFactory
    connectors: ReusingConnectorFactory
    validator: ChannelTokenValidator | None


HOSTING_KEY = web.AppKey("hosting", Hosting)
"""Where `create_app` keeps its `Hosting`."""


class NotReadyRouter:
    """Placeholder for `python app.py` until `bot/router.py` exists: answers every turn with "not ready"."""

    message = "The grading assistant is not ready yet."

    async def on_message(self, turn: MessageTurn, outbox: Outbox) -> None:
        """Say the assistant is not ready."""
        await outbox.send(Reply(text=self.message))

    async def on_card_action(self, turn: CardActionTurn, outbox: Outbox) -> Reply:
        """Say the assistant is not ready."""
        return Reply(text=self.message)


def create_app(
    settings: Settings,
    *,
    router: Router,
    references: ConversationReferences | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> web.Application:
    """Build the aiohttp application from settings.

    Args:
        settings: the configuration (app id/secret/tenant, AUTHORITY_HOST, BOT_OPENID_METADATA_URL, ...).
        router: decides what each turn does.
        references: where conversation references are saved; in memory when omitted.
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

    http = httpx.AsyncClient(timeout=10.0)
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
    bot = TeamsBot(router, app_id=app_id, references=references)
    endpoint = MessagesEndpoint(
        adapter=adapter,
        authentication=authentication,
        on_turn=bot.on_turn,  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        allowed_tenants=settings.allowed_tenant_ids,
        max_body_bytes=max_body_bytes,
    )

    app = web.Application()
    app.router.add_post("/api/messages", endpoint.handle)
    app.router.add_get("/healthz", healthz)
    app[HOSTING_KEY] = Hosting(
        bot=bot,
        adapter=adapter,
        authentication=authentication,
        credentials=credentials,
        connectors=connectors,
        validator=validator,
    )

    async def close(_: web.Application) -> None:
        await connectors.close()
        credentials.close()
        await http.aclose()

    app.on_cleanup.append(close)
    return app


def main() -> None:
    """Run the app on HOST:PORT; a bad setting prints one line and exits with status 2."""
    try:
        settings = load_settings()
        app = create_app(settings, router=NotReadyRouter())
    except SettingsError as error:
        print(error, file=sys.stderr)  # noqa: T201
        sys.exit(2)
    logging.basicConfig(level=logging.INFO)
    web.run_app(app, host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
