"""`python -m sandbox`: serve the sandbox Entra ID and Graph education on 127.0.0.1 and print how to reach them."""

from __future__ import annotations

import asyncio
import contextlib
import os

from sandbox.http import until_stopped
from sandbox.stack import RunningStack, SandboxStack, serve_stack


def describe(running: RunningStack) -> str:
    """What a developer needs to point a bot or a script at the running sandbox."""
    lines = [
        "Sandbox running (Ctrl+C stops it):",
        f"  Entra ID (AUTHORITY_HOST)   {running.authority_url}",
        f"  Graph    (GRAPH_ENDPOINT)   {running.graph_url}",
        f"  Graph state (read-only)     {running.graph_url}/_sandbox/state",
        "Environment for a bot or script using it:",
    ]
    lines += [f"  export {name}={value}" for name, value in running.environment().items()]
    return "\n".join(lines)


async def main() -> None:
    stack = SandboxStack.build()
    running = await serve_stack(
        stack,
        entra_port=int(os.environ.get("SANDBOX_ENTRA_PORT", "8443")),
        graph_port=int(os.environ.get("SANDBOX_GRAPH_PORT", "8444")),
    )
    print(describe(running), flush=True)  # noqa: T201 - this is a console program
    try:
        await until_stopped()
    finally:
        await running.stop()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
