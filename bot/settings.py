"""Application settings: one pydantic-settings object, read from the environment and from `.env`.

Azure Bot's standard variable names (`MicrosoftAppId`, `MicrosoftAppPassword`, `MicrosoftAppTenantId`,
`MicrosoftAppType`) are accepted as they are. Every endpoint is a setting so national clouds work.
"""

from __future__ import annotations

import base64
import binascii
from enum import StrEnum
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class AppType(StrEnum):
    """Azure Bot app types."""

    MULTI_TENANT = "MultiTenant"
    SINGLE_TENANT = "SingleTenant"
    USER_ASSIGNED_MSI = "UserAssignedMSI"


def _https_or_loopback(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ValueError("must be an absolute URL such as https://graph.microsoft.com")
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError("must use https (plain http is only allowed for 127.0.0.1)")
    if parts.query or parts.fragment:
        raise ValueError("must not carry a query or fragment")
    return value.rstrip("/")


def _decode_key(raw: str) -> bytes:
    """Decode a base64 (standard or URL-safe, padding optional) key; b"" when it is not base64."""
    padded = raw + "=" * (-len(raw) % 4)
    try:
        return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return b""


class Settings(BaseSettings):
    """Everything the app can be configured with. Build one in a test with keyword arguments."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        case_sensitive=False,
        hide_input_in_errors=True,  # a refused value may be a secret (a password in STORAGE_URL, the app password)
    )

    app_id: str = Field(default="", validation_alias=AliasChoices("MicrosoftAppId", "app_id"))
    app_password: SecretStr = Field(
        default=SecretStr(""), validation_alias=AliasChoices("MicrosoftAppPassword", "app_password")
    )
    app_tenant_id: str = Field(default="", validation_alias=AliasChoices("MicrosoftAppTenantId", "app_tenant_id"))
    app_type: AppType = Field(
        default=AppType.SINGLE_TENANT, validation_alias=AliasChoices("MicrosoftAppType", "app_type")
    )

    graph_endpoint: str = Field(
        default="https://graph.microsoft.com", validation_alias=AliasChoices("GRAPH_ENDPOINT", "graph_endpoint")
    )
    authority_host: str = Field(
        default="https://login.microsoftonline.com",
        validation_alias=AliasChoices("AUTHORITY_HOST", "authority_host"),
    )
    host: str = Field(default="127.0.0.1", validation_alias=AliasChoices("HOST", "host"))
    port: Annotated[int, Field(ge=1, le=65535)] = Field(default=3978, validation_alias=AliasChoices("PORT", "port"))
    storage_url: SecretStr = Field(
        default=SecretStr("sqlite:///data/assistant.db"),
        validation_alias=AliasChoices("STORAGE_URL", "storage_url"),
    )
    """A secret: a PostgreSQL URL carries the database password."""

    graph_timeout_seconds: Annotated[float, Field(gt=0, le=120)] = Field(
        default=10.0, validation_alias=AliasChoices("GRAPH_TIMEOUT_SECONDS", "graph_timeout_seconds")
    )
    graph_max_retry_seconds: Annotated[float, Field(ge=0, le=60)] = Field(
        default=6.0, validation_alias=AliasChoices("GRAPH_MAX_RETRY_SECONDS", "graph_max_retry_seconds")
    )

    bot_openid_metadata_url: str = Field(
        default="https://login.botframework.com/v1/.well-known/openidconfiguration",
        validation_alias=AliasChoices("BOT_OPENID_METADATA_URL", "bot_openid_metadata_url"),
    )
    """Where the keys that sign Bot Framework channel tokens are published (OpenID configuration)."""
    bot_token_issuer: str = Field(
        default="https://api.botframework.com", validation_alias=AliasChoices("BOT_TOKEN_ISSUER", "bot_token_issuer")
    )
    """The `iss` every inbound channel token must carry."""
    bot_framework_scope: str = Field(
        default="https://api.botframework.com",
        validation_alias=AliasChoices("BOT_FRAMEWORK_SCOPE", "bot_framework_scope"),
    )
    """The resource outbound tokens (replies to the Bot Connector) are requested for; `/.default` is appended."""
    allowed_tenants: str = Field(default="", validation_alias=AliasChoices("ALLOWED_TENANTS", "allowed_tenants"))
    """Comma-separated tenant ids whose activities are handled; empty means the app's own tenant only."""
    dangerously_allow_unauthenticated_requests: bool = Field(
        default=False,
        validation_alias=AliasChoices(
            "DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS", "dangerously_allow_unauthenticated_requests"
        ),
    )
    """Accept activities without a channel token. Only honoured when no MicrosoftAppId is set (Agents Playground)."""
    sso_app_id_uri: str = Field(default="", validation_alias=AliasChoices("SSO_APP_ID_URI", "sso_app_id_uri"))
    """The Application ID URI Teams SSO tokens are issued for; empty means `api://botid-{MicrosoftAppId}`."""
    oauth_connection_name: str = Field(
        default="graph", validation_alias=AliasChoices("OAUTH_CONNECTION_NAME", "oauth_connection_name")
    )
    """The `connectionName` the sign-in (OAuth) card carries; Teams echoes it back in `signin/tokenExchange`."""
    token_cache_key: SecretStr = Field(
        default=SecretStr(""), validation_alias=AliasChoices("TOKEN_CACHE_KEY", "token_cache_key")
    )
    """Base64 of 32 random bytes encrypting the per-teacher token caches at rest; required against real Entra."""
    auth_timeout_seconds: Annotated[float, Field(gt=0, le=120)] = Field(
        default=10.0, validation_alias=AliasChoices("AUTH_TIMEOUT_SECONDS", "auth_timeout_seconds")
    )
    """Timeout of each request to Entra ID (OpenID discovery, keys, token endpoint)."""
    notify_on_return: bool = Field(default=False, validation_alias=AliasChoices("NOTIFY_ON_RETURN", "notify_on_return"))
    """Message students when their work is returned (they are always messaged when it is returned for revision)."""
    graph_tenant_rate_per_second: Annotated[float, Field(gt=0, le=50)] = Field(
        default=28.0,
        validation_alias=AliasChoices("GRAPH_TENANT_RATE_PER_SECOND", "graph_tenant_rate_per_second"),
    )
    """Graph requests a second per tenant, all instances together ($batch parts count one each); the default is 80%
    of the lowest documented Assignments quota (350 per 10 s per app per tenant)."""
    teams_tenant_rate_per_second: Annotated[float, Field(gt=0, lt=30)] = Field(
        default=25.0,
        validation_alias=AliasChoices("TEAMS_TENANT_RATE_PER_SECOND", "teams_tenant_rate_per_second"),
    )
    """Messages a second the bot sends into one tenant, all instances together (Teams tolerates about 30)."""
    teams_conversation_rate_per_second: Annotated[float, Field(gt=0, le=7)] = Field(
        default=7.0,
        validation_alias=AliasChoices("TEAMS_CONVERSATION_RATE_PER_SECOND", "teams_conversation_rate_per_second"),
    )
    """Messages a second the bot sends into one conversation, all instances together (Teams' limit is 7)."""
    shutdown_grace_seconds: Annotated[float, Field(ge=0, le=3600)] = Field(
        default=30.0, validation_alias=AliasChoices("SHUTDOWN_GRACE_SECONDS", "shutdown_grace_seconds")
    )
    """On SIGTERM, how long turns in flight (and running bulk-job batches) may take to finish before they are cut."""

    @field_validator("graph_endpoint", "authority_host", "bot_openid_metadata_url")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        return _https_or_loopback(value)

    @field_validator("graph_endpoint")
    @classmethod
    def _no_version(cls, value: str) -> str:
        if value.endswith(("/v1.0", "/beta")):
            raise ValueError("give the host only; the client appends /v1.0")
        return value

    @field_validator("storage_url")
    @classmethod
    def _storage(cls, value: SecretStr) -> SecretStr:
        schemes = ("sqlite:///", "sqlite://:memory:", "postgresql://", "postgres://", "memory://")
        if not value.get_secret_value().startswith(schemes):
            raise ValueError("must start with sqlite:///, postgresql:// or memory://")
        return value

    @field_validator("token_cache_key")
    @classmethod
    def _cache_key(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value().strip()
        if raw and len(_decode_key(raw)) != 32:
            raise ValueError("must be the base64 encoding of 32 random bytes (e.g. `openssl rand -base64 32`)")
        return SecretStr(raw)

    @model_validator(mode="after")
    def _token_cache_key_present(self) -> Settings:
        if self.app_id and not self.token_cache_key.get_secret_value() and not self.authority_is_loopback:
            raise ValueError("TOKEN_CACHE_KEY: required when MicrosoftAppId is set (base64 of 32 random bytes)")
        return self

    @model_validator(mode="after")
    def _credentials_complete(self) -> Settings:
        if self.app_id and not self.app_password.get_secret_value() and self.app_type != AppType.USER_ASSIGNED_MSI:
            raise ValueError("MicrosoftAppPassword: required when MicrosoftAppId is set")
        if self.app_type == AppType.SINGLE_TENANT and self.app_id and not self.app_tenant_id:
            raise ValueError("MicrosoftAppTenantId: required for a SingleTenant bot")
        return self

    @property
    def graph_base_url(self) -> str:
        """The versioned Graph root every request is made against."""
        return f"{self.graph_endpoint}/v1.0"

    @property
    def graph_scopes(self) -> list[str]:
        """Delegated scopes for the on-behalf-of exchange, formed from the Graph host (national clouds differ)."""
        return [f"{self.graph_endpoint}/EduAssignments.ReadWrite", f"{self.graph_endpoint}/EduRoster.ReadBasic"]

    @property
    def allowed_tenant_ids(self) -> frozenset[str]:
        """Tenants whose activities are handled: ALLOWED_TENANTS, else the app's tenant; empty means any tenant."""
        listed = frozenset(item.strip() for item in self.allowed_tenants.split(",") if item.strip())
        if listed:
            return listed
        return frozenset({self.app_tenant_id}) if self.app_tenant_id else frozenset()

    @property
    def sso_resource(self) -> str:
        """The Application ID URI of Teams SSO tokens: SSO_APP_ID_URI, else `api://botid-{MicrosoftAppId}`."""
        return self.sso_app_id_uri or f"api://botid-{self.app_id}"

    @property
    def authority_is_loopback(self) -> bool:
        """True when AUTHORITY_HOST is the local sandbox Entra (127.0.0.1, ::1 or localhost)."""
        return urlsplit(self.authority_host).hostname in ("127.0.0.1", "localhost", "::1")

    @property
    def token_cache_key_bytes(self) -> bytes | None:
        """The 32-byte TOKEN_CACHE_KEY, or None when it is not set."""
        raw = self.token_cache_key.get_secret_value()
        return _decode_key(raw) if raw else None

    @property
    def has_azure_credentials(self) -> bool:
        """True when the bot talks to real Azure services rather than the sandbox."""
        return bool(self.app_id)


_ENV_NAMES = {
    "app_id": "MicrosoftAppId",
    "app_password": "MicrosoftAppPassword",
    "app_tenant_id": "MicrosoftAppTenantId",
    "app_type": "MicrosoftAppType",
    "graph_endpoint": "GRAPH_ENDPOINT",
    "authority_host": "AUTHORITY_HOST",
    "host": "HOST",
    "port": "PORT",
    "storage_url": "STORAGE_URL",
    "graph_timeout_seconds": "GRAPH_TIMEOUT_SECONDS",
    "graph_max_retry_seconds": "GRAPH_MAX_RETRY_SECONDS",
    "bot_openid_metadata_url": "BOT_OPENID_METADATA_URL",
    "bot_token_issuer": "BOT_TOKEN_ISSUER",
    "bot_framework_scope": "BOT_FRAMEWORK_SCOPE",
    "allowed_tenants": "ALLOWED_TENANTS",
    "dangerously_allow_unauthenticated_requests": "DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS",
    "sso_app_id_uri": "SSO_APP_ID_URI",
    "oauth_connection_name": "OAUTH_CONNECTION_NAME",
    "token_cache_key": "TOKEN_CACHE_KEY",
    "auth_timeout_seconds": "AUTH_TIMEOUT_SECONDS",
    "notify_on_return": "NOTIFY_ON_RETURN",
    "graph_tenant_rate_per_second": "GRAPH_TENANT_RATE_PER_SECOND",
    "teams_tenant_rate_per_second": "TEAMS_TENANT_RATE_PER_SECOND",
    "teams_conversation_rate_per_second": "TEAMS_CONVERSATION_RATE_PER_SECOND",
    "shutdown_grace_seconds": "SHUTDOWN_GRACE_SECONDS",
}


class SettingsError(Exception):
    """A setting is missing or malformed; the message is one line naming the variable."""


def describe_settings_error(error: ValidationError) -> str:
    """Turn pydantic's report into one line that names the environment variable."""
    first = error.errors()[0]
    loc = first.get("loc") or ()
    field = str(loc[0]) if loc else ""
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    name = _ENV_NAMES.get(field, field)
    if not name and ":" in message:
        return f"configuration error: {message}"
    return f"configuration error: {name}: {message}" if name else f"configuration error: {message}"


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment (and `.env`), raising SettingsError with one clear line.

    Args:
        overrides: values that win over the environment (used by tests and the sandbox runner).

    Raises:
        SettingsError: a variable is missing or malformed.
    """
    try:
        return Settings(**overrides)  # pyright: ignore[reportArgumentType]
    except ValidationError as error:
        raise SettingsError(describe_settings_error(error)) from None
