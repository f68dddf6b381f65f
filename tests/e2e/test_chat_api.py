"""The chat page's JSON API over real HTTP, without a browser: messages reach the bot as Teams activities, the
channel signs the teacher in the way the Teams client does (SSO token exchange, loginRequest retry), a click's card
replaces the card in place, and a user-specific view is shown only to its user."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from sandbox.run import World
from sandbox.teams import ADAPTIVE_CARD, ADAPTIVECARDS_JS, OAUTH_CARD, TeamsUser

GRADE_ALICE = "grade Alice Smith 85 on Essay 2 in Biology 101"


@pytest.fixture
def world(world: World) -> World:
    world.teams.seed_school(world.stack.school)
    return world


@pytest.fixture
async def chat(world: World) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=world.chat_url, timeout=30.0) as client:
        yield client


def person(world: World, name: str) -> TeamsUser:
    user = world.teams.find_user(world.stack.user_id(name))
    assert user is not None
    return user


async def conversations(chat: httpx.AsyncClient, user: TeamsUser) -> dict[str, dict[str, Any]]:
    """The user's conversations by title ("Grading assistant" is the personal chat)."""
    response = await chat.get("/_chat/conversations", params={"user": user.aad_object_id})
    assert response.status_code == 200
    return {c["title"]: c for c in response.json()["conversations"]}


async def send(world: World, chat: httpx.AsyncClient, user: TeamsUser, title: str, text: str) -> None:
    conversation = (await conversations(chat, user))[title]
    response = await chat.post("/_chat/send", json={"user": user.id, "conversation": conversation["id"], "text": text})
    assert response.status_code == 200, response.text
    await world.teams.drain()


def cards(message: dict[str, Any], content_type: str = ADAPTIVE_CARD) -> list[dict[str, Any]]:
    return [a for a in message["attachments"] if a["contentType"] == content_type]


def buttons(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["title"]: a for a in card.get("actions", []) if a.get("type") == "Action.Execute"}


def facts(card: dict[str, Any]) -> dict[str, str]:
    return {f["title"]: f["value"] for e in card["body"] if e.get("type") == "FactSet" for f in e["facts"]}


def submission(world: World, student: str) -> Any:
    stack = world.stack
    found = stack.graph.submission_for(
        stack.class_id("Biology 101"), stack.assignment_id("Biology 101", "Essay 2"), stack.user_id(student)
    )
    assert found is not None
    return found


async def test_a_typed_command_signs_in_once_and_the_result_card_appears(world: World, chat: httpx.AsyncClient) -> None:
    dana = person(world, "Dana Whitfield")

    await send(world, chat, dana, "Grading assistant", GRADE_ALICE)

    messages = (await conversations(chat, dana))["Grading assistant"]["messages"]
    assert [m["fromBot"] for m in messages] == [False, True, True]
    assert messages[0]["text"] == GRADE_ALICE
    assert cards(messages[1], OAUTH_CARD) and messages[1]["sso"] == "signed_in"
    assert facts(cards(messages[2])[0]["content"])["Points"] == "85/100"
    exchanges = [i for i in world.teams.invokes if i.name == "signin/tokenExchange"]
    assert [(i.status, i.user_id, i.value["token"]) for i in exchanges] == [(200, dana.id, "<redacted>")]
    assert world.stack.entra.token_requests["on_behalf_of"] == 1


async def test_a_click_replaces_the_card_in_place(world: World, chat: httpx.AsyncClient) -> None:
    dana = person(world, "Dana Whitfield")
    await send(world, chat, dana, "Grading assistant", GRADE_ALICE)
    personal = (await conversations(chat, dana))["Grading assistant"]
    result = personal["messages"][-1]
    button = buttons(cards(result)[0]["content"])["Return"]

    response = await chat.post(
        "/_chat/action",
        json={
            "user": dana.aad_object_id,
            "conversation": personal["id"],
            "activityId": result["id"],
            "verb": button["verb"],
            "data": button["data"],
            "inputs": {},
        },
    )

    assert response.status_code == 200 and response.json()["response"]["type"] == ADAPTIVE_CARD
    after = (await conversations(chat, dana))["Grading assistant"]["messages"]
    assert [m["id"] for m in after] == [m["id"] for m in personal["messages"]]
    assert after[-1]["version"] == 1
    assert "Return" not in buttons(cards(after[-1])[0]["content"])
    returned = submission(world, "Alice Smith")
    assert returned.status == "returned"
    points = returned.outcome("points")
    assert points is not None and points.publishedPoints is not None and points.publishedPoints.points == 85


async def test_a_private_answer_in_a_channel_is_shown_only_to_its_teacher(
    world: World, chat: httpx.AsyncClient
) -> None:
    dana, alice, priya = (person(world, n) for n in ("Dana Whitfield", "Alice Smith", "Priya Raman"))

    await send(world, chat, dana, "Biology 101", "status Essay 2 in Biology 101")
    channel = (await conversations(chat, dana))["Biology 101"]
    sent, _, answer = channel["messages"]  # the mention, the sign-in card (Dana sent it: Dana is signed in), the answer
    assert sent["text"] == "<at>Grading assistant</at> status Essay 2 in Biology 101"
    assert cards(channel["messages"][1], OAUTH_CARD) and channel["messages"][1]["sso"] == "signed_in"
    assert cards(answer)[0].get("needsRefresh") is True

    refreshed = await chat.post(
        "/_chat/refresh", json={"user": dana.id, "conversation": channel["id"], "activityId": answer["id"]}
    )

    assert refreshed.status_code == 200, refreshed.text
    dana_view = cards((await conversations(chat, dana))["Biology 101"]["messages"][-1])[0]
    alice_view = cards((await conversations(chat, alice))["Biology 101"]["messages"][-1])[0]
    priya_view = cards((await conversations(chat, priya))["Biology 101"]["messages"][-1])[0]
    assert dana_view.get("userSpecific") is True and "Open grading sheet" in buttons(dana_view["content"])
    assert alice_view["content"] == cards(answer)[0]["content"] == priya_view["content"]
    assert not alice_view.get("userSpecific") and not alice_view.get("needsRefresh")
    refreshes = [i for i in world.teams.invokes if i.name == "adaptiveCard/action"]
    assert [(i.value["trigger"], i.value["action"]["id"], i.user_id) for i in refreshes] == [("automatic", "", dana.id)]


async def test_without_consent_the_sign_in_card_stays_until_the_user_signs_in(
    world: World, chat: httpx.AsyncClient
) -> None:
    dana = person(world, "Dana Whitfield")
    world.teams.withhold_consent(dana)

    await send(world, chat, dana, "Grading assistant", GRADE_ALICE)
    personal = (await conversations(chat, dana))["Grading assistant"]
    oauth = personal["messages"][-1]
    assert cards(oauth, OAUTH_CARD) and oauth["sso"] == "waiting"
    points = submission(world, "Alice Smith").outcome("points")
    assert world.teams.invokes == [] and (points is None or points.points is None)

    signed = await chat.post(
        "/_chat/signin", json={"user": dana.id, "conversation": personal["id"], "activityId": oauth["id"]}
    )

    assert signed.json() == {"status": 200, "sso": "signed_in"}
    messages = (await conversations(chat, dana))["Grading assistant"]["messages"]
    assert facts(cards(messages[-1])[0]["content"])["Points"] == "85/100"


async def test_with_auto_sso_off_nothing_is_sent_for_the_sign_in_card(world: World, chat: httpx.AsyncClient) -> None:
    dana = person(world, "Dana Whitfield")
    world.teams.auto_sso = False

    await send(world, chat, dana, "Grading assistant", GRADE_ALICE)

    messages = (await conversations(chat, dana))["Grading assistant"]["messages"]
    assert messages[-1]["sso"] == "waiting" and world.teams.invokes == []


async def test_a_login_request_is_retried_with_the_sso_token(world: World) -> None:
    dana = person(world, "Dana Whitfield")
    chat = world.teams.personal_conversation(dana)
    data = {"verb": "status.refresh", "action_key": "k-status-1", "class_id": world.stack.class_id("Biology 101")}

    status, body = await world.teams.invoke_card_action("status.refresh", data, user=dana, conversation=chat)

    assert status == 200 and body["statusCode"] == 200 and body["type"] == ADAPTIVE_CARD
    first, retry = world.teams.invokes
    assert first.body["statusCode"] == 401 and "authentication" not in first.value
    assert retry.value["authentication"]["token"] == "<redacted>" and retry.status == 200


async def test_a_login_request_stays_when_the_user_has_not_consented(world: World) -> None:
    dana = person(world, "Dana Whitfield")
    world.teams.withhold_consent(dana)
    chat = world.teams.personal_conversation(dana)
    data = {"verb": "status.refresh", "action_key": "k-status-2", "class_id": world.stack.class_id("Biology 101")}

    _, body = await world.teams.invoke_card_action("status.refresh", data, user=dana, conversation=chat)

    assert body["statusCode"] == 401 and len(world.teams.invokes) == 1


async def test_the_page_and_its_refusals(world: World, chat: httpx.AsyncClient) -> None:
    dana, marcus = person(world, "Dana Whitfield"), person(world, "Marcus Oyelaran")
    page = await chat.get("/")
    biology = (await conversations(chat, dana))["Biology 101"]

    outsider = await chat.post("/_chat/send", json={"user": marcus.id, "conversation": biology["id"], "text": "hi"})
    stranger = await chat.get("/_chat/conversations", params={"user": "nobody"})
    empty = await chat.post(
        "/_chat/send",
        json={"user": dana.id, "conversation": (await conversations(chat, dana))["Grading assistant"]["id"]},
    )

    assert page.status_code == 200 and 'id="user-switcher"' in page.text
    assert "Biology 101" not in await conversations(chat, marcus)
    assert (outsider.status_code, stranger.status_code, empty.status_code) == (404, 404, 400)
    if ADAPTIVECARDS_JS.is_file():
        vendor = await chat.get("/vendor/adaptivecards.js")
        assert vendor.status_code == 200 and b"AdaptiveCards" in vendor.content[:5000]


async def test_an_action_submit_click_is_a_message_whose_answer_updates_the_card(
    world: World, chat: httpx.AsyncClient
) -> None:
    dana = person(world, "Dana Whitfield")
    await send(world, chat, dana, "Grading assistant", GRADE_ALICE)
    personal = (await conversations(chat, dana))["Grading assistant"]
    result = personal["messages"][-1]
    fallback = buttons(cards(result)[0]["content"])["Return"]["fallback"]

    response = await chat.post(
        "/_chat/action",
        json={
            "user": dana.id,
            "conversation": personal["id"],
            "activityId": result["id"],
            "actionType": fallback["type"],
            "data": fallback["data"],
            "inputs": {},
        },
    )

    assert response.status_code == 200
    after = (await conversations(chat, dana))["Grading assistant"]["messages"]
    assert [m["id"] for m in after] == [m["id"] for m in personal["messages"]] and after[-1]["version"] == 1
    assert submission(world, "Alice Smith").status == "returned"
