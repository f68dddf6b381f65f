"""CPU time per inbound activity: a Teams message through auth, the bot and one reply to the Bot Connector.

Everything runs in this process (sandbox Entra and Teams channel over HTTPS, the app over HTTP), so the figure includes
the sandbox's own work (minting the channel token, verifying the bot's token, recording the reply); nothing is
subtracted. Stock botbuilder is not measured: its credentials cannot reach a non-Microsoft authority offline.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

from aiohttp import web

from app import HOSTING_KEY, create_app
from bot.settings import Settings
from bot.turn import CardActionTurn, MessageTurn, Outbox, Reply
from sandbox.entra import ConfidentialApp, Directory, Entra, Tenant
from sandbox.http import serve
from sandbox.teams import TeamsChannel
from sandbox.tls import ensure_sandbox_tls

TENANT = "aaaaaaaa-0000-4000-8000-00000000be01"
APP_ID = "11111111-2222-4333-8444-55555555be02"
SECRET = "bench-secret"  # noqa: S105 - a sandbox-only client secret
TEACHER = "cccccccc-0000-4000-8000-00000000be03"
MESSAGES = 300


class EchoRouter:
    """Answers every message with one reply."""

    async def on_message(self, turn: MessageTurn, outbox: Outbox) -> None:
        await outbox.send(Reply(text="ok"))

    async def on_card_action(self, turn: CardActionTurn, outbox: Outbox) -> Reply:
        return Reply(text="ok")


async def measure(messages: int = MESSAGES) -> dict[str, float]:
    """Send `messages` messages (after one warm-up) and report CPU and wall time per activity in milliseconds."""
    with tempfile.TemporaryDirectory() as directory:
        tls = ensure_sandbox_tls(Path(directory))
        saved = {name: os.environ.get(name) for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")}
        os.environ["REQUESTS_CA_BUNDLE"] = os.environ["SSL_CERT_FILE"] = str(tls.ca_path)
        try:
            entra = Entra(
                "https://127.0.0.1:1",
                Directory(
                    tenants=[Tenant(id=TENANT)],
                    apps=[
                        ConfidentialApp(
                            app_id=APP_ID,
                            client_secret=SECRET,
                            application_permissions={"https://api.botframework.com": []},
                        )
                    ],
                ),
            )
            entra_running = await serve(entra, ssl_context=tls.server_context())
            entra.base_url = entra_running.url
            channel = TeamsChannel(entra, app_id=APP_ID, tenant_id=TENANT)
            channel_running = await serve(channel, ssl_context=tls.server_context())
            channel.base_url = channel_running.url
            settings = Settings(
                app_id=APP_ID,
                app_password=SECRET,  # pyright: ignore[reportArgumentType]
                app_tenant_id=TENANT,
                authority_host=entra.base_url,
                bot_openid_metadata_url=f"{entra.base_url}/botframework/v1/.well-known/openidconfiguration",
            )
            app = create_app(settings, router=EchoRouter())
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            channel.bot_url = f"http://127.0.0.1:{runner.addresses[0][1]}/api/messages"
            teacher = channel.user(TEACHER, "Bench Teacher")
            try:
                await channel.send_to_bot(channel.message("warm up", user=teacher))
                cpu_start, wall_start = time.process_time(), time.perf_counter()
                for index in range(messages):
                    status, _ = await channel.send_to_bot(channel.message(f"message {index}", user=teacher))
                    if status != 201:
                        raise RuntimeError(f"message {index} answered {status}")
                cpu = time.process_time() - cpu_start
                wall = time.perf_counter() - wall_start
                hosting = app[HOSTING_KEY]
                token_requests = entra.token_requests["client_credentials"]
                clients = hosting.connectors.clients_created
            finally:
                await runner.cleanup()
                await channel.aclose()
                await channel_running.stop()
                await entra_running.stop()
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
    return {
        "activity_cpu_ms": cpu / messages * 1000,
        "activity_wall_ms": wall / messages * 1000,
        "outbound_token_requests": float(token_requests),
        "connector_clients": float(clients),
    }


def run() -> dict[str, float]:
    """Run the measurement on a fresh event loop."""
    return asyncio.run(measure())


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key}: {value:.2f}")
