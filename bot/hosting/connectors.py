"""The SDK's authentication and connector hooks, wired to our validator, kept credentials and reused clients.

`TeamsBotFrameworkAuthentication` is the `BotFrameworkAuthentication` the `CloudAdapter` is built with:
- `authenticate_request` validates the channel token with `ChannelTokenValidator` (async httpx, never 500);
- `create_connector_factory` returns one shared `ReusingConnectorFactory`, which keeps one msrest `ConnectorClient`
  per (service URL, audience) instead of building a new one (and new credentials) per activity;
- `create_user_token_client` returns one `NoUserTokenService`: the assistant does SSO with its own on-behalf-of
  exchange, not the Bot Framework token service, so no msrest token client is built per activity.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from botbuilder.schema import Activity, CallerIdConstants  # pyright: ignore[reportMissingTypeStubs]
from botframework.connector.aio import ConnectorClient  # pyright: ignore[reportMissingTypeStubs]
from botframework.connector.auth import (  # pyright: ignore[reportMissingTypeStubs]
    AuthenticateRequestResult,
    AuthenticationConstants,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
    UserTokenClient,
)

from bot.hosting.channel_auth import ChannelTokenValidator
from bot.hosting.credentials import CachedCredentialsFactory

logger = logging.getLogger(__name__)

USER_AGENT: Final = "GradingAssistant (BotBuilder Python 4.17.1)"


class ReusingConnectorFactory(ConnectorFactory):  # pyright: ignore[reportUntypedBaseClass]
    """Hands out one `ConnectorClient` per (service URL, audience), its credentials refreshed before each hand-out.

    Service URLs come only from activities whose channel token carried the same `serviceurl`, so the set stays small
    (one per Teams region); clients live until `close()`.
    """

    def __init__(self, *, app_id: str, scope: str, credentials: CachedCredentialsFactory) -> None:
        """Build the factory.

        Args:
            app_id: the bot's app id.
            scope: the default audience of outbound tokens (`https://api.botframework.com`).
            credentials: the kept credentials.
        """
        self._app_id = app_id
        self._scope = scope
        self._credentials = credentials
        self._clients: dict[tuple[str, str], Any] = {}
        self.clients_created = 0
        """How many connector clients were built (tests and the benchmark read it)."""

    async def create(self, service_url: str, audience: str | None = None) -> ConnectorClient:
        """The connector client for `service_url`, built on first use."""
        scope = audience or self._scope
        credentials = await self._credentials.create_credentials(self._app_id, scope, "", True)
        key = (service_url, scope)
        client = self._clients.get(key)
        if client is None:
            client = ConnectorClient(credentials, base_url=service_url)
            client.config.add_user_agent(USER_AGENT)  # pyright: ignore[reportUnknownMemberType]
            self._clients[key] = client
            self.clients_created += 1
        return client

    async def close(self) -> None:
        """Close every client's HTTP session."""
        clients = list(self._clients.values())
        self._clients.clear()
        for client in clients:
            await client.__aexit__(None, None, None)


class NoUserTokenService(UserTokenClient):  # pyright: ignore[reportUntypedBaseClass]
    """The Bot Framework token service is not used: SSO goes through our own on-behalf-of exchange."""

    async def get_user_token(self, user_id: str, connection_name: str, channel_id: str, magic_code: str) -> Any:
        """Not supported."""
        raise NotImplementedError("the assistant does not use the Bot Framework token service")

    async def get_sign_in_resource(self, connection_name: str, activity: Activity, final_redirect: str) -> Any:
        """Not supported."""
        raise NotImplementedError("the assistant does not use the Bot Framework token service")

    async def sign_out_user(self, user_id: str, connection_name: str, channel_id: str) -> Any:
        """Not supported."""
        raise NotImplementedError("the assistant does not use the Bot Framework token service")

    async def get_token_status(self, user_id: str, channel_id: str, include_filter: str) -> Any:
        """Not supported."""
        raise NotImplementedError("the assistant does not use the Bot Framework token service")

    async def get_aad_tokens(
        self, user_id: str, connection_name: str, resource_urls: list[str], channel_id: str
    ) -> Any:
        """Not supported."""
        raise NotImplementedError("the assistant does not use the Bot Framework token service")

    async def exchange_token(self, user_id: str, connection_name: str, channel_id: str, exchange_request: Any) -> Any:
        """Not supported."""
        raise NotImplementedError("the assistant does not use the Bot Framework token service")


class TeamsBotFrameworkAuthentication(BotFrameworkAuthentication):  # pyright: ignore[reportUntypedBaseClass]
    """Inbound validation and outbound connectors for a Teams bot (no skills, no streaming, no emulator tokens)."""

    def __init__(
        self,
        *,
        app_id: str,
        scope: str,
        validator: ChannelTokenValidator | None,
        credentials: CachedCredentialsFactory,
        connectors: ReusingConnectorFactory,
    ) -> None:
        """Build the authentication.

        Args:
            app_id: the bot's app id.
            scope: the audience of outbound tokens.
            validator: validates channel tokens; None accepts every request unauthenticated (only when
                DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS is set and no app id is configured).
            credentials: the kept outbound credentials.
            connectors: the shared connector factory.
        """
        self._app_id = app_id
        self._scope = scope
        self._validator = validator
        self._credentials = credentials
        self._connectors = connectors
        self._user_tokens = NoUserTokenService()

    async def authenticate_request(self, activity: Activity, auth_header: str) -> AuthenticateRequestResult:
        """Validate the channel token of an inbound activity.

        Raises:
            ChannelAuthError: the request is refused (401 or 403).
        """
        if self._validator is None:
            claims: dict[str, Any] = {}
            identity = ClaimsIdentity(claims, True, AuthenticationConstants.ANONYMOUS_AUTH_TYPE)
            caller_id = None
        else:
            claims = await self._validator.validate(
                auth_header or None,
                channel_id=str(activity.channel_id or ""),  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
                service_url=str(activity.service_url or ""),  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
            )
            identity = ClaimsIdentity(claims, True)
            caller_id = CallerIdConstants.public_azure_channel.value
        result: Any = AuthenticateRequestResult()
        result.claims_identity = identity
        result.audience = self._scope
        result.caller_id = caller_id
        result.connector_factory = self._connectors
        return result

    async def authenticate_streaming_request(
        self, auth_header: str, channel_id_header: str
    ) -> AuthenticateRequestResult:
        """Streaming (Direct Line ASE) is not supported."""
        raise PermissionError("streaming connections are not supported")

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        """The shared connector factory (proactive messages use it too)."""
        return self._connectors

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> UserTokenClient:
        """The shared placeholder: the Bot Framework token service is not used."""
        return self._user_tokens

    def get_originating_audience(self) -> str:
        """The audience of outbound tokens."""
        return self._scope
