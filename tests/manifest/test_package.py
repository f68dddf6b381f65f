"""The Teams app package: the manifest validates against Microsoft's v1.30 schema and the zip holds what Teams
admin centre expects (manifest.json, a 192×192 colour icon and a 32×32 transparent outline icon at the root)."""

from __future__ import annotations

import importlib.util
import json
import struct
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from manifest.package import build, main

SPECS = Path(__file__).resolve().parents[3] / "shared" / "specs"
APP_ID = "6d2c1f0e-5a7b-4c3d-9e8f-0a1b2c3d4e5f"


@pytest.fixture(scope="module")
def validator() -> ModuleType:
    script = SPECS / "validate_json.py"
    if not script.is_file():
        pytest.skip(f"Microsoft's specs are not beside the checkout ({SPECS})")
    spec = importlib.util.spec_from_file_location("validate_json", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def png_size(data: bytes) -> tuple[int, int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, _, color_type = struct.unpack(">IIBB", data[16:26])
    return width, height, color_type


def test_package_validates_and_holds_the_icons(tmp_path: Path, validator: ModuleType) -> None:
    out = tmp_path / "app.zip"
    manifest = build(out, app_id=APP_ID, domain="bot.example.edu", sso_app_id_uri=f"api://botid-{APP_ID}")
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        assert json.loads(archive.read("manifest.json")) == manifest
        assert png_size(archive.read("color.png"))[:2] == (192, 192)
        width, height, color_type = png_size(archive.read("outline.png"))
        assert (width, height, color_type) == (32, 32, 6)  # RGBA: transparent background
    problems, _ = validator.errors("teams-manifest", manifest)
    assert problems == []
    bot = manifest["bots"][0]
    assert bot["botId"] == APP_ID and set(bot["scopes"]) == {"personal", "team", "groupChat"}
    assert {c["title"] for c in bot["commandLists"][0]["commands"]} >= {"grade", "reassign", "return", "status", "help"}
    assert manifest["webApplicationInfo"] == {"id": APP_ID, "resource": f"api://botid-{APP_ID}"}
    assert manifest["validDomains"] == ["bot.example.edu"]


def test_the_validator_would_catch_a_wrong_manifest(validator: ModuleType, tmp_path: Path) -> None:
    manifest = build(tmp_path / "a.zip", app_id=APP_ID, domain="x.edu", sso_app_id_uri=f"api://botid-{APP_ID}")
    manifest["bots"][0]["scopes"] = ["everyone"]
    problems, _ = validator.errors("teams-manifest", manifest)
    assert problems


def test_package_needs_an_app_id(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MicrosoftAppId", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["--out", str(tmp_path / "x.zip")]) == 2
    assert "MicrosoftAppId" in capsys.readouterr().err
    assert not (tmp_path / "x.zip").exists()
