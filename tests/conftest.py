"""Suite-wide fixtures. Any network connection outside 127.0.0.1 fails the test that makes it."""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _is_loopback(host: Any) -> bool:
    if not isinstance(host, str):
        return False
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _check(address: Any) -> None:
    if isinstance(address, tuple) and address and not _is_loopback(address[0]):  # pyright: ignore[reportUnknownArgumentType]
        raise RuntimeError(f"network access outside 127.0.0.1 is not allowed in tests: {address!r}")


def _guarded_connect(self: socket.socket, address: Any) -> None:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _check(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _check(address)
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if isinstance(host, bytes):
        host = host.decode()
    if host is not None and not _is_loopback(host):
        raise RuntimeError(f"name lookup outside 127.0.0.1 is not allowed in tests: {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:  # pyright: ignore[reportUnusedFunction]
    """Refuse connections and name lookups that leave the machine."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", _guarded_getaddrinfo)
    yield


# ---------------------------------------------------------------------------------------------------------------
# Student records never reach the logs: every record at INFO or above, across the whole suite, is checked.

_SEED = Path(__file__).resolve().parents[1] / "sandbox" / "school.json"
_FEEDBACK_IN_TESTS = ("cite your sources", "nice structure", "great thesis", "show your units", "needs an introduction")


class _RecordKeeper(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record must not break the suite
            message = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            message += f" {record.exc_info[1]!r}"
        self.lines.append(f"{record.name}: {message}")


def _forbidden_in_logs() -> list[str]:
    names: list[str] = []
    if _SEED.is_file():
        users = json.loads(_SEED.read_text(encoding="utf-8"))["users"]
        names = [user["displayName"] for user in users if user.get("primaryRole") == "student"]
    return ["eyJ", *names, *_FEEDBACK_IN_TESTS]


@pytest.fixture(scope="session", autouse=True)
def _no_student_records_in_logs() -> Iterator[None]:  # pyright: ignore[reportUnusedFunction]
    """Fails the run if a token, a student name or feedback text was logged at INFO or above."""
    keeper = _RecordKeeper()
    root = logging.getLogger()
    root.addHandler(keeper)
    # Our code's INFO records are produced and checked; third-party libraries keep their default levels.
    watched = [logging.getLogger(name) for name in ("bot", "sandbox", "app", "msal")]
    levels = [logger.level for logger in watched]
    for logger in watched:
        logger.setLevel(logging.INFO)
    yield
    root.removeHandler(keeper)
    for logger, level in zip(watched, levels, strict=True):
        logger.setLevel(level)
    forbidden = _forbidden_in_logs()
    leaks = [line for line in keeper.lines if any(word in line for word in forbidden)]
    assert not leaks, f"student records or tokens in logs at INFO+: {leaks[:5]}"
