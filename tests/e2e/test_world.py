"""The product end to end over real HTTP on 127.0.0.1: the sandbox Teams channel sends signed activities to the bot,
the teacher signs in with Teams SSO (token exchange → on-behalf-of at the sandbox Entra), and the grade lands in the
sandbox Graph as written by that teacher."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from sandbox.run import World
from sandbox.teams import TeamsUser


@pytest.fixture
def world(world: World) -> World:
    world.teams.auto_sso = False  # these tests perform Teams' token exchange themselves
    return world


def teacher(world: World, name: str = "Dana Whitfield") -> TeamsUser:
    return world.teams.user(world.stack.user_id(name), name)


async def sign_in(world: World, user: TeamsUser, oauth_card: dict[str, Any]) -> tuple[int, Any]:
    """What Teams does after an OAuth card with tokenExchangeResource: an invoke carrying the user's SSO token."""
    resource = oauth_card["content"]["tokenExchangeResource"]
    sso = world.stack.entra.mint_sso_token(user.aad_object_id, audience=resource["uri"])
    invoke = {
        "type": "invoke",
        "name": "signin/tokenExchange",
        "from": user.account(),
        "conversation": world.teams.personal_conversation(user).account(),
        "value": {"id": resource["id"], "connectionName": "graph", "token": sso},
    }
    return await world.teams.send_to_bot(invoke)


def points_of(world: World, student: str, assignment: str = "Essay 2") -> float | None:
    stack = world.stack
    class_id = stack.class_id("Biology 101")
    submission = stack.graph.submission_for(
        class_id, stack.assignment_id("Biology 101", assignment), stack.user_id(student)
    )
    assert submission is not None
    outcome = submission.outcome("points")
    return outcome.points.points if outcome and outcome.points else None


async def test_sign_in_then_the_grade_lands_as_the_teacher(world: World) -> None:
    dana = teacher(world)
    status, _ = await world.teams.send_to_bot(
        world.teams.message("grade Alice Smith 85 on Essay 2 in Biology 101", user=dana)
    )
    assert status in (200, 201, 202)
    chat = world.teams.personal_conversation(dana)
    oauth = [
        a
        for m in chat.messages()
        for a in m.get("attachments") or []
        if a.get("contentType") == "application/vnd.microsoft.card.oauth"
    ]
    assert oauth, "the bot asked the teacher to sign in"
    assert points_of(world, "Alice Smith") is None

    status, body = await sign_in(world, dana, oauth[-1])
    assert status == 200, body
    assert points_of(world, "Alice Smith") == 85
    outcome = world.stack.graph.submission_for(
        world.stack.class_id("Biology 101"),
        world.stack.assignment_id("Biology 101", "Essay 2"),
        world.stack.user_id("Alice Smith"),
    )
    assert outcome is not None
    points = outcome.outcome("points")
    assert points is not None and points.lastModifiedBy == dana.aad_object_id
    assert world.stack.entra.token_requests["on_behalf_of"] == 1

    # A later message needs no new sign-in and no new on-behalf-of call (the cached token is used).
    await world.teams.send_to_bot(world.teams.message("grade Bob Jones 90 on Essay 2 in Biology 101", user=dana))
    assert points_of(world, "Bob Jones") == 90
    assert world.stack.entra.token_requests["on_behalf_of"] == 1


async def test_duplicate_token_exchange_causes_one_on_behalf_of(world: World) -> None:
    dana = teacher(world)
    await world.teams.send_to_bot(world.teams.message("help", user=dana))
    card = {"content": {"tokenExchangeResource": {"id": str(uuid.uuid4()), "uri": f"api://botid-{world.stack.app_id}"}}}
    first = await sign_in(world, dana, card)
    second = await sign_in(world, dana, card)
    assert first[0] == 200 and second[0] == 200
    assert world.stack.entra.token_requests["on_behalf_of"] == 1


async def test_sso_token_for_someone_else_is_refused_with_412(world: World) -> None:
    dana = teacher(world)
    marcus = teacher(world, "Marcus Oyelaran")
    resource = {"id": str(uuid.uuid4()), "uri": f"api://botid-{world.stack.app_id}"}
    sso = world.stack.entra.mint_sso_token(marcus.aad_object_id, audience=resource["uri"])
    invoke = {
        "type": "invoke",
        "name": "signin/tokenExchange",
        "from": dana.account(),
        "conversation": world.teams.personal_conversation(dana).account(),
        "value": {"id": resource["id"], "connectionName": "graph", "token": sso},
    }
    status, body = await world.teams.send_to_bot(invoke)
    assert status == 412 and body["failureDetail"]
    assert world.stack.entra.token_requests["on_behalf_of"] == 0


async def signed_in_teacher(world: World) -> TeamsUser:
    dana = teacher(world)
    await world.teams.send_to_bot(world.teams.message("status Essay 2 in Biology 101", user=dana))
    chat = world.teams.personal_conversation(dana)
    oauth = [
        a
        for m in chat.messages()
        for a in m.get("attachments") or []
        if a.get("contentType") == "application/vnd.microsoft.card.oauth"
    ]
    if oauth:
        status, body = await sign_in(world, dana, oauth[-1])
        assert status == 200, body
    return dana


async def test_redelivered_activity_writes_once(world: World) -> None:
    dana = await signed_in_teacher(world)
    activity = world.teams.complete(world.teams.message("grade Carol Diaz 70 on Essay 2 in Biology 101", user=dana))
    world.stack.graph.reset_request_log()
    first = await world.teams.send_to_bot(activity)
    writes_after_first = sum(1 for r in world.stack.graph.requests if r.method in ("PATCH", "POST"))
    second = await world.teams.send_to_bot(activity)
    writes_after_second = sum(1 for r in world.stack.graph.requests if r.method in ("PATCH", "POST"))
    assert first[0] < 300 and second[0] < 300
    assert points_of(world, "Carol Diaz") == 70
    assert writes_after_first >= 1 and writes_after_second == writes_after_first


async def test_reassign_with_feedback_notifies_the_student(world: World) -> None:
    dana = await signed_in_teacher(world)
    bob = world.teams.user(world.stack.user_id("Bob Jones"), "Bob Jones")
    await world.teams.send_to_bot(
        world.teams.message("reassign Bob Jones's Essay 2 in Biology 101 with feedback: cite your sources", user=dana)
    )
    submission = world.stack.graph.submission_for(
        world.stack.class_id("Biology 101"), world.stack.assignment_id("Biology 101", "Essay 2"), bob.aad_object_id
    )
    assert submission is not None and submission.status == "reassigned"
    student_chat = world.teams.personal_conversation(bob)
    texts = " ".join(str(m.get("text", "")) + str(m.get("attachments", "")) for m in student_chat.messages())
    assert "cite your sources" in texts
    assert "Essay 2" in texts
    assert "The student was sent a message" in str(world.teams.personal_conversation(dana).messages()[-1])


async def test_a_student_who_blocked_the_bot_is_reported(world: World) -> None:
    dana = await signed_in_teacher(world)
    bob = world.teams.user(world.stack.user_id("Bob Jones"), "Bob Jones")
    world.teams.block(bob)
    await world.teams.send_to_bot(
        world.teams.message("reassign Bob Jones's Essay 2 in Biology 101 with feedback: cite your sources", user=dana)
    )
    teacher_chat = world.teams.personal_conversation(dana)
    last = str(teacher_chat.messages()[-1])
    assert "couldn't message Bob Jones" in last
    assert world.teams.personal_conversation(bob).messages() == []


async def test_installation_saves_the_conversation_reference_in_the_store(world: World) -> None:
    from app import ASSISTANT_KEY
    from bot.notify.references import StoredConversationReferences

    alice = world.teams.user(world.stack.user_id("Alice Smith"), "Alice Smith")
    chat = world.teams.personal_conversation(alice)
    update = {
        "type": "conversationUpdate",
        "from": alice.account(),
        "conversation": chat.account(),
        "membersAdded": [{"id": f"28:{world.stack.app_id}"}],
    }
    status, _ = await world.teams.send_to_bot(update)
    assert status < 300
    store = world.bot_runner.app[ASSISTANT_KEY].services.store
    saved = await StoredConversationReferences(store).get(chat.id)
    assert saved is not None and saved["conversation"]["id"] == chat.id
    assert await StoredConversationReferences(store).service_url(world.stack.tenant_id) == world.teams.service_url


async def test_sign_in_failure_and_verify_state_tell_the_teacher_what_to_do(world: World) -> None:
    dana = teacher(world)
    chat = world.teams.personal_conversation(dana)
    for name, value in (
        ("signin/failure", {"code": "resourcematchfailed", "message": "Resource match failed"}),
        ("signin/verifyState", {"state": "cancelled"}),
    ):
        invoke = {
            "type": "invoke",
            "name": name,
            "from": dana.account(),
            "conversation": chat.account(),
            "value": value,
        }
        status, _ = await world.teams.send_to_bot(invoke)
        assert status == 200
    texts = [str(message.get("text", "")) for message in chat.messages()]
    assert any("IT admin" in text for text in texts)
    assert any("cancelled" in text for text in texts)
