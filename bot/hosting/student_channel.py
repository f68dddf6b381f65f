"""Student notifications over the Bot Connector: a 1:1 conversation with the student, then the message.

The service URL is the one Teams used for the tenant's most recent activity (Teams serves a tenant from one regional
URL); `remember_service_url` is called by the messages endpoint's turn for every authenticated activity.
"""

from __future__ import annotations

import logging
from typing import Any

from botbuilder.schema import ChannelAccount, ConversationParameters  # pyright: ignore[reportMissingTypeStubs]
from msrest.exceptions import ClientRequestError, HttpOperationError  # pyright: ignore[reportMissingTypeStubs]

from bot.graph.ids import TenantId, UserId
from bot.hosting.connectors import ReusingConnectorFactory
from bot.notify.notifier import Delivery
from bot.teams_bot import reply_activity
from bot.turn import Reply

logger = logging.getLogger(__name__)


class ConnectorStudentChannel:
    """`bot.notify.StudentChannel` through the Bot Connector REST API."""

    def __init__(self, connectors: ReusingConnectorFactory, *, app_id: str) -> None:
        self._connectors = connectors
        self._app_id = app_id
        self._service_urls: dict[str, str] = {}

    def remember_service_url(self, tenant_id: str, service_url: str) -> None:
        """Keep the service URL Teams uses for this tenant."""
        if tenant_id and service_url:
            self._service_urls[tenant_id] = service_url

    async def send_personal(self, tenant_id: TenantId, user_id: UserId, reply: Reply) -> Delivery:
        """Create (or reopen) the student's 1:1 chat with the bot and post `reply` in the same call."""
        service_url = self._service_urls.get(tenant_id)
        if service_url is None:
            return Delivery(status=0)
        client: Any = await self._connectors.create(service_url)
        parameters = ConversationParameters(
            is_group=False,
            bot=ChannelAccount(id=f"28:{self._app_id}"),
            members=[ChannelAccount(id=user_id)],
            tenant_id=tenant_id,
            channel_data={"tenant": {"id": tenant_id}},
            activity=reply_activity(reply),
        )
        try:
            await client.conversations.create_conversation(parameters)
        except HttpOperationError as error:
            response: Any = error.response
            status = int(getattr(response, "status_code", 0) or 0)
            retry_after = _retry_after(response)
            logger.info("student notification refused: status=%s", status)
            return Delivery(status=status, retry_after=retry_after)
        except ClientRequestError:
            return Delivery(status=0)
        return Delivery(status=201)


def _retry_after(response: Any) -> float | None:
    headers: Any = getattr(response, "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
