"""`PooledTransport`: httpx requests sent over aiohttp's connection pool.

The bot talks HTTP through httpx everywhere (request building, `MockTransport` in tests, httpx's exceptions and
response model); only the bytes on the wire go through this transport. Why: httpcore's pool (httpx's default) walks
every pooled connection on every request and asks each socket whether it expired (an anyio attribute lookup plus a
`getpeername` and a `select` per connection), so with the 60-100 connections a busy process keeps open to Graph and
to the Bot Connector the pool bookkeeping cost more CPU than the turns themselves (measured: ~70% of the event
loop's time under 64 concurrent grades). aiohttp's connector, already in the process for the web server, hands out
a kept-alive connection in constant time.

Behaviour kept from httpx: the same TLS trust (`httpx.create_ssl_context`, honouring SSL_CERT_FILE), proxies from
the environment (read once per transport and host), no redirects followed, content-encoding decoded by httpx (the body
is handed over undecoded), and failures raised as httpx's exceptions (connect errors, timeouts, a server that closed
the connection).

    http = httpx.AsyncClient(transport=PooledTransport(max_connections=100))
    graph = DirectClient(PooledTransport(), timeout=10.0, base_url="https://graph.microsoft.com/v1.0")

`DirectClient` is the slice of `httpx.AsyncClient` the two hot paths (Graph requests, replies to the Bot Connector)
use, handed straight to a transport: httpx's client machinery around each request (auth flow, redirect loop, cookie
jar, event hooks) is unused by the bot and cost about 0.25 ms of CPU per request, two requests per grade.
"""

from __future__ import annotations

import json
import ssl
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
import orjson


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer read whole: the part of `httpx.Response` the bot's callers use."""

    status_code: int
    headers: Mapping[str, str]
    """Case-insensitive."""
    content: bytes

    def json(self) -> Any:
        """The body parsed as JSON.

        Raises:
            ValueError: the body is not JSON.
        """
        return parse_json(self.content)


class PooledTransport(httpx.AsyncBaseTransport):
    """An httpx transport over one aiohttp `ClientSession` (created on first use, inside the running loop)."""

    def __init__(
        self, *, max_connections: int = 100, keepalive_seconds: float = 30.0, verify: ssl.SSLContext | bool = True
    ) -> None:
        """Prepare the transport (no connection is opened yet).

        Args:
            max_connections: connections open at once, all hosts together; further requests wait for one.
            keepalive_seconds: how long an idle connection is kept for reuse.
            verify: certificate checking as httpx's `verify` (True: the system's trust store or SSL_CERT_FILE).
        """
        self._ssl = verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify=verify)
        self._max_connections = max_connections
        self._keepalive = keepalive_seconds
        self._session: aiohttp.ClientSession | None = None
        self._proxies = urllib.request.getproxies()  # read once: per request it costs more than the request itself
        self._proxy_of: dict[tuple[str, str], str | None] = {}

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, keepalive_timeout=self._keepalive, ssl=self._ssl
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                skip_auto_headers=("User-Agent",),
                cookie_jar=aiohttp.DummyCookieJar(),  # Graph and the Bot Connector set none; a jar costs per request
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send an httpx request and read the whole response (the bot's requests and answers are small JSON).

        The body is handed over as it came (content-encoding decoded by httpx, as with its own transport).

        Raises:
            httpx.ConnectError: the host could not be reached.
            httpx.ConnectTimeout / httpx.ReadTimeout / httpx.PoolTimeout: a timeout of the request's `Timeout` passed.
            httpx.RemoteProtocolError: the server closed the connection or answered something that is not HTTP.
            httpx.ReadError: the body broke off.
        """
        headers = [(name, value) for name, value in request.headers.multi_items() if name.lower() != "content-length"]
        body = await request.aread()
        timeouts = request.extensions.get("timeout", {})
        status, _, raw_headers, content = await self._exchange(
            request.method, str(request.url), headers, body, timeouts, decompress=False, request=request
        )
        return httpx.Response(
            status, headers=raw_headers, content=content, request=request, extensions={"http_version": b"HTTP/1.1"}
        )

    async def exchange(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None, timeouts: Mapping[str, Any]
    ) -> Answer:
        """Send a request without building httpx's request and response models (`DirectClient`'s path).

        Raises:
            httpx.TransportError: as `handle_async_request` raises them.
        """
        status, decoded, _, content = await self._exchange(
            method, url, headers, body, timeouts, decompress=True, request=None
        )
        return Answer(status, decoded, content)

    async def _exchange(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | list[tuple[str, str]],
        body: bytes | None,
        timeouts: Mapping[str, Any],
        *,
        decompress: bool,
        request: httpx.Request | None,
    ) -> tuple[int, Mapping[str, str], list[tuple[bytes, bytes]], bytes]:
        """Status, headers (aiohttp's case-insensitive view), the same headers raw, and the body read whole."""
        session = self._open()
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=timeouts.get("pool"),
            sock_connect=timeouts.get("connect"),
            sock_read=timeouts.get("read"),
        )
        try:
            async with session.request(
                method,
                url,
                headers=headers,
                data=body or None,
                allow_redirects=False,
                timeout=timeout,
                proxy=self._proxy(url),
                auto_decompress=decompress,
            ) as answer:
                return answer.status, answer.headers, list(answer.raw_headers), await answer.read()
        except aiohttp.ConnectionTimeoutError as error:
            raise httpx.ConnectTimeout(str(error) or "connect timeout", request=request) from error
        except aiohttp.SocketTimeoutError as error:
            raise httpx.ReadTimeout(str(error) or "read timeout", request=request) from error
        except (TimeoutError, aiohttp.ServerTimeoutError) as error:
            raise httpx.PoolTimeout(str(error) or "timed out waiting for a connection", request=request) from error
        except aiohttp.ClientConnectorError as error:
            raise httpx.ConnectError(str(error), request=request) from error
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientResponseError) as error:
            raise httpx.RemoteProtocolError(str(error), request=request) from error
        except aiohttp.ClientPayloadError as error:
            raise httpx.ReadError(str(error), request=request) from error
        except aiohttp.ClientError as error:
            raise httpx.TransportError(str(error), request=request) from error

    def _proxy(self, url: str) -> str | None:
        """The proxy for this URL from the environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY), as httpx would use."""
        parts = urllib.parse.urlsplit(url)
        key = (parts.scheme, parts.hostname or "")
        if key not in self._proxy_of:
            bypass = not self._proxies or bool(urllib.request.proxy_bypass(key[1]))
            self._proxy_of[key] = None if bypass else self._proxies.get(key[0])
        return self._proxy_of[key]

    async def aclose(self) -> None:
        """Close every pooled connection."""
        if self._session is not None:
            await self._session.close()
            self._session = None


class DirectClient:
    """`request()` as on `httpx.AsyncClient`, sent straight to a transport (no redirects, cookies, auth or hooks)."""

    def __init__(
        self, transport: httpx.AsyncBaseTransport, *, timeout: float | httpx.Timeout, base_url: str = ""
    ) -> None:
        """Wrap a transport.

        Args:
            transport: where requests go (`PooledTransport` in production, `httpx.MockTransport` in tests); owned.
            timeout: every request's connect/read/write/pool timeouts.
            base_url: prefixed to URLs that start with "/" (absolute URLs are sent as they are).
        """
        self._transport = transport
        self._timeouts = httpx.Timeout(timeout).as_dict()
        self._extensions: dict[str, Any] = {"timeout": self._timeouts}
        self._base = base_url.rstrip("/")

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        json: object = None,
    ) -> Answer:
        """Send one request and read its whole answer.

        Raises:
            httpx.TransportError: as the transport raises it (connect errors, timeouts, a closed connection).
        """
        target = self._base + url if url.startswith("/") else url
        if isinstance(self._transport, PooledTransport):  # no httpx models on the way: the hot path
            sent = dict(headers or {})
            if json is not None:
                content = json_bytes(json)
                sent.setdefault("Content-Type", "application/json")
            return await self._transport.exchange(method, target, sent, content, self._timeouts)
        request = httpx.Request(
            method, target, headers=headers, content=content, json=json, extensions=self._extensions
        )
        response = await self._transport.handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        return Answer(response.status_code, response.headers, response.content)

    async def aclose(self) -> None:
        """Close the transport (its pooled connections)."""
        await self._transport.aclose()


def parse_json(content: bytes) -> Any:
    """JSON text parsed by orjson, or by the standard library where orjson refuses it (lone surrogate escapes, NaN,
    numbers beyond a double). One difference remains: an integer beyond 64 bits comes back as a float (no activity or
    Graph answer carries one).

    Raises:
        ValueError: the text is not JSON (or not UTF-8).
    """
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return json.loads(content)


def json_bytes(value: object) -> bytes:
    """`value` as compact UTF-8 JSON: orjson, or the standard library for what orjson refuses (integers beyond 64
    bits, non-string keys), so an odd value costs time, never a failed request."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
