"""A real PostgreSQL server for the test session, on 127.0.0.1 with a free port, in a temporary directory.

Debian's binaries (`/usr/lib/postgresql/<version>/bin`) refuse to run as root, so as root the cluster is created and
run as the `postgres` user (`runuser -u postgres --`) with the data directory owned by it. Authentication is `trust`,
for the local socket and 127.0.0.1 only. Files live in /dev/shm when it exists (the disk is far slower). `initdb`
runs once per session into a template directory; each server is a copy of it (a second server, for a test that kills
its own, costs a fraction of a second). Every server is stopped by its pid (`pg_ctl stop -m immediate`) when the
process exits, or earlier by the test that owns it.

Without the binaries the PostgreSQL tests are skipped, except under CI (`CI=true`), where they fail.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg  # pyright: ignore[reportMissingTypeStubs]
import pytest

_SEARCH = "/usr/lib/postgresql"
_SERVICE_USER = "postgres"
_SUPERUSER = "postgres"
_START_TIMEOUT = 30


def _bin_directory() -> Path | None:
    """The newest installed PostgreSQL's bin directory (or the one holding `initdb` on PATH)."""
    candidates = sorted(
        (path for path in Path(_SEARCH).glob("*/bin") if (path / "initdb").is_file()),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1]
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def require_binaries() -> Path:
    """The bin directory, or skip the test (fail it under CI) when PostgreSQL is not installed."""
    directory = _bin_directory()
    if directory is not None:
        return directory
    message = f"PostgreSQL binaries not found (looked in {_SEARCH}/*/bin and PATH); install Debian's postgresql"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: the multi-instance tests must run)", pytrace=False)
    pytest.skip(message)


def _scratch_directory() -> str | None:
    """Memory-backed /dev/shm when there is one (a cluster's ~1000 files copy and sync there in milliseconds)."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_service_user(command: list[str]) -> list[str]:
    """Run as `postgres` when we are root (the binaries refuse root)."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", _SERVICE_USER, "--", *command]


def _hand_over(path: Path) -> None:
    """Give a directory tree to the service user (when root)."""
    if os.geteuid() != 0:
        return
    user = pwd.getpwnam(_SERVICE_USER)
    for root, directories, files in os.walk(path):
        os.chown(root, user.pw_uid, user.pw_gid)
        for name in directories + files:
            os.chown(os.path.join(root, name), user.pw_uid, user.pw_gid, follow_symlinks=False)


def _run(command: list[str], *, timeout: float = _START_TIMEOUT) -> None:
    result = subprocess.run(_as_service_user(command), capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603 - our own arguments
    if result.returncode != 0:
        raise RuntimeError(f"{Path(command[0]).name} failed ({result.returncode}): {result.stderr or result.stdout}")


@dataclass
class PostgresServer:
    """One running PostgreSQL cluster on 127.0.0.1."""

    bin_directory: Path
    root: Path
    port: int
    pid: int | None = None

    @property
    def data_directory(self) -> Path:
        return self.root / "data"

    @property
    def socket_directory(self) -> Path:
        return self.root / "socket"

    def url(self, database: str = "postgres") -> str:
        """The `postgresql://` URL of a database on this server."""
        return f"postgresql://{_SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-p {self.port}",
                f"-k {self.socket_directory}",
                "-c fsync=off",
                "-c full_page_writes=off",
                "-c max_connections=200",
            ]
        )
        _run(
            [
                str(self.bin_directory / "pg_ctl"),
                "start",
                "-w",
                "-t",
                str(_START_TIMEOUT),
                "-D",
                str(self.data_directory),
                "-l",
                str(self.root / "server.log"),
                "-o",
                options,
            ]
        )
        pid_line = (self.data_directory / "postmaster.pid").read_text().split("\n", 1)[0]
        self.pid = int(pid_line)

    def kill(self) -> None:
        """Stop the server at once, as a crash would (`pg_ctl stop -m immediate`, SIGKILL by pid if that fails).

        Its files stay, so `start()` brings the same databases back.
        """
        pid, self.pid = self.pid, None
        if pid is None:
            return
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            _run([str(self.bin_directory / "pg_ctl"), "stop", "-m", "immediate", "-D", str(self.data_directory)])
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)

    def remove(self) -> None:
        """Kill the server and delete its files."""
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)


class _Cluster:
    """The session's initdb template and the servers made from it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._template: Path | None = None
        self._servers: list[PostgresServer] = []
        self._shared: PostgresServer | None = None
        self._base: Path | None = None
        atexit.register(self.stop_all)

    def _template_directory(self, bin_directory: Path) -> Path:
        if self._template is not None:
            return self._template
        base = Path(tempfile.mkdtemp(prefix="pg-test-", dir=_scratch_directory()))
        base.chmod(0o755)
        _hand_over(base)
        template = base / "template"
        _run(
            [
                str(bin_directory / "initdb"),
                "-D",
                str(template),
                "-U",
                _SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--wal-segsize=1",
            ]
        )
        # Trust only the local socket and 127.0.0.1.
        (template / "pg_hba.conf").write_text(
            "local all all trust\nhost all all 127.0.0.1/32 trust\n", encoding="utf-8"
        )
        _hand_over(template)
        self._base, self._template = base, template
        return template

    def new_server(self) -> PostgresServer:
        """Start a server of its own (copied from the template)."""
        bin_directory = require_binaries()
        with self._lock:
            template = self._template_directory(bin_directory)
            assert self._base is not None
            root = self._base / f"server-{uuid.uuid4().hex[:8]}"
            root.mkdir()
            shutil.copytree(template, root / "data")
            (root / "data").chmod(0o700)
            (root / "socket").mkdir()
            _hand_over(root)
            server = PostgresServer(bin_directory=bin_directory, root=root, port=free_port())
            self._servers.append(server)
        try:
            server.start()
        except BaseException:
            server.remove()
            raise
        return server

    def shared(self) -> PostgresServer:
        """The session's server, started on first use."""
        if self._shared is None:
            self._shared = self.new_server()
        return self._shared

    def stop_all(self) -> None:
        for server in self._servers:
            server.remove()
        self._servers.clear()
        self._shared = None
        if self._base is not None:
            shutil.rmtree(self._base, ignore_errors=True)
            self._base, self._template = None, None


CLUSTER = _Cluster()
"""Process-wide: every test module shares one server however many fixtures ask for it."""


async def create_isolated(server: PostgresServer) -> str:
    """Create an empty schema (`test_<uuid>`) and return a URL whose connections use only it.

    A schema per test isolates tests as a database per test would, in milliseconds instead of the ~0.4 s a
    `CREATE DATABASE` takes. The URL carries `?search_path=...`, which asyncpg sends as a server setting.
    """
    name = f"test_{uuid.uuid4().hex}"
    connection = await asyncpg.connect(server.url(), timeout=10)  # pyright: ignore[reportUnknownMemberType]
    try:
        await connection.execute(f'CREATE SCHEMA "{name}"')  # pyright: ignore[reportUnknownMemberType]
    finally:
        await connection.close()  # pyright: ignore[reportUnknownMemberType]
    return f"{server.url()}?search_path={name}"


async def drop_isolated(server: PostgresServer, url: str) -> None:
    """Drop a schema made by `create_isolated`, with everything in it."""
    name = url.rsplit("search_path=", 1)[-1]
    connection = await asyncpg.connect(server.url(), timeout=10)  # pyright: ignore[reportUnknownMemberType]
    try:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')  # pyright: ignore[reportUnknownMemberType]
    finally:
        await connection.close()  # pyright: ignore[reportUnknownMemberType]
