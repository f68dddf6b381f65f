"""Microsoft 365 Agents Playground (Microsoft's local Teams emulator) against the whole app: "help" typed into the
playground comes back to it as the bot's help card.

The bot runs in process as in production (`create_assistant_app`) without an app id and with
DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS, the only way it takes the playground's unsigned activities. The playground
(npm `@microsoft/m365agentsplayground`) runs in its own process group and is driven the way its web UI drives it:
`POST /_conversation/v1/conversations/{id}/messages` to type, the `/_ws_conversation/.../stream` websocket to see
what the chat shows. Version 0.2.28 has no option to choose its listening address and phones home even with
`--disable-telemetry` (Application Insights statsbeat, Azure IMDS), so a preload binds every server it opens to
127.0.0.1 and refuses, and records, any connection or name lookup that would leave the machine; the test fails if
one was attempted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from app import ASSISTANT_KEY, create_assistant_app
from bot.actions import help as help_action
from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PLAYGROUND = ROOT / "node_modules" / "@microsoft" / "m365agentsplayground"
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
WAIT = 15.0
"""Upper bound of each wait here, so a broken run fails instead of hanging."""

LOOPBACK_PRELOAD = r"""
"use strict";
// Loaded with `node --require` before the playground: servers listen on 127.0.0.1 only; connections and name
// lookups that would leave the machine are refused and written to $PLAYGROUND_REFUSED.
const fs = require("node:fs");
const net = require("node:net");
const dns = require("node:dns");
const LOOPBACK = "127.0.0.1";

function isLoopback(host) {
  if (host === undefined || host === null || host === "" || host === "localhost") return true;
  const bare = String(host).replace(/^\[|\]$/g, "");
  return bare === "::1" || bare.startsWith("127.") || bare.startsWith("::ffff:127.");
}

function refuse(what) {
  const report = process.env.PLAYGROUND_REFUSED;
  if (report) fs.appendFileSync(report, `${what}\n`);
}

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const first = args[0];
  if (typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first))) {
    if (typeof args[1] === "string") args[1] = LOOPBACK;
    else args.splice(1, 0, LOOPBACK);
  } else if (first && typeof first === "object" && "port" in first && !("path" in first)) {
    args[0] = { ...first, host: LOOPBACK };
  }
  return listen.apply(this, args);
};

const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  const options = Array.isArray(args[0]) ? args[0][0] : args[0];
  const host = options && typeof options === "object" ? (options.path ? LOOPBACK : options.host) : args[1];
  if (!isLoopback(typeof host === "string" ? host : undefined)) {
    refuse(`connection to ${host}`);
    process.nextTick(() => this.destroy(new Error(`refused: ${host} is outside 127.0.0.1`)));
    return this;
  }
  return connect.apply(this, args);
};

const lookup = dns.lookup;
dns.lookup = function (hostname, ...rest) {
  if (!isLoopback(hostname)) {
    refuse(`name lookup of ${hostname}`);
    const callback = rest[rest.length - 1];
    const error = Object.assign(new Error(`refused: ${hostname} is outside 127.0.0.1`), { code: "ENOTFOUND" });
    process.nextTick(() => callback(error));
    return {};
  }
  return lookup.call(this, hostname, ...rest);
};
"""

QUIET_ENVIRONMENT = {
    "TEAMSAPPTESTER_BROWSER": "none",  # do not open a browser on the page
    "APPLICATION_INSIGHTS_NO_STATSBEAT": "true",  # statsbeat ignores --disable-telemetry
    "APPLICATIONINSIGHTS_CONFIGURATION_CONTENT": json.dumps(
        {"disableStatsbeat": True, "enableAutoCollectHeartbeat": False}  # the heartbeat too (every 15 minutes)
    ),
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}
"""What keeps the playground from phoning home; `--disable-telemetry` alone only stops its own events."""

# The playground's own settings from the caller's environment are dropped, so the run is the same everywhere.
_DROPPED_PREFIXES = ("M365_AGENTS_PLAYGROUND_", "TEAMSAPPTESTER_", "TEAMS_APP_TEST_TOOL_", "AUTH_CLIENT_")
_DROPPED_NAMES = {"AUTH_TENANT_ID", "BOT_ENDPOINT", "DEFAULT_CHANNEL_ID", "SEND_INSTALLATION_ACTIVITY"}


@dataclass(frozen=True)
class Playground:
    """A running playground: its base URL, the personal chat the UI opens, and who types in it."""

    url: str
    conversation_id: str
    user_id: str
    bot_id: str


def _playground_environment(tmp_path: Path) -> dict[str, str]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_DROPPED_PREFIXES) and name not in _DROPPED_NAMES
    }
    return {
        **environment,
        **QUIET_ENVIRONMENT,
        "M365_AGENTS_PLAYGROUND_LOGFILE": str(tmp_path / "playground.log"),
        "PLAYGROUND_REFUSED": str(tmp_path / "refused.txt"),
    }


@pytest.fixture
def playground_cli() -> Path:
    """The playground's CLI; a skip (a failure under CI=true) when `npm install` has not installed it."""
    cli = PLAYGROUND / "cli.js"
    if not cli.is_file():
        reason = f"the Agents Playground is not installed ({PLAYGROUND} is absent; run `npm install`)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return cli


@dataclass(frozen=True)
class Bot:
    """The running app and the URL the playground posts activities to."""

    messages_url: str
    app: web.Application


@pytest.fixture
async def bot() -> AsyncIterator[Bot]:
    """The whole app as docs/agents-playground.md runs it (no app id, unauthenticated), on a free 127.0.0.1 port."""
    values: dict[str, Any] = {
        "app_id": "",
        "app_password": "",
        "app_tenant_id": "",
        "allowed_tenants": "",
        "dangerously_allow_unauthenticated_requests": True,
        "storage_url": "memory://",
        "_env_file": None,
    }
    app = await create_assistant_app(Settings(**values))
    runner = web.AppRunner(app)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    try:
        await web.SockSite(runner, sock).start()
        yield Bot(messages_url=f"http://127.0.0.1:{port}/api/messages", app=app)
    finally:
        await runner.cleanup()
        sock.close()


def _text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


async def _listening_port(output: Path, process: asyncio.subprocess.Process) -> int:
    """The port from the playground's `Listening on N` line (it writes it when stdout is not a terminal)."""
    async with asyncio.timeout(WAIT):
        while True:
            text = await asyncio.to_thread(_text, output)
            found = re.search(r"Listening on (\d+)", text)
            if found:
                return int(found.group(1))
            if process.returncode is not None:
                pytest.fail(f"the playground exited with {process.returncode}: {text}")
            await asyncio.sleep(0.05)


def _listening_addresses(port: int) -> set[str] | None:
    """Local addresses (hex, as /proc/net/tcp* shows them) of the TCP sockets listening on `port`; None off Linux."""
    if not Path("/proc/net/tcp").exists():
        return None
    addresses: set[str] = set()
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        for line in _text(table).splitlines()[1:]:
            fields = line.split()
            address, _, hex_port = fields[1].rpartition(":")
            if fields[3] == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                addresses.add(address)
    return addresses


def _stop_group(process: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


@pytest.fixture
async def playground(playground_cli: Path, bot: Bot, tmp_path: Path) -> AsyncIterator[Playground]:
    """The playground on a free 127.0.0.1 port, pointed at the bot, in its own process group; killed afterwards."""
    preload = tmp_path / "loopback.cjs"
    preload.write_text(LOOPBACK_PRELOAD, encoding="utf-8")
    output = tmp_path / "playground.out"
    with output.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            shutil.which("node") or "node",
            "--require",
            str(preload),
            str(playground_cli),
            "--app-endpoint",
            bot.messages_url,
            "--channel-id",
            "msteams",
            "--port",
            "0",  # any free port; the playground prints the one it got
            "--disable-telemetry",
            stdout=sink,
            stderr=sink,
            cwd=tmp_path,  # it writes ./devTools/ and reads ./.m365agentsplayground.yml from here
            env=_playground_environment(tmp_path),
            start_new_session=True,
        )
    try:
        port = await _listening_port(output, process)
        addresses = await asyncio.to_thread(_listening_addresses, port)
        assert addresses in (None, {"0100007F"}), f"the playground listens beyond 127.0.0.1: {addresses}"
        url = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http, http.get(f"{url}/_internal/v1/config") as response:
            config: dict[str, Any] = (await response.json())["config"]
        yield Playground(
            url=url,
            conversation_id=config["personalChat"]["id"],
            user_id=config["currentUser"]["id"],
            bot_id=config["bot"]["id"],
        )
    finally:
        _stop_group(process, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 5.0)
        except TimeoutError:
            _stop_group(process, signal.SIGKILL)
            await process.wait()


async def _bot_message(socket_: aiohttp.ClientWebSocketResponse, playground: Playground) -> dict[str, Any]:
    """The next message the bot posted to the personal chat, as the playground's chat pane receives it."""
    async with asyncio.timeout(WAIT):
        async for frame in socket_:
            if frame.type is not aiohttp.WSMsgType.TEXT:
                continue
            event: dict[str, Any] = json.loads(frame.data)
            message: dict[str, Any] = event.get("message") or {}
            if (
                event.get("action") == "createMessage"
                and event.get("actionConversationId") == playground.conversation_id
                and (message.get("from") or {}).get("id") == playground.bot_id
            ):
                return message
    pytest.fail("the playground's conversation stream closed before the bot answered")


async def test_help_typed_in_the_playground_comes_back_as_the_help_card(
    playground: Playground, bot: Bot, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with aiohttp.ClientSession() as http:
        stream = await http.ws_connect(
            f"{playground.url.replace('http', 'ws', 1)}/_ws_conversation/v1/conversations/stream"
        )
        try:
            async with http.post(
                f"{playground.url}/_conversation/v1/conversations/{playground.conversation_id}/messages",
                json={"type": "text", "text": "help", "textFormat": "plain", "from": {"id": playground.user_id}},
            ) as typed:
                assert typed.status == 200, await typed.text()
            answer = await _bot_message(stream, playground)
        finally:
            await stream.close()

    cards = [a["content"] for a in answer.get("attachments", []) if a.get("contentType") == ADAPTIVE_CARD]
    assistant = bot.app[ASSISTANT_KEY]
    assert cards == [assistant.services.cards.render_view(help_action.help_view(None))]
    failures = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert not failures, f"the turn failed on the bot's side: {failures}"
    refused = tmp_path / "refused.txt"
    assert not refused.exists(), f"the playground tried to leave 127.0.0.1: {refused.read_text()}"
