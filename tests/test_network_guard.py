"""The suite's network guard is itself tested: a connection outside 127.0.0.1 must fail."""

import socket

import pytest


def test_connection_outside_loopback_is_refused() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock, pytest.raises(RuntimeError, match="not allowed"):
        sock.connect(("192.0.2.1", 443))


def test_name_lookup_outside_loopback_is_refused() -> None:
    with pytest.raises(RuntimeError, match="not allowed"):
        socket.getaddrinfo("graph.microsoft.com", 443)


def test_loopback_is_allowed() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
            client.connect(server.getsockname())
