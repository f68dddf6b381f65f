"""Dead letters: messages to students that could not be delivered after their bounded attempts.

One document per tenant in the "dead_letters" namespace holds the most recent entries (who, what kind, why, when,
how many attempts), newest last, written with compare-and-set so several instances can add at once. The message text
is never kept: the teacher already saw who was not reached on their card; this is for operators.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.storage.protocol import Clock, Store, VersionConflict, utc_now

logger = logging.getLogger(__name__)

NAMESPACE = "dead_letters"
"""The store namespace: one document per tenant."""

KEEP = timedelta(days=30)
"""How long a tenant's dead letters are kept after the last one."""

MAX_ENTRIES = 500
"""Entries kept per tenant; the oldest are dropped first."""

_MAX_CONFLICTS = 50


class DeadLetter(BaseModel):
    """One undelivered message: who (tenant and student ids), what kind, why, when and after how many attempts."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    tenant_id: str
    user_id: str
    kind: str = "student_notification"
    reason: str
    attempts: int = Field(ge=0)
    at: datetime


class DeadLetters:
    """Records undelivered messages per tenant in the store and lists them back."""

    def __init__(self, store: Store, *, now: Clock = utc_now, max_entries: int = MAX_ENTRIES) -> None:
        """Create the recorder.

        Args:
            store: where the entries live (shared by every instance).
            now: the current time, timezone-aware; injectable for tests.
            max_entries: entries kept per tenant.
        """
        self._store = store
        self._now = now
        self._max = max(1, max_entries)

    async def record(
        self, tenant_id: str, user_id: str, *, reason: str, attempts: int, kind: str = "student_notification"
    ) -> DeadLetter:
        """Add a dead letter to the tenant's list.

        Args:
            tenant_id: the recipient's tenant.
            user_id: the recipient's Entra object id (never a name).
            reason: why delivery stopped, e.g. "status 429 after 4 attempts" (never message text).
            attempts: sends made.
            kind: what was being sent.

        Returns:
            The entry written.

        Raises:
            StorageUnavailable: the store failed.
        """
        letter = DeadLetter(
            tenant_id=tenant_id, user_id=user_id, kind=kind, reason=reason, attempts=attempts, at=self._now()
        )
        for _ in range(_MAX_CONFLICTS):
            document = await self._store.get(NAMESPACE, tenant_id)
            entries = _entries(document.value if document is not None else None)
            entries.append(letter.model_dump(mode="json"))
            try:
                await self._store.put(
                    NAMESPACE,
                    tenant_id,
                    {"entries": entries[-self._max :]},
                    expected_version=document.version if document is not None else 0,
                    ttl=KEEP,
                )
            except VersionConflict:
                continue
            return letter
        logger.warning("could not record a dead letter: the tenant's list stayed contended")
        return letter

    async def recent(self, tenant_id: str) -> list[DeadLetter]:
        """The tenant's dead letters, newest first."""
        document = await self._store.get(NAMESPACE, tenant_id)
        letters: list[DeadLetter] = []
        for raw in reversed(_entries(document.value if document is not None else None)):
            try:
                letters.append(DeadLetter.model_validate(raw))
            except ValidationError:
                continue
        return letters


def _entries(value: object) -> list[dict[str, Any]]:
    if not isinstance(value, dict):
        return []
    entries = cast(dict[str, Any], value).get("entries")
    if not isinstance(entries, list):
        return []
    return [cast(dict[str, Any], entry) for entry in cast(list[object], entries) if isinstance(entry, dict)]
