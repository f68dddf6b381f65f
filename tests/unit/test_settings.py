"""Settings: Azure Bot's names accepted, national-cloud endpoints, and one clear line naming a bad variable."""

from __future__ import annotations

import pytest

from bot.settings import Settings, SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    for name in (
        "MicrosoftAppId",
        "MicrosoftAppPassword",
        "MicrosoftAppTenantId",
        "MicrosoftAppType",
        "GRAPH_ENDPOINT",
        "AUTHORITY_HOST",
        "PORT",
        "STORAGE_URL",
        "TOKEN_CACHE_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path_factory.mktemp("no-dotenv"))


def test_defaults_are_the_public_cloud() -> None:
    settings = load_settings()
    assert settings.graph_base_url == "https://graph.microsoft.com/v1.0"
    assert settings.authority_host == "https://login.microsoftonline.com"
    assert settings.port == 3978 and settings.host == "127.0.0.1"
    assert not settings.has_azure_credentials


def test_azure_bot_names_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MicrosoftAppId", "app")
    monkeypatch.setenv("MicrosoftAppPassword", "secret")
    monkeypatch.setenv("MicrosoftAppTenantId", "tenant")
    monkeypatch.setenv("TOKEN_CACHE_KEY", "A" * 43 + "=")
    settings = load_settings()
    assert settings.app_id == "app" and settings.app_tenant_id == "tenant"
    assert "secret" not in repr(settings)


@pytest.mark.parametrize(
    ("graph", "authority"),
    [
        ("https://graph.microsoft.us", "https://login.microsoftonline.us"),
        ("https://dod-graph.microsoft.us", "https://login.microsoftonline.us"),
        ("https://microsoftgraph.chinacloudapi.cn", "https://login.chinacloudapi.cn"),
    ],
)
def test_national_clouds_form_their_own_scopes(graph: str, authority: str) -> None:
    settings = Settings(graph_endpoint=graph, authority_host=authority)
    assert settings.graph_base_url == f"{graph}/v1.0"
    assert settings.graph_scopes == [f"{graph}/EduAssignments.ReadWrite", f"{graph}/EduRoster.ReadBasic"]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("GRAPH_ENDPOINT", "graph.microsoft.com"),
        ("GRAPH_ENDPOINT", "http://graph.microsoft.com"),
        ("GRAPH_ENDPOINT", "https://graph.microsoft.com/v1.0"),
        ("AUTHORITY_HOST", "ftp://login"),
        ("PORT", "seventy"),
        ("PORT", "70000"),
        ("STORAGE_URL", "mysql://db"),
    ],
)
def test_bad_settings_fail_with_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as error:
        load_settings()
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"configuration error: {variable}:")


def test_an_app_id_without_its_password_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MicrosoftAppId", "app")
    monkeypatch.setenv("MicrosoftAppTenantId", "tenant")
    monkeypatch.setenv("TOKEN_CACHE_KEY", "A" * 43 + "=")
    with pytest.raises(SettingsError, match="MicrosoftAppPassword"):
        load_settings()


def test_a_database_password_never_shows_in_errors_or_the_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORAGE_URL", "mysql://grader:hunter2@db.school.example/grades")
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert "STORAGE_URL" in str(refused.value) and "hunter2" not in str(refused.value)
    with pytest.raises(ValueError, match="storage_url") as raw:
        Settings(storage_url="mysql://grader:hunter2@db.school.example/grades")  # pyright: ignore[reportArgumentType]
    assert "hunter2" not in str(raw.value)

    monkeypatch.setenv("STORAGE_URL", "postgresql://grader:hunter2@db.school.example/grades")
    settings = load_settings()
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.model_dump())
    assert settings.storage_url.get_secret_value().endswith("@db.school.example/grades")
