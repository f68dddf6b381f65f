"""Outbound Bot Connector calls as plain JSON over the shared httpx pool.

botbuilder's connector serialises every outgoing activity through msrest (a recursive walk of the whole card that
`eval`s type names) and deep-copies it on the way: about half the bot's CPU per reply. The Bot Connector is a small
REST API (specs: botframework-connector.json): send, reply, update and create conversation are four POST/PUT calls.
The bot's token comes from the kept `CachedCredentialsFactory` credentials (fetched off the event loop).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import quote

import httpx

from bot.hosting.credentials import CachedCredentialsFactory
from bot.http_transport import Answer, DirectClient, json_bytes

logger = logging.getLogger(__name__)


class ConnectorError(Exception):
    """The connector answered with an error status (or not at all: status 0)."""

    def __init__(self, status: int, retry_after: float | None = None) -> None:
        super().__init__(f"Bot Connector answered {status}")
        self.status = status
        self.retry_after = retry_after


class OutboundConnector:
    """Sends activities to a conversation through the Bot Connector REST API."""

    def __init__(self, credentials: CachedCredentialsFactory, http: DirectClient, *, app_id: str, scope: str) -> None:
        self._credentials = credentials
        self._http = http
        self._app_id = app_id
        self._scope = scope

    async def send(
        self, service_url: str, conversation_id: str, activity: Mapping[str, Any], *, reply_to_id: str | None = None
    ) -> str:
        """POST an activity to the conversation (as a reply when `reply_to_id` is given); returns its id."""
        path = f"v3/conversations/{quote(conversation_id, safe='')}/activities"
        if reply_to_id:
            path += f"/{quote(reply_to_id, safe='')}"
        answer = await self._call("POST", service_url, path, activity)
        return str(cast(dict[str, Any], answer).get("id", "")) if isinstance(answer, dict) else ""

    async def update(
        self, service_url: str, conversation_id: str, activity_id: str, activity: Mapping[str, Any]
    ) -> None:
        """PUT a new version of a posted activity (a card updated in place)."""
        path = f"v3/conversations/{quote(conversation_id, safe='')}/activities/{quote(activity_id, safe='')}"
        await self._call("PUT", service_url, path, {**activity, "id": activity_id})

    async def create_conversation(self, service_url: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
        """POST /v3/conversations (a 1:1 chat with a student, with its first activity)."""
        answer = await self._call("POST", service_url, "v3/conversations", parameters)
        return cast(dict[str, Any], answer) if isinstance(answer, dict) else {}

    async def _call(self, method: str, service_url: str, path: str, body: Mapping[str, Any]) -> Any:
        headers = {"Content-Type": "application/json; charset=utf-8"}
        token = await self._token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        url = f"{service_url.rstrip('/')}/{path}"
        content = json_bytes(body)
        response: Answer | None = None
        for attempt in (1, 2):
            try:
                response = await self._http.request(method, url, content=content, headers=headers)
                break
            except (httpx.RemoteProtocolError, httpx.ConnectError) as error:
                # A kept-alive connection the server had already closed: the request never reached it.
                if attempt == 2:
                    logger.warning("Bot Connector unreachable: %s", type(error).__name__)
                    raise ConnectorError(0) from None
            except httpx.HTTPError as error:
                logger.warning("Bot Connector unreachable: %s", type(error).__name__)
                raise ConnectorError(0) from None
        assert response is not None
        if response.status_code >= 400:
            raise ConnectorError(response.status_code, _retry_after(response.headers.get("Retry-After")))
        return response.json() if response.content else None

    async def _token(self) -> str:
        credentials: Any = await self._credentials.create_credentials(self._app_id, self._scope, "", True)
        if not self._app_id:
            return ""
        return str(credentials.get_access_token())


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
