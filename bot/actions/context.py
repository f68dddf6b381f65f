"""What every action works with: the app-wide services and one teacher's turn."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.actions.runner import JobRunner
from bot.actions.submissions import SubmissionIndex
from bot.cards.renderer import CardLibrary
from bot.cards.views import CardView
from bot.graph.client import EducationClient, GraphHttp
from bot.notify.notifier import Notifier
from bot.roster import RosterCache, teacher_key_for
from bot.settings import Settings
from bot.storage import Store
from bot.turn import Actor, Conversation, Outbox, Reply


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    """Built once per app from Settings; shared by every turn."""

    settings: Settings
    graph: GraphHttp
    store: Store
    cards: CardLibrary
    roster: RosterCache = field(default_factory=RosterCache)
    submissions: SubmissionIndex = field(default_factory=SubmissionIndex)
    clock: Callable[[], datetime] = utc_now
    notifier: Notifier | None = None
    """Messages students (reassigned work, returned work when NOTIFY_ON_RETURN); None sends nothing."""
    jobs: JobRunner = field(default_factory=JobRunner)
    """The bulk jobs this instance is writing (`bot.actions.jobs`)."""


@dataclass
class ActionContext:
    """One teacher's turn: who acts, where, and a Graph client bound to their delegated token."""

    services: Services
    actor: Actor
    conversation: Conversation
    client: EducationClient
    outbox: Outbox | None = None
    """Sends to the conversation after the turn's answer (progress cards of long jobs); None in plain tests."""

    @property
    def teacher_key(self) -> str:
        return teacher_key_for(self.actor.tenant_id, self.actor.user_id)

    def card(self, view: CardView, *, text: str | None = None) -> Reply:
        """A reply holding one rendered card."""
        return Reply(text=text, cards=(self.services.cards.render_view(view),))
