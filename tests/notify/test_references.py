"""Conversation references live in the shared store: another (or a restarted) instance can use them."""

from __future__ import annotations

from bot.notify.references import StoredConversationReferences
from bot.storage import MemoryStore


async def test_a_saved_reference_is_found_by_another_instance() -> None:
    store = MemoryStore()
    ref = {
        "conversation": {"id": "a:1abc", "tenantId": "tenant-1", "conversationType": "personal"},
        "serviceUrl": "https://smba.example/amer/",
        "channelId": "msteams",
    }
    await StoredConversationReferences(store).save(ref)
    other_instance = StoredConversationReferences(store)
    assert await other_instance.get("a:1abc") == ref
    assert await other_instance.service_url("tenant-1") == "https://smba.example/amer/"
    assert await other_instance.service_url("tenant-2") is None


async def test_a_reference_without_a_conversation_id_is_not_kept() -> None:
    store = MemoryStore()
    await StoredConversationReferences(store).save({"serviceUrl": "https://smba.example/"})
    assert await StoredConversationReferences(store).get("") is None
