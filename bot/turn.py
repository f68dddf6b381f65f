"""What one Teams turn means to the assistant, free of the Bot Framework SDK.

`bot/teams_bot.py` turns a botbuilder TurnContext into these values and hands them to a `Router`; everything below
the edge works with them only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.graph.ids import ClassId, TenantId, UserId


@dataclass(frozen=True)
class Actor:
    """The person who sent the activity: Entra tenant and object id (Teams' `from.aadObjectId`)."""

    tenant_id: TenantId
    user_id: UserId
    name: str = field(default="", repr=False)
    channel_user_id: str = ""
    """Teams' own id for the user (`from.id`, "29:..."), used in a card's `refresh.userIds`."""


@dataclass(frozen=True)
class Conversation:
    """Where the activity came from. `channel_class_id` is the team's aadGroupId in a class channel."""

    id: str
    kind: str  # "personal" | "channel" | "groupChat"
    service_url: str
    channel_class_id: ClassId | None = None

    @property
    def is_channel(self) -> bool:
        return self.kind == "channel"


@dataclass(frozen=True)
class MessageTurn:
    """A text message, with the bot's @mention already removed."""

    activity_id: str
    actor: Actor
    conversation: Conversation
    text: str = field(repr=False)


@dataclass(frozen=True)
class CardActionTurn:
    """An Adaptive Card button click (`adaptiveCard/action` invoke or Action.Submit message)."""

    activity_id: str
    actor: Actor
    conversation: Conversation
    verb: str
    data: Mapping[str, Any] = field(repr=False)
    reply_to_id: str | None = None


@dataclass(frozen=True)
class Reply:
    """What the assistant says: optional text and Adaptive Cards (card JSON objects)."""

    text: str | None = None
    cards: tuple[Mapping[str, Any], ...] = ()
    attachments: tuple[Mapping[str, Any], ...] = ()
    """Other attachments as sent (`contentType` + `content`), e.g. the OAuth card that starts Teams SSO."""
    invoke_response: Mapping[str, Any] | None = None
    """For an `adaptiveCard/action` invoke only: answer with this body instead of a card (e.g. a 401 loginRequest)."""


class Outbox(Protocol):
    """Sends to the conversation of the current turn (and keeps working after the turn's HTTP answer)."""

    async def send(self, reply: Reply) -> str:
        """Post a reply; returns the new activity id."""
        ...

    async def update(self, activity_id: str, reply: Reply) -> None:
        """Replace a posted message (e.g. a progress card) in place."""
        ...

    async def typing(self) -> None:
        """Show the typing indicator."""
        ...


class Router(Protocol):
    """Decides what a turn does. Implemented by `bot/router.py`."""

    async def on_message(self, turn: MessageTurn, outbox: Outbox) -> None: ...

    async def on_signed_in(self, actor: Actor, conversation: Conversation, outbox: Outbox) -> None:
        """The teacher just signed in (SSO token exchange): carry on with what they asked before."""
        ...

    async def on_card_action(self, turn: CardActionTurn, outbox: Outbox) -> Reply:
        """Returns the card that replaces the clicked card in place."""
        ...


class SignInGate(Protocol):
    """Answers Teams' sign-in invokes. Implemented by `bot.auth.gate.TeamsSignIn`."""

    async def token_exchange(self, value: Mapping[str, Any], actor: Actor) -> tuple[int, Mapping[str, Any], bool]:
        """A `signin/tokenExchange` invoke: (HTTP status, body, whether the teacher is now signed in)."""
        ...

    async def action_authentication(self, value: Mapping[str, Any], actor: Actor) -> Mapping[str, Any] | None:
        """An `adaptiveCard/action` carrying `authentication.token`: None when accepted, else the loginRequest body."""
        ...

    async def notice(self, name: str, value: Mapping[str, Any]) -> str | None:
        """What to tell the teacher after `signin/verifyState` or `signin/failure`."""
        ...
