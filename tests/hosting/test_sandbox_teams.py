"""The sandbox Bot Connector: token check, conversation creation, knobs, inspection."""

from __future__ import annotations

import json

from sandbox.core import SandboxRequest
from sandbox.entra import Entra
from sandbox.teams import TeamsChannel
from tests.hosting.conftest import APP_ID, BOT_FRAMEWORK, TEACHER, TENANT


def _request(
    channel: TeamsChannel, entra: Entra, method: str, path: str, body: object = None, *, token: str | None = None
) -> SandboxRequest:
    bearer = (
        token if token is not None else entra.issue_access_token(audience=BOT_FRAMEWORK, tenant=TENANT, app_id=APP_ID)
    )
    return SandboxRequest(
        method=method,
        path=path,
        headers={"authorization": f"Bearer {bearer}", "content-type": "application/json"},
        body=json.dumps(body).encode() if body is not None else b"",
        base_url=channel.base_url,
    )


async def test_connector_refuses_tokens_not_issued_for_the_bot_framework(entra: Entra, channel: TeamsChannel) -> None:
    graph_token = entra.issue_access_token(audience="https://graph.microsoft.com", tenant=TENANT, app_id=APP_ID)
    conversation = channel.personal_conversation(channel.user(TEACHER))
    activity = {"type": "message", "text": "hi"}

    wrong_audience = await channel.handle(
        _request(channel, entra, "POST", f"/v3/conversations/{conversation.id}/activities", activity, token=graph_token)
    )
    missing = await channel.handle(
        _request(channel, entra, "POST", f"/v3/conversations/{conversation.id}/activities", activity, token="")
    )

    assert (wrong_audience.status, missing.status) == (401, 401)
    assert conversation.records == []


async def test_create_personal_conversation_then_send(entra: Entra, channel: TeamsChannel) -> None:
    student = channel.user("ffffffff-0000-4000-8000-0000000000f6", "Alex Kim")
    created = await channel.handle(
        _request(channel, entra, "POST", "/v3/conversations", {"members": [{"id": student.id}], "tenantId": TENANT})
    )
    conversation_id = created.json()["id"]

    sent = await channel.handle(
        _request(
            channel,
            entra,
            "POST",
            f"/v3/conversations/{conversation_id}/activities",
            {"type": "message", "text": "Your essay was returned"},
        )
    )
    members = await channel.handle(_request(channel, entra, "GET", f"/v3/conversations/{conversation_id}/members"))
    snapshot = await channel.handle(_request(channel, entra, "GET", "/_sandbox/conversations"))

    assert (created.status, sent.status) == (201, 201)
    assert [m["aadObjectId"] for m in members.json()] == [student.aad_object_id]
    assert [m["text"] for m in channel.conversation(conversation_id).messages()] == ["Your essay was returned"]
    assert snapshot.json()["conversations"][0]["activities"][0]["id"] == sent.json()["id"]


async def test_blocked_user_and_throttling_knobs(entra: Entra, channel: TeamsChannel) -> None:
    student = channel.user("ffffffff-0000-4000-8000-0000000000f7", "Sam Lee")
    conversation = channel.personal_conversation(student)
    path = f"/v3/conversations/{conversation.id}/activities"
    message = {"type": "message", "text": "hello"}

    channel.throttle(2, retry_after=2.5)
    first = await channel.handle(_request(channel, entra, "POST", path, message))
    second = await channel.handle(_request(channel, entra, "POST", path, message))
    third = await channel.handle(_request(channel, entra, "POST", path, message))
    channel.block(student)
    blocked_send = await channel.handle(_request(channel, entra, "POST", path, message))
    blocked_create = await channel.handle(
        _request(channel, entra, "POST", "/v3/conversations", {"members": [{"id": student.aad_object_id}]})
    )

    assert (first.status, second.status, third.status) == (429, 429, 201)
    assert first.headers["retry-after"] == "2.5"
    assert (blocked_send.status, blocked_create.status) == (403, 403)
    assert blocked_send.json()["error"]["code"] == "ConversationBlockedByUser"
    assert len(conversation.messages()) == 1


async def test_update_and_delete_change_what_the_conversation_shows(entra: Entra, channel: TeamsChannel) -> None:
    conversation = channel.personal_conversation(channel.user(TEACHER))
    base = f"/v3/conversations/{conversation.id}/activities"
    first = (await channel.handle(_request(channel, entra, "POST", base, {"type": "message", "text": "v1"}))).json()[
        "id"
    ]
    second = (await channel.handle(_request(channel, entra, "POST", base, {"type": "message", "text": "x"}))).json()[
        "id"
    ]

    updated = await channel.handle(
        _request(channel, entra, "PUT", f"{base}/{first}", {"type": "message", "text": "v2"})
    )
    deleted = await channel.handle(_request(channel, entra, "DELETE", f"{base}/{second}"))
    missing = await channel.handle(_request(channel, entra, "PUT", f"{base}/nope", {"type": "message"}))

    assert (updated.status, deleted.status, missing.status) == (200, 200, 404)
    assert [m["text"] for m in conversation.messages()] == ["v2"]
