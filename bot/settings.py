"""Application settings: one pydantic-settings object, read from the environment and from `.env`.

Azure Bot's standard variable names (`MicrosoftAppId`, `MicrosoftAppPassword`, `MicrosoftAppTenantId`,
`MicrosoftAppType`) are accepted as they are. Every endpoint is a setting so national clouds work.
"""

from __future__ import annotations

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


class Settings(BaseSettings):
    """Everything the app can be configured with. Build one in a test with keyword arguments."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        case_sensitive=False,
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
    storage_url: str = Field(
        default="sqlite:///data/assistant.db", validation_alias=AliasChoices("STORAGE_URL", "storage_url")
    )

    graph_timeout_seconds: Annotated[float, Field(gt=0, le=120)] = Field(
        default=10.0, validation_alias=AliasChoices("GRAPH_TIMEOUT_SECONDS", "graph_timeout_seconds")
    )
    graph_max_retry_seconds: Annotated[float, Field(ge=0, le=60)] = Field(
        default=6.0, validation_alias=AliasChoices("GRAPH_MAX_RETRY_SECONDS", "graph_max_retry_seconds")
    )

    @field_validator("graph_endpoint", "authority_host")
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
    def _storage(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "sqlite://:memory:", "postgresql://", "postgres://", "memory://")):
            raise ValueError("must start with sqlite:///, postgresql:// or memory://")
        return value

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
