"""Validation of the channel token Teams (the Bot Framework) puts on every request to `/api/messages`.

Replaces botbuilder's `JwtTokenExtractor`, which fetches the OpenID metadata and keys with a blocking `requests.get`
on the event loop and turns every malformed or unknown-key token into a 500. Here the metadata and keys are fetched
with httpx (async) and cached; every refusal is a `ChannelAuthError` carrying 401 or 403.

Checks, in order: `Bearer` scheme; a JWT whose header names an allowed RSA algorithm and a kid; a published key with
that kid (the keys are fetched again, at most once per `min_refresh_seconds`, when a kid is unknown); the key is
endorsed for the activity's channel (`msteams`); the RS signature; `exp`/`nbf` with five minutes of leeway (as the Bot
Framework allows); `iss` = the configured issuer; `aud` = the app id; `serviceurl` = the activity's serviceUrl.

Teams sends the same token on every activity for about an hour, so a token whose signature and claims were verified
is remembered (keyed by the whole token, at most `VERIFIED_TOKENS` of them) until it expires: a later request with it
skips the RSA verification but still gets the per-request checks (expiry, the key still published and endorsed for
the channel, `serviceurl`). Only tokens that passed every check are remembered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx
import jwt

from bot.hosting.json_shapes import as_list, as_object

logger = logging.getLogger(__name__)

ALLOWED_ALGORITHMS: Final = ("RS256", "RS384", "RS512")
CLOCK_SKEW_SECONDS: Final = 300
KEYS_LIFETIME_SECONDS: Final = 24 * 3600
VERIFIED_TOKENS: Final = 4096
"""Verified tokens remembered at most (the oldest is forgotten first)."""


class ChannelAuthError(Exception):
    """A request to the bot is refused: `status` is 401 (no valid token) or 403 (valid, but not for this request)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class _Key:
    jwk: Mapping[str, Any]
    endorsements: frozenset[str]


@dataclass(frozen=True)
class _Verified:
    """A token whose signature, issuer and audience passed: its claims, signing key id and expiry."""

    claims: dict[str, Any]
    kid: str
    expires: float


class ChannelTokenValidator:
    """Validates Bot Framework channel tokens against keys named by an OpenID configuration URL."""

    def __init__(
        self,
        *,
        app_id: str,
        issuer: str,
        metadata_url: str,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
        min_refresh_seconds: float = 300.0,
    ) -> None:
        """Build a validator.

        Args:
            app_id: the bot's app id, the `aud` every token must carry.
            issuer: the `iss` every token must carry (`https://api.botframework.com`).
            metadata_url: the OpenID configuration naming the `jwks_uri`.
            http: the client used to fetch the metadata and keys; owned by the caller.
            clock: seconds since the epoch (for key-cache ages and token times).
            min_refresh_seconds: the least time between two fetches triggered by an unknown kid.
        """
        self._app_id = app_id
        self._issuer = issuer
        self._metadata_url = metadata_url
        self._http = http
        self._clock = clock
        self._min_refresh_seconds = min_refresh_seconds
        self._keys: dict[str, _Key] = {}
        self._verified: dict[str, _Verified] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.key_fetches = 0
        """How many times the metadata and keys were fetched."""

    async def validate(self, authorization: str | None, *, channel_id: str, service_url: str) -> dict[str, Any]:
        """Validate the `Authorization` header of a request carrying an activity.

        Args:
            authorization: the header value (`Bearer <jwt>`), or None when missing.
            channel_id: the activity's `channelId`; the signing key must be endorsed for it.
            service_url: the activity's `serviceUrl`; the token's `serviceurl` claim must equal it.

        Returns:
            The token's claims.

        Raises:
            ChannelAuthError: 401 for a missing, malformed, expired, mis-signed or foreign token; 403 for a valid
                token whose key is not endorsed for the channel or whose `serviceurl` differs.
        """
        token = _bearer(authorization)
        verified = self._verified.get(token)
        if verified is not None:
            return await self._recheck(verified, token, channel_id=channel_id, service_url=service_url)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise ChannelAuthError(401, "malformed token") from None
        algorithm = header.get("alg")
        kid = header.get("kid")
        if algorithm not in ALLOWED_ALGORITHMS:
            raise ChannelAuthError(401, "signing algorithm not allowed")
        if not isinstance(kid, str) or not kid:
            raise ChannelAuthError(401, "token names no signing key")
        key = await self._key(kid)
        if key is None:
            raise ChannelAuthError(401, "unknown signing key")
        try:
            public_key = jwt.PyJWK.from_dict(dict(key.jwk), algorithm=algorithm)
            claims: dict[str, Any] = jwt.decode(
                token,
                public_key,
                algorithms=[algorithm],
                audience=self._app_id,
                issuer=self._issuer,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise ChannelAuthError(401, "token expired") from None
        except jwt.InvalidAudienceError:
            raise ChannelAuthError(401, "wrong audience") from None
        except jwt.InvalidIssuerError:
            raise ChannelAuthError(401, "wrong issuer") from None
        except (jwt.InvalidTokenError, jwt.PyJWKError):
            raise ChannelAuthError(401, "invalid token") from None
        self._remember(token, _Verified(claims, kid, float(claims["exp"])))
        _check_request(claims, key, channel_id=channel_id, service_url=service_url)
        return claims

    async def _recheck(self, verified: _Verified, token: str, *, channel_id: str, service_url: str) -> dict[str, Any]:
        """The per-request checks of a token verified before (its signature and claims need no second look)."""
        if self._clock() > verified.expires + CLOCK_SKEW_SECONDS:
            self._verified.pop(token, None)
            raise ChannelAuthError(401, "token expired")
        key = await self._key(verified.kid)
        if key is None:  # the key was withdrawn since: the token no longer proves anything
            self._verified.pop(token, None)
            raise ChannelAuthError(401, "unknown signing key")
        _check_request(verified.claims, key, channel_id=channel_id, service_url=service_url)
        return dict(verified.claims)

    def _remember(self, token: str, verified: _Verified) -> None:
        while len(self._verified) >= VERIFIED_TOKENS:
            self._verified.pop(next(iter(self._verified)))
        self._verified[token] = verified

    async def _key(self, kid: str) -> _Key | None:
        if self._fresh() and kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            if self._fresh() and kid in self._keys:
                return self._keys[kid]
            fetched_at = self._fetched_at
            if not self._fresh() or fetched_at is None or self._clock() - fetched_at >= self._min_refresh_seconds:
                await self._refresh()
        return self._keys.get(kid)

    def _fresh(self) -> bool:
        return self._fetched_at is not None and self._clock() - self._fetched_at < KEYS_LIFETIME_SECONDS

    async def _refresh(self) -> None:
        try:
            metadata = await self._get_json(self._metadata_url)
            jwks_uri = metadata.get("jwks_uri")
            if not isinstance(jwks_uri, str):
                raise ChannelAuthError(401, "OpenID metadata names no jwks_uri")
            document = await self._get_json(jwks_uri)
        except (httpx.HTTPError, ValueError) as error:
            logger.warning("could not fetch the Bot Framework signing keys: %s", type(error).__name__)
            raise ChannelAuthError(401, "signing keys unavailable") from None
        keys: dict[str, _Key] = {}
        for raw in as_list(document.get("keys")):
            entry = as_object(raw)
            kid = entry.get("kid")
            if isinstance(kid, str):
                endorsed = frozenset(str(e) for e in as_list(entry.get("endorsements")))
                keys[kid] = _Key(jwk=entry, endorsements=endorsed)
        self._keys = keys
        self._fetched_at = self._clock()
        self.key_fetches += 1

    async def _get_json(self, url: str) -> dict[str, Any]:
        response = await self._http.get(url, headers={"accept": "application/json"})
        response.raise_for_status()
        payload: object = response.json()
        document = as_object(payload)
        if document is not payload:
            raise ValueError("expected a JSON object")
        return document


def _check_request(claims: Mapping[str, Any], key: _Key, *, channel_id: str, service_url: str) -> None:
    if not channel_id or channel_id not in key.endorsements:
        raise ChannelAuthError(403, "signing key not endorsed for the channel")
    if claims.get("serviceurl") != service_url:
        raise ChannelAuthError(403, "serviceurl claim does not match the activity")


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise ChannelAuthError(401, "missing Authorization header")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise ChannelAuthError(401, "Authorization is not a bearer token")
    return token
