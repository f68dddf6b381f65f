"""`PooledTransport`: what httpx callers see is what httpx's own transport gives them, over aiohttp's pool."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web

from bot.http_transport import DirectClient, PooledTransport, json_bytes, parse_json

PEERS = web.AppKey("peers", set[int])


class Server:
    def __init__(self, url: str, peers: set[int]) -> None:
        self.url = url
        self.peers = peers


async def _echo(request: web.Request) -> web.Response:
    request.app[PEERS].add(request.transport.get_extra_info("peername")[1] if request.transport else 0)
    body = await request.read()
    return web.json_response(
        {
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "authorization": request.headers.get("authorization"),
            "prefer": request.headers.get("prefer"),
            "body": json.loads(body) if body else None,
        },
        status=201,
        headers={"request-id": "r-1", "retry-after": "3"},
    )


async def _gzipped(_: web.Request) -> web.Response:
    return web.Response(
        body=gzip.compress(b'{"value": [1, 2, 3]}'),
        headers={"content-encoding": "gzip", "content-type": "application/json"},
    )


async def _slow(_: web.Request) -> web.Response:
    await asyncio.sleep(1.0)
    return web.Response(text="late")


async def _hang_up(request: web.Request) -> web.Response:
    if request.transport is not None:
        request.transport.close()
    await asyncio.sleep(0.1)
    return web.Response(text="never sent")


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    app = web.Application()
    app[PEERS] = set[int]()
    app.router.add_route("*", "/echo", _echo)
    app.router.add_get("/gzip", _gzipped)
    app.router.add_get("/slow", _slow)
    app.router.add_get("/hang-up", _hang_up)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield Server(f"http://127.0.0.1:{runner.addresses[0][1]}", app[PEERS])
    await runner.cleanup()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=PooledTransport(max_connections=4), timeout=5.0) as http:
        yield http


async def test_request_and_answer_arrive_whole(server: Server, client: httpx.AsyncClient) -> None:
    response = await client.patch(
        f"{server.url}/echo",
        params={"$select": "id,status"},
        json={"points": {"points": 85}},
        headers={"authorization": "Bearer x", "prefer": "include-unknown-enum-members"},
    )
    assert response.status_code == 201
    assert response.headers["request-id"] == "r-1" and response.headers["retry-after"] == "3"
    assert response.json() == {
        "method": "PATCH",
        "path": "/echo",
        "query": {"$select": "id,status"},
        "authorization": "Bearer x",
        "prefer": "include-unknown-enum-members",
        "body": {"points": {"points": 85}},
    }


async def test_compressed_answers_are_decoded_by_httpx(server: Server, client: httpx.AsyncClient) -> None:
    response = await client.get(f"{server.url}/gzip")
    assert response.json() == {"value": [1, 2, 3]}


async def test_connections_are_kept_alive_and_reused(server: Server, client: httpx.AsyncClient) -> None:
    for _ in range(20):
        assert (await client.get(f"{server.url}/echo")).status_code == 201
    assert len(server.peers) == 1
    await asyncio.gather(*(client.get(f"{server.url}/echo") for _ in range(20)))
    assert len(server.peers) <= 4  # never more than max_connections at once


async def test_an_unreachable_host_is_a_connect_error(client: httpx.AsyncClient) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: refused
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{port}/")


async def test_a_slow_answer_is_a_read_timeout(server: Server) -> None:
    async with httpx.AsyncClient(transport=PooledTransport(), timeout=httpx.Timeout(5.0, read=0.1)) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get(f"{server.url}/slow")


async def test_a_server_that_hangs_up_is_a_protocol_error(server: Server, client: httpx.AsyncClient) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        await client.get(f"{server.url}/hang-up")


async def test_a_closed_transport_opens_again_on_the_next_request(server: Server) -> None:
    transport = PooledTransport()
    async with httpx.AsyncClient(transport=transport) as http:
        assert (await http.get(f"{server.url}/echo")).status_code == 201
        await transport.aclose()
        assert (await http.get(f"{server.url}/echo")).status_code == 201


async def test_direct_client_sends_what_an_httpx_client_would(server: Server) -> None:
    direct = DirectClient(PooledTransport(), timeout=5.0, base_url=server.url + "/")
    try:
        relative = await direct.request("POST", "/echo?$top=1", json={"a": 1}, headers={"prefer": "p"})
        absolute = await direct.request("PUT", f"{server.url}/echo", content=b'{"b": 2}')
    finally:
        await direct.aclose()
    assert relative.status_code == 201
    assert relative.json() | {"authorization": None} == {
        "method": "POST",
        "path": "/echo",
        "query": {"$top": "1"},
        "authorization": None,
        "prefer": "p",
        "body": {"a": 1},
    }
    assert absolute.json()["method"] == "PUT" and absolute.json()["body"] == {"b": 2}


async def test_direct_client_applies_its_timeout(server: Server) -> None:
    direct = DirectClient(PooledTransport(), timeout=httpx.Timeout(5.0, read=0.1), base_url=server.url)
    try:
        with pytest.raises(httpx.ReadTimeout):
            await direct.request("GET", "/slow")
    finally:
        await direct.aclose()


async def test_direct_client_works_over_a_mock_transport() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    direct = DirectClient(httpx.MockTransport(answer), timeout=1.0, base_url="https://graph.example/v1.0")
    response = await direct.request("GET", "/education/classes")
    assert response.json() == {"ok": True}
    assert str(seen[0].url) == "https://graph.example/v1.0/education/classes"


async def test_direct_client_answers_are_decoded_and_headers_case_insensitive(server: Server) -> None:
    direct = DirectClient(PooledTransport(), timeout=5.0, base_url=server.url)
    try:
        compressed = await direct.request("GET", "/gzip")
        echoed = await direct.request("GET", "/echo")
    finally:
        await direct.aclose()
    assert compressed.json() == {"value": [1, 2, 3]}
    assert echoed.headers["Request-Id"] == echoed.headers["request-id"] == "r-1"
    assert echoed.headers.get("RETRY-AFTER") == "3"


def test_json_bytes_takes_what_orjson_refuses() -> None:
    assert json.loads(json_bytes({"a": 2**70, "b": "é"})) == {"a": 2**70, "b": "é"}
    assert json.loads(json_bytes({1: True})) == {"1": True}
    assert json_bytes({"points": 85.0, "names": ["Núñez"]}) == '{"points":85.0,"names":["Núñez"]}'.encode()


def test_parse_json_reads_what_the_standard_library_reads() -> None:
    for text in ('{"a": [1, 2.5, "é"]}', '"\\ud800"', "[1e400]"):
        assert repr(parse_json(text.encode())) == repr(json.loads(text))
    assert parse_json(b"123456789012345678901234567890") == 1.2345678901234568e29  # beyond 64 bits: a float
    with pytest.raises(ValueError):
        parse_json(b"{not json")
