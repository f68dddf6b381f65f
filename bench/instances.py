"""Throughput of grade messages with one bot instance and with two, both on one PostgreSQL database.

The load is the hosting benchmark's closed-loop figure (`bench.hosting`): the Biology 101 teachers of
`LOAD_TENANTS` tenants signed in, 200 ms per sandbox Graph request, `LOAD_CONCURRENCY` grades in flight,
`LOAD_ACTIVITIES` of them, round-robin over the teachers. Each configuration gets a fresh
sandbox and a schema of its own on one PostgreSQL server; every bot is a child process (`bench.bot_process`) built as
in production, with the same settings except PORT (one STORAGE_URL, one TOKEN_CACHE_KEY). The teachers sign in
through the first instance; the load generator then spreads activities round-robin over every instance's
/api/messages, as a load balancer without sticky sessions would.

After each run the audit rows written during it are counted: every grade must land exactly once (one audit entry per
activity). More rows than activities are duplicate writes; fewer fail the run.

The PostgreSQL server is started as `tests/pg.py` starts it (that module needs pytest, so the minimum is repeated
here): Debian's binaries, `trust` on 127.0.0.1 only, files in /dev/shm when there is one, run as `postgres` when we
are root, stopped by `pg_ctl stop` (then SIGKILL by pid) and deleted afterwards. Without the binaries every figure
of this section fails with the reason.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg  # pyright: ignore[reportMissingTypeStubs]

from bench.bot_process import BotProcess
from bench.hosting import LOAD_ACTIVITIES, LOAD_CONCURRENCY, LOAD_LATENCY_SECONDS, LOAD_TENANTS
from bench.load import LoadError, LoadResult, Message, SandboxWorld, settle_collector, spread_grades
from bot.http_transport import DirectClient, PooledTransport

FIGURES = (
    "instances1_activities_per_s",
    "instances1_p95_ms",
    "instances2_activities_per_s",
    "instances2_p95_ms",
    "instances_duplicate_writes",
)
"""Every figure `measure` reports (a number, or a "failed: ..." string)."""

SECTION_TIMEOUT_SECONDS = 150.0
LANDED_WAIT_SECONDS = 5.0
_SEARCH = "/usr/lib/postgresql"
_SERVICE_USER = "postgres"
_SUPERUSER = "postgres"
_PG_TIMEOUT = 30.0

Figures = dict[str, float | str]


class PostgresMissing(RuntimeError):
    """PostgreSQL's binaries are not installed."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:300]


def _bin_directory() -> Path:
    """The newest installed PostgreSQL's bin directory (or the one holding `initdb` on PATH).

    Raises:
        PostgresMissing: no `initdb` anywhere.
    """
    candidates = sorted(
        (path for path in Path(_SEARCH).glob("*/bin") if (path / "initdb").is_file()),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1]
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise PostgresMissing(
        f"PostgreSQL binaries not found (looked in {_SEARCH}/*/bin and PATH); install Debian's postgresql"
    )


def _as_service_user(command: list[str]) -> list[str]:
    """Run as `postgres` when we are root (the binaries refuse root)."""
    return ["runuser", "-u", _SERVICE_USER, "--", *command] if os.geteuid() == 0 else command


def _hand_over(path: Path) -> None:
    """Give a directory tree to the service user (when root)."""
    if os.geteuid() != 0:
        return
    user = pwd.getpwnam(_SERVICE_USER)
    for root, directories, files in os.walk(path):
        os.chown(root, user.pw_uid, user.pw_gid)
        for name in directories + files:
            os.chown(os.path.join(root, name), user.pw_uid, user.pw_gid, follow_symlinks=False)


def _scratch_root() -> Path:
    """A new directory for a cluster, in memory-backed /dev/shm when there is one, owned by the service user."""
    shm = Path("/dev/shm")  # noqa: S108 - a private mkdtemp directory inside it
    scratch = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    root = Path(tempfile.mkdtemp(prefix="pg-bench-", dir=scratch))
    root.chmod(0o755)
    (root / "socket").mkdir()
    _hand_over(root)
    return root


def _trust_loopback_only(data: Path) -> None:
    """Trust the local socket and 127.0.0.1 only; hand the initdb'd files to the service user."""
    (data / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n", encoding="utf-8")
    _hand_over(data)


async def _run(command: list[str]) -> None:
    process = await asyncio.create_subprocess_exec(
        *_as_service_user(command), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        async with asyncio.timeout(_PG_TIMEOUT):
            output, _ = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise RuntimeError(f"{Path(command[0]).name} did not finish within {_PG_TIMEOUT:.0f} s") from None
    if process.returncode != 0:
        text = output.decode(errors="replace").strip()[-200:]
        raise RuntimeError(f"{Path(command[0]).name} failed ({process.returncode}): {text}")


class PostgresServer:
    """A throw-away PostgreSQL cluster on 127.0.0.1; `await start()`, then `await stop()` (always)."""

    def __init__(self) -> None:
        self.port = _free_port()
        self._bin: Path | None = None
        self._root: Path | None = None
        self._pid: int | None = None

    def url(self, schema: str | None = None) -> str:
        """The `postgresql://` URL of the `postgres` database, limited to `schema` when given."""
        base = f"postgresql://{_SUPERUSER}@127.0.0.1:{self.port}/postgres"
        return f"{base}?search_path={schema}" if schema else base

    async def start(self) -> None:
        """initdb, then start the server and wait until it accepts connections.

        Raises:
            PostgresMissing: the binaries are not installed.
            RuntimeError: initdb or pg_ctl failed.
        """
        self._bin = _bin_directory()
        self._root = root = await asyncio.to_thread(_scratch_root)
        data = root / "data"
        await _run(
            [
                str(self._bin / "initdb"),
                *("-D", str(data), "-U", _SUPERUSER, "--auth=trust", "--encoding=UTF8", "--locale=C"),
                *("--no-sync", "--wal-segsize=1"),
            ]
        )
        await asyncio.to_thread(_trust_loopback_only, data)
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {root / 'socket'} "
            "-c fsync=off -c full_page_writes=off -c max_connections=200"
        )
        await _run(
            [
                str(self._bin / "pg_ctl"),
                *("start", "-w", "-t", str(int(_PG_TIMEOUT)), "-D", str(data), "-l", str(root / "server.log")),
                *("-o", options),
            ]
        )
        pid_file = await asyncio.to_thread((data / "postmaster.pid").read_text)
        self._pid = int(pid_file.split("\n", 1)[0])

    async def stop(self) -> None:
        """Stop the server (`pg_ctl stop -m fast`, SIGKILL by pid if that fails) and delete its files."""
        pid, self._pid = self._pid, None
        if pid is not None and self._bin is not None and self._root is not None:
            with contextlib.suppress(RuntimeError):
                await _run([str(self._bin / "pg_ctl"), "stop", "-m", "fast", "-D", str(self._root / "data")])
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if self._root is not None:
            await asyncio.to_thread(shutil.rmtree, self._root, True)
            self._root = None

    async def execute(self, query: str) -> Any:
        """Run one statement as the superuser and return its first value (None for a command)."""
        connection = await asyncpg.connect(self.url(), timeout=10)  # pyright: ignore[reportUnknownMemberType]
        try:
            return await connection.fetchval(query)  # pyright: ignore[reportUnknownMemberType]
        finally:
            await connection.close()  # pyright: ignore[reportUnknownMemberType]


async def _round_robin(world: SandboxWorld, urls: list[str], messages: list[Message], concurrency: int) -> LoadResult:
    """Send the messages with `concurrency` in flight, the i-th to `urls[i % len(urls)]`; time each answer.

    Raises:
        LoadError: an instance did not accept an activity.
    """
    teams = world.teams
    token = world.stack.entra.mint_channel_token(world.stack.app_id, teams.service_url)  # one token, as Teams does
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json; charset=utf-8"}
    queue: asyncio.Queue[tuple[str, Message]] = asyncio.Queue()
    for index, message in enumerate(messages):
        queue.put_nowait((urls[index % len(urls)], message))
    latencies: list[float] = []
    client = DirectClient(PooledTransport(max_connections=concurrency * 2), timeout=30.0)

    async def worker() -> None:
        while not queue.empty():
            url, (teacher, text) = queue.get_nowait()
            activity = teams.complete(teams.message(text, user=teacher))
            started = time.perf_counter()
            response = await client.request("POST", url, json=activity, headers=headers)
            latencies.append(time.perf_counter() - started)
            if response.status_code not in (200, 201, 202):
                raise LoadError(f"{url} answered {response.status_code} to a message")

    try:
        settle_collector()
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return LoadResult(len(messages), time.perf_counter() - started, latencies)
    finally:
        await client.aclose()


async def _audit_rows(server: PostgresServer, schema: str) -> int:
    return int(await server.execute(f'SELECT count(*) FROM "{schema}".audit'))  # noqa: S608 - our own name


async def _configuration(
    server: PostgresServer, root: Path, *, instances: int, token_cache_key: str, notes: list[str]
) -> tuple[LoadResult, int]:
    """One measured run with `instances` bot processes on a fresh schema and sandbox.

    Returns:
        The load result and the audit rows written during it.

    Raises:
        LoadError: sign-in failed, too few students, or fewer writes landed than activities were sent.
    """
    schema = f"bench_{instances}_{secrets.token_hex(4)}"
    await server.execute(f'CREATE SCHEMA "{schema}"')
    world = SandboxWorld(root / "tls", tenants=LOAD_TENANTS)
    bots: list[BotProcess] = []
    try:
        await world.start()
        for index in range(instances):
            settings = world.bot_settings(port=_free_port(), storage_url=server.url(schema))
            settings["token_cache_key"] = token_cache_key
            log = root / f"{schema}-bot{index}.log"
            bots.append(BotProcess(settings, environment=world.bot_environment(), log_path=log))
        await asyncio.gather(*(bot.start() for bot in bots))  # started together: the schema is migrated once
        world.point_at(bots[0].url)
        teachers, students = await world.prepare_load()
        urls = [f"{bot.url}/api/messages" for bot in bots]
        world.set_latency(LOAD_LATENCY_SECONDS)
        # Warm every bot for every teacher it may serve (their sign-in token, roster and submissions), as a running
        # deployment is: the measured grades then compare warm instances, not cold caches.
        warm = spread_grades(teachers, students, len(teachers) * len(urls))
        await _round_robin(world, urls, warm, LOAD_CONCURRENCY)
        before = await _audit_rows(server, schema)
        result = await _round_robin(world, urls, spread_grades(teachers, students, LOAD_ACTIVITIES), LOAD_CONCURRENCY)
        written = await _audit_rows(server, schema) - before
        deadline = time.perf_counter() + LANDED_WAIT_SECONDS
        while written < LOAD_ACTIVITIES and time.perf_counter() < deadline:  # a write may trail its HTTP answer
            await asyncio.sleep(0.1)
            written = await _audit_rows(server, schema) - before
        if written < LOAD_ACTIVITIES:
            raise LoadError(f"only {written} of {LOAD_ACTIVITIES} grades were audited")
        return result, written
    except Exception:
        notes.extend(
            f"instances: {instances}-instance run, bot {index} log tail: {bot.log_tail(5)}"
            for index, bot in enumerate(bots)
        )
        raise
    finally:
        await asyncio.gather(*(bot.stop() for bot in bots))
        await world.stop()


async def measure(notes: list[str] | None = None) -> Figures:
    """Run one instance, then two, on one fresh PostgreSQL server; always stop the server and every process.

    Args:
        notes: where to add remarks for the table (CPU count, the ratio of the two throughputs).

    Returns:
        Every name in `FIGURES`: a number, or "failed: <reason>".
    """
    figures: Figures = {}
    remarks: list[str] = [] if notes is None else notes
    server = PostgresServer()
    token_cache_key = base64.b64encode(secrets.token_bytes(32)).decode()
    with tempfile.TemporaryDirectory(prefix="bench-instances-") as directory:
        try:
            async with asyncio.timeout(SECTION_TIMEOUT_SECONDS):
                await server.start()
                for instances in (1, 2):
                    try:
                        result, written = await _configuration(
                            server,
                            Path(directory),
                            instances=instances,
                            token_cache_key=token_cache_key,
                            notes=remarks,
                        )
                    except Exception as error:  # noqa: BLE001 - one failed run must not stop the other
                        for name in FIGURES:
                            if name.startswith(f"instances{instances}_"):
                                figures[name] = f"failed: {_reason(error)}"
                        continue
                    figures[f"instances{instances}_activities_per_s"] = round(result.per_second, 1)
                    figures[f"instances{instances}_p95_ms"] = round(result.percentile(0.95) * 1000, 1)
                    if instances == 2:
                        figures["instances_duplicate_writes"] = float(written - LOAD_ACTIVITIES)
        except Exception as error:  # noqa: BLE001 - PostgreSQL missing or broken: report it per figure
            for name in FIGURES:
                figures.setdefault(name, f"failed: {_reason(error)}")
        finally:
            await server.stop()
    figures.setdefault("instances_duplicate_writes", "failed: the two-instance run did not finish")
    one, two = figures.get("instances1_activities_per_s"), figures.get("instances2_activities_per_s")
    if isinstance(one, float) and isinstance(two, float):
        remarks.append(
            f"instances: two bots give {two / one:.2f}x one bot's activities/s on {os.cpu_count()} CPUs "
            "(the bots, PostgreSQL, the sandbox and the load generator share them)"
        )
    return figures


def run(notes: list[str] | None = None) -> Figures:
    """Run `measure` on a fresh event loop."""
    return asyncio.run(measure(notes))


if __name__ == "__main__":
    remarks: list[str] = []
    for key, value in run(remarks).items():
        print(f"{key:30} {value}")
    for remark in remarks:
        print(remark)
