"""The bot's outbound credentials for the Bot Connector: one MSAL client, one token kept until shortly before expiry.

Stock botbuilder (`PasswordServiceClientCredentialFactory`) builds a new `MicrosoftAppCredentials`, hence a new MSAL
app with an empty cache, for every connector client, so every reply fetches a token with a blocking call on the event
loop. Here one `BotCredentials` per scope lives as long as the app: `await refresh()` (called by the connector factory
before a client is handed out) runs MSAL in `asyncio.to_thread` when the token is missing or about to expire, and the
synchronous `get_access_token` that msrest calls only returns the kept token.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Final, cast
from urllib.parse import urlsplit

import msal  # pyright: ignore[reportMissingTypeStubs]
from botframework.connector.auth import (  # pyright: ignore[reportMissingTypeStubs]
    AppCredentials,
    ServiceClientCredentialsFactory,
)

logger = logging.getLogger(__name__)

MICROSOFT_AUTHORITY_HOSTS: Final = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoftonline.us",
        "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn",
    }
)
REFRESH_MARGIN_SECONDS: Final = 300.0
DEFAULT_CHANNEL_AUTH_TENANT: Final = "botframework.com"


class CredentialsError(Exception):
    """The token endpoint refused the bot's client credentials; the message names the AADSTS error, not the secret."""


class BotCredentials(AppCredentials):  # pyright: ignore[reportUntypedBaseClass]
    """Client-credentials tokens for one scope, kept and refreshed off the event loop."""

    def __init__(
        self,
        *,
        app_id: str,
        password: str,
        authority: str,
        scope: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Build credentials; nothing is fetched until `refresh()`.

        Args:
            app_id: the bot's app (client) id.
            password: the client secret.
            authority: `{AUTHORITY_HOST}/{tenant}`.
            scope: the resource (e.g. `https://api.botframework.com`); `/.default` is appended.
            clock: seconds since the epoch.
        """
        super().__init__(app_id=app_id, channel_auth_tenant=DEFAULT_CHANNEL_AUTH_TENANT, oauth_scope=scope)
        self.oauth_endpoint = authority
        self._password = password
        self._authority = authority
        self._scopes = [scope if scope.endswith("/.default") else f"{scope.rstrip('/')}/.default"]
        self._clock = clock
        self._msal: msal.ConfidentialClientApplication | None = None
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self.tokens_fetched = 0
        """How many tokens were requested from the token endpoint."""

    @property
    def is_fresh(self) -> bool:
        """True while the kept token has more than the refresh margin left."""
        return self._token is not None and self._clock() < self._expires_at - REFRESH_MARGIN_SECONDS

    async def refresh(self) -> None:
        """Make sure a token with time left is kept, fetching one in a worker thread if needed.

        Raises:
            CredentialsError: the token endpoint refused.
        """
        if self.is_fresh:
            return
        async with self._lock:
            if not self.is_fresh:
                await asyncio.to_thread(self._acquire)

    def get_access_token(self, force_refresh: bool = False) -> str:
        """The kept token (msrest calls this synchronously while signing a request)."""
        if force_refresh or self._token is None or self._clock() >= self._expires_at:
            logger.warning(
                "fetching a Bot Framework token on the event loop; the connector factory should refresh first"
            )
            self._acquire()
        assert self._token is not None
        return self._token

    def close(self) -> None:
        """Close MSAL's HTTP session."""
        if self._msal is not None:
            cast(Any, self._msal).http_client.close()
            self._msal = None

    def _acquire(self) -> None:
        if self._msal is None:
            host = urlsplit(self._authority).hostname or ""
            self._msal = msal.ConfidentialClientApplication(
                self.microsoft_app_id,  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
                client_credential=self._password,
                authority=self._authority,
                instance_discovery=host in MICROSOFT_AUTHORITY_HOSTS,  # pyright: ignore[reportArgumentType]
                token_cache=msal.TokenCache(),
            )
        started = self._clock()
        result = cast(dict[str, Any], self._msal.acquire_token_for_client(scopes=self._scopes))  # pyright: ignore[reportUnknownMemberType]
        self.tokens_fetched += 1
        token = result.get("access_token")
        if not isinstance(token, str):
            codes: Any = result.get("error_codes") or []
            raise CredentialsError(f"token request refused: {result.get('error', 'unknown error')} {codes}")
        self._token = token
        self._expires_at = started + float(result.get("expires_in", 3600))


class CachedCredentialsFactory(ServiceClientCredentialsFactory):  # pyright: ignore[reportUntypedBaseClass]
    """The SDK's credentials hook: one `BotCredentials` per scope for the configured app id."""

    def __init__(
        self,
        *,
        app_id: str,
        password: str,
        authority_host: str,
        tenant_id: str,
        allow_unauthenticated: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Build the factory.

        Args:
            app_id: the bot's app id; empty means no credentials (replies go out without a token).
            password: the client secret.
            authority_host: AUTHORITY_HOST, e.g. `https://login.microsoftonline.com`.
            tenant_id: the app's tenant (SingleTenant); empty uses `botframework.com` (MultiTenant bots).
            allow_unauthenticated: accept unauthenticated inbound requests (only without an app id).
            clock: seconds since the epoch.
        """
        self._app_id = app_id
        self._password = password
        self._authority = f"{authority_host.rstrip('/')}/{tenant_id or DEFAULT_CHANNEL_AUTH_TENANT}"
        self._allow_unauthenticated = allow_unauthenticated and not app_id
        self._clock = clock
        self._credentials: dict[str, BotCredentials] = {}

    @property
    def credentials(self) -> list[BotCredentials]:
        """The credentials built so far, one per scope."""
        return list(self._credentials.values())

    async def is_valid_app_id(self, app_id: str) -> bool:
        """True for the configured app id."""
        return bool(self._app_id) and app_id == self._app_id

    async def is_authentication_disabled(self) -> bool:
        """True only when no app id is set and unauthenticated requests were explicitly allowed."""
        return self._allow_unauthenticated

    async def create_credentials(
        self, app_id: str, oauth_scope: str, login_endpoint: str, validate_authority: bool
    ) -> AppCredentials:
        """The kept credentials for `oauth_scope`, with a fresh token (the login endpoint comes from settings)."""
        del login_endpoint, validate_authority
        if not self._app_id:
            return AppCredentials(app_id="")
        if app_id != self._app_id:
            raise PermissionError("credentials requested for an unknown app id")
        credentials = self._credentials.get(oauth_scope)
        if credentials is None:
            credentials = BotCredentials(
                app_id=self._app_id,
                password=self._password,
                authority=self._authority,
                scope=oauth_scope,
                clock=self._clock,
            )
            self._credentials[oauth_scope] = credentials
        await credentials.refresh()
        return credentials

    def close(self) -> None:
        """Close every MSAL client."""
        for credentials in self._credentials.values():
            credentials.close()
