"""The thin Teams edge: turns botbuilder activities into `bot.turn` values and hands them to the Router.

- message -> the bot's @mention stripped -> `MessageTurn` -> `router.on_message`;
- message with `value` and no text (an Action.Submit click) -> `CardActionTurn` (verb from `value.verb`, the rest as
  data) -> `router.on_card_action`; its Reply replaces the clicked card (`replyToId`) or is sent as a new message;
- invoke `adaptiveCard/action` -> `CardActionTurn` -> the Reply's card as the documented invoke response
  `{"statusCode": 200, "type": "application/vnd.microsoft.card.adaptive", "value": <card>}`. `on_invoke_activity` is
  overridden and returns a plain-dict `InvokeResponse`: the SDK's `on_adaptive_card_invoke` path serialises the body
  twice and fails on the aiohttp CloudAdapter;
- conversationUpdate / installationUpdate -> the conversation reference is saved (`ConversationReferences.save`) so
  notifications can reach the conversation later.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Protocol

from botbuilder.core import InvokeResponse, TurnContext  # pyright: ignore[reportMissingTypeStubs]
from botbuilder.core.teams import TeamsActivityHandler  # pyright: ignore[reportMissingTypeStubs]

from bot.graph.ids import ClassId, TenantId, UserId
from bot.hosting.endpoint import activity_tenant
from bot.hosting.json_shapes import as_list, as_object
from bot.hosting.outbound import OutboundConnector
from bot.turn import Actor, CardActionTurn, Conversation, MessageTurn, Reply, Router, SignInGate

logger = logging.getLogger(__name__)

ADAPTIVE_CARD: Final = "application/vnd.microsoft.card.adaptive"
ACTIVITY_MESSAGE: Final = "application/vnd.microsoft.activity.message"
ERROR: Final = "application/vnd.microsoft.error"
VERB_KEY: Final = "verb"
"""The Action.Submit data key carrying the verb (Action.Execute has its own `verb`)."""

_AT_TAG = re.compile(r"<at\b[^>]*>(.*?)</at>", re.IGNORECASE | re.DOTALL)
_SPACES = re.compile(r"[ \t\u00a0]{2,}")


class ConversationReferences(Protocol):
    """Where conversation references are kept for proactive messages (provided by the notify layer)."""

    async def save(self, ref: dict[str, Any]) -> None:
        """Store the reference (Bot Framework JSON shape, camelCase keys), replacing one for the same conversation."""
        ...


class InMemoryConversationReferences:
    """The default store: references by conversation id, for one process."""

    def __init__(self) -> None:
        self.references: dict[str, dict[str, Any]] = {}

    async def save(self, ref: dict[str, Any]) -> None:
        """Keep the reference under its conversation id."""
        conversation: Any = ref.get("conversation") or {}
        self.references[str(conversation.get("id", ""))] = ref


def strip_bot_mention(text: str, entities: Sequence[Mapping[str, Any]], bot_ids: frozenset[str]) -> str:
    """Remove the bot's @mention from Teams message text; other `<at>Name</at>` tags become plain names.

    Args:
        text: the activity text.
        entities: the activity's entities (mention entities carry `mentioned.id` and the `<at>` `text`).
        bot_ids: ids the bot is addressed by (`recipient.id`, `28:<appId>`).

    Returns:
        The text without the mention, trimmed.
    """
    for entity in entities:
        if str(entity.get("type", "")).lower() != "mention":
            continue
        mentioned: Any = entity.get("mentioned") or {}
        if not isinstance(mentioned, Mapping) or mentioned.get("id") not in bot_ids:  # pyright: ignore[reportUnknownMemberType]
            continue
        tag = entity.get("text")
        if isinstance(tag, str) and tag and tag in text:
            text = text.replace(tag, " ")
        else:
            name = re.escape(str(mentioned.get("name", "")))  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
            text = re.sub(rf"<at\b[^>]*>\s*@?{name}\s*</at>", " ", text, flags=re.IGNORECASE)
    text = _AT_TAG.sub(lambda match: match.group(1), text)
    text = html.unescape(text).replace("\u00a0", " ")
    return _SPACES.sub(" ", text).strip()


def reply_json(reply: Reply) -> dict[str, Any]:
    """The message activity for a Reply as the Bot Connector takes it: text, Adaptive Cards, other attachments."""
    attachments: list[dict[str, Any]] = [{"contentType": ADAPTIVE_CARD, "content": card} for card in reply.cards]
    attachments += [
        {"contentType": str(raw.get("contentType", "")), "content": raw.get("content")} for raw in reply.attachments
    ]
    activity: dict[str, Any] = {"type": "message", "text": reply.text or ""}
    if attachments:
        activity["attachments"] = attachments
    return activity


def invoke_body(reply: Reply) -> dict[str, Any]:
    """The adaptiveCard/action invoke response for a Reply: its first card, else its text as a message."""
    if reply.invoke_response is not None:
        return dict(reply.invoke_response)
    if reply.cards:
        return {"statusCode": 200, "type": ADAPTIVE_CARD, "value": dict(reply.cards[0])}
    return {"statusCode": 200, "type": ACTIVITY_MESSAGE, "value": reply.text or ""}


def _error_body(status: int, code: str, message: str) -> dict[str, Any]:
    return {"statusCode": status, "type": ERROR, "value": {"code": code, "message": message}}


class TurnOutbox:
    """`bot.turn.Outbox` into one conversation, over the Bot Connector REST API (`OutboundConnector`).

    It does not depend on the turn being open, so long work (a bulk job's progress card) keeps using it after the
    turn's HTTP answer, and a job resumed after a restart builds one from the stored conversation.
    """

    def __init__(
        self,
        connector: OutboundConnector,
        *,
        service_url: str,
        conversation: Mapping[str, Any],
        bot: Mapping[str, Any],
        reply_to_id: str | None = None,
    ) -> None:
        self._connector = connector
        self._service_url = service_url
        self._conversation = dict(conversation)
        self._bot = dict(bot)
        self._reply_to_id = reply_to_id

    @classmethod
    def for_turn(cls, context: TurnContext, connector: OutboundConnector) -> TurnOutbox:
        """The outbox answering the activity of `context`."""
        activity: Any = context.activity  # pyright: ignore[reportUnknownMemberType]
        conversation: Any = activity.conversation
        recipient: Any = activity.recipient
        return cls(
            connector,
            service_url=str(activity.service_url or ""),
            conversation={"id": str(getattr(conversation, "id", "") or "")},
            bot={"id": str(getattr(recipient, "id", "") or ""), "name": str(getattr(recipient, "name", "") or "")},
            reply_to_id=str(activity.id) if activity.id else None,
        )

    @classmethod
    def for_conversation(
        cls, connector: OutboundConnector, conversation: Conversation, *, app_id: str, tenant_id: str
    ) -> TurnOutbox:
        """An outbox into a conversation outside any turn (a bulk job resumed after a restart)."""
        return cls(
            connector,
            service_url=conversation.service_url,
            conversation={"id": conversation.id, "tenantId": tenant_id},
            bot={"id": f"28:{app_id}"},
        )

    async def send(self, reply: Reply) -> str:
        """Post a reply; returns the new activity id."""
        return await self._connector.send(
            self._service_url,
            self._conversation["id"],
            self._envelope(reply_json(reply)),
            reply_to_id=self._reply_to_id,
        )

    async def update(self, activity_id: str, reply: Reply) -> None:
        """Replace a posted message in place."""
        await self._connector.update(
            self._service_url, self._conversation["id"], activity_id, self._envelope(reply_json(reply))
        )

    async def typing(self) -> None:
        """Show the typing indicator."""
        await self._connector.send(
            self._service_url, self._conversation["id"], self._envelope({"type": "typing"}), reply_to_id=None
        )

    def _envelope(self, activity: dict[str, Any]) -> dict[str, Any]:
        return {**activity, "from": self._bot, "conversation": self._conversation, "channelId": "msteams"}


class TeamsBot(TeamsActivityHandler):  # pyright: ignore[reportUntypedBaseClass]
    """Teams activities in, Router calls out."""

    def __init__(
        self,
        router: Router,
        *,
        app_id: str,
        connector: OutboundConnector,
        references: ConversationReferences | None = None,
        sign_in: SignInGate | None = None,
        service_url_seen: Callable[[str, str], None] | None = None,
    ) -> None:
        """Build the bot.

        Args:
            router: decides what each turn does.
            connector: sends replies to the Bot Connector.
            app_id: the bot's app id (for proactive sends and recognising its own @mention).
            references: where conversation references are saved; in memory when omitted.
            sign_in: answers Teams' sign-in invokes (SSO token exchange); without it they get 501.
            service_url_seen: told (tenant id, service URL) of every activity, for proactive sends to that tenant.
        """
        super().__init__()
        self._router = router
        self._connector = connector
        self._sign_in = sign_in
        self._service_url_seen = service_url_seen
        self._app_id = app_id
        self.references: ConversationReferences = references or InMemoryConversationReferences()

    async def on_turn(self, turn_context: TurnContext) -> None:
        """Every authenticated activity: note its tenant's service URL, then dispatch by type."""
        activity: Any = turn_context.activity  # pyright: ignore[reportUnknownMemberType]
        if self._service_url_seen is not None:
            self._service_url_seen(activity_tenant(activity) or "", str(activity.service_url or ""))
        await super().on_turn(turn_context)  # pyright: ignore[reportUnknownMemberType]

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        """A teacher's message (or an Action.Submit click) goes to the router."""
        activity: Any = turn_context.activity  # pyright: ignore[reportUnknownMemberType]
        outbox = TurnOutbox.for_turn(turn_context, self._connector)
        if isinstance(activity.value, dict) and not (activity.text or "").strip():
            await self._on_submit(activity, outbox)
            return
        text = strip_bot_mention(activity.text or "", _entities(activity), self._bot_ids(activity))
        turn = MessageTurn(
            activity_id=str(activity.id or ""),
            actor=_actor(activity),
            conversation=_conversation(activity),
            text=text,
        )
        await self._router.on_message(turn, outbox)

    async def _on_submit(self, activity: Any, outbox: TurnOutbox) -> None:
        value = as_object(activity.value)
        verb = str(value.get(VERB_KEY) or "")
        data = {k: v for k, v in value.items() if k not in (VERB_KEY, "msteams")}
        reply_to_id = str(activity.reply_to_id) if activity.reply_to_id else None
        turn = CardActionTurn(
            activity_id=str(activity.id or ""),
            actor=_actor(activity),
            conversation=_conversation(activity),
            verb=verb,
            data=data,
            reply_to_id=reply_to_id,
        )
        reply = await self._router.on_card_action(turn, outbox)
        if reply_to_id:
            await outbox.update(reply_to_id, reply)
        else:
            await outbox.send(reply)

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        """adaptiveCard/action clicks go to the router; sign-in invokes to the sign-in gate; others get 501."""
        activity: Any = turn_context.activity  # pyright: ignore[reportUnknownMemberType]
        name = str(activity.name or "")
        if name.startswith("signin/"):
            return await self._on_sign_in(turn_context, name)
        if name != "adaptiveCard/action":
            return InvokeResponse(status=501)
        value = as_object(activity.value)
        if self._sign_in is not None and value.get("authentication") is not None:
            login = await self._sign_in.action_authentication(value, _actor(activity))
            if login is not None:
                return InvokeResponse(status=200, body=dict(login))
        action = as_object(value.get("action"))
        if action.get("type") != "Action.Execute":
            return InvokeResponse(status=200, body=_error_body(400, "BadRequest", "expected an Action.Execute action"))
        outbox = TurnOutbox.for_turn(turn_context, self._connector)
        turn = CardActionTurn(
            activity_id=str(activity.id or ""),
            actor=_actor(activity),
            conversation=_conversation(activity),
            verb=str(action.get("verb") or ""),
            data=as_object(action.get("data")),
            reply_to_id=str(activity.reply_to_id) if activity.reply_to_id else None,
        )
        reply = await self._router.on_card_action(turn, outbox)
        return InvokeResponse(status=200, body=invoke_body(reply))

    async def _on_sign_in(self, turn_context: TurnContext, name: str) -> InvokeResponse:
        """signin/tokenExchange (Teams SSO), signin/verifyState and signin/failure."""
        activity: Any = turn_context.activity  # pyright: ignore[reportUnknownMemberType]
        if self._sign_in is None:
            return InvokeResponse(status=501)
        actor = _actor(activity)
        outbox = TurnOutbox.for_turn(turn_context, self._connector)
        if name == "signin/tokenExchange":
            status, body, signed_in = await self._sign_in.token_exchange(as_object(activity.value), actor)
            if signed_in:
                await self._router.on_signed_in(actor, _conversation(activity), outbox)
            return InvokeResponse(status=status, body=dict(body))
        notice = await self._sign_in.notice(name, as_object(activity.value))
        if notice:
            await outbox.send(Reply(text=notice))
        return InvokeResponse(status=200)

    async def on_conversation_update_activity(self, turn_context: TurnContext) -> None:
        """The bot was added to (or a member joined) a conversation: keep its reference."""
        await self._save_reference(turn_context)
        await super().on_conversation_update_activity(turn_context)  # pyright: ignore[reportUnknownMemberType]

    async def on_installation_update(self, turn_context: TurnContext) -> None:
        """The app was installed or upgraded in a conversation: keep its reference."""
        activity: Any = turn_context.activity  # pyright: ignore[reportUnknownMemberType]
        if str(activity.action or "").lower() in ("add", "add-upgrade"):
            await self._save_reference(turn_context)

    async def _save_reference(self, turn_context: TurnContext) -> None:
        activity: Any = turn_context.activity  # pyright: ignore[reportUnknownMemberType]
        reference: Any = TurnContext.get_conversation_reference(activity)  # pyright: ignore[reportUnknownMemberType]
        saved = dict(as_object(reference.serialize()))
        tenant = activity_tenant(activity)
        if tenant:
            saved["conversation"] = {**as_object(saved.get("conversation")), "tenantId": tenant}
        channel_data = as_object(activity.channel_data)
        if channel_data:
            saved["channelData"] = channel_data
        await self.references.save(saved)

    def _bot_ids(self, activity: Any) -> frozenset[str]:
        recipient: Any = activity.recipient
        ids = {f"28:{self._app_id}"} if self._app_id else set[str]()
        if recipient is not None and recipient.id:
            ids.add(str(recipient.id))
        return frozenset(ids)


def _entities(activity: Any) -> list[Mapping[str, Any]]:
    entities: list[Mapping[str, Any]] = []
    for entity in as_list(activity.entities):
        item: Any = entity
        properties = dict(as_object(getattr(item, "additional_properties", None)))
        properties["type"] = getattr(item, "type", None)
        entities.append(properties)
    return entities


def _actor(activity: Any) -> Actor:
    sender: Any = activity.from_property
    tenant = activity_tenant(activity) or ""
    user_id = str(getattr(sender, "aad_object_id", None) or "")
    name = str(getattr(sender, "name", None) or "")
    channel_user_id = str(getattr(sender, "id", None) or "")
    return Actor(tenant_id=TenantId(tenant), user_id=UserId(user_id), name=name, channel_user_id=channel_user_id)


def _conversation(activity: Any) -> Conversation:
    conversation: Any = activity.conversation
    team = as_object(as_object(activity.channel_data).get("team"))
    kind = str(getattr(conversation, "conversation_type", None) or ("channel" if team else "personal"))
    class_id = team.get("aadGroupId") if kind == "channel" else None
    return Conversation(
        id=str(getattr(conversation, "id", "") or ""),
        kind=kind,
        service_url=str(activity.service_url or ""),
        channel_class_id=ClassId(class_id) if isinstance(class_id, str) and class_id else None,
    )
