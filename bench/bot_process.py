"""The bot in its own process, so hosting figures count the bot's work only.

Child side (`python -m bench.bot_process`): builds the app exactly as `python app.py` does
(`app.create_production_app`, INFO logging, aiohttp's access log) from Settings passed as JSON in the environment
variable `BENCH_BOT_SETTINGS`, and adds two loopback-only routes the benchmark drives between measurements:

    POST /_bench/watch    {"mode": "off" | "lag" | "debug"}  reset and start watching the event loop
    GET  /_bench/watch    what was seen since: max loop lag, lags over 50 ms, slow callbacks (debug mode)
    POST /_bench/profile  {"action": "start"} / {"action": "stop", "path": "..."}  (cProfile, when BENCH_PROFILE=1)

"lag" runs a watchdog task that sleeps 10 ms and records how late it wakes, and times every callback the loop runs
(`asyncio.Handle._run`, where debug mode times them) counting those of 50 ms or more; "debug" turns asyncio debug mode
on with `slow_callback_duration` = 50 ms and counts the "Executing ... took" warnings. Debug mode also records a stack
for every future, handle and task it creates, tens of objects each: at hundreds of turns a second that grows the heap
the garbage collector walks and lengthens the very callbacks it times, so "lag" measures the bot as it runs in
production and "debug" is kept as a cross-check. Watching is off while CPU is measured.

Parent side: `BotProcess` starts the child, waits for `/healthz`, reads its CPU time and RSS from /proc, and stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import json
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import STDOUT
from typing import Any, cast

import httpx
from aiohttp import web

SETTINGS_VARIABLE = "BENCH_BOT_SETTINGS"
PROFILE_VARIABLE = "BENCH_PROFILE"
LAG_INTERVAL = 0.010
SLOW = 0.050
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------------------------------------------- child side


@dataclass
class LoopWatch:
    """Watches the running loop: wake-up lag of a 10 ms watchdog, or asyncio debug mode's slow callbacks."""

    mode: str = "off"
    max_lag: float = 0.0
    lags_over_slow: int = 0
    samples: int = 0
    slow_callbacks: int = 0
    slowest: list[str] = field(default_factory=lambda: [])
    _task: asyncio.Task[None] | None = None

    def start(self, mode: str) -> None:
        """Reset the counters and watch in `mode` ("off", "lag" or "debug")."""
        self.stop()
        self.mode, self.max_lag, self.lags_over_slow, self.samples = mode, 0.0, 0, 0
        self.slow_callbacks, self.slowest = 0, []
        loop = asyncio.get_running_loop()
        if mode == "lag":
            self._task = loop.create_task(self._watch())
            _time_callbacks(self)
        elif mode == "debug":
            loop.slow_callback_duration = SLOW
            loop.set_debug(True)

    def stop(self) -> None:
        """Stop watching (the counters stay readable)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        _untime_callbacks()
        asyncio.get_running_loop().set_debug(False)

    def saw_slow_callback(self, message: str) -> None:
        """A slow-callback warning from asyncio (debug mode)."""
        self.slow_callbacks += 1
        if len(self.slowest) < 10:
            self.slowest.append(message)

    def report(self) -> dict[str, Any]:
        """What was seen since `start`."""
        return {
            "mode": self.mode,
            "max_lag_ms": round(self.max_lag * 1000, 2),
            "lags_over_50ms": self.lags_over_slow,
            "samples": self.samples,
            "slow_callbacks": self.slow_callbacks,
            "slowest": self.slowest,
        }

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(LAG_INTERVAL)
            lag = loop.time() - before - LAG_INTERVAL
            self.samples += 1
            self.max_lag = max(self.max_lag, lag)
            if lag > SLOW:
                self.lags_over_slow += 1


_HANDLE_RUN = asyncio.Handle._run  # pyright: ignore[reportPrivateUsage]


def _time_callbacks(watch: LoopWatch) -> None:
    """Time every callback the loop runs (timer callbacks too: TimerHandle is a Handle) until `_untime_callbacks`."""
    run = _HANDLE_RUN
    clock = time.perf_counter

    def timed(handle: asyncio.Handle) -> None:
        started = clock()
        run(handle)
        took = clock() - started
        if took >= SLOW:
            watch.saw_slow_callback(f"{took * 1000:.0f} ms: {str(handle)[:240]}")

    asyncio.Handle._run = timed  # type: ignore[method-assign]  # pyright: ignore[reportAttributeAccessIssue]


def _untime_callbacks() -> None:
    asyncio.Handle._run = _HANDLE_RUN  # type: ignore[method-assign]  # pyright: ignore[reportAttributeAccessIssue]


class _SlowCallbacks(logging.Handler):
    """Counts asyncio's "Executing <handle> took 0.123 seconds" warnings."""

    def __init__(self, watch: LoopWatch) -> None:
        super().__init__(logging.WARNING)
        self._watch = watch

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, str) and record.msg.startswith("Executing ") and len(record.args or ()) == 2:
            handle, seconds = cast(tuple[object, float], record.args)
            self._watch.saw_slow_callback(f"{float(seconds) * 1000:.0f} ms: {str(handle)[:240]}")


def _bench_routes(app: web.Application, watch: LoopWatch) -> None:
    profiler: list[cProfile.Profile] = []

    async def set_watch(request: web.Request) -> web.Response:
        body = await request.json()
        watch.start(str(body.get("mode", "off")))
        return web.json_response({"mode": watch.mode})

    async def get_watch(_: web.Request) -> web.Response:
        report = watch.report()
        watch.stop()
        return web.json_response(report)

    async def profile(request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("action") == "start":
            profiler[:] = [cProfile.Profile()]
            profiler[0].enable()
        elif profiler:
            profiler[0].disable()
            profiler[0].dump_stats(str(body["path"]))
            profiler.clear()
        return web.json_response({"ok": True})

    app.router.add_post("/_bench/watch", set_watch)
    app.router.add_get("/_bench/watch", get_watch)
    if os.environ.get(PROFILE_VARIABLE) == "1":
        app.router.add_post("/_bench/profile", profile)


async def serve_bot() -> None:
    """Child entry: the production app plus the bench routes, until SIGTERM."""
    from app import create_production_app  # imported here: the import time is part of the measured start-up
    from bot.settings import Settings

    settings = Settings(**json.loads(os.environ[SETTINGS_VARIABLE]))
    watch = LoopWatch()
    logging.getLogger("asyncio").addHandler(_SlowCallbacks(watch))
    app = await create_production_app(settings)
    _bench_routes(app, watch)
    runner = web.AppRunner(app)  # aiohttp's access log on, as under `web.run_app` in `python app.py`
    await runner.setup()
    await web.TCPSite(runner, settings.host, settings.port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        watch.stop()
        await runner.cleanup()


# ---------------------------------------------------------------------------------------------------- parent side


class BotProcess:
    """The bot running in a child process; `start()` then `stop()` (always, in a finally)."""

    def __init__(self, settings: dict[str, Any], *, environment: dict[str, str], log_path: Path) -> None:
        """Prepare (not start) the child.

        Args:
            settings: Settings fields by name (secrets as plain strings); passed in the environment, never argv.
            environment: extra environment variables (the sandbox CA for MSAL and httpx).
            log_path: where the child's stdout and stderr (its logs) go.
        """
        self._settings = settings
        self._environment = environment
        self.log_path = log_path
        self.url = f"http://{settings.get('host', '127.0.0.1')}:{settings['port']}"
        self._process: asyncio.subprocess.Process | None = None
        self._log: Any = None

    @property
    def pid(self) -> int:
        """The child's process id.

        Raises:
            RuntimeError: not started.
        """
        if self._process is None:
            raise RuntimeError("the bot process is not running")
        return self._process.pid

    async def start(self, *, within: float = 60.0) -> float:
        """Start the child and wait until `/healthz` answers 200.

        Args:
            within: seconds to wait for the first 200.

        Returns:
            Seconds from process start to the first 200.

        Raises:
            RuntimeError: the child exited or did not become healthy in time.
        """
        environment = {**os.environ, **self._environment, SETTINGS_VARIABLE: json.dumps(self._settings)}
        self._log = self.log_path.open("wb")
        started = time.perf_counter()
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.bot_process", cwd=ROOT, env=environment, stdout=self._log, stderr=STDOUT
        )
        async with httpx.AsyncClient(timeout=1.0) as client:
            while time.perf_counter() - started < within:
                if self._process.returncode is not None:
                    raise RuntimeError(f"the bot exited with {self._process.returncode}: {self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.url}/healthz")).status_code == 200:
                        return time.perf_counter() - started
                await asyncio.sleep(0.01)
        raise RuntimeError(f"the bot did not answer /healthz within {within:.0f} s: {self.log_tail()}")

    def cpu_seconds(self) -> float:
        """User + system CPU seconds the child has used so far (all its threads), from /proc/<pid>/stat."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "; fields[0] is field 3 (state)
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS

    def rss_mb(self) -> float:
        """Resident set size in MiB (VmRSS from /proc/<pid>/status)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS in /proc status")

    async def watch(self, client: httpx.AsyncClient, mode: str) -> None:
        """Reset the child's loop watch and start watching in `mode` ("off", "lag" or "debug")."""
        response = await client.post(f"{self.url}/_bench/watch", json={"mode": mode})
        response.raise_for_status()

    async def watched(self, client: httpx.AsyncClient) -> dict[str, Any]:
        """What the loop watch saw since `watch`, and stop watching."""
        response = await client.get(f"{self.url}/_bench/watch")
        response.raise_for_status()
        return dict(response.json())

    async def profile(self, client: httpx.AsyncClient, action: str, path: Path | None = None) -> None:
        """Start or stop (and dump to `path`) cProfile in the child; needs BENCH_PROFILE=1 in its environment."""
        body: dict[str, str] = {"action": action}
        if path is not None:
            body["path"] = str(path)
        (await client.post(f"{self.url}/_bench/profile", json=body)).raise_for_status()

    def log_tail(self, lines: int = 15) -> str:
        """The last lines the child wrote (for failure messages)."""
        if self._log is not None:
            self._log.flush()
        try:
            return " | ".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def stop(self, *, within: float = 10.0) -> None:
        """SIGTERM, wait up to `within` seconds, then SIGKILL if it has not exited."""
        process = self._process
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(within):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


def main() -> None:
    """Child entry point."""
    logging.basicConfig(level=logging.INFO)
    asyncio.run(serve_bot())


if __name__ == "__main__":
    main()
