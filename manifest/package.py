"""`make package`: the Teams app package (manifest.json + icons) with ids filled from settings, as a zip that the
Teams admin centre accepts. Run: `python -m manifest.package [--domain bot.example.edu] [--out build/...zip]`."""

from __future__ import annotations

import argparse
import json
import struct
import sys
import zipfile
import zlib
from pathlib import Path
from typing import Any

from bot.settings import SettingsError, load_settings

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "manifest.template.json"
DEFAULT_OUT = HERE.parent / "build" / "grading-assistant-teams-app.zip"


def fill(template: str, *, app_id: str, domain: str, sso_app_id_uri: str) -> dict[str, Any]:
    """The manifest with the app id, the bot's domain and the SSO resource filled in."""
    text = (
        template.replace("{{APP_ID}}", app_id)
        .replace("{{BOT_DOMAIN}}", domain)
        .replace("{{SSO_APP_ID_URI}}", sso_app_id_uri)
    )
    return json.loads(text)


def png(width: int, height: int, pixel: Any) -> bytes:
    """A minimal RGBA PNG; `pixel(x, y)` returns (r, g, b, a)."""
    rows = b"".join(b"\x00" + b"".join(struct.pack("BBBB", *pixel(x, y)) for x in range(width)) for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def _check_mark(x: float, y: float) -> bool:
    """A tick: two strokes, in a unit square."""
    first = 0.22 <= x <= 0.45 and abs((y - 0.55) - (x - 0.22) * 0.9) < 0.07
    second = 0.40 <= x <= 0.80 and abs((y - 0.74) + (x - 0.40) * 1.05) < 0.07
    return first or second


def color_icon() -> bytes:
    """192×192, full colour: a white tick on the accent colour."""
    size = 192

    def pixel(x: int, y: int) -> tuple[int, int, int, int]:
        return (255, 255, 255, 255) if _check_mark(x / size, y / size) else (0x4F, 0x52, 0xB2, 255)

    return png(size, size, pixel)


def outline_icon() -> bytes:
    """32×32, white on transparent, as Teams requires for the outline icon."""
    size = 32

    def pixel(x: int, y: int) -> tuple[int, int, int, int]:
        return (255, 255, 255, 255) if _check_mark((x + 0.5) / size, (y + 0.5) / size) else (255, 255, 255, 0)

    return png(size, size, pixel)


def build(out: Path, *, app_id: str, domain: str, sso_app_id_uri: str) -> dict[str, Any]:
    """Write the zip (manifest.json, color.png, outline.png at its root) and return the manifest."""
    manifest = fill(TEMPLATE.read_text(encoding="utf-8"), app_id=app_id, domain=domain, sso_app_id_uri=sso_app_id_uri)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
        archive.writestr("color.png", color_icon())
        archive.writestr("outline.png", outline_icon())
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--domain", default="localhost", help="the bot's public host name (validDomains)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(error, file=sys.stderr)  # noqa: T201
        return 2
    if not settings.app_id:
        message = "configuration error: MicrosoftAppId: required to build the Teams app package"
        print(message, file=sys.stderr)  # noqa: T201
        return 2
    build(args.out, app_id=settings.app_id, domain=args.domain, sso_app_id_uri=settings.sso_resource)
    print(f"wrote {args.out}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
