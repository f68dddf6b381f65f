"""Fuzzing the router in process: 10,000 generated utterances and card payloads, none of which may raise or write.

Every strategy here is built so that it cannot form a valid, exactly resolvable command or an authorised click (see
each one's docstring), so the sandbox Graph must see no write at all: not one PATCH or POST, failed or not.

The router and the sandbox are built once per test and shared by all of its examples (hence the suppressed
`function_scoped_fixture` health check): that is sound because the assertion is cumulative — the write count stays
0 across every example — and because nothing an example does may change what a later one can do, which is the very
property under test.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.actions.context import Services
from bot.auth.obo import AuthProblem, GraphToken
from bot.auth.signin import SignInNeeded
from bot.cards.actions import Verb
from bot.cards.renderer import CardLibrary
from bot.graph.client import GraphHttp
from bot.graph.ids import ClassId, TenantId, UserId
from bot.router import AssistantRouter
from bot.settings import Settings
from bot.storage import MemoryStore, Store
from bot.turn import Actor, CardActionTurn, Conversation, MessageTurn, Reply
from sandbox.stack import SandboxStack
from tests.actions.conftest import all_buttons, card_text, graph_writes

ROOT = Path(__file__).resolve().parents[2]
DANA = "Dana Whitfield"
MARCUS = "Marcus Oyelaran"  # teaches 10C History only
ALICE = "Alice Smith"  # a Biology 101 student


BATCH = 10
"""Inputs per Hypothesis example: drawing them as a list spreads Hypothesis's fixed cost per example over ten."""


def batches(inputs: int) -> settings:
    """Enough examples for `inputs` fuzzed inputs, no deadline, one router and sandbox for all of them (see the module
    docstring)."""
    return settings(
        max_examples=inputs // BATCH, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )


def batch_of(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
    return st.lists(strategy, min_size=BATCH, max_size=BATCH)


class SignedIn:
    """Stands in for Credentials: every listed user has a sandbox Graph token."""

    def __init__(self, stack: SandboxStack, names: tuple[str, ...]) -> None:
        self.stack = stack
        self.user_ids = {stack.user_id(name) for name in names}

    async def graph_token(self, actor: Actor) -> GraphToken | SignInNeeded | AuthProblem:
        if actor.user_id not in self.user_ids:
            return SignInNeeded(attachment={"contentType": "application/vnd.microsoft.card.oauth", "content": {}})
        return GraphToken(
            access_token=self.stack.graph_token(actor.user_id),
            expires_at=datetime.now(UTC) + timedelta(hours=1),
            tenant_id=actor.tenant_id,
            user_id=actor.user_id,
        )

    async def sign_out(self, actor: Actor) -> bool:
        return False


class Outbox:
    def __init__(self) -> None:
        self.sent: list[Reply] = []

    async def send(self, reply: Reply) -> str:
        self.sent.append(reply)
        return f"activity-{len(self.sent)}"

    async def update(self, activity_id: str, reply: Reply) -> None:
        self.sent.append(reply)

    async def typing(self) -> None:
        return None


class RouterHarness:
    """The real router over the in-process sandbox Graph, a real card library and a store; turns by name."""

    def __init__(self, stack: SandboxStack, services: Services) -> None:
        self.stack = stack
        self.services = services
        self.router = AssistantRouter(services, SignedIn(stack, (DANA, MARCUS, ALICE)))
        self.outbox = Outbox()
        self._ids = itertools.count(1)

    def actor(self, name: str) -> Actor:
        user_id = self.stack.user_id(name)
        return Actor(TenantId(self.stack.tenant_id), UserId(user_id), name, channel_user_id=f"29:{user_id}")

    def conversation(self, name: str, channel_class: str | None = None) -> Conversation:
        class_id = ClassId(self.stack.class_id(channel_class)) if channel_class else None
        kind = "channel" if class_id else "personal"
        return Conversation(f"conv-{name}-{kind}", kind, "https://127.0.0.1:1/", class_id)

    async def say(self, text: str, *, user: str = DANA, channel: str | None = None) -> Reply:
        """Send a message; the last reply it produced (empty when none)."""
        turn = MessageTurn(f"a{next(self._ids)}", self.actor(user), self.conversation(user, channel), text)
        before = len(self.outbox.sent)
        await self.router.on_message(turn, self.outbox)
        new = self.outbox.sent[before:]
        return new[-1] if new else Reply()

    async def click(
        self, data: dict[str, Any], *, user: str = DANA, channel: str | None = None, activity_id: str | None = None
    ) -> Reply:
        """Click a button whose (possibly forged) data is `data`."""
        verb = data.get("verb")
        turn = CardActionTurn(
            activity_id or f"c{next(self._ids)}",
            self.actor(user),
            self.conversation(user, channel),
            verb if isinstance(verb, str) else "",
            data,
        )
        return await self.router.on_card_action(turn, self.outbox)

    @property
    def writes(self) -> int:
        """Graph writes (PATCH/POST, batch parts counted, envelopes not) the sandbox answered since its log reset."""
        return graph_writes(self.stack)


async def build_harness(store: Store | None = None) -> tuple[RouterHarness, GraphHttp]:
    """A fresh sandbox and router; the caller closes the returned Graph HTTP client."""
    stack = SandboxStack.build()
    config = Settings(graph_endpoint=stack.graph_url, authority_host=stack.entra.base_url)
    graph = GraphHttp.create(config, transport=stack.graph_transport())
    services = Services(
        settings=config, graph=graph, store=store or MemoryStore(), cards=CardLibrary.load(ROOT / "cards")
    )
    return RouterHarness(stack, services), graph


@pytest.fixture
async def harness() -> AsyncIterator[RouterHarness]:
    built, graph = await build_harness()
    yield built
    await graph.aclose()
    await built.services.store.aclose()


# ------------------------------------------------------------------------------------------------ utterances

_KNOWN_WORDS = ["grade", "give", "mark", "return", "reassign", "excuse", "status", "feedback", "undo", "help", "on"]

random_text = st.text(max_size=400)
"""Arbitrary Unicode: the odds of it spelling a whole valid command with real names are nil."""

decoded_bytes = st.tuples(st.binary(max_size=400), st.sampled_from(["utf-8", "latin-1", "utf-16-le"])).map(
    lambda pair: pair[0].decode(pair[1], errors="replace")
)
"""Random bytes read as text, the way a broken client might send them."""

word_salad = st.lists(
    st.one_of(st.sampled_from(_KNOWN_WORDS), st.text(alphabet="xyzqwj#@!", min_size=1, max_size=6)), max_size=12
).map(" ".join)
"""Command words mixed with junk that names no student, assignment or class."""

_TEMPLATES = (
    "grade {student} {points} on {assignment} in {klass}",
    "give {student} {points} for {assignment} in {klass}",
    "mark {student} {points} on {assignment} in {klass}",
    "{student} {points} {assignment} in {klass}",
    "grade {student} {points} on {assignment}",
)
_STUDENTS = ("Alice Smith", "Bob Jones", "Carol Diaz", "Alex Kim")
_ASSIGNMENTS = ("Essay 2", "Lab 3", "Unit 3 Quiz 2")

unknown_name = st.text(alphabet="bcdfghjkvwxz", min_size=3, max_size=10).map(lambda tail: f"Zq{tail}")
"""A name no roster entry has, not even as a prefix or a subsequence (no seeded name contains "zq")."""

two_numbers = st.tuples(st.integers(0, 100), st.integers(0, 100)).map(lambda pair: f"{pair[0]} {pair[1]}")
negative = st.tuples(st.sampled_from(["-", "\u2212"]), st.integers(1, 10_000)).map(lambda pair: f"{pair[0]}{pair[1]}")
garbage_points = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "1e400", "85/0", "NaN%", "0x55", "8,5,0", "..", "--85", "85..5"]),
    st.tuples(st.integers(0, 999), st.text(alphabet="ghijkqxz#@$", min_size=1, max_size=3), st.integers(0, 99)).map(
        lambda parts: f"{parts[0]}{parts[1]}{parts[2]}"
    ),
)
"""Points that are not one non-negative number."""


@st.composite
def mutated_commands(draw: st.DrawFn) -> str:
    """A valid grade command with one defect that must stop it: two numbers, a negative or garbage score, or a
    student / assignment / class nobody has. Everything else is real."""
    fields = {
        "student": draw(st.sampled_from(_STUDENTS)),
        "points": str(draw(st.integers(0, 100))),
        "assignment": draw(st.sampled_from(_ASSIGNMENTS)),
        "klass": "Biology 101",
    }
    defect = draw(st.sampled_from(["two numbers", "negative", "garbage", "student", "assignment", "class"]))
    if defect == "two numbers":
        fields["points"] = draw(two_numbers)
    elif defect == "negative":
        fields["points"] = draw(negative)
    elif defect == "garbage":
        fields["points"] = draw(garbage_points)
    else:
        fields[{"student": "student", "assignment": "assignment", "class": "klass"}[defect]] = draw(unknown_name)
    template = draw(st.sampled_from(_TEMPLATES))
    if defect == "class" and "{klass}" not in template:
        template = _TEMPLATES[0]
    return template.format(**fields)


@batches(3000)
@given(texts=batch_of(st.one_of(random_text, word_salad)), channel=st.sampled_from([None, "Biology 101"]))
async def test_random_text_never_raises_or_writes(
    harness: RouterHarness, texts: list[str], channel: str | None
) -> None:
    for text in texts:
        await harness.say(text, channel=channel)
    assert harness.writes == 0


@batches(2000)
@given(texts=batch_of(decoded_bytes))
async def test_random_bytes_never_raise_or_write(harness: RouterHarness, texts: list[str]) -> None:
    for text in texts:
        await harness.say(text)
    assert harness.writes == 0


@batches(1000)
@given(texts=batch_of(mutated_commands()), user=st.sampled_from([DANA, MARCUS, ALICE]))
async def test_mutated_commands_never_raise_or_write(harness: RouterHarness, texts: list[str], user: str) -> None:
    for text in texts:
        reply = await harness.say(text, user=user)
        assert reply.cards or reply.text, "every refusal is explained"
    assert harness.writes == 0


# ------------------------------------------------------------------------------------------------ card payloads

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40)
)
json_values = st.one_of(
    json_scalars,
    st.lists(json_scalars, max_size=3),
    st.dictionaries(st.text(max_size=10), json_scalars, max_size=3),
)
_CARD_KEYS = [
    "verb", "action_key", "nonce", "class_id", "assignment_id", "submission_id", "student_id", "extra", "points",
    "feedback", "choice", "choice_student", "choice_assignment", "points_x", "action", "for", "msteams",
]  # fmt: skip

random_payloads = st.dictionaries(
    st.one_of(st.sampled_from(_CARD_KEYS), st.text(max_size=20)),
    st.one_of(json_values, st.sampled_from([verb.value for verb in Verb])),
    max_size=10,
)
"""Random objects using the contract's keys: a real verb may appear, but never with a real nonce or real ids."""

_URLSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
wrong_type = st.one_of(st.integers(), st.floats(), st.booleans(), st.lists(st.text(max_size=5), max_size=3), st.none())


@dataclass(frozen=True)
class Forgery:
    """How to forge a click from one of Dana's real buttons: which button, which defect, and the values it uses."""

    button: int
    defect: str
    clicker: str
    marcus_nonce: int
    random_nonce: str
    wrong_value: object
    huge_size: int
    key_choice: int
    unknown_verb: object
    other_verb: Verb
    noise: dict[str, Any]
    channel: str | None


forgeries = st.builds(
    Forgery,
    button=st.integers(0, 1_000),
    defect=st.sampled_from(
        ["clicker", "foreign target", "wrong type", "huge", "missing key", "unknown verb", "verb mismatch"]
    ),
    clicker=st.sampled_from([MARCUS, ALICE]),
    marcus_nonce=st.integers(-1, 10),
    random_nonce=st.text(alphabet=_URLSAFE, min_size=24, max_size=24),
    wrong_value=wrong_type,
    huge_size=st.integers(10_000, 300_000),
    key_choice=st.integers(0, 2),
    unknown_verb=st.one_of(st.text(max_size=30).filter(lambda verb: verb not in set(Verb)), wrong_type),
    other_verb=st.sampled_from(list(Verb)),
    noise=st.dictionaries(st.sampled_from(["msteams", "unused", "points", "feedback", "for"]), json_values),
    channel=st.sampled_from([None, "Biology 101"]),
)
"""Forged clicks, drawn as plain data and applied to the real buttons in the test (`RealButtons.forge`)."""


class RealButtons:
    """Buttons the bot really rendered: Dana's confirmation and result cards, and Marcus's confirmation nonces."""

    def __init__(self, dana: list[dict[str, Any]], marcus_nonces: list[str], foreign_ids: dict[str, str]) -> None:
        self.dana = dana
        self.marcus_nonces = marcus_nonces
        self.foreign_ids = foreign_ids

    def forge(self, forgery: Forgery) -> tuple[dict[str, Any], str]:
        """One of Dana's buttons with a defect that must get it refused, plus noise that changes nothing.

        Defects: clicked by someone who may not act (Marcus, teacher of another class; Alice, a student); a nonce
        replaced by Marcus's or a random one, an [Undo] naming a change that is not Dana's, or ids moved to a class
        Dana does not teach; a required field removed, made the wrong type or huge; an unknown verb; an
        `Action.Execute` wrapper whose verb disagrees with the data.

        Returns:
            The payload and who clicks it.
        """
        data = dict(self.dana[forgery.button % len(self.dana)])
        clicker = DANA
        needs_nonce = "nonce" in data
        names_change = data["verb"] == Verb.UNDO.value  # [Undo] carries the change id in extra.change
        key = (
            "nonce"
            if needs_nonce
            else "extra"
            if names_change
            else ("class_id", "assignment_id", "action_key")[forgery.key_choice]
        )
        if forgery.defect == "clicker":
            clicker = forgery.clicker
        elif forgery.defect == "foreign target" and names_change:  # a well-formed id of no change of Dana's
            data["extra"] = {"change": hashlib.sha256(forgery.random_nonce.encode()).hexdigest()[:32]}
        elif forgery.defect == "foreign target" and needs_nonce:
            index = forgery.marcus_nonce
            data["nonce"] = self.marcus_nonces[index % len(self.marcus_nonces)] if index >= 0 else forgery.random_nonce
        elif forgery.defect == "foreign target":
            data.update(self.foreign_ids)
        elif forgery.defect == "missing key":
            data.pop(key, None)
        elif forgery.defect == "wrong type":
            data[key] = forgery.wrong_value
        elif forgery.defect == "huge":
            data[key] = "A" * forgery.huge_size
        elif forgery.defect == "unknown verb":
            data["verb"] = forgery.unknown_verb
        else:
            other = forgery.other_verb if forgery.other_verb != data["verb"] else Verb.HELP
            other = other if other != data["verb"] else Verb.UNDO
            data = {"action": {"type": "Action.Execute", "verb": other.value, "data": data}}
        target = data["action"]["data"] if "action" in data else data
        for name, value in forgery.noise.items():
            target.setdefault(name, value)
        return data, clicker


async def real_buttons(harness: RouterHarness) -> RealButtons:
    """Render real cards (one real write: Dana grades Alice), then reset the sandbox's request log."""
    stack = harness.stack
    done = await harness.say("grade Alice Smith 85 on Essay 2 in Biology 101")
    ask = await harness.say("grade Bob Jones 105 on Essay 2 in Biology 101")
    history_student = stack.school.class_named("10C History").studentIds[0]
    history_name = next(user.displayName for user in stack.school.users if user.id == history_student)
    marcus_ask = await harness.say(f"grade {history_name} 500 on Source Analysis in 10C History", user=MARCUS)
    marcus_nonces = [str(b["nonce"]) for b in all_buttons(marcus_ask) if "nonce" in b]
    assert marcus_nonces, card_text(marcus_ask)
    dana = all_buttons(done) + all_buttons(ask)
    assert {Verb.GRADE_CONFIRM.value, Verb.UNDO.value} <= {str(b["verb"]) for b in dana}, card_text(ask)
    history = stack.class_id("10C History")
    foreign = stack.graph.submission_for(
        history, stack.assignment_id("10C History", "Source Analysis"), history_student
    )
    assert foreign is not None
    foreign_ids = {
        "class_id": history,
        "assignment_id": foreign.assignmentId,
        "submission_id": foreign.id,
        "student_id": history_student,
    }
    stack.graph.reset_request_log()
    return RealButtons(dana, marcus_nonces, foreign_ids)


@batches(2000)
@given(payloads=batch_of(random_payloads), user=st.sampled_from([DANA, MARCUS]))
async def test_random_card_payloads_never_raise_or_write(
    harness: RouterHarness, payloads: list[dict[str, Any]], user: str
) -> None:
    for payload in payloads:
        reply = await harness.click(payload, user=user)
        assert reply.cards or reply.invoke_response
    assert harness.writes == 0


@pytest.fixture
async def buttons(harness: RouterHarness) -> RealButtons:
    return await real_buttons(harness)


@batches(2000)
@given(batch=batch_of(forgeries))
async def test_forged_real_buttons_never_raise_or_write(
    harness: RouterHarness, buttons: RealButtons, batch: list[Forgery]
) -> None:
    for forgery in batch:
        payload, clicker = buttons.forge(forgery)
        reply = await harness.click(payload, user=clicker, channel=forgery.channel)
        assert reply.cards or reply.invoke_response
    assert harness.writes == 0


async def test_the_real_buttons_do_write_when_clicked_as_rendered(harness: RouterHarness, buttons: RealButtons) -> None:
    """The control: the fuzzed buttons are live — Dana's own confirm click, unforged, writes."""
    confirm = next(data for data in buttons.dana if data["verb"] == Verb.GRADE_CONFIRM.value)
    await harness.click(dict(confirm))
    assert harness.writes > 0
