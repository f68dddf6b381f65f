"""`make run`: the sandbox (Entra ID, Graph education, Teams channel) and the bot wired to it, on 127.0.0.1.

The bot is built exactly as in production (`app.create_assistant_app`) from Settings that point at the sandbox's
URLs; the sandbox Teams channel signs what it sends to the bot with channel tokens from the sandbox Entra.
`start_world` is also what end-to-end tests use.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from pydantic import SecretStr

from app import create_assistant_app
from bot.settings import Settings
from sandbox.http import RunningService, serve, until_stopped
from sandbox.stack import RunningStack, SandboxStack, serve_stack
from sandbox.teams import TeamsChannel


@dataclass
class World:
    """Everything `make run` starts, with the handles tests need."""

    running: RunningStack
    teams: TeamsChannel
    teams_service: RunningService
    settings: Settings
    bot_runner: web.AppRunner
    bot_url: str

    @property
    def stack(self) -> SandboxStack:
        return self.running.stack

    @property
    def chat_url(self) -> str:
        return self.teams_service.url

    async def stop(self) -> None:
        await self.bot_runner.cleanup()
        await self.teams.aclose()
        await self.teams_service.stop()
        await self.running.stop()


def bot_settings(running: RunningStack, *, bot_port: int, storage_url: str) -> Settings:
    """The bot's settings for this sandbox: production names, sandbox URLs, every sandbox tenant allowed."""
    environment = running.environment()
    return Settings(
        app_id=environment["MicrosoftAppId"],
        app_password=environment["MicrosoftAppPassword"],  # pyright: ignore[reportArgumentType]
        app_tenant_id=environment["MicrosoftAppTenantId"],
        allowed_tenants=environment.get("ALLOWED_TENANTS", ""),
        authority_host=running.authority_url,
        graph_endpoint=running.graph_url,
        bot_openid_metadata_url=f"{running.authority_url}/botframework/v1/.well-known/openidconfiguration",
        bot_token_issuer="https://api.botframework.com",
        port=bot_port,
        storage_url=SecretStr(storage_url),
    )


def trust_sandbox_ca(running: RunningStack) -> None:
    """MSAL (requests) and httpx read these: the bot trusts the sandbox's own CA, as it would a real one."""
    os.environ["SSL_CERT_FILE"] = str(running.tls.ca_path.resolve())
    os.environ["REQUESTS_CA_BUNDLE"] = str(running.tls.ca_path.resolve())
    os.environ.pop("CURL_CA_BUNDLE", None)


async def start_world(
    *,
    entra_port: int = 0,
    graph_port: int = 0,
    teams_port: int = 0,
    bot_port: int = 0,
    storage_url: str = "memory://",
    tls_directory: Path | None = None,
    tenants: int = 1,
) -> World:
    """Start the sandbox services and the bot on 127.0.0.1 (port 0 = any free port).

    With `tenants` > 1 the sandbox serves that many schools (`SandboxStack.build(tenants=...)`), the Teams channel
    knows every school's users and class teams, and the bot accepts activities from all of them.
    """
    stack = SandboxStack.build(tenants=tenants)
    running = await serve_stack(stack, tls_directory=tls_directory, entra_port=entra_port, graph_port=graph_port)
    trust_sandbox_ca(running)
    teams = TeamsChannel(stack.entra, app_id=stack.app_id, tenant_id=stack.tenant_id)
    for index in reversed(range(stack.tenant_count)):  # tenant 0 last: its people are the chat page's personas
        teams.seed_school(stack.tenant(index).school)
    teams_service = await serve(teams, port=teams_port)
    teams.base_url = teams_service.url

    runner_port = bot_port or _free_port()
    settings = bot_settings(running, bot_port=runner_port, storage_url=storage_url)
    app = await create_assistant_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", runner_port)
    await site.start()
    bot_url = f"http://127.0.0.1:{runner_port}"
    teams.bot_url = f"{bot_url}/api/messages"
    return World(running, teams, teams_service, settings, runner, bot_url)


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def describe(world: World) -> str:
    """What a newcomer needs: where to chat, and where each stand-in runs."""
    return "\n".join(
        [
            "Grading Assistant running on the sandbox (Ctrl+C stops it).",
            f"  Chat (Teams stand-in)    {world.chat_url}/",
            f"  Bot endpoint             {world.bot_url}/api/messages   (health: {world.bot_url}/healthz)",
            f"  Entra ID stand-in        {world.running.authority_url}",
            f"  Graph education stand-in {world.running.graph_url}   (state: {world.running.graph_url}/_sandbox/state)",
            "Open the chat page, pick Dana Whitfield (teaches Biology 101 and 7B English) in the switcher and type:",
            "  grade Alice 85 on Essay 2 in Biology 101",
        ]
    )


async def main() -> None:
    world = await start_world(
        entra_port=int(os.environ.get("SANDBOX_ENTRA_PORT", "8443")),
        graph_port=int(os.environ.get("SANDBOX_GRAPH_PORT", "8444")),
        teams_port=int(os.environ.get("SANDBOX_TEAMS_PORT", "8445")),
        bot_port=int(os.environ.get("PORT", "3978")),
        storage_url=os.environ.get("STORAGE_URL", "sqlite:///data/assistant.db"),
    )
    print(describe(world), flush=True)  # noqa: T201 - a console program
    try:
        await until_stopped()
    finally:
        await world.stop()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
