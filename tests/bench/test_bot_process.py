"""The bot-process side: the loop watch sees a blocked loop, and a child that cannot start is reported and reaped."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from bench.bot_process import BotProcess, LoopWatch, _SlowCallbacks  # pyright: ignore[reportPrivateUsage]


async def test_the_lag_watch_sees_the_loop_blocked_and_times_the_callback() -> None:
    watch = LoopWatch()
    watch.start("lag")
    loop = asyncio.get_running_loop()
    loop.call_later(0.03, time.sleep, 0.08)  # a callback holding the loop for 80 ms
    loop.call_soon(time.sleep, 0.01)  # a quick one, not counted
    await asyncio.sleep(0.15)
    report = watch.report()
    watch.stop()
    assert report["max_lag_ms"] >= 60
    assert report["lags_over_50ms"] >= 1
    assert report["slow_callbacks"] == 1
    assert "sleep" in str(report["slowest"][0]) and " ms: " in str(report["slowest"][0])
    loop.call_soon(time.sleep, 0.06)  # after stop: no longer timed
    await asyncio.sleep(0.08)
    assert watch.report()["slow_callbacks"] == 1


async def test_debug_mode_counts_slow_callbacks() -> None:
    watch = LoopWatch()
    handler = _SlowCallbacks(watch)
    logging.getLogger("asyncio").addHandler(handler)
    try:
        watch.start("debug")
        asyncio.get_running_loop().call_soon(time.sleep, 0.06)
        await asyncio.sleep(0.1)
        report = watch.report()
    finally:
        watch.stop()
        logging.getLogger("asyncio").removeHandler(handler)
    assert report["slow_callbacks"] == 1
    assert " ms: " in str(report["slowest"][0])


async def test_a_bot_that_cannot_start_is_reported(tmp_path: Path) -> None:
    bot = BotProcess({"port": 1, "storage_url": "not-a-store://"}, environment={}, log_path=tmp_path / "bot.log")
    with pytest.raises(RuntimeError, match="exited"):
        await bot.start(within=30.0)
    await bot.stop()
    assert not _running(bot.pid)


def _running(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()
