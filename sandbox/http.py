"""The real-HTTP face of any sandbox service: one catch-all aiohttp route, served on loopback only."""

from __future__ import annotations

import asyncio
import ipaddress
import signal
import ssl
from dataclasses import dataclass

from aiohttp import web

from sandbox.core import SandboxRequest, Service

_HOP_BY_HOP = frozenset({"content-length", "transfer-encoding", "connection"})


def aiohttp_app(service: Service) -> web.Application:
    """An aiohttp application that hands every request, whatever its method and path, to `service.handle`."""

    async def dispatch(request: web.Request) -> web.StreamResponse:
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        query = {name: request.query[name] for name in request.query}
        sandbox_request = SandboxRequest(
            method=request.method,
            path=request.path,
            query=query,
            headers=headers,
            body=await request.read(),
            base_url=f"{request.scheme}://{request.host}",
        )
        response = await service.handle(sandbox_request)
        response_headers = {name: value for name, value in response.headers.items() if name.lower() not in _HOP_BY_HOP}
        return web.Response(status=response.status, headers=response_headers, body=response.body)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app


@dataclass
class RunningService:
    """A service listening on 127.0.0.1; `await stop()` (or leave `async with`) to close it."""

    url: str
    port: int
    _runner: web.AppRunner

    async def stop(self) -> None:
        """Close the listener and any open connections."""
        await self._runner.cleanup()

    async def __aenter__(self) -> RunningService:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()


async def serve(
    service: Service, *, host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None
) -> RunningService:
    """Serve `service` over HTTP(S) on a loopback address.

    Args:
        service: anything with `async handle(SandboxRequest) -> SandboxResponse`.
        host: a loopback address; anything else is refused so the sandbox is never reachable from the network.
        port: the port, 0 for an ephemeral one.
        ssl_context: a server context (`SandboxTls.server_context()`) for HTTPS; plain HTTP when None.

    Returns:
        The running service with its base URL (e.g. `https://127.0.0.1:51234`) and port.

    Raises:
        ValueError: `host` is not a loopback address.
        OSError: the port cannot be bound.
    """
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"the sandbox only listens on loopback addresses, not {host}")
    runner = web.AppRunner(aiohttp_app(service), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    bound_port = int(runner.addresses[0][1])
    scheme = "https" if ssl_context else "http"
    netloc = f"[{host}]" if ":" in host else host
    return RunningService(url=f"{scheme}://{netloc}:{bound_port}", port=bound_port, _runner=runner)


async def until_stopped() -> None:
    """Wait for Ctrl+C or SIGTERM (console runners: `python -m sandbox`, `make run`)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
