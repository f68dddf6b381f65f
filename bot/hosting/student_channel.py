"""Student notifications over the Bot Connector: a 1:1 conversation with the student, created with the message.

The service URL is the one Teams used for the tenant's most recent activity (Teams serves a tenant from one regional
URL); the Teams handler reports it for every authenticated activity through `remember_service_url`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bot.graph.ids import TenantId, UserId
from bot.hosting.outbound import ConnectorError, OutboundConnector
from bot.notify.notifier import Delivery
from bot.teams_bot import reply_json
from bot.turn import Reply

logger = logging.getLogger(__name__)


class ConnectorStudentChannel:
    """`bot.notify.StudentChannel` through the Bot Connector REST API."""

    def __init__(
        self,
        connector: OutboundConnector,
        *,
        app_id: str,
        stored_service_url: Callable[[str], Awaitable[str | None]] | None = None,
    ) -> None:
        """Build the channel; `stored_service_url` finds a tenant's service URL saved by any instance."""
        self._connector = connector
        self._app_id = app_id
        self._service_urls: dict[str, str] = {}
        self._stored_service_url = stored_service_url

    def remember_service_url(self, tenant_id: str, service_url: str) -> None:
        """Keep the service URL Teams uses for this tenant."""
        if tenant_id and service_url:
            self._service_urls[tenant_id] = service_url

    async def send_personal(self, tenant_id: TenantId, user_id: UserId, reply: Reply) -> Delivery:
        """Create (or reopen) the student's 1:1 chat with the bot and post `reply` in the same call."""
        service_url = self._service_urls.get(tenant_id)
        if service_url is None and self._stored_service_url is not None:
            service_url = await self._stored_service_url(tenant_id)
        if service_url is None:
            return Delivery(status=0)
        parameters = {
            "isGroup": False,
            "bot": {"id": f"28:{self._app_id}"},
            "members": [{"id": user_id}],
            "tenantId": tenant_id,
            "channelData": {"tenant": {"id": tenant_id}},
            "activity": reply_json(reply),
        }
        try:
            await self._connector.create_conversation(service_url, parameters)
        except ConnectorError as error:
            logger.info("student notification refused: status=%s", error.status)
            return Delivery(status=error.status, retry_after=error.retry_after)
        return Delivery(status=201)
