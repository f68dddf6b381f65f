"""A message or card click from the sandbox Teams channel, through the production auth path, to the router and back."""

from __future__ import annotations

from typing import Any

import httpx

from bot.turn import Reply
from sandbox.teams import ADAPTIVE_CARD
from tests.hosting.conftest import CLASS_ID, TEACHER, TENANT, Harness, card


async def test_channel_message_reaches_router_without_mention_and_reply_lands_in_conversation(harness: Harness) -> None:
    channel = harness.channel
    teacher = channel.user(TEACHER, "Dana Teacher")
    conversation = channel.channel_conversation(CLASS_ID, [teacher])

    status, _ = await channel.send_to_bot(
        channel.message("grade Alex 18/20 on Essay 3", user=teacher, conversation=conversation, mention_bot=True)
    )

    assert status == 201
    [turn] = harness.router.messages
    assert turn.text == "grade Alex 18/20 on Essay 3"
    assert (turn.actor.tenant_id, turn.actor.user_id) == (TENANT, TEACHER)
    assert turn.conversation.is_channel
    assert turn.conversation.channel_class_id == CLASS_ID
    assert turn.conversation.service_url == channel.service_url
    assert [m["text"] for m in conversation.messages()] == ["echo: grade Alex 18/20 on Essay 3"]


async def test_personal_message_reply_is_a_reply_to_the_message(harness: Harness) -> None:
    channel = harness.channel
    teacher = channel.user(TEACHER, "Dana Teacher")
    activity = channel.complete(channel.message("status Essay 3", user=teacher))

    status, _ = await channel.send_to_bot(activity)

    assert status == 201
    assert harness.router.messages[0].conversation.kind == "personal"
    [record] = channel.personal_conversation(teacher).records
    assert record.reply_to_id == activity["id"]
    assert record.activity["text"] == "echo: status Essay 3"


async def test_adaptive_card_action_answers_200_with_the_card(harness: Harness) -> None:
    channel = harness.channel
    teacher = channel.user(TEACHER, "Dana Teacher")

    status, body = await channel.send_to_bot(channel.card_action("return", {"submissionId": "s-1"}, user=teacher))

    assert status == 200
    assert body == {"statusCode": 200, "type": ADAPTIVE_CARD, "value": card("done: return")}
    [turn] = harness.router.card_actions
    assert (turn.verb, dict(turn.data)) == ("return", {"submissionId": "s-1"})


async def test_action_submit_updates_the_clicked_card(harness: Harness) -> None:
    channel = harness.channel
    teacher = channel.user(TEACHER, "Dana Teacher")
    await channel.send_to_bot(channel.message("hello", user=teacher))
    conversation = channel.personal_conversation(teacher)
    clicked = conversation.records[0].id

    status, _ = await channel.send_to_bot(
        channel.message("", user=teacher, value={"verb": "undo", "gradeId": "g-7"}, reply_to_id=clicked)
    )

    assert status == 201
    [turn] = harness.router.card_actions
    assert (turn.verb, dict(turn.data), turn.reply_to_id) == ("undo", {"gradeId": "g-7"}, clicked)
    [message] = conversation.messages()
    attachments: list[dict[str, Any]] = message["attachments"]
    assert attachments[0]["contentType"] == ADAPTIVE_CARD
    assert attachments[0]["content"] == card("done: undo")


async def test_outbox_keeps_working_after_the_http_answer(harness: Harness) -> None:
    channel = harness.channel
    teacher = channel.user(TEACHER, "Dana Teacher")
    await channel.send_to_bot(channel.message("grade everyone", user=teacher))
    outbox = harness.router.outboxes[0]

    sent = await outbox.send(Reply(text="all done"))
    await outbox.update(sent, Reply(text="all done (updated)"))
    await outbox.typing()

    texts = [m["text"] for m in channel.personal_conversation(teacher).messages()]
    assert texts == ["echo: grade everyone", "all done (updated)"]


async def test_outbound_token_is_fetched_once_and_the_connector_client_reused(harness: Harness) -> None:
    channel = harness.channel
    teacher = channel.user(TEACHER, "Dana Teacher")

    for index in range(12):
        status, _ = await channel.send_to_bot(channel.message(f"message {index}", user=teacher))
        assert status == 201

    assert len(channel.personal_conversation(teacher).messages()) == 12
    assert harness.entra.token_requests["client_credentials"] == 1
    assert harness.hosting.connectors.clients_created == 1


async def test_healthz_answers_without_auth(harness: Harness) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(harness.bot_url.replace("/api/messages", "/healthz"))
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_conversation_update_saves_the_conversation_reference(harness: Harness) -> None:
    channel = harness.channel
    teacher = channel.user(TEACHER, "Dana Teacher")
    conversation = channel.channel_conversation(CLASS_ID, [teacher])
    update = {
        "type": "conversationUpdate",
        "from": teacher.account(),
        "conversation": conversation.account(),
        "membersAdded": [channel.bot_account],
        "channelData": {"tenant": {"id": TENANT}, "team": {"id": conversation.id, "aadGroupId": CLASS_ID}},
    }

    status, _ = await channel.send_to_bot(update)

    assert status == 201
    references: Any = harness.hosting.bot.references
    saved = references.references[conversation.id]
    assert saved["serviceUrl"] == channel.service_url
    assert saved["conversation"]["tenantId"] == TENANT
    assert saved["channelData"]["team"]["aadGroupId"] == CLASS_ID
