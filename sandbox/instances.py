"""Several bot instances behind one sandbox: the services started once, then any number of bots sharing a store.

`sandbox.run.start_world` starts exactly one bot; a deployment that scales out runs several, each with the same
settings except PORT, all on one PostgreSQL `STORAGE_URL` and one `TOKEN_CACHE_KEY`. `start_sandbox` starts the
Entra, Graph and Teams stand-ins; `start_instance` adds a bot built exactly as in production
(`app.create_assistant_app`, whose start-up resumes unfinished bulk jobs); `deliver` posts an activity to a chosen
instance, as a load balancer would.
"""

from __future__ import annotations

import base64
import json
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web
from pydantic import SecretStr

from app import ASSISTANT_KEY, Assistant, create_assistant_app
from bot.settings import Settings
from sandbox.http import RunningService, serve
from sandbox.run import bot_settings, trust_sandbox_ca
from sandbox.stack import RunningStack, SandboxStack, serve_stack
from sandbox.teams import TeamsChannel


def new_token_cache_key() -> str:
    """A fresh TOKEN_CACHE_KEY (base64 of 32 random bytes), to give every instance of one deployment."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Sandbox:
    """The sandbox services, started once for any number of bot instances."""

    running: RunningStack
    teams: TeamsChannel
    teams_service: RunningService
    http: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=30.0), repr=False)
    """The client `deliver` posts with."""

    @property
    def stack(self) -> SandboxStack:
        return self.running.stack

    async def stop(self) -> None:
        """Stop the stand-ins (stop the bot instances first)."""
        await self.http.aclose()
        await self.teams.aclose()
        await self.teams_service.stop()
        await self.running.stop()


@dataclass
class BotInstance:
    """One running bot: its settings, its aiohttp app and where it listens."""

    settings: Settings
    app: web.Application
    runner: web.AppRunner
    url: str

    @property
    def messages_url(self) -> str:
        return f"{self.url}/api/messages"

    @property
    def assistant(self) -> Assistant:
        """The instance's services (store, Graph, credentials), for tests to look inside."""
        return self.app[ASSISTANT_KEY]

    async def stop(self) -> None:
        """Stop listening and run the app's cleanup (its store and clients are closed)."""
        await self.runner.cleanup()


async def start_sandbox(*, tls_directory: Path | None = None) -> Sandbox:
    """Start Entra, Graph education and the Teams channel on free ports of 127.0.0.1, trusting the sandbox CA.

    Args:
        tls_directory: where the sandbox CA and certificates are kept (made if missing); the default place if None.

    Returns:
        The running sandbox; point `sandbox.teams.bot_url` at an instance (or use `deliver`).
    """
    stack = SandboxStack.build()
    running = await serve_stack(stack, tls_directory=tls_directory)
    trust_sandbox_ca(running)
    teams = TeamsChannel(stack.entra, app_id=stack.app_id, tenant_id=stack.tenant_id)
    teams.seed_school(stack.school)
    teams_service = await serve(teams, port=0)
    teams.base_url = teams_service.url
    return Sandbox(running, teams, teams_service)


async def start_instance(
    sandbox: Sandbox, *, storage_url: str, token_cache_key: str, port: int = 0, **overrides: Any
) -> BotInstance:
    """Start one bot instance on the sandbox, built as in production; its start-up resumes unfinished jobs.

    Args:
        sandbox: the running sandbox.
        storage_url: the STORAGE_URL every instance shares (a postgresql:// URL for real sharing).
        token_cache_key: the TOKEN_CACHE_KEY every instance shares (see `new_token_cache_key`).
        port: where to listen on 127.0.0.1; a free port when 0.
        **overrides: further Settings fields, the same for every instance.

    Returns:
        The running instance.
    """
    bound = port or free_port()
    settings = bot_settings(sandbox.running, bot_port=bound, storage_url=storage_url).model_copy(
        update={"token_cache_key": SecretStr(token_cache_key), **overrides}
    )
    app = await create_assistant_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", bound).start()
    except BaseException:
        await runner.cleanup()
        raise
    return BotInstance(settings, app, runner, f"http://127.0.0.1:{bound}")


async def deliver(sandbox: Sandbox, instance: BotInstance, activity: Mapping[str, Any]) -> tuple[int, Any]:
    """Post an activity to one instance, signed as the Teams channel signs it (what a load balancer forwards).

    Args:
        sandbox: the running sandbox (its channel signs the request).
        instance: the instance that receives it.
        activity: the activity; fill it once with `sandbox.teams.complete(...)` to send the same one twice.

    Returns:
        The HTTP status and the JSON body (None when empty or not JSON).

    Raises:
        httpx.HTTPError: the instance could not be reached.
    """
    teams = sandbox.teams
    full = teams.complete(activity)
    bearer = teams.entra.mint_channel_token(teams.app_id, str(full["serviceUrl"]))
    response = await sandbox.http.post(
        instance.messages_url,
        content=json.dumps(full).encode(),
        headers={"authorization": f"Bearer {bearer}", "content-type": "application/json; charset=utf-8"},
    )
    try:
        body = response.json() if response.content else None
    except ValueError:
        body = None
    return response.status_code, body
