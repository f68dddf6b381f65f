"""A local stand-in for the Teams channel: the Bot Connector the bot replies to, and Teams' side toward the bot.

Connector routes (relative to `base_url`, the serviceUrl of every activity it sends):
    POST   /v3/conversations                                   create (e.g. a personal chat for a notification)
    POST   /v3/conversations/{id}/activities                   send
    POST   /v3/conversations/{id}/activities/{activityId}      reply
    PUT    /v3/conversations/{id}/activities/{activityId}      update
    DELETE /v3/conversations/{id}/activities/{activityId}      delete
    GET    /v3/conversations/{id}/members                      members
    GET    /_sandbox/conversations                             inspection: every conversation and its activities

Every connector call needs the bot's bearer token, issued by the sandbox Entra (client credentials) for audience
`https://api.botframework.com`; anything else is answered 401. Knobs: `throttle(n, retry_after)` answers 429 to the
next n sends; `block(user)` makes create/send to that user's personal chat answer 403 (the user blocked the bot).

Toward the bot, `send_to_bot(activity)` posts to the bot's `/api/messages` with a channel token from
`entra.mint_channel_token`, so sandbox runs go through the production auth path. `message(...)` and `card_action(...)`
build activities shaped like Teams' (see specs/examples/teams).

Teams-style SSO: when the bot posts an OAuth card with `tokenExchangeResource`, the channel does what the Teams client
does once it has answered the connector call: it mints an SSO token for the user the card is for (the personal chat's
member, or in a channel the last sender) and sends a `signin/tokenExchange` invoke. `invoke_card_action` retries an
`adaptiveCard/action` answered with a 401 loginRequest with `value.authentication`, as Teams does for Universal
Actions. Knobs: `auto_sso = False` (the manual path: tests send the exchange themselves) and
`withhold_consent(user)` (the user has not consented: nothing is sent, the OAuth card stays). Every invoke the channel
sends on its own is kept in `invokes` (tokens redacted).

The chat page (a Teams-like UI for `make run`) is served at `/` from `sandbox/chat/`, with the `adaptivecards`
renderer from node_modules at `/vendor/adaptivecards.js`; its JSON API lives under `/_chat/` (see `ChatApi`).
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import itertools
import logging
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, cast
from urllib.parse import unquote

import httpx

from bot.http_transport import DirectClient, PooledTransport, json_bytes
from sandbox.core import InvalidToken, SandboxRequest, SandboxResponse, json_response
from sandbox.entra import Entra
from sandbox.school import School

logger = logging.getLogger(__name__)

BOT_FRAMEWORK_AUDIENCE: Final = "https://api.botframework.com"
CHANNEL_ID: Final = "msteams"
ADAPTIVE_CARD: Final = "application/vnd.microsoft.card.adaptive"
OAUTH_CARD: Final = "application/vnd.microsoft.card.oauth"
LOGIN_REQUEST: Final = "application/vnd.microsoft.activity.loginRequest"
CHAT_PERSONAS: Final = ("Dana Whitfield", "Priya Raman", "Alice Smith", "Marcus Oyelaran")
"""Who the chat page offers in its user switcher (when `seed_school` is used): teacher, co-teacher, student, and
the other class's teacher."""

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
CHAT_DIRECTORY: Final = Path(__file__).resolve().parent / "chat"
ADAPTIVECARDS_JS: Final = REPO_ROOT / "node_modules" / "adaptivecards" / "dist" / "adaptivecards.min.js"
"""The official Adaptive Cards renderer (npm `adaptivecards`), served to the chat page."""
VENDOR_FILES: Final[Mapping[str, tuple[Path, str]]] = {
    "/vendor/adaptivecards.js": (ADAPTIVECARDS_JS, "text/javascript; charset=utf-8"),
}
PAGE_FILES: Final[Mapping[str, tuple[str, str]]] = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/chat.js": ("chat.js", "text/javascript; charset=utf-8"),
    "/chat.css": ("chat.css", "text/css; charset=utf-8"),
}


@dataclass
class TeamsUser:
    """A Teams user as the channel knows them: the `29:` id, the Entra object id, tenant and name."""

    id: str
    aad_object_id: str
    tenant_id: str
    name: str = ""

    def account(self) -> dict[str, Any]:
        """The `from` / member shape Teams sends."""
        return {"id": self.id, "name": self.name, "aadObjectId": self.aad_object_id}


@dataclass
class ActivityRecord:
    """One activity the bot posted (or, with `sender`, a user's message), as last updated.

    `history` keeps earlier versions; `deleted` after DELETE; `views` holds user-specific card views by Teams user id
    (with the version, `len(history)`, they were fetched for); `sso` is the state of an OAuth card's sign-in.
    """

    id: str
    activity: dict[str, Any]
    operation: str
    reply_to_id: str | None = None
    deleted: bool = False
    history: list[dict[str, Any]] = field(default_factory=lambda: [])
    sender: str | None = None
    views: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=lambda: {})
    sso: str | None = None
    created: float = 0.0

    @property
    def version(self) -> int:
        """How many times the activity was replaced."""
        return len(self.history)


@dataclass
class InvokeRecord:
    """An invoke the channel sent on a user's behalf and the bot's answer (the SSO token is never kept)."""

    name: str
    conversation_id: str
    user_id: str
    value: dict[str, Any]
    status: int
    body: Any


@dataclass
class ConversationRecord:
    """A conversation and what the bot posted in it."""

    id: str
    kind: str
    tenant_id: str
    members: list[TeamsUser]
    class_id: str | None = None
    name: str = ""
    records: list[ActivityRecord] = field(default_factory=lambda: [])
    team_name: str = ""
    last_sender: TeamsUser | None = None

    def messages(self) -> list[dict[str, Any]]:
        """The bot's message activities still shown (not deleted), oldest first, as last updated."""
        return [
            r.activity
            for r in self.records
            if r.sender is None and not r.deleted and r.activity.get("type", "message") == "message"
        ]

    def account(self) -> dict[str, Any]:
        """The `conversation` shape Teams sends."""
        shape: dict[str, Any] = {"id": self.id, "conversationType": self.kind, "tenantId": self.tenant_id}
        if self.kind != "personal":
            shape["isGroup"] = True
        if self.name:
            shape["name"] = self.name
        return shape


class TeamsChannel:
    """The sandbox Teams channel: state plus `handle(request) -> response`, and `send_to_bot` toward the bot."""

    def __init__(
        self,
        entra: Entra,
        *,
        app_id: str,
        tenant_id: str,
        base_url: str = "",
        bot_url: str = "",
        bot_name: str = "Grading assistant",
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Build the channel.

        Args:
            entra: issues the channel tokens and verifies the bot's outbound tokens.
            app_id: the bot's app id (recipient `28:{app_id}`, channel token audience).
            tenant_id: the tenant activities come from unless a user says otherwise.
            base_url: this service's URL (the serviceUrl); may be set after binding (`channel.base_url = url`).
            bot_url: the bot's messaging endpoint (`.../api/messages`); may be set later.
            bot_name: the bot's display name in mentions.
            clock: seconds since the epoch.
        """
        self.entra = entra
        self.app_id = app_id
        self.tenant_id = tenant_id
        self.base_url = base_url.rstrip("/")
        self.bot_url = bot_url
        self.bot_name = bot_name
        self._clock = clock
        self._users: dict[str, TeamsUser] = {}
        self._conversations: dict[str, ConversationRecord] = {}
        self._blocked: set[str] = set()
        self._throttled = 0
        self._retry_after = 1.0
        self._ids = itertools.count(1)
        self._http: DirectClient | None = None
        self.requests: list[tuple[str, str]] = []
        """Every connector request as (method, path), for tests."""
        self.auto_sso = True
        """Do what the Teams client does with an OAuth card (token exchange) and a 401 loginRequest (retry)."""
        self.invokes: list[InvokeRecord] = []
        """Every invoke the channel sent on a user's behalf (SSO exchanges, chat page clicks), oldest first."""
        self.personas: list[TeamsUser] = []
        """The users the chat page offers; every registered user when empty."""
        self._no_consent: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.chat = ChatApi(self)

    # ------------------------------------------------------------------------------------------------------------
    # Python API
    # ------------------------------------------------------------------------------------------------------------

    @property
    def service_url(self) -> str:
        """The serviceUrl activities carry (with Teams' trailing slash)."""
        return f"{self.base_url}/"

    @property
    def bot_account(self) -> dict[str, Any]:
        """The bot as Teams addresses it."""
        return {"id": f"28:{self.app_id}", "name": self.bot_name}

    def user(self, aad_object_id: str, name: str = "", *, tenant_id: str | None = None) -> TeamsUser:
        """The Teams user for an Entra object id, registered on first use."""
        existing = self._users.get(aad_object_id)
        if existing is not None:
            return existing
        digest = hashlib.sha256(aad_object_id.encode()).hexdigest()
        user = TeamsUser(
            id=f"29:1{digest[:60]}", aad_object_id=aad_object_id, tenant_id=tenant_id or self.tenant_id, name=name
        )
        self._users[aad_object_id] = user
        return user

    def find_user(self, user_id: str) -> TeamsUser | None:
        """The registered user with this Teams id (`29:...`) or Entra object id, if any."""
        return self._find_user(user_id)

    def seed_school(self, school: School, personas: tuple[str, ...] = CHAT_PERSONAS) -> None:
        """Register the school's users, one class team (General channel) per class, and the chat page's personas.

        Args:
            school: the seeded school; each class becomes a team whose `aadGroupId` is the class id, with the class's
                teachers and students as members.
            personas: display names the chat page offers in its user switcher (names not in the school are skipped).
        """
        for school_user in school.users:
            self.user(school_user.id, school_user.displayName, tenant_id=school.tenantId)
        for school_class in school.classes:
            members = [
                self._users[uid] for uid in [*school_class.teacherIds, *school_class.studentIds] if uid in self._users
            ]
            conversation = self.channel_conversation(school_class.id, members, tenant_id=school.tenantId)
            conversation.members = members
            conversation.team_name = school_class.displayName
        names = {school_user.displayName: school_user.id for school_user in school.users}
        self.personas = [self._users[names[name]] for name in personas if name in names]

    def personal_conversation(self, user: TeamsUser) -> ConversationRecord:
        """The one-to-one chat between the bot and `user`, created on first use."""
        conversation_id = f"a:1{hashlib.sha256(f'{self.app_id}|{user.id}'.encode()).hexdigest()[:64]}"
        existing = self._conversations.get(conversation_id)
        if existing is not None:
            return existing
        record = ConversationRecord(id=conversation_id, kind="personal", tenant_id=user.tenant_id, members=[user])
        self._conversations[conversation_id] = record
        return record

    def channel_conversation(
        self,
        class_id: str,
        members: list[TeamsUser] | None = None,
        *,
        name: str = "General",
        tenant_id: str | None = None,
    ) -> ConversationRecord:
        """The General channel of the class team whose group id is `class_id`, created on first use (in `tenant_id`,
        by default the channel's tenant)."""
        conversation_id = f"19:{hashlib.sha256(class_id.encode()).hexdigest()[:32]}@thread.tacv2"
        existing = self._conversations.get(conversation_id)
        if existing is not None:
            return existing
        record = ConversationRecord(
            id=conversation_id,
            kind="channel",
            tenant_id=tenant_id or self.tenant_id,
            members=list(members or []),
            class_id=class_id,
            name=name,
        )
        self._conversations[conversation_id] = record
        return record

    def conversation(self, conversation_id: str) -> ConversationRecord:
        """A conversation by id.

        Raises:
            KeyError: no such conversation.
        """
        return self._conversations[conversation_id]

    @property
    def conversations(self) -> list[ConversationRecord]:
        """Every conversation, in creation order."""
        return list(self._conversations.values())

    def throttle(self, count: int, retry_after: float = 1.0) -> None:
        """Answer the next `count` sends (create with an activity, send, reply) with 429 and Retry-After."""
        self._throttled = count
        self._retry_after = retry_after

    def block(self, user: TeamsUser) -> None:
        """The user blocked the bot: create/send to their personal chat answers 403."""
        self._blocked.add(user.id)

    def unblock(self, user: TeamsUser) -> None:
        """The user unblocked the bot."""
        self._blocked.discard(user.id)

    def withhold_consent(self, user: TeamsUser) -> None:
        """The user has not consented: Teams gets no SSO token for them, so nothing is sent and the OAuth card stays."""
        self._no_consent.add(user.id)

    def grant_consent(self, user: TeamsUser) -> None:
        """The user consented (e.g. through the sign-in button): SSO works for them again."""
        self._no_consent.discard(user.id)

    def sso_available(self, user: TeamsUser) -> bool:
        """Whether the channel obtains SSO tokens for this user on its own (auto SSO on and consent given)."""
        return self.auto_sso and user.id not in self._no_consent

    async def sign_in(
        self, conversation: ConversationRecord, record: ActivityRecord, user: TeamsUser
    ) -> tuple[int, Any]:
        """Send the `signin/tokenExchange` invoke for the OAuth card in `record`, as Teams does with an SSO token.

        Args:
            conversation: where the OAuth card was posted.
            record: the activity carrying the OAuth card (its `sso` state is updated: "signed_in" or "failed").
            user: whose SSO token is sent.

        Returns:
            The bot's HTTP status and JSON body.

        Raises:
            KeyError: the activity carries no OAuth card with a `tokenExchangeResource`.
            httpx.HTTPError: the bot could not be reached.
        """
        content = _oauth_content(record.activity)
        if content is None:
            raise KeyError("no OAuth card with a tokenExchangeResource")
        resource = cast(dict[str, Any], content["tokenExchangeResource"])
        token = self.entra.mint_sso_token(user.aad_object_id, audience=resource.get("uri") or None)
        invoke: dict[str, Any] = {
            "type": "invoke",
            "name": "signin/tokenExchange",
            "from": user.account(),
            "conversation": conversation.account(),
            "value": {
                "id": resource.get("id", ""),
                "connectionName": content.get("connectionName", ""),
                "token": token,
            },
            "channelData": self._channel_data(conversation, user),
            "entities": [{"type": "clientInfo", "locale": "en-US", "platform": "Web"}],
            "locale": "en-US",
            "replyToId": record.id,
        }
        status, body = await self._send_invoke(invoke, conversation, user)
        record.sso = "signed_in" if status == 200 else "failed"
        return status, body

    async def invoke_card_action(
        self,
        verb: str,
        data: Mapping[str, Any] | None,
        *,
        user: TeamsUser,
        conversation: ConversationRecord,
        reply_to_id: str | None = None,
        trigger: str = "manual",
        action_id: str | None = None,
    ) -> tuple[int, Any]:
        """Send an `adaptiveCard/action` invoke as Teams does, retrying a 401 loginRequest with an SSO token.

        Args:
            verb: the Action.Execute verb.
            data: the action's data with the card's inputs merged in.
            user: who clicked (or whose client refreshes).
            conversation: where the card is.
            reply_to_id: the card message's id.
            trigger: "manual" for a click, "automatic" for a user-specific view refresh.
            action_id: the action's id ("" for a refresh, as Teams sends it); a new UUID when None.

        Returns:
            The bot's HTTP status and the invoke response body (`{"statusCode", "type", "value"}`); after a retry,
            the retry's.

        Raises:
            httpx.HTTPError: the bot could not be reached.
        """
        activity = self.card_action(verb, data, user=user, conversation=conversation, reply_to_id=reply_to_id)
        value = cast(dict[str, Any], activity["value"])
        value["trigger"] = trigger
        if action_id is not None:
            value["action"]["id"] = action_id
        conversation.last_sender = user
        status, body = await self._send_invoke(activity, conversation, user)
        login = _login_request(body)
        if login is None or not self.sso_available(user):
            return status, body
        resource = cast(dict[str, Any], login["tokenExchangeResource"])
        token = self.entra.mint_sso_token(user.aad_object_id, audience=resource.get("uri") or None)
        authentication = {
            "id": resource.get("id", ""),
            "connectionName": login.get("connectionName", ""),
            "token": token,
        }
        retry = {**activity, "value": {**value, "authentication": authentication}}
        return await self._send_invoke(retry, conversation, user)

    async def drain(self) -> None:
        """Wait until every invoke the channel started on its own (auto SSO) has been answered."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def message(
        self,
        text: str,
        *,
        user: TeamsUser,
        conversation: ConversationRecord | None = None,
        mention_bot: bool = False,
        value: Mapping[str, Any] | None = None,
        reply_to_id: str | None = None,
    ) -> dict[str, Any]:
        """A message activity as Teams sends it (personal chat unless `conversation` says otherwise).

        Args:
            text: what the user typed (without the mention).
            user: the sender.
            conversation: where it is sent; the user's personal chat when omitted.
            mention_bot: prefix `<at>{bot name}</at>` and add the mention entity, as in a channel.
            value: Action.Submit data (then `text` is usually empty).
            reply_to_id: the card message the click came from.
        """
        conversation = conversation or self.personal_conversation(user)
        entities: list[dict[str, Any]] = [{"type": "clientInfo", "locale": "en-US", "platform": "Web"}]
        if mention_bot:
            tag = f"<at>{self.bot_name}</at>"
            text = f"{tag} {text}"
            entities.insert(0, {"type": "mention", "mentioned": self.bot_account, "text": tag})
        activity: dict[str, Any] = {
            "type": "message",
            "text": text,
            "textFormat": "plain",
            "from": user.account(),
            "conversation": conversation.account(),
            "entities": entities,
            "channelData": self._channel_data(conversation, user),
            "locale": "en-US",
        }
        if value is not None:
            activity["value"] = dict(value)
        if reply_to_id:
            activity["replyToId"] = reply_to_id
        return activity

    def card_action(
        self,
        verb: str,
        data: Mapping[str, Any] | None = None,
        *,
        user: TeamsUser,
        conversation: ConversationRecord | None = None,
        reply_to_id: str | None = None,
    ) -> dict[str, Any]:
        """An `adaptiveCard/action` invoke as Teams sends it for an Action.Execute click."""
        conversation = conversation or self.personal_conversation(user)
        activity: dict[str, Any] = {
            "type": "invoke",
            "name": "adaptiveCard/action",
            "from": user.account(),
            "conversation": conversation.account(),
            "value": {
                "action": {"type": "Action.Execute", "id": str(uuid.uuid4()), "verb": verb, "data": dict(data or {})},
                "trigger": "manual",
            },
            "channelData": self._channel_data(conversation, user),
            "entities": [{"type": "clientInfo", "locale": "en-US", "platform": "Web"}],
            "locale": "en-US",
        }
        if reply_to_id:
            activity["replyToId"] = reply_to_id
        return activity

    async def send_to_bot(
        self, activity: Mapping[str, Any], *, token: str | None = None, headers: Mapping[str, str] | None = None
    ) -> tuple[int, Any]:
        """Post an activity to the bot as Teams does, filling what Teams fills.

        Args:
            activity: the activity (from `message`/`card_action` or hand-made); missing id, timestamp, serviceUrl,
                channelId, recipient and channelData.tenant are filled.
            token: the bearer token to send instead of a fresh channel token (tests of refusals).
            headers: extra or replacing request headers.

        Returns:
            The HTTP status and the JSON body (None when empty or not JSON).

        Raises:
            httpx.HTTPError: the bot could not be reached.
        """
        full = self.complete(activity)
        bearer = token if token is not None else self.entra.mint_channel_token(self.app_id, str(full["serviceUrl"]))
        request_headers = {"authorization": f"Bearer {bearer}", "content-type": "application/json; charset=utf-8"}
        request_headers.update(headers or {})
        if self._http is None:
            # httpx's default pool walks every connection per request: too costly with dozens of turns in flight.
            self._http = DirectClient(PooledTransport(max_connections=200), timeout=30.0)
        response = await self._http.request("POST", self.bot_url, content=json_bytes(full), headers=request_headers)
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        return response.status_code, body

    def complete(self, activity: Mapping[str, Any]) -> dict[str, Any]:
        """The activity with Teams' envelope fields filled where missing."""
        full = dict(activity)
        now = datetime.fromtimestamp(self._clock(), UTC)
        full.setdefault("id", self._activity_id())
        full.setdefault("timestamp", now.isoformat(timespec="milliseconds").replace("+00:00", "Z"))
        full.setdefault("localTimestamp", now.isoformat(timespec="milliseconds"))
        full.setdefault("serviceUrl", self.service_url)
        full.setdefault("channelId", CHANNEL_ID)
        full.setdefault("recipient", self.bot_account)
        channel_data = dict(full.get("channelData") or {})
        conversation: Any = full.get("conversation")
        tenant: Any = conversation.get("tenantId") if isinstance(conversation, dict) else None
        channel_data.setdefault("tenant", {"id": tenant if isinstance(tenant, str) and tenant else self.tenant_id})
        full["channelData"] = channel_data
        return full

    async def aclose(self) -> None:
        """Cancel the invokes still in flight, then close the client used toward the bot."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def snapshot(self) -> dict[str, Any]:
        """Every conversation with its members and activities (what `GET /_sandbox/conversations` answers)."""
        return {
            "conversations": [
                {
                    **conversation.account(),
                    "classId": conversation.class_id,
                    "members": [member.account() for member in conversation.members],
                    "activities": [
                        {
                            "id": record.id,
                            "operation": record.operation,
                            "replyToId": record.reply_to_id,
                            "deleted": record.deleted,
                            "updates": len(record.history),
                            "activity": record.activity,
                        }
                        for record in conversation.records
                    ],
                }
                for conversation in self._conversations.values()
            ]
        }

    # ------------------------------------------------------------------------------------------------------------
    # HTTP
    # ------------------------------------------------------------------------------------------------------------

    async def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer one Bot Connector request."""
        parts = [unquote(part) for part in request.path.strip("/").split("/")]
        method = request.method.upper()
        if method == "GET" and (request.path in PAGE_FILES or request.path in VENDOR_FILES):
            return await self.chat.static(request.path)
        if parts[0] == "_chat":
            return await self.chat.handle(request, parts[1:])
        self.requests.append((method, request.path))
        if parts == ["_sandbox", "conversations"] and method == "GET":
            return _json(200, self.snapshot())
        if len(parts) < 2 or parts[:2] != ["v3", "conversations"]:
            return _error(404, "NotFound", f"No route for {method} {request.path}")
        refusal = self._authenticate(request)
        if refusal is not None:
            return refusal
        try:
            body: Any = request.json() if request.body else None
        except ValueError:
            return _error(400, "BadSyntax", "The request body is not valid JSON.")
        match parts[2:]:
            case [] if method == "POST":
                return self._create(body)
            case [conversation_id, "activities"] if method == "POST":
                return self._post(conversation_id, body, None)
            case [conversation_id, "activities", activity_id] if method == "POST":
                return self._post(conversation_id, body, activity_id)
            case [conversation_id, "activities", activity_id] if method == "PUT":
                return self._update(conversation_id, activity_id, body)
            case [conversation_id, "activities", activity_id] if method == "DELETE":
                return self._delete(conversation_id, activity_id)
            case [conversation_id, "members"] if method == "GET":
                return self._members(conversation_id)
            case _:
                return _error(405 if len(parts) <= 5 else 404, "BadArgument", f"Unsupported {method} {request.path}")

    def _authenticate(self, request: SandboxRequest) -> SandboxResponse | None:
        authorization = request.header("authorization") or ""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _error(401, "Unauthorized", "Authorization has been denied for this request.")
        try:
            claims = self.entra.verify(token.strip(), audience=BOT_FRAMEWORK_AUDIENCE, leeway_seconds=300)
        except InvalidToken as error:
            logger.debug("sandbox connector refused a token: %s", error)
            return _error(401, "Unauthorized", "Authorization has been denied for this request.")
        if claims.get("appid", claims.get("azp")) != self.app_id:
            return _error(403, "Forbidden", "The bot is not part of this conversation.")
        return None

    def _create(self, body: Any) -> SandboxResponse:
        if not isinstance(body, dict):
            return _error(400, "BadArgument", "ConversationParameters required.")
        members: Any = body.get("members") or []
        if body.get("isGroup") or not isinstance(members, list) or len(members) != 1:  # pyright: ignore[reportUnknownArgumentType]
            return _error(400, "BadArgument", "Only one-to-one conversations with one member can be created.")
        member: Any = members[0]
        member_id = str(member.get("id", "")) if isinstance(member, dict) else ""
        user = self._find_user(member_id)
        if user is None:
            return _error(404, "MemberNotFound", "The member is not known to the channel.")
        if user.id in self._blocked:
            return _error(403, "ConversationBlockedByUser", "User blocked the conversation with the bot.")
        conversation = self.personal_conversation(user)
        payload: dict[str, Any] = {"id": conversation.id, "serviceUrl": self.service_url}
        activity: Any = body.get("activity")
        if isinstance(activity, dict):
            throttled = self._throttle()
            if throttled is not None:
                return throttled
            record = self._record(conversation, activity, "create", None)
            self._after_post(conversation, record)
            payload["activityId"] = record.id
        return _json(201, payload)

    def _post(self, conversation_id: str, body: Any, reply_to_id: str | None) -> SandboxResponse:
        conversation = self._conversations.get(conversation_id)
        if conversation is None:
            return _error(404, "ConversationNotFound", "Conversation not found.")
        if not isinstance(body, dict) or not body.get("type"):
            return _error(400, "BadArgument", "An activity with a type is required.")
        if conversation.kind == "personal" and any(member.id in self._blocked for member in conversation.members):
            return _error(403, "ConversationBlockedByUser", "User blocked the conversation with the bot.")
        if body.get("type") != "typing":
            throttled = self._throttle()
            if throttled is not None:
                return throttled
        record = self._record(conversation, body, "reply" if reply_to_id else "send", reply_to_id)
        self._after_post(conversation, record)
        return _json(201, {"id": record.id})

    def _update(self, conversation_id: str, activity_id: str, body: Any) -> SandboxResponse:
        record = self._find_record(conversation_id, activity_id)
        if record is None:
            return _error(404, "ActivityNotFound", "Activity not found.")
        if not isinstance(body, dict):
            return _error(400, "BadArgument", "An activity is required.")
        record.history.append(record.activity)
        record.activity = {**body, "id": activity_id}
        return _json(200, {"id": activity_id})

    def _delete(self, conversation_id: str, activity_id: str) -> SandboxResponse:
        record = self._find_record(conversation_id, activity_id)
        if record is None:
            return _error(404, "ActivityNotFound", "Activity not found.")
        record.deleted = True
        return SandboxResponse(status=200)

    def _members(self, conversation_id: str) -> SandboxResponse:
        conversation = self._conversations.get(conversation_id)
        if conversation is None:
            return _error(404, "ConversationNotFound", "Conversation not found.")
        members = [
            {**member.account(), "objectId": member.aad_object_id, "tenantId": member.tenant_id}
            for member in conversation.members
        ]
        return _json(200, members)

    # ------------------------------------------------------------------------------------------------------------
    # internals
    # ------------------------------------------------------------------------------------------------------------

    def _after_post(self, conversation: ConversationRecord, record: ActivityRecord) -> None:
        """An OAuth card with a tokenExchangeResource: sign the user in once the connector call is answered."""
        if _oauth_content(record.activity) is None:
            return
        user = conversation.members[0] if conversation.kind == "personal" and conversation.members else None
        user = conversation.last_sender if conversation.kind != "personal" else user
        if user is None or not self.sso_available(user):
            record.sso = "waiting"
            return
        record.sso = "pending"
        self._schedule(self._auto_sign_in(conversation, record, user))

    async def _auto_sign_in(self, conversation: ConversationRecord, record: ActivityRecord, user: TeamsUser) -> None:
        try:
            await self.sign_in(conversation, record, user)
        except httpx.HTTPError as error:
            record.sso = "failed"
            logger.warning("sandbox channel could not send the token exchange: %s", type(error).__name__)

    def _schedule(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_invoke(
        self, activity: Mapping[str, Any], conversation: ConversationRecord, user: TeamsUser
    ) -> tuple[int, Any]:
        status, body = await self.send_to_bot(activity)
        self.invokes.append(
            InvokeRecord(
                name=str(activity.get("name", "")),
                conversation_id=conversation.id,
                user_id=user.id,
                value=_redacted(activity.get("value")),
                status=status,
                body=body,
            )
        )
        return status, body

    def _throttle(self) -> SandboxResponse | None:
        if self._throttled <= 0:
            return None
        self._throttled -= 1
        return _error(429, "Throttled", "Too many requests.", {"retry-after": f"{self._retry_after:g}"})

    def _record(
        self, conversation: ConversationRecord, activity: Mapping[str, Any], operation: str, reply_to_id: str | None
    ) -> ActivityRecord:
        activity_id = self._activity_id()
        record = ActivityRecord(
            id=activity_id,
            activity={**activity, "id": activity_id},
            operation=operation,
            reply_to_id=reply_to_id,
            created=self._clock(),
        )
        conversation.records.append(record)
        return record

    def _find_record(self, conversation_id: str, activity_id: str) -> ActivityRecord | None:
        conversation = self._conversations.get(conversation_id)
        if conversation is None:
            return None
        return next((r for r in conversation.records if r.id == activity_id and not r.deleted), None)

    def _find_user(self, member_id: str) -> TeamsUser | None:
        by_object_id = self._users.get(member_id)
        if by_object_id is not None:
            return by_object_id
        for user in self._users.values():
            if member_id in (user.id, user.aad_object_id):
                return user
        return None

    def _channel_data(self, conversation: ConversationRecord, user: TeamsUser) -> dict[str, Any]:
        data: dict[str, Any] = {"tenant": {"id": user.tenant_id}}
        if conversation.kind == "channel":
            team_name = conversation.team_name or conversation.name
            data["team"] = {"id": conversation.id, "aadGroupId": conversation.class_id, "name": team_name}
            data["channel"] = {"id": conversation.id, "name": conversation.name}
        return data

    def _activity_id(self) -> str:
        return f"{int(self._clock() * 1000)}{next(self._ids):04d}"


def _oauth_content(activity: Mapping[str, Any]) -> dict[str, Any] | None:
    """The content of the activity's OAuth card when it carries a `tokenExchangeResource`."""
    for attachment in activity.get("attachments") or []:
        if isinstance(attachment, dict) and cast(dict[str, Any], attachment).get("contentType") == OAUTH_CARD:
            content: Any = cast(dict[str, Any], attachment).get("content")
            if isinstance(content, dict) and isinstance(
                cast(dict[str, Any], content).get("tokenExchangeResource"), dict
            ):
                return cast(dict[str, Any], content)
    return None


def _login_request(body: Any) -> dict[str, Any] | None:
    """The OAuth card of a 401 loginRequest invoke response with a `tokenExchangeResource` (SSO possible)."""
    if not isinstance(body, dict):
        return None
    response = cast(dict[str, Any], body)
    value: Any = response.get("value")
    if response.get("statusCode") != 401 or response.get("type") != LOGIN_REQUEST or not isinstance(value, dict):
        return None
    login = cast(dict[str, Any], value)
    return login if isinstance(login.get("tokenExchangeResource"), dict) else None


def _redacted(value: Any) -> dict[str, Any]:
    """An invoke value with any SSO token replaced."""
    if not isinstance(value, dict):
        return {}
    copied = copy.deepcopy(cast(dict[str, Any], value))
    if "token" in copied:
        copied["token"] = "<redacted>"
    authentication: Any = copied.get("authentication")
    if isinstance(authentication, dict) and "token" in authentication:
        cast(dict[str, Any], authentication)["token"] = "<redacted>"
    return copied


def _json(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> SandboxResponse:
    return json_response(status, payload, {"content-type": "application/json; charset=utf-8", **(headers or {})})


def _error(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> SandboxResponse:
    return _json(status, {"error": {"code": code, "message": message}}, headers)


class ChatApi:
    """The chat page's files and JSON API, served by the channel under `/` and `/_chat/`.

    Routes (JSON bodies; `user` is a Teams id `29:...` or an Entra object id):
        GET  /_chat/users                         the users the page offers and the bot's name
        GET  /_chat/conversations?user=           the user's conversations and their messages, as that user sees them
        POST /_chat/send     {user, conversation, text}                        a message to the bot
        POST /_chat/action   {user, conversation, activityId, verb, data, inputs, actionType}   a card button
        POST /_chat/refresh  {user, conversation, activityId}                  fetch the user's user-specific view
        POST /_chat/signin   {user, conversation, activityId}                  the OAuth card's sign-in button
    """

    def __init__(self, channel: TeamsChannel) -> None:
        """Serve the page for `channel`."""
        self._channel = channel
        self._vendor: dict[str, bytes] = {}

    async def static(self, path: str) -> SandboxResponse:
        """The page's files from sandbox/chat/ and the renderer from node_modules."""
        if path in VENDOR_FILES:
            file_path, content_type = VENDOR_FILES[path]
            body = self._vendor.get(path)
            if body is None:
                if not file_path.is_file():
                    return _error(404, "NotFound", f"{file_path.name} is missing: run `npm install` (make unit does).")
                body = await asyncio.to_thread(file_path.read_bytes)
                self._vendor[path] = body
            return SandboxResponse(200, {"content-type": content_type, "cache-control": "max-age=3600"}, body)
        name, content_type = PAGE_FILES[path]
        file_path = CHAT_DIRECTORY / name
        if not file_path.is_file():
            return _error(404, "NotFound", f"{name} is missing")
        body = await asyncio.to_thread(file_path.read_bytes)
        return SandboxResponse(200, {"content-type": content_type, "cache-control": "no-store"}, body)

    async def handle(self, request: SandboxRequest, parts: list[str]) -> SandboxResponse:
        """Answer one `/_chat/...` request."""
        method = request.method.upper()
        if method == "GET" and parts == ["users"]:
            return _json(200, self.users())
        if method == "GET" and parts == ["conversations"]:
            user = self._channel.find_user(request.query.get("user", ""))
            if user is None:
                return _error(404, "MemberNotFound", "Unknown user.")
            return _json(200, {"conversations": self.conversations(user)})
        if method != "POST" or len(parts) != 1 or parts[0] not in ("send", "action", "refresh", "signin"):
            return _error(404, "NotFound", f"No route for {method} {request.path}")
        try:
            body: Any = request.json()
        except ValueError:
            return _error(400, "BadSyntax", "The request body is not valid JSON.")
        if not isinstance(body, dict):
            return _error(400, "BadArgument", "A JSON object is required.")
        payload = cast(dict[str, Any], body)
        user = self._channel.find_user(str(payload.get("user", "")))
        if user is None:
            return _error(404, "MemberNotFound", "Unknown user.")
        conversation = self._visible(user, str(payload.get("conversation", "")))
        if conversation is None:
            return _error(404, "ConversationNotFound", "The user cannot see that conversation.")
        try:
            match parts[0]:
                case "send":
                    return await self._send(user, conversation, payload)
                case "action":
                    return await self._action(user, conversation, payload)
                case "refresh":
                    return await self._refresh(user, conversation, payload)
                case _:
                    return await self._sign_in(user, conversation, payload)
        except httpx.HTTPError as error:
            logger.warning("sandbox chat could not reach the bot: %s", type(error).__name__)
            return _error(502, "BotUnreachable", "The bot could not be reached.")

    def users(self) -> dict[str, Any]:
        """The users the page offers (the personas, else every registered user) and the bot's name."""
        users = self._channel.personas or list(self._channel._users.values())  # pyright: ignore[reportPrivateUsage]
        return {"bot": self._channel.bot_account, "users": [user.account() for user in users]}

    def conversations(self, user: TeamsUser) -> list[dict[str, Any]]:
        """The user's personal chat with the bot and the channels they are a member of, as they see them."""
        personal = self._channel.personal_conversation(user)
        channels = [
            c for c in self._channel.conversations if c.kind != "personal" and any(m.id == user.id for m in c.members)
        ]
        result: list[dict[str, Any]] = []
        for conversation in [personal, *channels]:
            result.append(
                {
                    "id": conversation.id,
                    "kind": conversation.kind,
                    "title": self._channel.bot_name if conversation.kind == "personal" else conversation.team_name,
                    "channel": conversation.name if conversation.kind != "personal" else "",
                    "classId": conversation.class_id,
                    "messages": [self._message(record, user) for record in self._shown(conversation)],
                }
            )
        return result

    # ------------------------------------------------------------------------------------------------------------

    def _visible(self, user: TeamsUser, conversation_id: str) -> ConversationRecord | None:
        if conversation_id == self._channel.personal_conversation(user).id:
            return self._channel.personal_conversation(user)
        try:
            conversation = self._channel.conversation(conversation_id)
        except KeyError:
            return None
        if conversation.kind == "personal" or not any(m.id == user.id for m in conversation.members):
            return None
        return conversation

    @staticmethod
    def _shown(conversation: ConversationRecord) -> list[ActivityRecord]:
        return [r for r in conversation.records if not r.deleted and r.activity.get("type", "message") == "message"]

    def _message(self, record: ActivityRecord, user: TeamsUser) -> dict[str, Any]:
        activity = record.activity
        sender: Any = activity.get("from") if record.sender else self._channel.bot_account
        attachments: list[dict[str, Any]] = []
        for raw in activity.get("attachments") or []:
            if not isinstance(raw, dict):
                continue
            attachment = cast(dict[str, Any], raw)
            shown: dict[str, Any] = {"contentType": attachment.get("contentType"), "content": attachment.get("content")}
            if attachment.get("contentType") == ADAPTIVE_CARD and user.id in _refresh_users(attachment.get("content")):
                view = record.views.get(user.id)
                if view is not None and view[0] == record.version:
                    shown["content"] = view[1]
                    shown["userSpecific"] = True
                else:
                    shown["needsRefresh"] = True
            attachments.append(shown)
        return {
            "id": record.id,
            "fromBot": record.sender is None,
            "from": sender,
            "text": activity.get("text") or "",
            "created": record.created,
            "version": record.version,
            "sso": record.sso,
            "attachments": attachments,
        }

    def _record(self, conversation: ConversationRecord, activity_id: str) -> ActivityRecord | None:
        return next((r for r in conversation.records if r.id == activity_id and not r.deleted), None)

    async def _send(
        self, user: TeamsUser, conversation: ConversationRecord, payload: dict[str, Any]
    ) -> SandboxResponse:
        text = str(payload.get("text") or "").strip()
        if not text:
            return _error(400, "BadArgument", "Type something first.")
        activity = self._channel.message(
            text, user=user, conversation=conversation, mention_bot=conversation.kind != "personal"
        )
        full = self._channel.complete(activity)
        conversation.records.append(
            ActivityRecord(
                id=str(full["id"]),
                activity=full,
                operation="user",
                sender=user.id,
                created=self._channel._clock(),  # pyright: ignore[reportPrivateUsage]
            )
        )
        conversation.last_sender = user
        status, _ = await self._channel.send_to_bot(full)
        return _json(200, {"id": full["id"], "status": status})

    async def _action(
        self, user: TeamsUser, conversation: ConversationRecord, payload: dict[str, Any]
    ) -> SandboxResponse:
        record = self._record(conversation, str(payload.get("activityId", "")))
        if record is None:
            return _error(404, "ActivityNotFound", "Activity not found.")
        data: Any = payload.get("data")
        inputs: Any = payload.get("inputs")
        merged: dict[str, Any] = {
            **(cast(dict[str, Any], data) if isinstance(data, dict) else {}),
            **(cast(dict[str, Any], inputs) if isinstance(inputs, dict) else {}),
        }
        if payload.get("actionType") == "Action.Submit":
            conversation.last_sender = user
            activity = self._channel.message(
                "", user=user, conversation=conversation, value=merged, reply_to_id=record.id
            )
            status, _ = await self._channel.send_to_bot(activity)
            return _json(200, {"status": status})
        verb = str(payload.get("verb") or merged.get("verb") or "")
        had_view = user.id in record.views and record.views[user.id][0] == record.version
        status, body = await self._channel.invoke_card_action(
            verb, merged, user=user, conversation=conversation, reply_to_id=record.id
        )
        card = _response_card(body)
        if card is not None:
            if had_view:
                record.views[user.id] = (record.version, card)
            else:
                _replace_card(record, card)
        return _json(200, {"status": status, "response": _summary(body)})

    async def _refresh(
        self, user: TeamsUser, conversation: ConversationRecord, payload: dict[str, Any]
    ) -> SandboxResponse:
        record = self._record(conversation, str(payload.get("activityId", "")))
        if record is None:
            return _error(404, "ActivityNotFound", "Activity not found.")
        refresh = next(
            (
                cast(dict[str, Any], a.get("content"))["refresh"]
                for a in record.activity.get("attachments") or []
                if isinstance(a, dict) and user.id in _refresh_users(cast(dict[str, Any], a).get("content"))
            ),
            None,
        )
        if refresh is None:
            return _error(400, "BadArgument", "That card has no user-specific view for this user.")
        action: Any = refresh.get("action") or {}
        version = record.version
        status, body = await self._channel.invoke_card_action(
            str(action.get("verb", "")),
            action.get("data") or {},
            user=user,
            conversation=conversation,
            reply_to_id=record.id,
            trigger="automatic",
            action_id="",
        )
        card = _response_card(body)
        if card is not None:
            record.views[user.id] = (version, card)
        return _json(200, {"status": status, "response": _summary(body)})

    async def _sign_in(
        self, user: TeamsUser, conversation: ConversationRecord, payload: dict[str, Any]
    ) -> SandboxResponse:
        record = self._record(conversation, str(payload.get("activityId", "")))
        if record is None or _oauth_content(record.activity) is None:
            return _error(404, "ActivityNotFound", "No sign-in card with that id.")
        self._channel.grant_consent(user)
        status, _ = await self._channel.sign_in(conversation, record, user)
        return _json(200, {"status": status, "sso": record.sso})


def _refresh_users(content: Any) -> list[str]:
    """The `refresh.userIds` of an Adaptive Card (empty when it has none)."""
    if not isinstance(content, dict):
        return []
    refresh: Any = cast(dict[str, Any], content).get("refresh")
    if not isinstance(refresh, dict):
        return []
    user_ids: Any = cast(dict[str, Any], refresh).get("userIds")
    return [str(u) for u in cast(list[Any], user_ids)] if isinstance(user_ids, list) else []


def _response_card(body: Any) -> dict[str, Any] | None:
    """The card of a 200 `adaptiveCard/action` invoke response, if it is one."""
    if not isinstance(body, dict):
        return None
    response = cast(dict[str, Any], body)
    value: Any = response.get("value")
    if response.get("statusCode") == 200 and response.get("type") == ADAPTIVE_CARD and isinstance(value, dict):
        return cast(dict[str, Any], value)
    return None


def _summary(body: Any) -> dict[str, Any]:
    """What the page shows about an invoke response besides a card: its status, type and any message."""
    if not isinstance(body, dict):
        return {}
    response = cast(dict[str, Any], body)
    value: Any = response.get("value")
    message = value if isinstance(value, str) else None
    if isinstance(value, dict):
        found: Any = cast(dict[str, Any], value).get("message") or cast(dict[str, Any], value).get("text")
        message = str(found) if found else None
    return {"statusCode": response.get("statusCode"), "type": response.get("type"), "message": message}


def _replace_card(record: ActivityRecord, card: dict[str, Any]) -> None:
    """Replace the message's (first) Adaptive Card in place, keeping the earlier version in `history`."""
    activity = copy.deepcopy(record.activity)
    attachments: list[Any] = list(activity.get("attachments") or [])
    for index, attachment in enumerate(attachments):
        if isinstance(attachment, dict) and cast(dict[str, Any], attachment).get("contentType") == ADAPTIVE_CARD:
            attachments[index] = {"contentType": ADAPTIVE_CARD, "content": card}
            break
    else:
        attachments.append({"contentType": ADAPTIVE_CARD, "content": card})
    activity["attachments"] = attachments
    record.history.append(record.activity)
    record.activity = activity
