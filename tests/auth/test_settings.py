"""The settings bot/auth adds: TOKEN_CACHE_KEY, SSO_APP_ID_URI."""

from __future__ import annotations

import logging

import pytest

from bot.auth.crypto import CacheCipher, UnreadableCiphertext
from bot.settings import SettingsError, load_settings
from tests.auth.conftest import APP_ID, CACHE_KEY, CONTOSO, SECRET


def _settings(**overrides: object) -> object:
    values: dict[str, object] = {
        "app_id": APP_ID,
        "app_password": SECRET,
        "app_tenant_id": CONTOSO,
        "authority_host": "https://login.microsoftonline.com",
        "token_cache_key": "",
    }
    return load_settings(**(values | overrides))


def test_a_real_entra_deployment_needs_a_token_cache_key() -> None:
    with pytest.raises(SettingsError, match="TOKEN_CACHE_KEY"):
        _settings()


def test_a_malformed_token_cache_key_is_named() -> None:
    with pytest.raises(SettingsError, match="TOKEN_CACHE_KEY"):
        _settings(token_cache_key="dG9vLXNob3J0")


def test_a_valid_key_is_accepted_and_hidden() -> None:
    settings = load_settings(app_id=APP_ID, app_password=SECRET, app_tenant_id=CONTOSO, token_cache_key=CACHE_KEY)

    assert settings.token_cache_key_bytes == bytes(range(32))
    assert CACHE_KEY not in repr(settings)
    assert settings.sso_resource == f"api://botid-{APP_ID}"


def test_the_sandbox_gets_an_ephemeral_key(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.auth.crypto")
    settings = load_settings(
        app_id=APP_ID, app_password=SECRET, app_tenant_id=CONTOSO, authority_host="https://127.0.0.1:8443"
    )

    cipher = CacheCipher.from_settings(settings)

    assert "ephemeral" in caplog.text
    sealed = cipher.seal(b"state", owner="t.o")
    assert cipher.open(sealed, owner="t.o") == b"state"
    with pytest.raises(UnreadableCiphertext):
        CacheCipher.from_settings(settings).open(sealed, owner="t.o")
