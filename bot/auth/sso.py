"""Validation of the SSO token Teams sends for a teacher (`signin/tokenExchange`, Universal Action `authentication`).

The token is an Entra access token for the bot's own API (`access_as_user`). It is accepted only when all hold:
`alg` RS256 and signed by a key in the JWKS that `{AUTHORITY_HOST}/{tenant}/v2.0/.well-known/openid-configuration`
names; `iss` the configuration's issuer for the token's tenant (v2, `{AUTHORITY_HOST}/{tid}/v2.0`) or its v1 form;
`aud` the bot's Application ID URI (SSO_APP_ID_URI, default `api://botid-{MicrosoftAppId}`) or its app id; `tid` an
allowed tenant; `scp` containing `access_as_user` as a whole word; `exp`/`nbf` current (60 s leeway); `oid` the sender.

The v1 issuer is `https://sts.windows.net/{tid}/` for the public and US government clouds and
`https://sts.chinacloudapi.cn/{tid}/` for Azure China. For any other AUTHORITY_HOST (the local sandbox Entra) it is
taken to be `{AUTHORITY_HOST}/{tid}/`, the v2 issuer without its `v2.0` segment.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, cast
from urllib.parse import urlsplit

import httpx
import jwt

from bot.graph.ids import TenantId, UserId
from bot.settings import Settings

logger = logging.getLogger(__name__)

REQUIRED_SCOPE: Final = "access_as_user"
_METADATA_TTL_SECONDS: Final = 24 * 3600.0
_V1_ISSUER_HOSTS: Final = {
    "login.microsoftonline.com": "https://sts.windows.net",
    "login.microsoft.com": "https://sts.windows.net",
    "login.windows.net": "https://sts.windows.net",
    "login.microsoftonline.us": "https://sts.windows.net",
    "login-us.microsoftonline.com": "https://sts.windows.net",
    "login.chinacloudapi.cn": "https://sts.chinacloudapi.cn",
    "login.partner.microsoftonline.cn": "https://sts.chinacloudapi.cn",
}


class SsoRefusalReason(StrEnum):
    """Why an SSO token was refused (a code for logs and `failureDetail`, never the token)."""

    MALFORMED = "malformed"
    ALGORITHM = "algorithm_not_allowed"
    TENANT_NOT_ALLOWED = "tenant_not_allowed"
    UNKNOWN_KEY = "unknown_signing_key"
    BAD_SIGNATURE = "bad_signature"
    WRONG_ISSUER = "wrong_issuer"
    WRONG_AUDIENCE = "wrong_audience"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    MISSING_SCOPE = "missing_scope"
    WRONG_USER = "wrong_user"
    KEYS_UNAVAILABLE = "keys_unavailable"
    """The OpenID configuration or the keys could not be fetched: nothing is wrong with the token as far as known."""


@dataclass(frozen=True)
class SsoRefusal:
    """The token was not accepted."""

    reason: SsoRefusalReason


@dataclass(frozen=True)
class SsoIdentity:
    """Who a valid SSO token speaks for."""

    tenant_id: TenantId
    user_id: UserId
    audience: str
    expires_at: float
    name: str = ""


@dataclass(frozen=True)
class _Metadata:
    issuer: str
    jwks_uri: str
    fetched_at: float


@dataclass
class _KeySet:
    keys: dict[str, dict[str, Any]]
    fetched_at: float


class _FetchError(Exception):
    """Discovery or key fetch failed (network, status, or body)."""


def v1_issuer(authority_host: str, tenant_id: str) -> str:
    """The v1 (`sts`) issuer of tokens from `tenant_id` under `authority_host` (see the module docstring)."""
    host = urlsplit(authority_host).hostname or ""
    base = _V1_ISSUER_HOSTS.get(host, authority_host.rstrip("/"))
    return f"{base}/{tenant_id}/"


class SsoValidator:
    """Validates Teams SSO tokens against Entra's published keys (cached; refetched once on an unknown kid)."""

    def __init__(
        self,
        settings: Settings,
        http: httpx.AsyncClient,
        *,
        clock: Callable[[], float] = time.time,
        leeway_seconds: float = 60.0,
        key_refetch_interval_seconds: float = 300.0,
    ) -> None:
        """Prepare (no network until the first token).

        Args:
            settings: AUTHORITY_HOST, SSO_APP_ID_URI, MicrosoftAppId, ALLOWED_TENANTS.
            http: the client discovery and keys are fetched with (the caller owns and closes it).
            clock: seconds since the epoch.
            leeway_seconds: clock skew allowed on `exp` and `nbf`.
            key_refetch_interval_seconds: an unknown kid triggers at most one key refetch per this interval.
        """
        self._settings = settings
        self._http = http
        self._clock = clock
        self._leeway = leeway_seconds
        self._refetch_interval = key_refetch_interval_seconds
        self._audiences = frozenset(a for a in (settings.sso_resource, settings.app_id) if a)
        self._allowed = frozenset(t.lower() for t in settings.allowed_tenant_ids)
        self._metadata: dict[str, _Metadata] = {}
        self._keys: dict[str, _KeySet] = {}
        self._fetch_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"SsoValidator(authority_host={self._settings.authority_host!r})"

    async def validate(
        self, token: str, *, expected_oid: str, expected_tid: str | None = None
    ) -> SsoIdentity | SsoRefusal:
        """Validate an SSO token for the sender of the activity.

        Args:
            token: the compact JWT (never logged).
            expected_oid: the activity's `from.aadObjectId`.
            expected_tid: the activity's tenant, if known; the token's `tid` must then match it too.

        Returns:
            The identity, or the reason for refusal. Never raises for bad tokens or unreachable Entra.
        """
        result = await self._validate(token, expected_oid, expected_tid)
        if isinstance(result, SsoRefusal):
            logger.info("SSO token refused: %s", result.reason.value)
        return result

    async def _validate(self, token: str, expected_oid: str, expected_tid: str | None) -> SsoIdentity | SsoRefusal:
        try:
            header = jwt.get_unverified_header(token)
            unverified: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            return SsoRefusal(SsoRefusalReason.MALFORMED)
        if header.get("alg") != "RS256":
            return SsoRefusal(SsoRefusalReason.ALGORITHM)
        tid = unverified.get("tid")
        if not isinstance(tid, str) or not tid:
            return SsoRefusal(SsoRefusalReason.MALFORMED)
        tid = tid.lower()
        if self._allowed and tid not in self._allowed:
            return SsoRefusal(SsoRefusalReason.TENANT_NOT_ALLOWED)
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            return SsoRefusal(SsoRefusalReason.UNKNOWN_KEY)
        segment = tid if self._allowed else "organizations"
        try:
            metadata = await self._metadata_for(segment)
            jwk = await self._key(metadata.jwks_uri, kid)
        except _FetchError as error:
            logger.warning("SSO validation could not fetch Entra's keys: %s", error)
            return SsoRefusal(SsoRefusalReason.KEYS_UNAVAILABLE)
        if jwk is None:
            return SsoRefusal(SsoRefusalReason.UNKNOWN_KEY)
        try:
            key = jwt.PyJWK.from_dict(jwk, algorithm="RS256")
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                options={
                    "verify_aud": False,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_iss": False,
                },
            )
        except jwt.InvalidSignatureError:
            return SsoRefusal(SsoRefusalReason.BAD_SIGNATURE)
        except jwt.PyJWKError:
            return SsoRefusal(SsoRefusalReason.UNKNOWN_KEY)
        except jwt.InvalidTokenError:
            return SsoRefusal(SsoRefusalReason.MALFORMED)
        return self._check_claims(claims, metadata, expected_oid, expected_tid)

    def _check_claims(
        self, claims: Mapping[str, Any], metadata: _Metadata, expected_oid: str, expected_tid: str | None
    ) -> SsoIdentity | SsoRefusal:
        tid = str(claims.get("tid", ""))
        issuers = {metadata.issuer.replace("{tenantid}", tid), v1_issuer(self._settings.authority_host, tid)}
        if claims.get("iss") not in issuers:
            return SsoRefusal(SsoRefusalReason.WRONG_ISSUER)
        audience = claims.get("aud")
        if not isinstance(audience, str) or audience not in self._audiences:
            return SsoRefusal(SsoRefusalReason.WRONG_AUDIENCE)
        now = self._clock()
        expires = claims.get("exp")
        if not isinstance(expires, int | float) or isinstance(expires, bool):
            return SsoRefusal(SsoRefusalReason.MALFORMED)
        if expires + self._leeway <= now:
            return SsoRefusal(SsoRefusalReason.EXPIRED)
        not_before = claims.get("nbf")
        if isinstance(not_before, int | float) and not_before - self._leeway > now:
            return SsoRefusal(SsoRefusalReason.NOT_YET_VALID)
        scopes = claims.get("scp")
        if not isinstance(scopes, str) or REQUIRED_SCOPE not in scopes.split():
            return SsoRefusal(SsoRefusalReason.MISSING_SCOPE)
        oid = claims.get("oid")
        if not isinstance(oid, str) or oid.lower() != expected_oid.lower():
            return SsoRefusal(SsoRefusalReason.WRONG_USER)
        if expected_tid is not None and tid.lower() != expected_tid.lower():
            return SsoRefusal(SsoRefusalReason.WRONG_USER)
        name = claims.get("name")
        return SsoIdentity(
            tenant_id=TenantId(tid),
            user_id=UserId(oid),
            audience=audience,
            expires_at=float(expires),
            name=name if isinstance(name, str) else "",
        )

    async def _metadata_for(self, segment: str) -> _Metadata:
        cached = self._metadata.get(segment)
        if cached is not None and self._clock() - cached.fetched_at < _METADATA_TTL_SECONDS:
            return cached
        async with self._fetch_lock:
            cached = self._metadata.get(segment)
            if cached is not None and self._clock() - cached.fetched_at < _METADATA_TTL_SECONDS:
                return cached
            url = f"{self._settings.authority_host}/{segment}/v2.0/.well-known/openid-configuration"
            document = await self._get_json(url)
            issuer, jwks_uri = document.get("issuer"), document.get("jwks_uri")
            if not isinstance(issuer, str) or not isinstance(jwks_uri, str):
                raise _FetchError("the OpenID configuration has no issuer or jwks_uri")
            metadata = _Metadata(issuer=issuer, jwks_uri=jwks_uri, fetched_at=self._clock())
            self._metadata[segment] = metadata
            return metadata

    async def _key(self, jwks_uri: str, kid: str) -> dict[str, Any] | None:
        cached = self._keys.get(jwks_uri)
        if cached is not None and kid in cached.keys and self._clock() - cached.fetched_at < _METADATA_TTL_SECONDS:
            return cached.keys[kid]
        async with self._fetch_lock:
            cached = self._keys.get(jwks_uri)
            fresh = cached is not None and self._clock() - cached.fetched_at < _METADATA_TTL_SECONDS
            if cached is not None and fresh and kid in cached.keys:
                return cached.keys[kid]
            if cached is not None and fresh and self._clock() - cached.fetched_at < self._refetch_interval:
                return None  # fetched moments ago: an unknown kid now is the token's problem, not a rotation
            document = await self._get_json(jwks_uri)
            raw_keys = document.get("keys")
            if not isinstance(raw_keys, list):
                raise _FetchError("the JWKS has no keys")
            keys: dict[str, dict[str, Any]] = {}
            for item in cast(list[object], raw_keys):
                if isinstance(item, dict):
                    entry = cast(dict[str, Any], item)
                    if isinstance(entry.get("kid"), str):
                        keys[entry["kid"]] = entry
            self._keys[jwks_uri] = _KeySet(keys=keys, fetched_at=self._clock())
            return keys.get(kid)

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self._http.get(url, timeout=self._settings.auth_timeout_seconds)
        except httpx.HTTPError as error:
            raise _FetchError(f"{type(error).__name__} fetching {url}") from None
        if response.status_code != 200:
            raise _FetchError(f"HTTP {response.status_code} from {url}")
        try:
            document = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise _FetchError(f"no JSON from {url}") from None
        if not isinstance(document, dict):
            raise _FetchError(f"no JSON object from {url}")
        return cast(dict[str, Any], document)
