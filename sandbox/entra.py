"""A local stand-in for Microsoft Entra ID (v2 endpoints) and the Bot Framework channel token issuer.

It serves OpenID discovery, JWKS, MSAL instance discovery and the token endpoint (client credentials, on-behalf-of,
refresh token), answering errors in Entra's JSON shape with the documented AADSTS codes. Tokens are RS256 JWTs signed
with a key pair made per instance. Sandbox parts and tests also call it directly: `mint_sso_token` makes the token Teams
would hand the bot, `verify` validates a token the way a resource (Graph) would.

Routes (all relative to `base_url`, the AUTHORITY_HOST):
    GET  /{tenant}/v2.0/.well-known/openid-configuration
    GET  /{tenant}/discovery/v2.0/keys
    GET  /common/discovery/instance
    POST /{tenant}/oauth2/v2.0/token
    GET  /botframework/v1/.well-known/openidconfiguration
    GET  /botframework/v1/keys

`{tenant}` is a tenant id, a tenant's domain, `common` or `organizations`. MSAL works against it with
`instance_discovery=False` (recommended) or with `instance_discovery="{base_url}/common/discovery/instance"`; MSAL's
default instance discovery always asks login.microsoftonline.com for hosts it does not know, so it cannot work offline.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import parse_qsl, unquote, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import BaseModel, Field, model_validator

from sandbox.core import InvalidToken, SandboxRequest, SandboxResponse, json_response

logger = logging.getLogger(__name__)

TEAMS_CLIENT_ID: Final = "1fec8e78-bce4-4aaf-ab1b-5451cc387264"
"""The Teams desktop/mobile client, the `azp` of the SSO tokens Teams obtains for a bot."""

BOT_FRAMEWORK_ISSUER: Final = "https://api.botframework.com"
"""The `iss` of tokens the Bot Framework channel sends to a bot."""

GRANT_JWT_BEARER: Final = "urn:ietf:params:oauth:grant-type:jwt-bearer"
OIDC_SCOPES: Final = frozenset({"openid", "profile", "email", "offline_access"})
MULTI_TENANT_SEGMENTS: Final = frozenset({"common", "organizations"})
REFRESH_TOKEN_LIFETIME_SECONDS: Final = 90 * 24 * 3600
_VERIFIED_CACHE_SIZE: Final = 4096

_JSON_HEADERS: Final = {
    "content-type": "application/json; charset=utf-8",
    "cache-control": "no-store, no-cache",
    "pragma": "no-cache",
}


class Tenant(BaseModel):
    """A directory (tenant): its id and, optionally, a verified domain that also resolves to it."""

    id: str
    domain: str | None = None
    display_name: str = ""


class User(BaseModel):
    """A user account in one tenant."""

    oid: str
    tid: str
    name: str
    preferred_username: str


class ConfidentialApp(BaseModel):
    """A registered confidential client (the bot) and what it has been granted.

    `delegated_permissions` and `application_permissions` map a resource (e.g. `https://graph.microsoft.com`) to the
    permission names admin-consented for it. `consent_withheld_in` lists tenant ids where no admin consent was given:
    on-behalf-of requests from users of those tenants fail with AADSTS65001.
    """

    app_id: str
    client_secret: str
    display_name: str = "Grading assistant"
    app_id_uri: str = ""
    delegated_permissions: dict[str, list[str]] = Field(default_factory=lambda: {})
    application_permissions: dict[str, list[str]] = Field(default_factory=lambda: {})
    consent_withheld_in: list[str] = Field(default_factory=lambda: [])
    home_tenant: str | None = None

    @model_validator(mode="after")
    def _default_app_id_uri(self) -> ConfidentialApp:
        if not self.app_id_uri:
            self.app_id_uri = f"api://botid-{self.app_id}"
        return self


class Directory(BaseModel):
    """Everything the sandbox Entra knows: tenants, registered apps and users."""

    tenants: list[Tenant]
    apps: list[ConfidentialApp]
    users: list[User] = Field(default_factory=lambda: [])


@dataclass(frozen=True)
class SigningKey:
    """An RSA private key and its key id (`kid`), published in a JWKS."""

    kid: str
    private_key: rsa.RSAPrivateKey

    @classmethod
    def from_private_key(cls, private_key: rsa.RSAPrivateKey) -> SigningKey:
        """Wrap a key; the kid is the base64url SHA-1 thumbprint of the public key, like Entra's."""
        der = private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        thumbprint = hashlib.sha1(der, usedforsecurity=False).digest()
        return cls(kid=_b64url(thumbprint), private_key=private_key)

    @classmethod
    def generate(cls) -> SigningKey:
        """A fresh 2048-bit RSA key."""
        return cls.from_private_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def jwk(self) -> dict[str, Any]:
        """The public half as a JWK, shaped like Entra's keys."""
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": _b64url(_int_bytes(numbers.n)),
            "e": _b64url(_int_bytes(numbers.e)),
        }


@dataclass(frozen=True)
class _RefreshGrant:
    app_id: str
    tid: str
    oid: str
    expires_at: float


class _TokenError(Exception):
    """An error the token endpoint answers in Entra's shape."""

    def __init__(self, status: int, error: str, code: int, message: str, suberror: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.code = code
        self.message = message
        self.suberror = suberror


@dataclass(frozen=True)
class _ScopeRequest:
    resource: str
    permissions: tuple[str, ...]
    is_default: bool
    oidc: frozenset[str]


class Entra:
    """The sandbox Entra ID: state plus `handle(request) -> response`."""

    def __init__(
        self,
        base_url: str,
        directory: Directory,
        *,
        signing_key: rsa.RSAPrivateKey | None = None,
        channel_signing_key: rsa.RSAPrivateKey | None = None,
        graph_resource: str = "https://graph.microsoft.com",
        access_token_lifetime_seconds: int = 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Build an Entra for `base_url` (e.g. `https://127.0.0.1:8443`).

        Args:
            base_url: the authority host as clients reach it; issuers and endpoints are formed from it. May be changed
                later (`entra.base_url = running.url`) when the port is only known after binding.
            directory: tenants, apps and users.
            signing_key: the RSA key for Entra tokens; a new one is generated when omitted.
            channel_signing_key: the RSA key for Bot Framework channel tokens; generated when omitted.
            graph_resource: the resource assumed for scopes without one (`User.Read`), as Entra assumes Graph.
            access_token_lifetime_seconds: `expires_in` of access tokens the token endpoint issues.
            clock: seconds since the epoch; inject to test expiry without sleeping.

        Raises:
            ValueError: the directory is empty or inconsistent (a user or app names an unknown tenant).
        """
        if not directory.tenants or not directory.apps:
            raise ValueError("the directory needs at least one tenant and one app")
        known = {tenant.id for tenant in directory.tenants}
        for user in directory.users:
            if user.tid not in known:
                raise ValueError(f"user {user.oid} names unknown tenant {user.tid}")
        self.base_url = base_url.rstrip("/")
        self.directory = directory
        self.graph_resource = graph_resource.rstrip("/")
        self.access_token_lifetime_seconds = access_token_lifetime_seconds
        self.token_requests: Counter[str] = Counter()
        """Token endpoint calls by grant: `client_credentials`, `on_behalf_of`, `refresh_token` (or the raw value)."""
        self._clock = clock
        self._keys: list[SigningKey] = [
            SigningKey.from_private_key(signing_key) if signing_key else SigningKey.generate()
        ]
        self._channel_key = (
            SigningKey.from_private_key(channel_signing_key) if channel_signing_key else SigningKey.generate()
        )
        self._refresh_grants: dict[str, _RefreshGrant] = {}
        self._verified: dict[str, dict[str, Any]] = {}
        """Claims of tokens whose signature `verify` has checked against the current keys (cleared on rotation)."""

    # ----------------------------------------------------------------------------------------------------------
    # Python API
    # ----------------------------------------------------------------------------------------------------------

    @property
    def signing_kid(self) -> str:
        """The kid tokens are signed with now."""
        return self._keys[0].kid

    def issuer(self, tenant: str) -> str:
        """The v2 issuer for a tenant id: `{base_url}/{tenant}/v2.0`."""
        return f"{self.base_url}/{tenant}/v2.0"

    def jwks(self) -> dict[str, Any]:
        """The published signing keys (current first, then those kept through rotations)."""
        return {"keys": [key.jwk() for key in self._keys]}

    def channel_jwks(self) -> dict[str, Any]:
        """The Bot Framework channel signing keys, endorsed for Teams."""
        return {"keys": [{**self._channel_key.jwk(), "endorsements": ["msteams"]}]}

    def rotate_key(self, new_key: rsa.RSAPrivateKey | None = None, *, keep_previous: bool = True) -> str:
        """Sign with a new key from now on.

        Args:
            new_key: the key to use; generated when omitted.
            keep_previous: keep publishing older keys so tokens already issued still verify (as Entra does during a
                rollover); False drops them, so those tokens fail with an unknown kid.

        Returns:
            The new kid.
        """
        key = SigningKey.from_private_key(new_key) if new_key else SigningKey.generate()
        self._keys = [key, *self._keys] if keep_previous else [key]
        self._verified.clear()
        return key.kid

    def app(self, app_id: str | None = None) -> ConfidentialApp:
        """A registered app by id, or the first one.

        Raises:
            KeyError: no such app.
        """
        if app_id is None:
            return self.directory.apps[0]
        for app in self.directory.apps:
            if app.app_id == app_id:
                return app
        raise KeyError(app_id)

    def user(self, oid: str) -> User:
        """A user by object id.

        Raises:
            KeyError: no such user.
        """
        for user in self.directory.users:
            if user.oid == oid:
                return user
        raise KeyError(oid)

    def withhold_consent(self, app_id: str, tenant: str) -> None:
        """Remove admin consent for `app_id` in `tenant` (on-behalf-of then fails with AADSTS65001)."""
        app = self.app(app_id)
        if tenant not in app.consent_withheld_in:
            app.consent_withheld_in.append(tenant)

    def grant_consent(self, app_id: str, tenant: str) -> None:
        """Give admin consent for `app_id` in `tenant`."""
        app = self.app(app_id)
        app.consent_withheld_in = [t for t in app.consent_withheld_in if t != tenant]

    def revoke_refresh_tokens(self, user_oid: str) -> int:
        """Revoke every refresh token of a user (as a sign-out everywhere does). Returns how many were revoked."""
        revoked = [token for token, grant in self._refresh_grants.items() if grant.oid == user_oid]
        for token in revoked:
            del self._refresh_grants[token]
        return len(revoked)

    def mint_sso_token(
        self,
        user_oid: str,
        *,
        audience: str | None = None,
        scopes: str = "access_as_user",
        lifetime_seconds: int = 3600,
        tenant: str | None = None,
        extra_claims: Mapping[str, Any] | None = None,
        key: rsa.RSAPrivateKey | None = None,
    ) -> str:
        """The SSO token Teams obtains for the bot on a user's behalf (v2 access token, `azp` = the Teams client).

        Args:
            user_oid: a user of the directory.
            audience: `aud`; default the first app's app id URI (`api://botid-{appId}`).
            scopes: the `scp` claim.
            lifetime_seconds: seconds until `exp`; zero or negative gives an already expired token.
            tenant: `tid` and the issuer's tenant; default the user's tenant.
            extra_claims: claims to add or override; a None value removes that claim.
            key: sign with this key instead of the published one (its kid is then unknown to the JWKS).

        Returns:
            The compact JWT.

        Raises:
            KeyError: unknown user.
        """
        user = self.user(user_oid)
        tid = tenant or user.tid
        aud = audience or self.app().app_id_uri
        now = int(self._clock())
        claims: dict[str, Any] = {
            "aud": aud,
            "iss": self.issuer(tid),
            "iat": now,
            "nbf": now,
            "exp": now + lifetime_seconds,
            "azp": TEAMS_CLIENT_ID,
            "azpacr": "0",
            "name": user.name,
            "oid": user.oid,
            "preferred_username": user.preferred_username,
            "scp": scopes,
            "sub": _pairwise_sub(user.oid, aud),
            "tid": tid,
            "uti": _uti(),
            "ver": "2.0",
        }
        return self._sign(_merge(claims, extra_claims), key)

    def issue_access_token(
        self,
        *,
        audience: str,
        tenant: str,
        app_id: str,
        user_oid: str | None = None,
        scopes: Collection[str] = (),
        roles: Collection[str] = (),
        lifetime_seconds: int | None = None,
        extra_claims: Mapping[str, Any] | None = None,
        key: rsa.RSAPrivateKey | None = None,
    ) -> str:
        """An access token as the token endpoint issues it: delegated when `user_oid` is given, else app-only.

        Args:
            audience: `aud`, the resource (e.g. `https://graph.microsoft.com`).
            tenant: `tid` and the issuer's tenant.
            app_id: the client the token is issued to (`azp`, `appid`).
            user_oid: the signed-in user for a delegated token (`scp`, `name`, `preferred_username`).
            scopes: permission names for `scp` (delegated only).
            roles: app roles for `roles` (app-only; omitted when empty).
            lifetime_seconds: seconds until `exp`; default `access_token_lifetime_seconds`.
            extra_claims: claims to add or override; a None value removes that claim.
            key: sign with this key instead of the published one.

        Returns:
            The compact JWT.

        Raises:
            KeyError: unknown user.
        """
        now = int(self._clock())
        lifetime = self.access_token_lifetime_seconds if lifetime_seconds is None else lifetime_seconds
        claims: dict[str, Any] = {
            "aud": audience,
            "iss": self.issuer(tenant),
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "appid": app_id,
            "azp": app_id,
            "azpacr": "1",
            "tid": tenant,
            "uti": _uti(),
            "ver": "2.0",
        }
        if user_oid is not None:
            user = self.user(user_oid)
            claims |= {
                "idtyp": "user",
                "name": user.name,
                "oid": user.oid,
                "preferred_username": user.preferred_username,
                "scp": " ".join(scopes),
                "sub": _pairwise_sub(user.oid, app_id),
            }
        else:
            principal = str(uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox-sp/{tenant}/{app_id}"))
            claims |= {"idtyp": "app", "oid": principal, "sub": principal}
            if roles:
                claims["roles"] = list(roles)
        return self._sign(_merge(claims, extra_claims), key)

    def mint_channel_token(
        self,
        app_id: str,
        service_url: str,
        *,
        lifetime_seconds: int = 3600,
        extra_claims: Mapping[str, Any] | None = None,
        key: rsa.RSAPrivateKey | None = None,
    ) -> str:
        """A token as the Bot Framework channel sends it to a bot (`iss` https://api.botframework.com, `serviceurl`).

        Args:
            app_id: the bot's app id (`aud`).
            service_url: the channel's service URL (`serviceurl`), matched by the SDK against the activity's.
            lifetime_seconds: seconds until `exp`.
            extra_claims: claims to add or override; a None value removes that claim.
            key: sign with this key instead of the channel key.

        Returns:
            The compact JWT.
        """
        now = int(self._clock())
        claims: dict[str, Any] = {
            "serviceurl": service_url,
            "nbf": now,
            "exp": now + lifetime_seconds,
            "iss": BOT_FRAMEWORK_ISSUER,
            "aud": app_id,
        }
        signer = SigningKey.from_private_key(key) if key else self._channel_key
        return jwt.encode(
            _merge(claims, extra_claims), signer.private_key, algorithm="RS256", headers={"kid": signer.kid}
        )

    def verify(self, token: str, *, audience: str | Collection[str], leeway_seconds: int = 0) -> dict[str, Any]:
        """Validate an Entra token as a resource would: RS256 signature by a published key, issuer, audience, times.

        Args:
            token: the compact JWT.
            audience: the accepted `aud` value(s).
            leeway_seconds: clock skew allowed on `exp` and `nbf`.

        Returns:
            The claims.

        Raises:
            InvalidToken: why the token is refused (never the token itself).
        """
        signed = self._verified.get(token)
        if signed is None:
            claims = self._decode(token, [key.jwk() for key in self._keys], leeway_seconds)
            if len(self._verified) >= _VERIFIED_CACHE_SIZE:
                self._verified.clear()
            self._verified[token] = dict(claims)
        else:
            # The signature was checked before (a resource sees the same token many times): only times again.
            claims = dict(signed)
            _check_times(claims, self._clock(), leeway_seconds)
        audiences = {audience} if isinstance(audience, str) else set(audience)
        if claims.get("aud") not in audiences:
            raise InvalidToken("wrong audience")
        tid = claims.get("tid")
        if not isinstance(tid, str) or self._tenant(tid) is None or claims.get("iss") != self.issuer(tid):
            raise InvalidToken("wrong issuer")
        return claims

    def verify_channel_token(self, token: str, *, app_id: str, leeway_seconds: int = 300) -> dict[str, Any]:
        """Validate a Bot Framework channel token (issuer https://api.botframework.com, `aud` = the bot's app id).

        Args:
            token: the compact JWT.
            app_id: the bot's app id.
            leeway_seconds: clock skew allowed (the Bot Framework allows five minutes).

        Returns:
            The claims.

        Raises:
            InvalidToken: why the token is refused.
        """
        claims = self._decode(token, self.channel_jwks()["keys"], leeway_seconds)
        if claims.get("iss") != BOT_FRAMEWORK_ISSUER:
            raise InvalidToken("wrong issuer")
        if claims.get("aud") != app_id:
            raise InvalidToken("wrong audience")
        return claims

    # ----------------------------------------------------------------------------------------------------------
    # HTTP
    # ----------------------------------------------------------------------------------------------------------

    async def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer one request to the sandbox Entra."""
        parts = [unquote(part) for part in request.path.strip("/").split("/")]
        method = request.method.upper()
        match parts:
            case ["botframework", "v1", ".well-known", "openidconfiguration"] if method == "GET":
                return self._channel_openid_configuration()
            case ["botframework", "v1", "keys"] if method == "GET":
                return _json(200, self.channel_jwks())
            case ["common", "discovery", "instance"] if method == "GET":
                return self._instance_discovery(request)
            case [tenant, "v2.0", ".well-known", "openid-configuration"] if method == "GET":
                return self._openid_configuration(request, tenant)
            case [tenant, "discovery", "v2.0", "keys"] if method == "GET":
                if self._tenant_segment(tenant) is None:
                    return self._error_response(request, _unknown_tenant(tenant))
                return _json(200, self.jwks())
            case [_, "oauth2", "v2.0", "token"]:
                if method != "POST":
                    error = _TokenError(
                        405,
                        "invalid_request",
                        900561,
                        f"The endpoint only accepts POST requests. Received a {method} request.",
                    )
                    return self._error_response(request, error)
                return self._token(request, parts[0])
            case _:
                return _json(404, {"error": "not_found", "error_description": f"No route for {method} {request.path}"})

    def _openid_configuration(self, request: SandboxRequest, segment: str) -> SandboxResponse:
        tenant_path = self._tenant_segment(segment)
        if tenant_path is None:
            return self._error_response(request, _unknown_tenant(segment))
        base = f"{self.base_url}/{tenant_path}"
        issuer_tenant = "{tenantid}" if tenant_path in MULTI_TENANT_SEGMENTS else tenant_path
        payload = {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": self.issuer(issuer_tenant),
            "request_uri_parameter_supported": False,
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "acr",
                "nonce",
                "preferred_username",
                "name",
                "tid",
                "ver",
                "at_hash",
                "c_hash",
                "email",
            ],
            "tenant_region_scope": None if tenant_path in MULTI_TENANT_SEGMENTS else "NA",
        }
        return _json(200, payload)

    def _instance_discovery(self, request: SandboxRequest) -> SandboxResponse:
        endpoint = request.query.get("authorization_endpoint", "")
        parts = urlsplit(endpoint)
        own_host = urlsplit(self.base_url).hostname
        if not endpoint or parts.hostname not in {own_host, urlsplit(request.base_url).hostname}:
            error = _TokenError(400, "invalid_instance", 50049, "Unknown or invalid instance.")
            return self._error_response(request, error)
        segments = parts.path.strip("/").split("/")
        tenant = segments[0] if segments and segments[0] else "common"
        host = own_host or "127.0.0.1"
        payload = {
            "tenant_discovery_endpoint": f"{self.base_url}/{tenant}/v2.0/.well-known/openid-configuration",
            "api-version": request.query.get("api-version", "1.1"),
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        }
        return _json(200, payload)

    def _channel_openid_configuration(self) -> SandboxResponse:
        payload = {
            "issuer": BOT_FRAMEWORK_ISSUER,
            "authorization_endpoint": "https://invalid.botframework.com",
            "jwks_uri": f"{self.base_url}/botframework/v1/keys",
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        }
        return _json(200, payload)

    def _token(self, request: SandboxRequest, segment: str) -> SandboxResponse:
        form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        grant_type = form.get("grant_type", "")
        label = {
            "client_credentials": "client_credentials",
            GRANT_JWT_BEARER: "on_behalf_of",
            "refresh_token": "refresh_token",
        }.get(grant_type, grant_type or "(none)")
        self.token_requests[label] += 1
        try:
            tenant_path = self._tenant_segment(segment)
            if tenant_path is None:
                raise _unknown_tenant(segment)
            if not grant_type:
                raise _missing("grant_type")
            app = self._authenticate_client(request, form, tenant_path)
            if grant_type == "client_credentials":
                payload = self._client_credentials(app, form, tenant_path)
            elif grant_type == GRANT_JWT_BEARER:
                payload = self._on_behalf_of(app, form, tenant_path)
            elif grant_type == "refresh_token":
                payload = self._refresh(app, form, tenant_path)
            else:
                raise _TokenError(
                    400, "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant_type}'."
                )
        except _TokenError as error:
            logger.debug("sandbox entra refused %s: AADSTS%s", label, error.code)
            return self._error_response(request, error)
        logger.debug("sandbox entra issued a token for %s", label)
        headers = dict(_JSON_HEADERS)
        if correlation := request.header("client-request-id"):
            headers["client-request-id"] = correlation
        return SandboxResponse(status=200, headers=headers, body=json.dumps(payload).encode())

    def _authenticate_client(
        self, request: SandboxRequest, form: Mapping[str, str], tenant_path: str
    ) -> ConfidentialApp:
        client_id = form.get("client_id")
        secret = form.get("client_secret")
        authorization = request.header("authorization") or ""
        if authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise _TokenError(
                    401,
                    "invalid_client",
                    7000218,
                    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
                ) from None
            basic_id, _, basic_secret = decoded.partition(":")
            client_id, secret = unquote(basic_id), unquote(basic_secret)
        if not client_id:
            raise _missing("client_id")
        try:
            app = self.app(client_id)
        except KeyError:
            raise _TokenError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant_path}'. This can "
                "happen if the application has not been installed by the administrator of the tenant or consented to "
                "by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
            ) from None
        if not secret:
            raise _TokenError(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            )
        if not secrets.compare_digest(secret.encode(), app.client_secret.encode()):
            raise _TokenError(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
                f"value, not the client secret ID, for a secret added to app '{app.app_id}'.",
            )
        return app

    def _client_credentials(self, app: ConfidentialApp, form: Mapping[str, str], tenant_path: str) -> dict[str, Any]:
        scope = form.get("scope", "").split()
        if not scope:
            raise _missing("scope")
        if len(scope) != 1 or not scope[0].endswith("/.default"):
            raise _TokenError(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {' '.join(scope)} is not valid. Client credential flows must have a "
                "scope value with /.default suffixed to the resource identifier (application ID URI).",
            )
        resource = scope[0].removesuffix("/.default")
        tid = tenant_path
        if tid in MULTI_TENANT_SEGMENTS:
            tid = app.home_tenant or self.directory.tenants[0].id
        self._require_resource(resource, tid)
        consented = tid not in app.consent_withheld_in
        roles = _lookup(app.application_permissions, resource) if consented else []
        token = self.issue_access_token(audience=resource, tenant=tid, app_id=app.app_id, roles=roles)
        lifetime = self.access_token_lifetime_seconds
        return {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token}

    def _on_behalf_of(self, app: ConfidentialApp, form: Mapping[str, str], tenant_path: str) -> dict[str, Any]:
        assertion = form.get("assertion")
        if not assertion:
            raise _missing("assertion")
        if form.get("requested_token_use") != "on_behalf_of":
            raise _missing("requested_token_use")
        claims = self._validate_assertion(app, assertion, tenant_path)
        user = self._directory_user(claims)
        scopes = self._parse_scopes(form.get("scope", ""))
        return self._delegated_response(app, user, scopes, form)

    def _refresh(self, app: ConfidentialApp, form: Mapping[str, str], tenant_path: str) -> dict[str, Any]:
        token = form.get("refresh_token")
        if not token:
            raise _missing("refresh_token")
        grant = self._refresh_grants.get(token)
        if grant is None:
            raise _TokenError(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
        if grant.app_id != app.app_id or (tenant_path not in MULTI_TENANT_SEGMENTS and tenant_path != grant.tid):
            raise _TokenError(400, "invalid_grant", 70000, "Provided grant is invalid or malformed.")
        if grant.expires_at <= self._clock():
            del self._refresh_grants[token]
            raise _TokenError(
                400,
                "invalid_grant",
                700082,
                "The refresh token has expired due to inactivity.",
                suberror="bad_token",
            )
        user = self.user(grant.oid)
        scopes = self._parse_scopes(form.get("scope", ""))
        return self._delegated_response(app, user, scopes, form)

    def _validate_assertion(self, app: ConfidentialApp, assertion: str, tenant_path: str) -> dict[str, Any]:
        try:
            claims = self._decode(assertion, [key.jwk() for key in self._keys], 0)
        except InvalidToken as error:
            reason = str(error)
            if reason == "expired":
                now = datetime.fromtimestamp(self._clock(), UTC).strftime("%m/%d/%Y %H:%M:%S")
                raise _TokenError(
                    400,
                    "invalid_grant",
                    500133,
                    "Assertion is not within its valid time range. Ensure that the access token is not expired before "
                    f"using it for user assertion, or request a new token. Current time: {now}.",
                ) from None
            if reason == "malformed token":
                raise _TokenError(400, "invalid_request", 50027, "JWT token is invalid or malformed.") from None
            raise _TokenError(
                400, "invalid_grant", 50013, f"Assertion failed signature validation. [Reason - {reason}.]"
            ) from None
        audience = claims.get("aud")
        if audience not in (app.app_id, app.app_id_uri):
            raise _TokenError(
                400,
                "invalid_grant",
                50013,
                "Assertion audience does not match the Client app presenting the assertion. The audience in the "
                f"assertion was '{audience}' and the expected audience is '{app.app_id}' or one of the Application "
                f"Uris of this application with App ID '{app.app_id}'({app.display_name}). The downstream client must "
                "request a token for the expected audience (the application that made the OBO request) and this "
                "application should use that token as the assertion.",
            )
        tid = claims.get("tid")
        if not isinstance(tid, str) or self._tenant(tid) is None or claims.get("iss") != self.issuer(tid):
            raise _TokenError(400, "invalid_grant", 50013, "Assertion contains an invalid issuer.")
        if tenant_path not in MULTI_TENANT_SEGMENTS and tenant_path != tid:
            raise _TokenError(
                400,
                "invalid_grant",
                50013,
                f"Assertion was issued by tenant '{tid}' but the request was sent to tenant '{tenant_path}'.",
            )
        if not claims.get("scp"):
            raise _TokenError(
                400,
                "invalid_grant",
                7000114,
                f"Application '{app.app_id}' is not allowed to make application on-behalf-of calls.",
            )
        return claims

    def _directory_user(self, claims: Mapping[str, Any]) -> User:
        oid = claims.get("oid")
        tid = claims.get("tid")
        for user in self.directory.users:
            if user.oid == oid and user.tid == tid:
                return user
        raise _TokenError(400, "invalid_grant", 50034, f"The user account {oid} does not exist in the {tid} directory.")

    def _parse_scopes(self, raw: str) -> _ScopeRequest:
        items = raw.split()
        resource_scopes = [item for item in items if item.lower() not in OIDC_SCOPES]
        oidc = frozenset(item.lower() for item in items if item.lower() in OIDC_SCOPES)
        if not resource_scopes:
            raise _TokenError(
                400,
                "invalid_scope",
                70011,
                f"The provided value for the input parameter 'scope' is not valid. The scope '{raw}' does not name "
                "a resource.",
            )
        resources: set[str] = set()
        permissions: list[str] = []
        for item in resource_scopes:
            resource, slash, permission = item.rpartition("/")
            if not slash:
                resource, permission = self.graph_resource, item
            resources.add(resource.rstrip("/"))
            permissions.append(permission)
        if len(resources) > 1:
            raise _TokenError(
                400,
                "invalid_scope",
                28000,
                "Provided value for the input parameter scope is not valid because it contains more than one "
                f"resource. Scope {raw} is not valid.",
            )
        is_default = ".default" in permissions
        if is_default and len(permissions) > 1:
            raise _TokenError(
                400,
                "invalid_scope",
                70011,
                f"The provided value for the input parameter 'scope' is not valid. The scope {raw} is not valid. "
                ".default scope can't be combined with resource-specific scopes.",
            )
        return _ScopeRequest(resources.pop(), tuple(permissions), is_default, oidc)

    def _delegated_response(
        self, app: ConfidentialApp, user: User, scopes: _ScopeRequest, form: Mapping[str, str]
    ) -> dict[str, Any]:
        self._require_resource(scopes.resource, user.tid)
        granted = _lookup(app.delegated_permissions, scopes.resource)
        granted_folded = {permission.casefold() for permission in granted}
        missing = [p for p in scopes.permissions if p != ".default" and p.casefold() not in granted_folded]
        if user.tid in app.consent_withheld_in or missing or not granted:
            raise _TokenError(
                400,
                "invalid_grant",
                65001,
                f"The user or administrator has not consented to use the application with ID '{app.app_id}' named "
                f"'{app.display_name}'. Send an interactive authorization request for this user and resource.",
                suberror="consent_required",
            )
        lifetime = self.access_token_lifetime_seconds
        access_token = self.issue_access_token(
            audience=scopes.resource, tenant=user.tid, app_id=app.app_id, user_oid=user.oid, scopes=granted
        )
        payload: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": " ".join(f"{scopes.resource}/{permission}" for permission in granted),
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": access_token,
        }
        if "offline_access" in scopes.oidc:
            refresh_token = secrets.token_urlsafe(48)
            self._refresh_grants[refresh_token] = _RefreshGrant(
                app.app_id, user.tid, user.oid, self._clock() + REFRESH_TOKEN_LIFETIME_SECONDS
            )
            payload["refresh_token"] = refresh_token
        if "openid" in scopes.oidc:
            payload["id_token"] = self._id_token(app, user)
        if form.get("client_info") == "1" and scopes.oidc & {"openid", "profile"}:
            payload["client_info"] = _b64url(json.dumps({"uid": user.oid, "utid": user.tid}).encode())
        return payload

    def _id_token(self, app: ConfidentialApp, user: User) -> str:
        now = int(self._clock())
        claims = {
            "aud": app.app_id,
            "iss": self.issuer(user.tid),
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "name": user.name,
            "oid": user.oid,
            "preferred_username": user.preferred_username,
            "sub": _pairwise_sub(user.oid, app.app_id),
            "tid": user.tid,
            "ver": "2.0",
        }
        return self._sign(claims, None)

    def _require_resource(self, resource: str, tid: str) -> None:
        folded = resource.rstrip("/").casefold()
        known = {self.graph_resource.casefold()}
        for app in self.directory.apps:
            known |= {app.app_id.casefold(), app.app_id_uri.casefold()}
            known |= {name.rstrip("/").casefold() for name in app.delegated_permissions}
            known |= {name.rstrip("/").casefold() for name in app.application_permissions}
        if folded not in known:
            raise _TokenError(
                400,
                "invalid_resource",
                500011,
                f"The resource principal named {resource} was not found in the tenant named {tid}. This can happen if "
                "the application has not been installed by the administrator of the tenant or consented to by any "
                "user in the tenant. You might have sent your authentication request to the wrong tenant.",
            )

    # ----------------------------------------------------------------------------------------------------------
    # internals
    # ----------------------------------------------------------------------------------------------------------

    def _tenant(self, segment: str) -> Tenant | None:
        folded = segment.casefold()
        for tenant in self.directory.tenants:
            if tenant.id.casefold() == folded or (tenant.domain and tenant.domain.casefold() == folded):
                return tenant
        return None

    def _tenant_segment(self, segment: str) -> str | None:
        """The tenant id (or `common`/`organizations`) a path segment names, None when unknown."""
        if segment.lower() in MULTI_TENANT_SEGMENTS:
            return segment.lower()
        tenant = self._tenant(segment)
        return tenant.id if tenant else None

    def _sign(self, claims: Mapping[str, Any], key: rsa.RSAPrivateKey | None) -> str:
        signer = SigningKey.from_private_key(key) if key else self._keys[0]
        return jwt.encode(
            dict(claims), signer.private_key, algorithm="RS256", headers={"kid": signer.kid, "typ": "JWT"}
        )

    def _decode(self, token: str, jwks: list[dict[str, Any]], leeway_seconds: int) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise InvalidToken("malformed token") from None
        algorithm = header.get("alg")
        if algorithm != "RS256":
            raise InvalidToken(f"unsupported algorithm '{algorithm}'")
        jwk = next((candidate for candidate in jwks if candidate["kid"] == header.get("kid")), None)
        if jwk is None:
            raise InvalidToken("unknown signing key (kid not in the JWKS)")
        public_key = jwt.PyJWK.from_dict(jwk, algorithm="RS256")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                public_key,
                algorithms=["RS256"],
                options={"verify_aud": False, "verify_exp": False, "verify_nbf": False, "verify_iat": False},
            )
        except jwt.InvalidSignatureError:
            raise InvalidToken("bad signature") from None
        except jwt.InvalidTokenError:
            raise InvalidToken("malformed token") from None
        _check_times(claims, self._clock(), leeway_seconds)
        return claims

    def _error_response(self, request: SandboxRequest, error: _TokenError) -> SandboxResponse:
        trace_id = str(uuid.uuid4())
        correlation_id = request.header("client-request-id") or str(uuid.uuid4())
        timestamp = datetime.fromtimestamp(self._clock(), UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        description = (
            f"AADSTS{error.code}: {error.message}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}"
            f"\r\nTimestamp: {timestamp}"
        )
        payload: dict[str, Any] = {
            "error": error.error,
            "error_description": description,
            "error_codes": [error.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"{self.base_url}/error?code={error.code}",
        }
        if error.suberror:
            payload["suberror"] = error.suberror
        headers = {**_JSON_HEADERS, "client-request-id": correlation_id, "x-ms-request-id": trace_id}
        return SandboxResponse(status=error.status, headers=headers, body=json.dumps(payload).encode())


def _check_times(claims: Mapping[str, Any], now: float, leeway_seconds: int) -> None:
    """Raise InvalidToken when the claims' `exp` has passed or their `nbf` has not come yet."""
    expires = claims.get("exp")
    if not isinstance(expires, int | float):
        raise InvalidToken("malformed token")
    if expires + leeway_seconds <= now:
        raise InvalidToken("expired")
    not_before = claims.get("nbf")
    if isinstance(not_before, int | float) and not_before - leeway_seconds > now:
        raise InvalidToken("not yet valid")


def _json(status: int, payload: Any) -> SandboxResponse:
    return json_response(status, payload, _JSON_HEADERS)


def _missing(parameter: str) -> _TokenError:
    return _TokenError(
        400, "invalid_request", 900144, f"The request body must contain the following parameter: '{parameter}'."
    )


def _unknown_tenant(segment: str) -> _TokenError:
    return _TokenError(
        400,
        "invalid_tenant",
        90002,
        f"Tenant '{segment}' not found. Check to make sure you have the correct tenant ID and are signing into the "
        "correct cloud.",
    )


def _lookup(permissions: Mapping[str, list[str]], resource: str) -> list[str]:
    folded = resource.rstrip("/").casefold()
    for name, granted in permissions.items():
        if name.rstrip("/").casefold() == folded:
            return granted
    return []


def _merge(claims: dict[str, Any], extra: Mapping[str, Any] | None) -> dict[str, Any]:
    merged = {**claims, **(extra or {})}
    return {name: value for name, value in merged.items() if value is not None}


def _pairwise_sub(oid: str, client: str) -> str:
    return _b64url(hashlib.sha256(f"{oid}|{client}".encode()).digest())[:43]


def _uti() -> str:
    return _b64url(secrets.token_bytes(16))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")
