"""`POST /api/messages`: the HTTP edge in front of botbuilder's CloudAdapter.

botbuilder 4.17.1's `CloudAdapter.process` answers 500 for a missing Content-Type, malformed JSON and every malformed,
mis-signed or unknown-key token, and serialises invoke bodies twice (500 for adaptiveCard/action). This edge checks the
request first and hands the adapter an already authenticated request (`process_activity(AuthenticateRequestResult)`):

    missing / non-JSON Content-Type -> 415     body over `max_body_bytes` -> 413
    malformed JSON / not an activity (no type, no conversation id) -> 400
    no or invalid channel token -> 401        valid token, wrong serviceUrl or channel endorsement -> 403
    tenant outside ALLOWED_TENANTS -> ignored: no router call, no reply; 201 for activities, 403 for invokes
    bot failure -> 500 (logged; no exception text in the response)
    the app is shutting down (`drain`) -> 503 with Retry-After, before anything is read

`drain` is what a graceful shutdown awaits: new activities are refused from then on (so the Bot Framework service
delivers them again later, to this instance after its restart or to another one) and the turns already running are
given time to finish, their Graph writes and replies included.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, Final, cast

from aiohttp import web
from botbuilder.core import InvokeResponse, TurnContext  # pyright: ignore[reportMissingTypeStubs]
from botbuilder.integration.aiohttp import CloudAdapter  # pyright: ignore[reportMissingTypeStubs]
from msrest.serialization import Model

from bot.hosting.activity_reader import read_activity
from bot.hosting.channel_auth import ChannelAuthError
from bot.hosting.connectors import TeamsBotFrameworkAuthentication
from bot.hosting.json_shapes import as_object
from bot.http_transport import parse_json

logger = logging.getLogger(__name__)

MAX_BODY_BYTES: Final = 256 * 1024
DRAINING_RETRY_AFTER_SECONDS: Final = 10
"""The Retry-After of the 503 answered while the app drains (a restart takes about this long)."""

TurnHandler = Callable[[TurnContext], Awaitable[None]]


def activity_tenant(activity: Any) -> str | None:
    """The tenant a botbuilder Activity comes from: `channelData.tenant.id`, else `conversation.tenantId`."""
    tenant: Any = as_object(as_object(activity.channel_data).get("tenant")).get("id")
    if isinstance(tenant, str) and tenant:
        return tenant
    tenant_id: Any = getattr(activity.conversation, "tenant_id", None)
    return tenant_id if isinstance(tenant_id, str) and tenant_id else None


class MessagesEndpoint:
    """The aiohttp handler for `POST /api/messages`."""

    def __init__(
        self,
        *,
        adapter: CloudAdapter,
        authentication: TeamsBotFrameworkAuthentication,
        on_turn: TurnHandler,
        allowed_tenants: frozenset[str],
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        """Build the endpoint.

        Args:
            adapter: the CloudAdapter that runs the turn.
            authentication: validates the channel token.
            on_turn: the bot's `on_turn`.
            allowed_tenants: tenants whose activities are handled; empty handles every tenant.
            max_body_bytes: larger bodies are refused with 413.
        """
        self._adapter = adapter
        self._authentication = authentication
        self._on_turn = on_turn
        self._allowed_tenants = allowed_tenants
        self._max_body_bytes = max_body_bytes
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._draining = False

    @property
    def draining(self) -> bool:
        """True once `drain` was called: every new request is answered 503."""
        return self._draining

    @property
    def in_flight(self) -> int:
        """How many requests are being handled now."""
        return self._in_flight

    async def drain(self, grace_seconds: float) -> int:
        """Refuse new activities from now on and wait for the requests being handled to finish.

        Args:
            grace_seconds: the most seconds to wait.

        Returns:
            How many requests were still running when the wait ended (0: all finished).
        """
        self._draining = True
        if self._in_flight:
            logger.info("draining: waiting up to %.0fs for %d turn(s) in flight", grace_seconds, self._in_flight)
        try:
            await asyncio.wait_for(self._idle.wait(), grace_seconds)
        except TimeoutError:
            logger.warning("draining: %d turn(s) still running after %.0fs", self._in_flight, grace_seconds)
        return self._in_flight

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Refuse while draining; otherwise check, authenticate and run one inbound activity (counted in flight)."""
        if self._draining:
            return _error(503, "shutting down", {"Retry-After": str(DRAINING_RETRY_AFTER_SECONDS)})
        self._in_flight += 1
        self._idle.clear()
        try:
            return await self._handle(request)
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.content_type != "application/json":
            return _error(415, "Content-Type must be application/json")
        if request.content_length is not None and request.content_length > self._max_body_bytes:
            return _error(413, "request body too large")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > self._max_body_bytes:
                return _error(413, "request body too large")
            chunks.append(chunk)
        body = b"".join(chunks)
        try:
            payload: object = parse_json(body)
        except (ValueError, UnicodeDecodeError):
            return _error(400, "malformed JSON")
        document = as_object(payload)
        if document is not payload:
            return _error(400, "the body must be an activity object")
        activity = read_activity(document)
        if activity is None:
            return _error(400, "the body is not a valid activity")
        if not activity.type:
            return _error(400, "the activity has no type")
        if not getattr(activity.conversation, "id", None):
            return _error(400, "the activity has no conversation")
        is_invoke = activity.type == "invoke"
        try:
            result = await self._authentication.authenticate_request(activity, request.headers.get("Authorization", ""))
        except ChannelAuthError as error:
            logger.info("refused a request to /api/messages: %s (%d)", error.reason, error.status)
            headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
            return _error(error.status, "unauthorized" if error.status == 401 else "forbidden", headers)
        tenant = activity_tenant(activity)
        if self._allowed_tenants and tenant not in self._allowed_tenants:
            logger.info("ignored an activity from a tenant outside ALLOWED_TENANTS")
            return _error(403, "tenant not allowed") if is_invoke else web.Response(status=201)
        try:
            invoke_response: Any = await self._adapter.process_activity(result, activity, self._on_turn)  # pyright: ignore[reportUnknownMemberType]
        except Exception as error:  # noqa: BLE001 - any bot failure becomes a logged 500, never a crash
            _log_failure(activity, error)
            return _error(500, "internal error")
        if isinstance(invoke_response, InvokeResponse):
            return _invoke_http_response(invoke_response)
        return web.Response(status=201)


def _log_failure(activity: Any, error: Exception) -> None:
    """Log a failed turn: type and innermost frame at ERROR, the traceback text at DEBUG.

    Exception messages can carry user text (names, feedback), so they stay at DEBUG. The traceback is formatted rather
    than attached, so log handlers do not keep the request's frames (and its connection) alive.
    """
    frames = traceback.extract_tb(error.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
    kind: Any = activity.type
    logger.error("the bot failed to handle a %s activity: %s at %s", kind, type(error).__name__, where)
    logger.debug("turn failure:\n%s", "".join(traceback.format_exception(error)))


def _invoke_http_response(invoke_response: Any) -> web.Response:
    status = int(invoke_response.status or 200)
    body: Any = invoke_response.body
    if body is None:
        return web.Response(status=status)
    if isinstance(body, Model):
        body = cast(Any, body).serialize(keep_readonly=True)
    return web.json_response(body, status=status)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"code": str(status), "message": message}}, status=status, headers=headers)


async def healthz(_: web.Request) -> web.Response:
    """`GET /healthz`: 200 while the process serves requests (no auth, no dependencies checked)."""
    return web.json_response({"status": "ok"})
