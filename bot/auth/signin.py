"""Sign-in as the Teams edge and the router see it: cards and invoke responses as plain dicts, and `Credentials`.

`bot/teams_bot.py` calls these with the invoke's `value` and the sender (`Actor`) and sends back what they return;
`bot/router.py` asks `Credentials.graph_token(actor)` before each Graph action. Nothing here words a sentence for the
teacher: outcomes carry reason codes that `bot/messages.py` words.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final, cast
from urllib.parse import urlencode

import httpx

from bot.auth.obo import AuthProblem, GraphToken, OboExchanger
from bot.auth.sso import SsoRefusal, SsoRefusalReason, SsoValidator
from bot.settings import Settings
from bot.storage.protocol import StorageUnavailable, Store
from bot.turn import Actor

logger = logging.getLogger(__name__)

RECENT_TOKEN_SECONDS: Final = 60.0
"""How long a handed-out Graph token is reused from memory before MSAL's cache is asked again."""
_EXPIRY_MARGIN: Final = timedelta(minutes=5)
_MAX_RECENT: Final = 10_000

OAUTH_CARD_CONTENT_TYPE: Final = "application/vnd.microsoft.card.oauth"
LOGIN_REQUEST_TYPE: Final = "application/vnd.microsoft.activity.loginRequest"
EXCHANGE_CLAIM_NAMESPACE: Final = "signin_exchange"
EXCHANGE_CLAIM_TTL: Final = timedelta(hours=24)
"""Teams sends the same `signin/tokenExchange` once per signed-in client; the first one is exchanged, the rest not."""

PRECONDITION_FAILED: Final = 412
"""Answering a token exchange with 412 makes Teams fall back to the sign-in button."""


def sign_in_url(settings: Settings, tenant_id: str | None = None) -> str:
    """Where the OAuth card's sign-in button leads when silent SSO fails: Entra's consent page for `access_as_user`.

    Args:
        settings: AUTHORITY_HOST, MicrosoftAppId, SSO_APP_ID_URI.
        tenant_id: the teacher's tenant; `organizations` when unknown.

    Returns:
        The authorize URL (after consenting the teacher retries and SSO succeeds).
    """
    query = urlencode(
        {
            "client_id": settings.app_id,
            "response_type": "code",
            "scope": f"{settings.sso_resource}/access_as_user",
            "prompt": "consent",
        }
    )
    return f"{settings.authority_host}/{tenant_id or 'organizations'}/oauth2/v2.0/authorize?{query}"


def _oauth_card_content(
    settings: Settings,
    connection_name: str | None,
    *,
    text: str,
    button_title: str,
    tenant_id: str | None,
    exchange_id: str | None,
) -> dict[str, Any]:
    return {
        "text": text,
        "connectionName": connection_name or settings.oauth_connection_name,
        "tokenExchangeResource": {"id": exchange_id or str(uuid.uuid4()), "uri": settings.sso_resource},
        "buttons": [
            {
                "type": "signin",
                "title": button_title,
                "text": button_title,
                "value": sign_in_url(settings, tenant_id),
            }
        ],
    }


def oauth_card(
    settings: Settings,
    connection_name: str | None = None,
    *,
    text: str = "Sign in",
    button_title: str = "Sign in",
    tenant_id: str | None = None,
    exchange_id: str | None = None,
) -> dict[str, Any]:
    """The OAuth card attachment that starts Teams SSO (`tokenExchangeResource`) with a sign-in button as fallback.

    Args:
        settings: SSO_APP_ID_URI (the resource Teams gets a token for), OAUTH_CONNECTION_NAME, AUTHORITY_HOST.
        connection_name: overrides OAUTH_CONNECTION_NAME.
        text: the card's text (word it in `bot/messages.py`).
        button_title: the sign-in button's title.
        tenant_id: the teacher's tenant, for the fallback sign-in link.
        exchange_id: the `tokenExchangeResource.id` (a new UUID by default); Teams echoes it as `value.id`.

    Returns:
        `{"contentType": "application/vnd.microsoft.card.oauth", "content": {...}}`.
    """
    content = _oauth_card_content(
        settings, connection_name, text=text, button_title=button_title, tenant_id=tenant_id, exchange_id=exchange_id
    )
    return {"contentType": OAUTH_CARD_CONTENT_TYPE, "content": content}


def login_request_response(
    settings: Settings,
    connection_name: str | None = None,
    *,
    text: str = "Sign in",
    button_title: str = "Sign in",
    tenant_id: str | None = None,
) -> dict[str, Any]:
    """The 401 `loginRequest` answer to an `adaptiveCard/action` invoke when the teacher must sign in (SSO first).

    Returns:
        The invoke response body: `{"statusCode": 401, "type": "...loginRequest", "value": <OAuthCard>}`; send it
        with HTTP status 200.
    """
    content = _oauth_card_content(
        settings, connection_name, text=text, button_title=button_title, tenant_id=tenant_id, exchange_id=None
    )
    return {"statusCode": 401, "type": LOGIN_REQUEST_TYPE, "value": content}


@dataclass(frozen=True)
class TokenExchangeOutcome:
    """The answer to a `signin/tokenExchange` invoke (`status`, `body`) and what happened, for the router."""

    status: int
    body: Mapping[str, Any]
    failure: SsoRefusalReason | AuthProblem | None = None
    duplicate: bool = False
    token: GraphToken | None = field(default=None, repr=False)

    @property
    def signed_in(self) -> bool:
        """True when this invoke produced a Graph token."""
        return self.token is not None


@dataclass(frozen=True)
class SignInNeeded:
    """No usable token: send the OAuth card (a message) or `login_request_response` (an invoke)."""

    attachment: Mapping[str, Any] = field(repr=False)
    reason: SsoRefusalReason | None = None


class SignInNotice(StrEnum):
    """What to tell the teacher after `signin/verifyState` or `signin/failure` (worded in `bot/messages.py`)."""

    TRY_AGAIN = "try_again"
    """Sign-in finished in the browser: repeat the request (SSO now succeeds)."""
    CANCELLED = "cancelled"
    """The teacher closed the sign-in window."""
    APP_NOT_INSTALLED = "app_not_installed"
    """Teams could not find or install the app for the teacher: install it in personal scope."""
    MISCONFIGURED = "misconfigured"
    """The SSO set-up is wrong (Application ID URI mismatch, unreadable card): the administrator must fix it."""
    FAILED = "failed"
    """Any other SSO failure: sign in with the button."""


_FAILURE_NOTICES: Final = {
    "installedappnotfound": SignInNotice.APP_NOT_INSTALLED,
    "installappfailed": SignInNotice.APP_NOT_INSTALLED,
    "resourcematchfailed": SignInNotice.MISCONFIGURED,
    "oauthcardnotvalid": SignInNotice.MISCONFIGURED,
}


def verify_state_notice(invoke_value: Mapping[str, Any]) -> SignInNotice:
    """Read a `signin/verifyState` invoke (answer it with 200): what to tell the teacher."""
    state = invoke_value.get("state")
    if not isinstance(state, str) or not state or "cancel" in state.lower():
        return SignInNotice.CANCELLED
    return SignInNotice.TRY_AGAIN


def signin_failure_notice(invoke_value: Mapping[str, Any]) -> SignInNotice:
    """Read a `signin/failure` invoke (answer it with 200), logging its code at WARNING: what to tell the teacher."""
    code = invoke_value.get("code")
    code_text = code.strip().lower() if isinstance(code, str) else ""
    logger.warning("Teams reported an SSO failure: %s", code_text[:64] or "(no code)")
    return _FAILURE_NOTICES.get(code_text, SignInNotice.FAILED)


class Credentials:
    """The facade the edge and router use: SSO validation, on-behalf-of, the token cache and sign-out."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        validator: SsoValidator,
        exchanger: OboExchanger,
        *,
        owned_http: httpx.AsyncClient | None = None,
    ) -> None:
        """Wire the parts (see `create` for the usual wiring).

        Args:
            settings: the application settings.
            store: for token exchange de-duplication.
            validator: validates SSO tokens.
            exchanger: on-behalf-of and the per-teacher cache.
            owned_http: an HTTP client to close in `aclose` (the validator's, when `create` made it).
        """
        self._settings = settings
        self._store = store
        self._recent: dict[tuple[str, str], tuple[float, GraphToken]] = {}
        """Tokens handed out in the last RECENT_TOKEN_SECONDS, so a busy teacher's turns skip MSAL and the store."""
        self.validator = validator
        self.exchanger = exchanger
        self._owned_http = owned_http

    @classmethod
    def create(cls, settings: Settings, store: Store, *, http: httpx.AsyncClient | None = None) -> Credentials:
        """Build the usual wiring; no network until first use.

        Args:
            settings: the application settings.
            store: the shared Store.
            http: the client for OpenID discovery and keys; one with AUTH_TIMEOUT_SECONDS is made (and closed by
                `aclose`) when omitted.

        Returns:
            The credentials facade.
        """
        owned = None
        if http is None:
            owned = http = httpx.AsyncClient(timeout=settings.auth_timeout_seconds)
        return cls(settings, store, SsoValidator(settings, http), OboExchanger(settings, store), owned_http=owned)

    def __repr__(self) -> str:
        return f"Credentials(authority_host={self._settings.authority_host!r})"

    def sign_in_needed(self, actor: Actor, reason: SsoRefusalReason | None = None) -> SignInNeeded:
        """The OAuth card to send a teacher who must sign in."""
        return SignInNeeded(oauth_card(self._settings, tenant_id=str(actor.tenant_id)), reason)

    async def graph_token(self, actor: Actor) -> GraphToken | SignInNeeded | AuthProblem:
        """A Graph token for the teacher from the cache (refreshed silently), else what to do about it.

        A token handed out less than RECENT_TOKEN_SECONDS ago (and not about to expire) is reused from memory: MSAL's
        silent lookup costs a thread hop, a per-tenant lock and an encrypted store read. Sign-out clears it on this
        instance; on another instance a signed-out teacher's token can live on for at most that long.

        Args:
            actor: the teacher.

        Returns:
            The token; `SignInNeeded` (send its card) when nothing usable is cached; `AuthProblem` when Entra or the
            store is unavailable, or consent is missing.
        """
        key = (str(actor.tenant_id), str(actor.user_id))
        now = time.monotonic()
        recent = self._recent.get(key)
        if recent is not None and recent[0] > now and recent[1].expires_at > datetime.now(UTC) + _EXPIRY_MARGIN:
            return recent[1]
        result = await self.exchanger.refresh_silently(actor)
        if result is None or result is AuthProblem.SIGN_IN_AGAIN:
            self._recent.pop(key, None)
            return self.sign_in_needed(actor)
        if isinstance(result, GraphToken):
            if len(self._recent) > _MAX_RECENT:
                self._recent.clear()
            self._recent[key] = (now + RECENT_TOKEN_SECONDS, result)
        return result

    async def handle_token_exchange(self, invoke_value: Mapping[str, Any], actor: Actor) -> TokenExchangeOutcome:
        """Answer a `signin/tokenExchange` invoke: validate the SSO token, exchange it once, cache the result.

        Args:
            invoke_value: the invoke's `value` (`id`, `connectionName`, `token`).
            actor: the sender (`from.aadObjectId` and the tenant).

        Returns:
            200 `{"id"}` on success or for a duplicate of an exchange already handled; 412
            `{"id", "connectionName", "failureDetail"}` otherwise, so Teams shows the sign-in button.
        """
        exchange_id = invoke_value.get("id")
        connection = invoke_value.get("connectionName")
        token = invoke_value.get("token")
        exchange_id = exchange_id if isinstance(exchange_id, str) else ""
        connection = connection if isinstance(connection, str) else self._settings.oauth_connection_name

        def failed(reason: SsoRefusalReason | AuthProblem) -> TokenExchangeOutcome:
            body = {"id": exchange_id, "connectionName": connection, "failureDetail": reason.value}
            return TokenExchangeOutcome(PRECONDITION_FAILED, body, failure=reason)

        if not exchange_id or not isinstance(token, str) or not token:
            return failed(SsoRefusalReason.MALFORMED)
        claim_key = f"{actor.tenant_id}.{actor.user_id}.{exchange_id}".lower()
        try:
            first = await self._store.claim(EXCHANGE_CLAIM_NAMESPACE, claim_key, EXCHANGE_CLAIM_TTL)
        except StorageUnavailable:
            logger.warning("store unavailable: cannot de-duplicate the token exchange")
            return failed(AuthProblem.UNAVAILABLE)
        if not first:
            logger.debug("duplicate token exchange answered without exchanging again")
            return TokenExchangeOutcome(200, {"id": exchange_id}, duplicate=True)
        result = await self._exchange(token, actor)
        if isinstance(result, GraphToken):
            return TokenExchangeOutcome(200, {"id": exchange_id}, token=result)
        return failed(result)

    async def accept_action_authentication(
        self, invoke_value: Mapping[str, Any], actor: Actor
    ) -> GraphToken | SignInNeeded | AuthProblem:
        """Use the SSO token of a retried `adaptiveCard/action` invoke (`value.authentication.token`).

        Args:
            invoke_value: the invoke's `value`.
            actor: the sender.

        Returns:
            The Graph token to run the action with; `SignInNeeded` when the token is missing or refused (answer
            with `login_request_response`); `AuthProblem` when the exchange failed for another reason.
        """
        authentication = invoke_value.get("authentication")
        token = cast(Mapping[str, Any], authentication).get("token") if isinstance(authentication, Mapping) else None
        if not isinstance(token, str) or not token:
            return self.sign_in_needed(actor, SsoRefusalReason.MALFORMED)
        result = await self._exchange(token, actor)
        if isinstance(result, SsoRefusalReason):
            return self.sign_in_needed(actor, result)
        if result is AuthProblem.SIGN_IN_AGAIN:
            return self.sign_in_needed(actor)
        return result

    async def sign_out(self, actor: Actor) -> bool:
        """Forget the teacher's cached tokens (here, and in the shared store for every instance).

        Returns:
            True if there were any.

        Raises:
            StorageUnavailable: the store cannot be written.
        """
        self._recent.pop((str(actor.tenant_id), str(actor.user_id)), None)
        return await self.exchanger.sign_out(actor)

    async def aclose(self) -> None:
        """Close MSAL's sessions and the HTTP client `create` made."""
        await self.exchanger.aclose()
        if self._owned_http is not None:
            await self._owned_http.aclose()

    async def _exchange(self, token: str, actor: Actor) -> GraphToken | SsoRefusalReason | AuthProblem:
        identity = await self.validator.validate(
            token, expected_oid=str(actor.user_id), expected_tid=str(actor.tenant_id)
        )
        if isinstance(identity, SsoRefusal):
            return identity.reason
        return await self.exchanger.exchange(actor, token)
