"""The router end to end below the Bot Framework edge: messages and clicks in, cards out, sandbox state asserted."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.actions.context import Services
from bot.auth.obo import AuthProblem, GraphToken
from bot.auth.signin import SignInNeeded
from bot.cards.actions import Verb
from bot.graph.ids import ClassId, TenantId, UserId
from bot.router import AssistantRouter
from bot.turn import Actor, CardActionTurn, Conversation, MessageTurn, Reply
from sandbox.stack import SandboxStack
from tests.actions.conftest import Turns, all_buttons, buttons, card_text


class SandboxTokens:
    """Stands in for Credentials: sandbox Graph tokens for signed-in users, a sign-in card for the others."""

    def __init__(self, stack: SandboxStack) -> None:
        self.stack = stack
        self.signed_in: set[str] = set()
        self.problem: AuthProblem | None = None

    async def graph_token(self, actor: Actor) -> GraphToken | SignInNeeded | AuthProblem:
        if self.problem is not None:
            return self.problem
        if actor.user_id not in self.signed_in:
            return SignInNeeded(attachment={"contentType": "application/vnd.microsoft.card.oauth", "content": {}})
        return GraphToken(
            access_token=self.stack.graph_token(actor.user_id),
            expires_at=datetime.now(UTC) + timedelta(hours=1),
            tenant_id=actor.tenant_id,
            user_id=actor.user_id,
        )

    async def sign_out(self, actor: Actor) -> bool:
        self.signed_in.discard(actor.user_id)
        return True


class Outbox:
    def __init__(self) -> None:
        self.sent: list[Reply] = []
        self.typing_shown = 0

    async def send(self, reply: Reply) -> str:
        self.sent.append(reply)
        return f"activity-{len(self.sent)}"

    async def update(self, activity_id: str, reply: Reply) -> None:
        self.sent.append(reply)

    async def typing(self) -> None:
        self.typing_shown += 1


class Harness:
    def __init__(self, stack: SandboxStack, services: Services, turns: Turns) -> None:
        self.stack = stack
        self.tokens = SandboxTokens(stack)
        self.router = AssistantRouter(services, self.tokens)
        self.turns = turns
        self.outbox = Outbox()
        self._counter = 0

    def actor(self, name: str) -> Actor:
        user_id = self.stack.user_id(name)
        return Actor(TenantId(self.stack.tenant_id), UserId(user_id), name, channel_user_id=f"29:{user_id}")

    def conversation(self, name: str, channel_class: str | None = None) -> Conversation:
        class_id = ClassId(self.stack.class_id(channel_class)) if channel_class else None
        kind = "channel" if class_id else "personal"
        return Conversation(f"conv-{name}-{kind}", kind, "https://127.0.0.1:1/", class_id)

    async def say(
        self, text: str, *, user: str = "Dana Whitfield", channel: str | None = None, activity_id: str | None = None
    ) -> Reply:
        self._counter += 1
        turn = MessageTurn(activity_id or f"a{self._counter}", self.actor(user), self.conversation(user, channel), text)
        before = len(self.outbox.sent)
        await self.router.on_message(turn, self.outbox)
        new = self.outbox.sent[before:]
        return new[-1] if new else Reply()

    async def click(self, data: dict[str, Any], *, user: str = "Dana Whitfield", channel: str | None = None) -> Reply:
        self._counter += 1
        turn = CardActionTurn(
            f"c{self._counter}", self.actor(user), self.conversation(user, channel), str(data.get("verb", "")), data
        )
        return await self.router.on_card_action(turn, self.outbox)


@pytest.fixture
def harness(stack: SandboxStack, services: Services, turns: Turns) -> Harness:
    h = Harness(stack, services, turns)
    h.tokens.signed_in.update(
        {stack.user_id("Dana Whitfield"), stack.user_id("Marcus Oyelaran"), stack.user_id("Alice Smith")}
    )
    return h


async def test_grade_by_message(harness: Harness) -> None:
    reply = await harness.say("@Grading Assistant grade Alice Smith 85 on Essay 2 in Biology 101")
    assert harness.turns.points("Alice Smith") == 85
    assert "85/100" in card_text(reply)
    assert harness.outbox.typing_shown == 0  # answered at once: no indicator, no extra connector request


async def test_slow_turn_shows_typing_until_it_answers(
    harness: Harness, stack: SandboxStack, services: Services
) -> None:
    harness.router = AssistantRouter(services, harness.tokens, typing_after=0.05, typing_every=0.1)
    await harness.say("grade Alice Smith 80 on Essay 2 in Biology 101")  # warm: the next grade is one round trip
    assert harness.outbox.typing_shown == 0
    stack.graph.knobs.latency_seconds = 0.3
    reply = await harness.say("grade Alice Smith 85 on Essay 2 in Biology 101")
    shown = harness.outbox.typing_shown
    assert 2 <= shown <= 4  # at 0.05 s, then every 0.1 s while Graph takes 0.3 s
    assert "85/100" in card_text(reply) and harness.turns.points("Alice Smith") == 85
    await asyncio.sleep(0.25)
    assert harness.outbox.typing_shown == shown  # none after the answer


async def test_not_understood_shows_usage_and_writes_nothing(harness: Harness) -> None:
    reply = await harness.say("grade Alice 85 90 on Essay 2")
    text = card_text(reply)
    assert "won't guess" in text and "grade Alice 85 on Essay 2" in text
    assert harness.turns.points("Alice Smith") is None


async def test_redelivered_message_writes_and_answers_once(harness: Harness) -> None:
    await harness.say("grade Alice Smith 85 on Essay 2 in Biology 101", activity_id="same")
    harness.stack.graph.reset_request_log()
    again = await harness.say("grade Alice Smith 60 on Essay 2 in Biology 101", activity_id="same")
    assert again == Reply()
    assert harness.stack.graph.request_count == 0
    assert harness.turns.points("Alice Smith") == 85


async def test_double_click_confirms_once_and_answers_the_same(harness: Harness) -> None:
    ask = await harness.say("grade Alice Smith 105 on Essay 2 in Biology 101")
    confirm = buttons(ask)[Verb.GRADE_CONFIRM.value]
    first = await harness.click(confirm)
    second = await harness.click(confirm)
    assert harness.turns.points("Alice Smith") == 105
    assert card_text(first) == card_text(second)
    entries = await harness.router._services.store.list_audit(tenant_id=TenantId(harness.stack.tenant_id))  # pyright: ignore[reportPrivateUsage]
    assert len(entries) == 1


async def test_pick_card_resumes_the_command_with_the_chosen_student(harness: Harness) -> None:
    ask = await harness.say("grade Alex 80 on Essay 2 in Biology 101")
    assert "Alex Kim" in card_text(ask) and "Alex Lee" in card_text(ask)
    pick = next(data for data in all_buttons(ask) if data.get("student_id") == harness.stack.user_id("Alex Lee"))
    done = await harness.click(pick)
    assert harness.turns.points("Alex Lee") == 80
    assert harness.turns.points("Alex Kim") is None
    assert "Alex Lee" in card_text(done)


async def test_typed_sheet_asks_which_class_and_the_pick_opens_the_sheet(harness: Harness) -> None:
    ask = await harness.say("sheet Essay 2")
    assert "Which class is this for?" in card_text(ask)
    pick = next(data for data in all_buttons(ask) if data.get("class_id") == harness.stack.class_id("Biology 101"))
    sheet = await harness.click(pick)
    assert "Grading sheet — Essay 2" in card_text(sheet)
    assert Verb.SHEET_SAVE_ALL.value in buttons(sheet)


async def test_student_cannot_grade(harness: Harness) -> None:
    reply = await harness.say("grade Bob Jones 100 on Essay 2 in Biology 101", user="Alice Smith")
    assert "Only this class's teachers" in card_text(reply) or "couldn't" in card_text(reply)
    assert harness.turns.points("Bob Jones") is None


async def test_other_class_teacher_in_the_class_channel_is_refused(harness: Harness) -> None:
    posted = await harness.say("grade Bob Jones 100 on Essay 2", user="Marcus Oyelaran", channel="Biology 101")
    refresh = dict(posted.cards[0]["refresh"]["action"]["data"])
    reply = await harness.click(refresh, user="Marcus Oyelaran", channel="Biology 101")
    assert "Only this class's teachers can do that" in card_text(reply)
    assert harness.turns.points("Bob Jones") is None


async def test_forged_click_by_another_teacher_writes_nothing(harness: Harness) -> None:
    ask = await harness.say("grade Alice Smith 105 on Essay 2 in Biology 101")
    confirm = buttons(ask)[Verb.GRADE_CONFIRM.value]
    stolen = await harness.click(confirm, user="Marcus Oyelaran")
    assert "expired or was already used" in card_text(stolen)
    assert harness.turns.points("Alice Smith") is None


async def test_garbage_card_payload_is_refused(harness: Harness) -> None:
    reply = await harness.click({"verb": "grade.confirm"})
    assert "wasn't valid" in card_text(reply)
    reply = await harness.click({"verb": "drop.tables", "nonce": "x"})
    assert "wasn't valid" in card_text(reply)


async def test_sign_in_first_then_the_command_resumes(harness: Harness) -> None:
    priya = "Priya Raman"
    reply = await harness.say("grade Alice Smith 70 on Essay 2 in Biology 101", user=priya)
    assert reply.attachments and reply.attachments[0]["contentType"] == "application/vnd.microsoft.card.oauth"
    assert harness.turns.points("Alice Smith") is None
    harness.tokens.signed_in.add(harness.stack.user_id(priya))
    await harness.router.on_signed_in(harness.actor(priya), harness.conversation(priya), harness.outbox)
    assert harness.turns.points("Alice Smith") == 70


async def test_click_without_sign_in_asks_for_login(harness: Harness) -> None:
    ask = await harness.say("grade Alice Smith 105 on Essay 2 in Biology 101")
    harness.tokens.signed_in.clear()
    reply = await harness.click(buttons(ask)[Verb.GRADE_CONFIRM.value])
    assert reply.invoke_response is not None and reply.invoke_response["statusCode"] == 401
    assert harness.turns.points("Alice Smith") is None


async def test_consent_missing_is_explained(harness: Harness) -> None:
    harness.tokens.problem = AuthProblem.ADMIN_CONSENT_NEEDED
    reply = await harness.say("grade Alice Smith 85 on Essay 2 in Biology 101")
    assert "IT admin" in card_text(reply)


async def test_channel_post_shows_no_grade_but_the_teacher_view_does(harness: Harness) -> None:
    posted = await harness.say("grade Alice Smith 85 on Essay 2", channel="Biology 101")
    public = card_text(posted)
    assert "85" not in public and "Alice" not in public
    card = posted.cards[0]
    refresh = card["refresh"]
    assert refresh["userIds"] == [f"29:{harness.stack.user_id('Dana Whitfield')}"]
    teacher_view = await harness.click(dict(refresh["action"]["data"]), channel="Biology 101")
    assert "85/100" in card_text(teacher_view)
    others = await harness.click(dict(refresh["action"]["data"]), user="Marcus Oyelaran", channel="Biology 101")
    assert "85" not in card_text(others)


async def test_throttled_graph_is_explained_and_nothing_half_done(harness: Harness) -> None:
    harness.stack.graph.knobs.throttle_next = 100
    harness.stack.graph.knobs.retry_after = "30"
    reply = await harness.say("grade Alice Smith 85 on Essay 2 in Biology 101")
    assert "busy" in card_text(reply)
    harness.stack.graph.knobs.throttle_next = 0
    assert harness.turns.points("Alice Smith") is None
