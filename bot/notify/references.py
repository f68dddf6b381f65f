"""Conversation references kept in the shared store, so any instance (and a restarted one) can reach a conversation.

Saved on installation and conversationUpdate (the Teams handler calls `save`); a reference is replaced by a newer one
for the same conversation (last write wins is right here: Teams sends the current reference). The tenant's service
URL is kept too, so student notifications work before the tenant's next activity reaches a freshly started instance.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final, cast

from bot.storage import Store

NAMESPACE: Final = "conversation_refs"
TTL: Final = timedelta(days=365)


class StoredConversationReferences:
    """`bot.teams_bot.ConversationReferences` over the Store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def save(self, ref: dict[str, Any]) -> None:
        """Keep the reference under its conversation id, and its service URL under its tenant."""
        conversation = cast(dict[str, Any], ref.get("conversation") or {})
        conversation_id = str(conversation.get("id", ""))
        if not conversation_id:
            return
        await self._store.put(NAMESPACE, f"conversation.{conversation_id}", ref, expected_version=None, ttl=TTL)
        tenant = str(conversation.get("tenantId", ""))
        service_url = str(ref.get("serviceUrl", ""))
        if tenant and service_url:
            await self._store.put(
                NAMESPACE, f"service-url.{tenant}", {"serviceUrl": service_url}, expected_version=None, ttl=TTL
            )

    async def get(self, conversation_id: str) -> dict[str, Any] | None:
        """The saved reference of a conversation."""
        document = await self._store.get(NAMESPACE, f"conversation.{conversation_id}")
        return document.value if document and isinstance(document.value, dict) else None

    async def service_url(self, tenant_id: str) -> str | None:
        """The service URL Teams last used for the tenant."""
        document = await self._store.get(NAMESPACE, f"service-url.{tenant_id}")
        if document is None or not isinstance(document.value, dict):
            return None
        value = document.value.get("serviceUrl")
        return value if isinstance(value, str) and value else None
