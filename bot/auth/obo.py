"""On-behalf-of: trade a teacher's Teams SSO token for a delegated Graph token, and keep it fresh silently.

One MSAL `ConfidentialClientApplication` per tenant is built lazily (its constructor fetches the OpenID configuration,
so it runs in a thread) and kept. MSAL binds a token cache to the application, so each call swaps in the teacher's own
`SerializableTokenCache` (loaded from the store, saved back after) while holding that tenant's lock: calls for one
tenant run one at a time. Silent calls answer from the cache without network while the access token is valid.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, TypeVar, cast
from urllib.parse import urlencode, urlsplit

import msal  # pyright: ignore[reportMissingTypeStubs]
from msal.authority import WELL_KNOWN_AUTHORITY_HOSTS  # pyright: ignore[reportMissingTypeStubs]

from bot.auth.crypto import CacheCipher
from bot.auth.token_cache import LoadedCache, TokenCacheStore
from bot.graph.ids import TenantId, UserId
from bot.settings import Settings
from bot.storage.protocol import StorageUnavailable, Store
from bot.turn import Actor

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

_CONSENT_CODES: Final = frozenset({65001, 65004, 65005, 90094, 90095})
_CONFIG_ERRORS: Final = frozenset({"invalid_client", "unauthorized_client", "invalid_scope", "invalid_resource"})


_JWT_LIKE: Final = re.compile(r"eyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){0,2}")
_MSAL_LOGGERS: Final = (
    "msal",
    "msal.application",
    "msal.authority",
    "msal.telemetry",
    "msal.token_cache",
    "msal.throttled_http_client",
    "msal.oauth2cli.oauth2",
    "msal.oauth2cli.oidc",
)


class _RedactJwts(logging.Filter):
    """Rewrites MSAL's log records with anything JWT-shaped (tokens, client_info) replaced by `[redacted]`."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "eyJ" in message:
            record.msg = _JWT_LIKE.sub("[redacted]", message)
            record.args = None
        return True


def _redact_msal_logs() -> None:
    """MSAL logs cache events at DEBUG (with client_info and masked tokens): redact JWT-shaped strings there."""
    names = {*_MSAL_LOGGERS, *(name for name in logging.Logger.manager.loggerDict if name.startswith("msal"))}
    for name in names:
        target = logging.getLogger(name)
        if not any(isinstance(existing, _RedactJwts) for existing in target.filters):
            target.addFilter(_RedactJwts())


class AuthProblem(StrEnum):
    """Why no Graph token could be had; `bot/messages.py` words each for the teacher."""

    SIGN_IN_AGAIN = "sign_in_again"
    """The SSO token or refresh token is no longer accepted (expired, revoked, MFA now required): sign in again."""
    ADMIN_CONSENT_NEEDED = "admin_consent_needed"
    """The tenant's administrator has not consented to the app's Graph permissions (AADSTS65001)."""
    UNAVAILABLE = "unavailable"
    """Entra ID (or the store) did not answer in time: try again later."""
    MISCONFIGURED = "misconfigured"
    """The bot's own registration is wrong (bad client secret, unknown scope): the administrator must fix it."""


@dataclass(frozen=True)
class GraphToken:
    """A delegated Graph access token for one teacher. Its repr never shows the token."""

    access_token: str = field(repr=False)
    expires_at: datetime
    tenant_id: TenantId
    user_id: UserId
    scopes: tuple[str, ...] = ()


def is_microsoft_authority(authority_host: str) -> bool:
    """True for Entra's public and national-cloud hosts (MSAL may then run instance discovery)."""
    return urlsplit(authority_host).hostname in WELL_KNOWN_AUTHORITY_HOSTS


def admin_consent_url(settings: Settings, tenant: str) -> str:
    """The link an administrator follows to consent to the app's permissions in `tenant`.

    Args:
        settings: for AUTHORITY_HOST and MicrosoftAppId.
        tenant: the tenant id (or domain).

    Returns:
        `{AUTHORITY_HOST}/{tenant}/adminconsent?client_id=...`.
    """
    return f"{settings.authority_host}/{tenant}/adminconsent?{urlencode({'client_id': settings.app_id})}"


def problem_from_result(result: Mapping[str, Any]) -> AuthProblem:
    """Classify an MSAL error result (Entra's error JSON): consent, configuration, outage, else sign in again."""
    error = str(result.get("error", ""))
    suberror = str(result.get("suberror", ""))
    raw_codes = result.get("error_codes")
    codes = (
        {code for code in cast(list[object], raw_codes) if isinstance(code, int)}
        if isinstance(raw_codes, list)
        else set[int]()
    )
    description = str(result.get("error_description", ""))
    if codes & _CONSENT_CODES or "consent_required" in (error, suberror) or description.startswith("AADSTS65001"):
        return AuthProblem.ADMIN_CONSENT_NEEDED
    if error in _CONFIG_ERRORS:
        return AuthProblem.MISCONFIGURED
    if error in ("temporarily_unavailable", "server_error"):
        return AuthProblem.UNAVAILABLE
    return AuthProblem.SIGN_IN_AGAIN  # invalid_grant, interaction_required, and anything unknown about the user


class OboExchanger:
    """Acquires and refreshes delegated Graph tokens on teachers' behalf, caching them per teacher."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        token_cache: TokenCacheStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Prepare (no network until the first call).

        Args:
            settings: MicrosoftAppId/Password, AUTHORITY_HOST, AUTH_TIMEOUT_SECONDS, graph scopes, TOKEN_CACHE_KEY.
            store: where the encrypted per-teacher caches live.
            token_cache: the cache store to use; by default one over `store` with TOKEN_CACHE_KEY.
            clock: seconds since the epoch, for `GraphToken.expires_at`.
        """
        _redact_msal_logs()
        self._settings = settings
        self.token_cache = token_cache or TokenCacheStore(store, CacheCipher.from_settings(settings))
        self._clock = clock
        self._apps: dict[str, msal.ConfidentialClientApplication] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._thread_locks: dict[str, threading.Lock] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"OboExchanger(authority_host={self._settings.authority_host!r}, tenants={sorted(self._apps)!r})"

    async def exchange(self, actor: Actor, sso_token: str) -> GraphToken | AuthProblem:
        """Exchange a validated SSO token for a Graph token (on-behalf-of) and cache it for the teacher.

        Args:
            actor: the teacher the SSO token belongs to (validate it with `SsoValidator` first).
            sso_token: the SSO token Teams sent (never logged).

        Returns:
            The Graph token, or why there is none. Never raises for Entra, network or store failures.
        """
        scopes = list(self._settings.graph_scopes)
        try:
            loaded = await self.token_cache.load(actor)
        except StorageUnavailable:
            logger.warning("token cache store unavailable during on-behalf-of")
            return AuthProblem.UNAVAILABLE

        def call(app: msal.ConfidentialClientApplication) -> dict[str, Any]:
            return cast(dict[str, Any], app.acquire_token_on_behalf_of(sso_token, scopes))  # pyright: ignore[reportUnknownMemberType]

        outcome = await self._with_cache(actor, loaded, call)
        if isinstance(outcome, AuthProblem):
            return outcome
        return await self._finish(actor, loaded, outcome, "on-behalf-of")

    async def silent(self, actor: Actor) -> GraphToken | None:
        """The teacher's cached Graph token, refreshed with the refresh token when expired; None if there is none.

        Args:
            actor: the teacher.

        Returns:
            A valid token (no network while the cached one is valid), or None (sign-in needed or Entra unreachable).
        """
        result = await self.refresh_silently(actor)
        return result if isinstance(result, GraphToken) else None

    async def refresh_silently(self, actor: Actor) -> GraphToken | AuthProblem | None:
        """Like `silent`, but tells a failed refresh (`AuthProblem`) apart from an empty cache (None).

        Args:
            actor: the teacher.

        Returns:
            The token; None when nothing is cached; an AuthProblem when a refresh was tried and failed.
        """
        scopes = list(self._settings.graph_scopes)
        home_account_id = f"{actor.user_id}.{actor.tenant_id}".lower()
        try:
            loaded = await self.token_cache.load(actor)
        except StorageUnavailable:
            logger.warning("token cache store unavailable during silent token lookup")
            return AuthProblem.UNAVAILABLE
        if loaded.version == 0:
            return None

        def call(app: msal.ConfidentialClientApplication) -> dict[str, Any] | None:
            accounts = cast(list[dict[str, Any]], app.get_accounts())  # pyright: ignore[reportUnknownMemberType]
            account = next(
                (item for item in accounts if str(item.get("home_account_id", "")).lower() == home_account_id), None
            )
            if account is None:
                return None
            return cast(dict[str, Any] | None, app.acquire_token_silent_with_error(scopes, account))  # pyright: ignore[reportUnknownMemberType]

        outcome = await self._with_cache(actor, loaded, call)
        if outcome is None or isinstance(outcome, AuthProblem):
            return outcome
        return await self._finish(actor, loaded, outcome, "silent refresh")

    def admin_consent_url(self, tenant: str) -> str:
        """The link an administrator follows to consent to the app's Graph permissions in `tenant`."""
        return admin_consent_url(self._settings, tenant)

    async def sign_out(self, actor: Actor) -> bool:
        """Forget the teacher's cached tokens.

        Returns:
            True if there were any.

        Raises:
            StorageUnavailable: the store cannot be written.
        """
        return await self.token_cache.delete(actor)

    async def aclose(self) -> None:
        """Close MSAL's HTTP sessions. Later calls answer `AuthProblem.UNAVAILABLE`."""
        self._closed = True
        apps, self._apps = list(self._apps.values()), {}
        for app in apps:
            app.http_client.close()  # pyright: ignore[reportUnknownMemberType]

    async def _finish(
        self, actor: Actor, loaded: LoadedCache, result: Mapping[str, Any], what: str
    ) -> GraphToken | AuthProblem:
        if "access_token" not in result:
            problem = problem_from_result(result)
            logger.warning(
                "%s refused: %s (codes %s, suberror %s) -> %s",
                what,
                result.get("error", "?"),
                result.get("error_codes", []),
                result.get("suberror", "-"),
                problem.value,
            )
            return problem
        try:
            await self.token_cache.save(actor, loaded)
        except StorageUnavailable:
            logger.warning("token cache store unavailable; the %s token is not cached", what)
        try:
            lifetime = float(result.get("expires_in", 0))
        except (TypeError, ValueError):
            lifetime = 0.0
        scope = result.get("scope")
        logger.debug("%s gave a Graph token (expires in %.0fs)", what, lifetime)
        return GraphToken(
            access_token=str(result["access_token"]),
            expires_at=datetime.fromtimestamp(self._clock() + lifetime, UTC),
            tenant_id=actor.tenant_id,
            user_id=actor.user_id,
            scopes=tuple(scope.split()) if isinstance(scope, str) else (),
        )

    async def _with_cache(
        self,
        actor: Actor,
        loaded: LoadedCache,
        call: Callable[[msal.ConfidentialClientApplication], _T],
    ) -> _T | AuthProblem:
        """Run `call` on the tenant's app with the teacher's cache swapped in, in a thread, one call per tenant."""
        if self._closed:
            return AuthProblem.UNAVAILABLE
        tenant = str(actor.tenant_id).lower()
        lock = self._locks.setdefault(tenant, asyncio.Lock())
        thread_lock = self._thread_locks.setdefault(tenant, threading.Lock())
        async with lock:
            try:
                app = self._apps.get(tenant)
                if app is None:
                    app = await asyncio.to_thread(self._build_app, tenant)
                    if self._closed:
                        app.http_client.close()  # pyright: ignore[reportUnknownMemberType]
                        return AuthProblem.UNAVAILABLE
                    self._apps[tenant] = app
                built = app

                def run() -> _T:
                    # The thread lock keeps the swap safe even if the awaiting task is cancelled mid-call.
                    with thread_lock:
                        built.token_cache = loaded.cache
                        try:
                            return call(built)
                        finally:
                            built.token_cache = msal.SerializableTokenCache()

                return await asyncio.to_thread(run)
            except OSError as error:  # requests' exceptions (connection, timeout, TLS) are OSErrors
                logger.warning("Entra ID unreachable: %s", type(error).__name__)
                return AuthProblem.UNAVAILABLE
            except ValueError as error:  # MSAL: authority discovery failed, or an unparsable answer
                logger.warning("Entra ID answered unexpectedly: %s", type(error).__name__)
                return AuthProblem.UNAVAILABLE

    def _build_app(self, tenant: str) -> msal.ConfidentialClientApplication:
        settings = self._settings
        microsoft = is_microsoft_authority(settings.authority_host)
        return msal.ConfidentialClientApplication(
            settings.app_id,
            client_credential=settings.app_password.get_secret_value(),
            authority=f"{settings.authority_host}/{tenant}",
            instance_discovery=None if microsoft else False,  # pyright: ignore[reportArgumentType]
            timeout=settings.auth_timeout_seconds,
            token_cache=msal.SerializableTokenCache(),
        )
