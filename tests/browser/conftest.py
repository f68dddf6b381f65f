"""Headless Debian Chromium driven over the Chrome DevTools protocol (a websocket from aiohttp), on 127.0.0.1 only.

The browser tests are skipped, with the reason, when /usr/bin/chromium or the `adaptivecards` npm package is missing
(`apt-get install chromium`, `npm install`). Chromium runs in its own process group with a fresh profile and is
stopped by that group in a finally.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sandbox.run import World, start_world
from sandbox.teams import ADAPTIVECARDS_JS

CHROMIUM = Path("/usr/bin/chromium")
REPO_ROOT = Path(__file__).resolve().parents[2]
ADAPTIVECARDS = ADAPTIVECARDS_JS
SCREENSHOTS = REPO_ROOT / "build" / "screenshots"
# The README's screenshots are refreshed only on request (UPDATE_DOC_SCREENSHOTS=1 make test), so a test run leaves
# the checkout clean; otherwise they go beside the other screenshots for a look.
DOC_SCREENSHOTS = (
    REPO_ROOT / "docs" / "screenshots"
    if os.environ.get("UPDATE_DOC_SCREENSHOTS")
    else REPO_ROOT / "build" / "screenshots" / "docs"
)

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-dev-shm-usage",
    "--mute-audio",
    "--hide-scrollbars",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)


class BrowserError(Exception):
    """The page threw, a CDP call failed, or something did not appear in time."""


class Page:
    """One tab: CDP commands, JavaScript evaluation, waiting and screenshots."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self._socket = socket
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.errors: list[str] = []
        """Uncaught exceptions and console errors the page reported."""
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for message in self._socket:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            payload: dict[str, Any] = json.loads(message.data)
            future = self._pending.pop(payload.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(payload)
            elif payload.get("method") == "Runtime.exceptionThrown":
                details = payload["params"]["exceptionDetails"]
                self.errors.append(str(details.get("exception", {}).get("description") or details.get("text")))
            elif payload.get("method") == "Runtime.consoleAPICalled" and payload["params"].get("type") == "error":
                self.errors.append(
                    " ".join(str(a.get("value", a.get("description"))) for a in payload["params"]["args"])
                )
        for future in self._pending.values():
            if not future.done():
                future.set_exception(BrowserError("the browser closed the connection"))

    async def send(self, method: str, params: dict[str, Any] | None = None, *, within: float = 15.0) -> dict[str, Any]:
        """Send one CDP command and return its result."""
        command_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[command_id] = future
        await self._socket.send_str(json.dumps({"id": command_id, "method": method, "params": params or {}}))
        reply = await asyncio.wait_for(future, within)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    async def evaluate(self, expression: str) -> Any:
        """Evaluate JavaScript (promises awaited) and return its JSON value."""
        result = await self.send(
            "Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True}
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError(str(details.get("exception", {}).get("description") or details.get("text")))
        return result.get("result", {}).get("value")

    async def goto(self, url: str, *, ready: str = "true", within: float = 15.0) -> None:
        """Navigate and wait until the document is loaded and `ready` (a JS expression) is truthy."""
        await self.send("Page.navigate", {"url": url})
        await self.wait_for(f"document.readyState === 'complete' && ({ready})", within=within)

    async def wait_for(self, expression: str, *, within: float = 15.0, what: str | None = None) -> Any:
        """Poll a JS expression until it is truthy; return its value."""
        deadline = time.monotonic() + within
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out waiting for {what or expression}; page errors: {self.errors}")
            await asyncio.sleep(0.05)

    async def screenshot(self, path: Path, *, selector: str | None = None) -> Path:
        """Save a PNG of the viewport, or of the element matching `selector`."""
        params: dict[str, Any] = {"format": "png"}
        if selector is not None:
            box = await self.evaluate(
                f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
                " return {x: r.left, y: r.top, width: r.width, height: r.height}; })()"
            )
            params["clip"] = {**box, "scale": 1}
            params["captureBeyondViewport"] = True
        result = await self.send("Page.captureScreenshot", params)
        await asyncio.to_thread(_write, path, base64.b64decode(result["data"]))
        return path

    async def close(self) -> None:
        """Close the websocket and stop reading."""
        await self._socket.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


class Browser:
    """A running headless Chromium and its DevTools HTTP endpoint."""

    def __init__(self, process: asyncio.subprocess.Process, port: int, http: aiohttp.ClientSession) -> None:
        self.process = process
        self.port = port
        self._http = http
        self._pages: list[Page] = []

    async def new_page(self, *, width: int = 1100, height: int = 760) -> Page:
        """Open a blank tab with a fixed viewport."""
        async with self._http.put(f"http://127.0.0.1:{self.port}/json/new?about:blank") as response:
            target = await response.json()
        socket = await self._http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0)
        page = Page(socket)
        self._pages.append(page)
        await page.send("Page.enable")
        await page.send("Runtime.enable")
        await page.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        return page

    async def close(self) -> None:
        """Close every tab's connection."""
        for page in self._pages:
            await page.close()


def _write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


async def _wait_for_port(profile: Path, process: asyncio.subprocess.Process, within: float = 20.0) -> int:
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise BrowserError(f"chromium exited with {process.returncode}")
        if marker.is_file():
            first = marker.read_text().splitlines()[:1]
            if first and first[0].strip().isdigit():
                return int(first[0])
        await asyncio.sleep(0.05)
    raise BrowserError("chromium did not open its DevTools port in time")


def _stop_group(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)


@pytest.fixture
def chromium() -> Path:
    """The Chromium binary, or a skip saying what to install."""
    if not CHROMIUM.is_file():
        pytest.skip("browser tests need Debian Chromium at /usr/bin/chromium (apt-get install -y chromium)")
    if not ADAPTIVECARDS.is_file():
        pytest.skip("browser tests need the adaptivecards npm package (npm install)")
    return CHROMIUM


@pytest.fixture
async def browser(chromium: Path, tmp_path: Path) -> AsyncIterator[Browser]:
    """A fresh headless Chromium (own profile, own process group), stopped after the test."""
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    log = (tmp_path / "chromium.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        str(chromium),
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        "about:blank",
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    try:
        port = await _wait_for_port(profile, process)
        async with aiohttp.ClientSession() as http:
            running = Browser(process, port, http)
            try:
                yield running
            finally:
                await running.close()
    finally:
        _stop_group(process)
        try:
            await asyncio.wait_for(process.wait(), 5.0)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
        log.close()


@pytest.fixture
async def world(chromium: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    """What `make run` starts, with the school's class teams and the chat page's users; stopped after the test."""
    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)  # restored after the test; start_world sets its own
    started = await start_world(tls_directory=tmp_path / "tls")
    started.teams.seed_school(started.stack.school)
    try:
        yield started
    finally:
        await started.stop()
