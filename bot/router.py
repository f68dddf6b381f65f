"""Turn → action. The one table from commands and card verbs to actions, and from domain errors to wording.

A message is deduplicated on its activity id, parsed, authorised (a Graph token for the teacher, or a sign-in card),
and handed to its action; a card click is checked (`parse_card_action`), deduplicated on its per-button action key
(a double click or a Teams retry writes once and answers with the first answer), and run the same way. In a class
channel nothing posted shows a grade: the channel sees a neutral card whose user-specific view (`refresh.userIds`)
shows the teacher the real answer.

Fail closed: dedupe needs the store, so when the store cannot be reached before anything is written the teacher gets
"I can't record changes right now, so I made none" and no Graph request is made; once a write has happened, a store
failure only costs the remembered answer, never the reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any, Protocol, TypeAlias, cast

from pydantic import TypeAdapter, ValidationError

from bot import messages
from bot.actions import bulk, confirmations, excuse, feedback, grade, help, reassign, returning, sheet, status, undo
from bot.actions.answers import error_card, error_view
from bot.actions.context import ActionContext, Services
from bot.actions.pending import take
from bot.actions.targeting import PENDING_COMMAND, NotATeacher
from bot.auth.obo import AuthProblem, GraphToken
from bot.auth.signin import SignInNeeded, login_request_response
from bot.cards.actions import CardAction, CardActionError, Verb, for_user, parse_card_action
from bot.cards.views import PublicResultView
from bot.commands import parse_command
from bot.commands.model import (
    BulkGrade,
    Command,
    Excuse,
    Feedback,
    Grade,
    Help,
    ParseError,
    Reassign,
    Return,
    Sheet,
    SignOut,
    Status,
    Undo,
)
from bot.graph.client import EducationClient
from bot.graph.errors import (
    GraphError,
    GraphForbidden,
    GraphNotFound,
    GraphThrottled,
    GraphTimeout,
    GraphUnavailable,
    InvalidPoints,
)
from bot.storage import StorageUnavailable
from bot.turn import Actor, CardActionTurn, Conversation, MessageTurn, Outbox, Reply

logger = logging.getLogger(__name__)

DEDUPE_TTL = timedelta(hours=24)
RESUME_TTL = timedelta(minutes=15)
PRIVATE_VIEW_TTL = timedelta(days=7)
TYPING_AFTER_SECONDS = 0.5
"""A turn still working after this long shows the typing indicator (ShowTypingMiddleware's default delay)."""
TYPING_EVERY_SECONDS = 2.0
"""...and shows it again this often while it works (Teams hides the indicator after a few seconds)."""
_MAX_HELP_CARDS = 64

CommandHandler: TypeAlias = Callable[[ActionContext, Any], Awaitable[Reply]]
VerbHandler: TypeAlias = Callable[[ActionContext, CardAction], Awaitable[Reply]]
_COMMANDS: TypeAdapter[Command] = TypeAdapter(Command)


class TokenSource(Protocol):
    """What the router needs from `bot.auth.signin.Credentials`."""

    async def graph_token(self, actor: Actor) -> GraphToken | SignInNeeded | AuthProblem: ...

    async def sign_out(self, actor: Actor) -> bool: ...


def command_table() -> dict[type[Any], CommandHandler]:
    """Typed command → action. Sign-out needs no Graph token and is handled by the router itself."""
    return {
        Grade: grade.run,
        Return: returning.run,
        Reassign: reassign.run,
        Excuse: excuse.run,
        Status: status.run,
        Sheet: sheet.run,
        BulkGrade: bulk.run,
        Feedback: feedback.run,
        Undo: undo.run,
    }


def verb_table() -> dict[Verb, VerbHandler]:
    """Card verb → action."""
    return {
        Verb.GRADE_CONFIRM: _by_confirmation(confirmations.confirmed, bulk=bulk.confirmed, feedback=feedback.confirmed),
        Verb.GRADE_CANCEL: _by_confirmation(confirmations.cancelled, bulk=bulk.cancelled, feedback=feedback.cancelled),
        Verb.GRADE_SAVE: feedback.on_grade_save,
        Verb.GRADE_SAVE_RETURN: feedback.on_grade_save_return,
        Verb.FEEDBACK_OPEN: feedback.on_feedback_open,
        Verb.SHEET_SAVE_ALL: bulk.on_sheet_save_all,
        Verb.UNDO: undo.on_undo,
        Verb.SUBMISSION_RETURN: returning.on_submission_return,
        Verb.SUBMISSION_REASSIGN: reassign.on_submission_reassign,
        Verb.REASSIGN_OPEN: reassign.on_reassign_open,
        Verb.SUBMISSION_EXCUSE: excuse.on_submission_excuse,
        Verb.STATUS_REFRESH: status.on_status_refresh,
        Verb.SHEET_OPEN: sheet.on_sheet_open,
        Verb.SHEET_FILTER: sheet.on_sheet_filter,
        Verb.SHEET_PAGE: sheet.on_sheet_page,
    }


def _by_confirmation(default: VerbHandler, **by_kind: VerbHandler) -> VerbHandler:
    """Confirm/cancel buttons say whose confirmation they answer (`extra["for"]`): bulk's and feedback's park under
    their own kinds; the default (`bot.actions.confirmations`) finishes grade, return, reassign and excuse."""

    async def handler(ctx: ActionContext, action: CardAction) -> Reply:
        kind = action.extra.get("for")
        chosen = by_kind.get(kind, default) if isinstance(kind, str) else default
        return await chosen(ctx, action)

    return handler


class AssistantRouter:
    """Implements `bot.turn.Router`."""

    def __init__(
        self,
        services: Services,
        tokens: TokenSource,
        *,
        commands: Mapping[type[Any], CommandHandler] | None = None,
        verbs: Mapping[Verb, VerbHandler] | None = None,
        typing_after: float = TYPING_AFTER_SECONDS,
        typing_every: float = TYPING_EVERY_SECONDS,
    ) -> None:
        self._services = services
        self._tokens = tokens
        self._typing_after = typing_after
        self._typing_every = typing_every
        self._help_cards: dict[str | None, Mapping[str, Any]] = {}
        self._commands = dict(commands or command_table())
        self._verbs = dict(verbs or verb_table())

    # ------------------------------------------------------------------------------------------- messages

    async def on_message(self, turn: MessageTurn, outbox: Outbox) -> None:
        """A typed command: the teacher sees one answer (a card), or a sign-in card first."""
        try:
            if not await self._first_delivery("activity", turn.actor, turn.activity_id):
                return
            command = parse_command(turn.text)
            reply = await self._answer_command(turn.actor, turn.conversation, command, outbox, original_text=turn.text)
        except StorageUnavailable:  # `_run` answers for the actions; what escapes here failed before any write
            reply = self._storage_unavailable()
        if reply is not None:
            await self._deliver(turn.actor, turn.conversation, reply, outbox)

    async def on_signed_in(self, actor: Actor, conversation: Conversation, outbox: Outbox) -> None:
        """After a successful SSO token exchange: run the command the teacher typed before signing in."""
        try:
            parked = await self._services.store.consume("resume", _actor_key(actor))
            if parked is None or not isinstance(parked.value, dict):
                await outbox.send(Reply(text=messages.signed_in()))
                return
            text = str(parked.value.get("text", ""))
            reply = await self._answer_command(actor, conversation, parse_command(text), outbox, original_text=text)
        except StorageUnavailable:
            reply = self._storage_unavailable()
        if reply is not None:
            await self._deliver(actor, conversation, reply, outbox)

    async def _answer_command(
        self,
        actor: Actor,
        conversation: Conversation,
        command: Command | ParseError,
        outbox: Outbox,
        *,
        original_text: str,
    ) -> Reply | None:
        if isinstance(command, ParseError):
            return self._parse_error(command)
        if isinstance(command, SignOut):
            await self._tokens.sign_out(actor)
            return Reply(text=messages.signed_out())
        if isinstance(command, Help):  # no Graph, no sign-in needed
            return Reply(cards=(self._help_card(command.topic),))
        token = await self._tokens.graph_token(actor)
        if isinstance(token, SignInNeeded):
            await self._services.store.put(
                "resume", _actor_key(actor), {"text": original_text}, expected_version=None, ttl=RESUME_TTL
            )
            return Reply(text=messages.sign_in_first(), attachments=(token.attachment,))
        if isinstance(token, AuthProblem):
            return self._auth_problem(token)
        ctx = self._context(actor, conversation, token, outbox)
        handler = self._commands.get(type(command))
        if handler is None:
            return self._plain_error(messages.not_available_yet())
        async with self._typing_while_slow(outbox):
            return await self._run(ctx, handler, command)

    @contextlib.asynccontextmanager
    async def _typing_while_slow(self, outbox: Outbox) -> AsyncGenerator[None]:
        """Show typing if the block is still working after `typing_after` s, and again every `typing_every` s.

        A quick answer (most grades) needs no indicator and costs no extra connector request; a slow one (Graph
        latency, throttling, a big batch) shows it, as Bot Framework's ShowTypingMiddleware does.
        """
        shower: list[asyncio.Task[None]] = []

        def start() -> None:
            shower.append(asyncio.create_task(self._show_typing(outbox)))

        timer = asyncio.get_running_loop().call_later(self._typing_after, start)  # no task at all for a quick turn
        try:
            yield
        finally:
            timer.cancel()
            for task in shower:
                task.cancel()

    async def _show_typing(self, outbox: Outbox) -> None:
        while True:
            try:
                await outbox.typing()
            except Exception as error:  # noqa: BLE001 - the indicator is a courtesy; it never fails the turn
                logger.debug("typing indicator not shown: %s", type(error).__name__)
            await asyncio.sleep(self._typing_every)

    # ------------------------------------------------------------------------------------------- card clicks

    async def on_card_action(self, turn: CardActionTurn, outbox: Outbox) -> Reply:
        """A button click: the card is replaced in place by the answer."""
        try:
            return await self._on_card_action(turn, outbox)
        except StorageUnavailable:  # the answer is remembered after the click ran; what escapes failed before it
            return self._storage_unavailable()

    async def _on_card_action(self, turn: CardActionTurn, outbox: Outbox) -> Reply:
        payload = dict(turn.data)
        payload.setdefault("verb", turn.verb)
        action = parse_card_action(payload)
        if isinstance(action, CardActionError):
            return self._plain_error(messages.card_not_understood(action.reason.value))
        if action.verb is Verb.CARD_REFRESH:
            return await self._private_view(turn.actor, action)
        if action.verb is Verb.HELP:  # no Graph, no sign-in needed
            topic = action.extra.get("topic")
            return Reply(cards=(self._help_card(topic if isinstance(topic, str) else None),))
        dedupe_key = f"{_actor_key(turn.actor)}.{action.action_key}"
        earlier = await self._services.store.get("answers", dedupe_key)
        if earlier is not None and isinstance(earlier.value, dict):
            return _reply_from(earlier.value)
        token = await self._tokens.graph_token(turn.actor)
        if isinstance(token, SignInNeeded):
            login = login_request_response(self._services.settings, tenant_id=str(turn.actor.tenant_id))
            return Reply(invoke_response=login)
        if isinstance(token, AuthProblem):
            return self._auth_problem(token)
        if not await self._first_delivery("click", turn.actor, action.action_key):
            return self._plain_error(messages.still_working())
        ctx = self._context(turn.actor, turn.conversation, token, outbox)
        reply = await self._click(ctx, action)
        try:
            await self._services.store.put(
                "answers", dedupe_key, _reply_document(reply), expected_version=None, ttl=DEDUPE_TTL
            )
        except StorageUnavailable:
            logger.warning("the store is unavailable: a click's answer was not remembered")
        return reply

    async def _click(self, ctx: ActionContext, action: CardAction) -> Reply:
        if action.verb in (Verb.PICK_STUDENT, Verb.PICK_CLASS, Verb.PICK_ASSIGNMENT):
            return await self._resume_picked(ctx, action)
        handler = self._verbs.get(action.verb)
        if handler is None:
            return self._plain_error(messages.not_available_yet())
        return await self._run(ctx, handler, action)

    async def _resume_picked(self, ctx: ActionContext, action: CardAction) -> Reply:
        """A pick card click: the parked command again, with the chosen id in place of the name."""
        payload = await take(ctx, PENDING_COMMAND, action.nonce or "")
        if payload is None:
            return error_card(ctx, messages.confirmation_expired())
        try:
            command = _COMMANDS.validate_python(payload)
        except ValidationError:
            return error_card(ctx, messages.confirmation_expired())
        pinned: dict[str, Any] = {}
        if action.verb is Verb.PICK_STUDENT and action.student_id and hasattr(command, "student"):
            pinned["student"] = action.student_id
        if action.verb is Verb.PICK_ASSIGNMENT and action.assignment_id and hasattr(command, "assignment"):
            pinned["assignment"] = action.assignment_id
        if action.verb is Verb.PICK_CLASS and action.class_id and hasattr(command, "class_hint"):
            pinned["class_hint"] = action.class_id
        handler = self._commands.get(type(command))
        if handler is None or not pinned:
            return error_card(ctx, messages.confirmation_expired())
        return await self._run(ctx, handler, command.model_copy(update=pinned))

    # ------------------------------------------------------------------------------------------- shared

    def _help_card(self, topic: str | None) -> Mapping[str, Any]:
        """The help card for a topic. It is static (no buttons, no names), so each is rendered once and kept."""
        card = self._help_cards.get(topic)
        if card is None:
            card = self._services.cards.render_view(help.help_view(topic))
            if len(self._help_cards) < _MAX_HELP_CARDS:
                self._help_cards[topic] = card
        return card

    def _context(self, actor: Actor, conversation: Conversation, token: GraphToken, outbox: Outbox) -> ActionContext:
        client = EducationClient(self._services.graph, token.access_token, tenant_id=actor.tenant_id)
        return ActionContext(self._services, actor, conversation, client, outbox)

    async def _run(self, ctx: ActionContext, handler: CommandHandler | VerbHandler, argument: Any) -> Reply:
        """Run an action; every domain error becomes one sentence here (the single error table)."""
        try:
            return await handler(ctx, argument)
        except NotATeacher:
            return error_card(ctx, messages.only_teachers())
        except GraphForbidden:
            self._forget(ctx)
            return error_card(ctx, messages.only_teachers())
        except GraphNotFound:
            self._forget(ctx)
            return error_card(ctx, messages.graph_not_found())
        except GraphThrottled as throttled:
            return error_card(ctx, messages.graph_throttled(throttled.retry_after))
        except (GraphUnavailable, GraphTimeout):
            return error_card(ctx, messages.graph_unavailable())
        except InvalidPoints as invalid:
            return error_card(ctx, messages.invalid_points(invalid.reason))
        except StorageUnavailable:
            return error_card(ctx, messages.storage_unavailable())
        except GraphError as error:
            logger.warning(
                "Graph refused a request: status=%s code=%s request-id=%s", error.status, error.code, error.request_id
            )
            return error_card(ctx, messages.graph_refused(), next_step=messages.graph_error_hint(error.status))

    def _forget(self, ctx: ActionContext) -> None:
        """A 403/404 means the cached view of this teacher's classes may be stale: drop it."""
        self._services.roster.invalidate(ctx.teacher_key)
        self._services.submissions.forget(ctx.teacher_key)

    async def _first_delivery(self, kind: str, actor: Actor, key: str) -> bool:
        """False for a redelivery (Teams retries a slow turn; a double click sends the same button twice)."""
        if not key:
            return True
        return await self._services.store.claim(f"claims-{kind}", f"{_actor_key(actor)}.{key}", DEDUPE_TTL)

    async def _deliver(self, actor: Actor, conversation: Conversation, reply: Reply, outbox: Outbox) -> None:
        """Send a reply; in a channel, grades go only to the teacher's user-specific view of a neutral card."""
        if not conversation.is_channel or not reply.cards or not actor.channel_user_id:
            await outbox.send(reply)
            return
        public = self._services.cards.render_view(PublicResultView(summary=messages.private_answer()))
        try:
            nonce = await self._park_private(actor, reply)
        except StorageUnavailable:  # the action may have written already: post the neutral card, never the grade
            logger.warning("the store is unavailable: a channel answer has no private view")
            await outbox.send(Reply(cards=(public,)))
            return
        refresh = CardAction(verb=Verb.CARD_REFRESH, nonce=nonce)
        await outbox.send(Reply(cards=(for_user(public, [actor.channel_user_id], refresh),)))

    async def _park_private(self, actor: Actor, reply: Reply) -> str:
        nonce = secrets.token_urlsafe(18)
        document = {"owner": _actor_key(actor), **_reply_document(reply)}
        await self._services.store.put("private", nonce, document, expected_version=0, ttl=PRIVATE_VIEW_TTL)
        return nonce

    async def _private_view(self, actor: Actor, action: CardAction) -> Reply:
        """Teams asks for the user-specific view: the teacher who owns it gets the real answer, anyone else the
        neutral card."""
        document = await self._services.store.get("private", action.nonce or "")
        if document is None or not isinstance(document.value, dict) or document.value.get("owner") != _actor_key(actor):
            public = self._services.cards.render_view(PublicResultView(summary=messages.private_answer()))
            return Reply(cards=(public,))
        return _reply_from(document.value)

    def _parse_error(self, error: ParseError) -> Reply:
        view = error_view(messages.not_understood(error.reason), next_step=messages.help_hint(), usage=error.usage)
        card = self._services.cards.render_view(view)
        return Reply(cards=(card,))

    def _plain_error(self, problem: str) -> Reply:
        view = error_view(problem, next_step=messages.help_hint())
        return Reply(cards=(self._services.cards.render_view(view),))

    def _storage_unavailable(self) -> Reply:
        return self._plain_error(messages.storage_unavailable())

    def _auth_problem(self, problem: AuthProblem) -> Reply:
        return self._plain_error(messages.auth_problem(problem.value))


def _actor_key(actor: Actor) -> str:
    return f"{actor.tenant_id}.{actor.user_id}"


def _reply_document(reply: Reply) -> dict[str, Any]:
    return {"text": reply.text, "cards": [dict(card) for card in reply.cards]}


def _reply_from(document: Mapping[str, Any]) -> Reply:
    cards: object = document.get("cards")
    text = document.get("text")
    kept: list[Mapping[str, Any]] = []
    if isinstance(cards, list):
        kept = [cast(dict[str, Any], card) for card in cast(list[object], cards) if isinstance(card, dict)]
    return Reply(text=text if isinstance(text, str) else None, cards=tuple(kept))
