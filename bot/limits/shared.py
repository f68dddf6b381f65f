"""`SharedLimiter`: rate limits that every bot instance honours together, kept in the `Store`.

Each key ("graph:{tenant}", "teams:{tenant}", "teams-conv:{conversation}") is one versioned document in the
"rate_limits" namespace holding the grants booked on it in the last few seconds (and in the near future) plus an
optional pause-until. A sender reads the documents of the keys it needs, finds the earliest moment where one more
grant fits every key (`bot.limits.window`), books it with compare-and-set (`expected_version`) and sleeps until then.
A `VersionConflict` means another instance booked first: re-read and try again. So the database decides every race
and no instance ever needs to trust another's memory.

Design choices and their trade-offs:
- Booking a moment (rather than polling "is there a token now?") costs one read and one write per key per grant and
  no retry loop while waiting; senders queue in time order. The price is that a sender who wakes late sends late:
  event-loop lag of a few milliseconds can squeeze two grants closer than booked, which the defaults absorb (Teams
  25/s against a 30/s tolerance, Graph 28/s against 35/s).
- One document per key, not one per second: a per-second counter document cannot enforce "any one-second window"
  (two half-full seconds back to back make a full window across their boundary) and every instance writes the
  current second's document anyway, so slot documents spread no contention. A key's document stays small because
  grants older than the key's longest window are pruned on each write.
- Within one process, the callers asking for the same keys queue and one task books them: it takes every ask
  waiting, books a moment for each in order and writes each key once (one read and one write per key per batch,
  however many callers). So 64 turns asking at once cost two store round trips, not 64 compare-and-set races that
  each lose to the others (measured: 60 store calls per grade under 64-way load before, under 1 after). Across
  processes the compare-and-set still decides. The state a process last wrote for a key is remembered and used for
  its next booking instead of reading the key again: the write names that state's version, so when another instance
  wrote in between the store refuses it and the key is read afresh (while one instance does the sending, a booking is
  one write and no read). Leasing capacity ahead of demand (booking moments nobody asked for
  yet) is not done: it would hold capacity idle on an instance with nothing to send and make the others wait.
- Grants are booked on several keys one document at a time (the Store has no multi-document transaction). When a
  later key's write conflicts, the earlier bookings are withdrawn before trying again; if withdrawing fails too the
  stray booking only holds back its key for one window: conservative, never over the limit.
- Time is wall-clock (`time.time`) so that every instance measures the same moments; keep the hosts NTP-synced.
  The store's TTLs (its own clock) only collect documents of idle keys, long after they stopped mattering.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
from bisect import insort
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

from bot.limits.window import MICROS, Entry, Limit, earliest, prune
from bot.storage.protocol import Document, StorageUnavailable, Store, VersionConflict

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
"""Seconds; the same time base on every instance (wall clock in production, a fake clock in tests)."""

Sleep = Callable[[float], Awaitable[None]]
"""Waits the given number of seconds."""

NAMESPACE = "rate_limits"
"""The store namespace of the limiter's documents."""

KEEP_IDLE = timedelta(minutes=5)
"""How long a key's document outlives its last booking (only so idle keys are collected)."""

MAX_CONFLICTS = 200
"""Compare-and-set attempts before giving up on a too-contended key."""

REMEMBERED_KEYS = 4096
"""Keys whose last written state is remembered (the least recently used are forgotten)."""

_MAX_ROUNDS = 64
"""Rounds of the search for a moment that fits every key (each round only moves it later)."""


class WaitTooLong(Exception):
    """The next free moment is further away than the caller may wait; `wait` says how far, in seconds."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"the rate limit frees up in {wait:.3f} s")
        self.wait = wait


@dataclass(frozen=True)
class _State:
    """One key's document as read: booked grants, pause-until (microseconds, 0 for none) and its version."""

    entries: list[Entry]
    paused_until: int
    version: int

    @classmethod
    def read(cls, document: Document | None) -> _State:
        if document is None or not isinstance(document.value, dict):
            return cls([], 0, 0 if document is None else document.version)
        value = document.value
        raw = cast(list[list[int]], value.get("e") or [])
        entries = [(int(at), int(cost), int(tag)) for at, cost, tag in raw]
        return cls(entries, int(value.get("p") or 0), document.version)


@dataclass
class _Ask:
    """One caller's wish for a grant, answered through `moment` (the booked time, or WaitTooLong)."""

    cost: int
    max_wait: float
    moment: asyncio.Future[float]


@dataclass
class _Queue:
    """The asks waiting on one set of keys and the task booking them (None when idle)."""

    asks: list[_Ask] = field(default_factory=lambda: [])
    booker: asyncio.Task[None] | None = None


class SharedLimiter:
    """Books grants on shared keys so that all instances together stay within each key's `Limit`."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
        namespace: str = NAMESPACE,
        max_conflicts: int = MAX_CONFLICTS,
    ) -> None:
        """Create a limiter over a store (cheap; share one per process).

        Args:
            store: where the keys' documents live; every instance must use the same database.
            clock: seconds in a time base all instances share; injectable for tests.
            sleep: how to wait; injectable for tests.
            namespace: the store namespace of the documents.
            max_conflicts: compare-and-set attempts per grant before `StorageUnavailable`.
        """
        self._store = store
        self.clock = clock
        self.sleep = sleep
        self._namespace = namespace
        self._max_conflicts = max(1, max_conflicts)
        self._queues: dict[tuple[Limit, ...], _Queue] = {}
        self._written: OrderedDict[str, _State] = OrderedDict()
        """Per key, the state this process's last write left (see `_state`)."""

    def _now(self) -> int:
        return math.floor(self.clock() * MICROS)

    async def reserve(self, limits: Sequence[Limit], *, cost: int = 1, max_wait: float = math.inf) -> float:
        """Book the earliest moment where a grant of `cost` fits every limit (and no key is paused).

        Args:
            limits: the keys the grant counts against, each with what it allows (distinct keys).
            cost: units the grant uses on every key (a `$batch` of 5 parts costs 5).
            max_wait: refuse, booking nothing, when the moment is further away than this many seconds.

        Returns:
            The booked moment on the limiter's clock; the caller may act from then on.

        Raises:
            WaitTooLong: the moment is more than `max_wait` away (nothing was booked).
            ValueError: no limits, repeated keys, or a cost no limit can ever hold.
            StorageUnavailable: the store failed, or the keys stayed contended for `max_conflicts` attempts.
        """
        if not limits or len({limit.key for limit in limits}) != len(limits):
            raise ValueError("name each key once, and at least one")
        for limit in limits:
            if not 1 <= cost <= limit.capacity:
                raise ValueError(f"a grant of {cost} can never fit {limit.key} (at most {limit.capacity})")
        ask = _Ask(cost, max_wait, asyncio.get_running_loop().create_future())
        queue = self._queues.setdefault(tuple(limits), _Queue())
        queue.asks.append(ask)
        if queue.booker is None:
            queue.booker = asyncio.create_task(self._book_queued(tuple(limits), queue))
        return await ask.moment

    async def _book_queued(self, limits: tuple[Limit, ...], queue: _Queue) -> None:
        """Book every ask queued on these keys, a batch per store round trip, until the queue is empty."""
        batch: list[_Ask] = []
        try:
            while queue.asks:
                batch, queue.asks = queue.asks, []
                try:
                    outcomes = await self._book(limits, batch)
                except Exception as error:  # noqa: BLE001 - handed to every caller of the batch
                    outcomes = [error] * len(batch)
                for ask, outcome in zip(batch, outcomes, strict=True):
                    if ask.moment.done():  # the caller gave up waiting; its booking (if any) only holds capacity
                        continue
                    if isinstance(outcome, BaseException):
                        ask.moment.set_exception(outcome)
                    else:
                        ask.moment.set_result(outcome)
        finally:  # cancelled (the loop is closing): nobody may wait for an answer that will not come
            for ask in [*batch, *queue.asks]:
                if not ask.moment.done():
                    ask.moment.cancel()
            queue.booker = None
            self._queues.pop(limits, None)

    async def _book(self, limits: Sequence[Limit], batch: Sequence[_Ask]) -> list[float | WaitTooLong]:
        """Book a moment for each ask in order with one compare-and-set write per key (all or none of the batch).

        Returns:
            Per ask, the moment booked (limiter clock) or `WaitTooLong` (nothing booked for that ask).

        Raises:
            StorageUnavailable: the store failed, or the keys stayed contended for `max_conflicts` attempts.
        """
        for _ in range(self._max_conflicts):
            now = self._now()
            states = [await self._state(limit) for limit in limits]
            live = [prune(state.entries, limit, now) for state, limit in zip(states, limits, strict=True)]
            not_before = max([now, *(state.paused_until for state in states)])
            tag = secrets.randbits(48)
            outcomes: list[float | WaitTooLong] = []
            for ask in batch:
                at = self._fit(limits, live, ask.cost, not_before)
                wait = (at - now) / MICROS
                if wait > ask.max_wait:
                    outcomes.append(WaitTooLong(wait))
                    continue
                for entries in live:
                    insort(entries, (at, ask.cost, tag))
                outcomes.append(at / MICROS)
            if all(isinstance(outcome, WaitTooLong) for outcome in outcomes):
                return outcomes
            booked: list[Limit] = []
            try:
                for limit, state, entries in zip(limits, states, live, strict=True):
                    await self._write(limit, state, entries, now)
                    booked.append(limit)
            except VersionConflict:
                for limit in limits:  # another instance wrote: read what it wrote next time
                    self._written.pop(limit.key, None)
                for limit in booked:
                    await self._withdraw(limit, tag)
                await asyncio.sleep(0)  # let the writer that won go on
                continue
            return outcomes
        raise StorageUnavailable(f"rate limit state stayed contended for {self._max_conflicts} attempts")

    async def acquire(self, limits: Sequence[Limit], *, cost: int = 1, max_wait: float = math.inf) -> float:
        """Book a grant (see `reserve`) and wait until its moment; a pause set meanwhile sends it to after the pause.

        Args:
            limits: the keys the grant counts against.
            cost: units the grant uses on every key.
            max_wait: the longest the caller may wait in all, in seconds.

        Returns:
            The moment granted, on the limiter's clock.

        Raises:
            WaitTooLong: the wait would be longer than `max_wait` (the caller did not wait at all, or was woken by
                a pause that pushed its moment past `max_wait`).
            ValueError: as `reserve`.
            StorageUnavailable: as `reserve`.
        """
        started = self.clock()
        while True:
            granted = await self.reserve(limits, cost=cost, max_wait=max_wait - (self.clock() - started))
            wait = granted - self.clock()
            if wait <= 0:
                return granted
            await self.sleep(wait)
            paused = await self._paused_until(limits)
            if paused <= math.floor(granted * MICROS):
                return granted
            logger.debug("a pause arrived while waiting; booking again after it")

    async def pause(self, limit: Limit, seconds: float) -> float:
        """Hold every grant on the key until `seconds` from now, on every instance (a longer pause is kept).

        Args:
            limit: the key to pause (e.g. the tenant's Teams key after a 429).
            seconds: how long; not negative.

        Returns:
            The moment the key resumes, on the limiter's clock.

        Raises:
            StorageUnavailable: the store failed or the key stayed contended.
        """
        for _ in range(self._max_conflicts):
            now = self._now()
            state = _State.read(await self._store.get(self._namespace, limit.key))
            until = max(state.paused_until, now + math.ceil(max(0.0, seconds) * MICROS))
            try:
                await self._write(limit, state, prune(state.entries, limit, now), now, paused_until=until)
            except VersionConflict:
                await asyncio.sleep(0)
                continue
            return until / MICROS
        raise StorageUnavailable(f"rate limit state stayed contended for {self._max_conflicts} attempts")

    async def paused_until(self, limit: Limit) -> float | None:
        """When the key resumes (limiter clock), or None when it is not paused now."""
        state = _State.read(await self._store.get(self._namespace, limit.key))
        return state.paused_until / MICROS if state.paused_until > self._now() else None

    async def _paused_until(self, limits: Sequence[Limit]) -> int:
        states = [_State.read(await self._store.get(self._namespace, limit.key)) for limit in limits]
        return max(state.paused_until for state in states)

    @staticmethod
    def _fit(limits: Sequence[Limit], live: Sequence[list[Entry]], cost: int, not_before: int) -> int:
        """The first moment at or after `not_before` where the grant fits every key."""
        at = not_before
        for _ in range(_MAX_ROUNDS):
            moved = False
            for limit, entries in zip(limits, live, strict=True):
                later = earliest(entries, limit, cost, at)
                moved = moved or later != at
                at = later
            if not moved:
                return at
        # Keys that keep pushing each other: past every booking on every key, everything fits.
        return max([at, *(entry[0] + limit.horizon for limit, es in zip(limits, live, strict=True) for entry in es)])

    async def _state(self, limit: Limit) -> _State:
        """The key's state as this process last wrote it, or as the store holds it when another may have written.

        A remembered state is only a guess: the write that follows names its version, so if another instance wrote
        in between, the store refuses it (`VersionConflict`) and the key is read afresh.
        """
        written = self._written.get(limit.key)
        if written is not None:
            self._written.move_to_end(limit.key)
            return written
        return _State.read(await self._store.get(self._namespace, limit.key))

    async def _write(
        self, limit: Limit, state: _State, entries: list[Entry], now: int, *, paused_until: int | None = None
    ) -> None:
        until = state.paused_until if paused_until is None else paused_until
        if until <= now:
            until = 0
        value: dict[str, Any] = {"e": [list(entry) for entry in entries], "p": until}
        last = max([now, until, *(entry[0] for entry in entries)])
        ttl = timedelta(microseconds=last - now + limit.horizon) + KEEP_IDLE
        try:
            version = await self._store.put(self._namespace, limit.key, value, expected_version=state.version, ttl=ttl)
        except BaseException:
            self._written.pop(limit.key, None)
            raise
        self._written[limit.key] = _State(list(entries), until, version)
        self._written.move_to_end(limit.key)
        while len(self._written) > REMEMBERED_KEYS:
            self._written.popitem(last=False)

    async def _withdraw(self, limit: Limit, tag: int) -> None:
        """Remove a booking whose grant did not go through (best effort: a stray booking only holds capacity)."""
        for _ in range(self._max_conflicts):
            now = self._now()
            state = _State.read(await self._store.get(self._namespace, limit.key))
            entries = [entry for entry in state.entries if entry[2] != tag]
            if len(entries) == len(state.entries):
                return
            try:
                await self._write(limit, state, prune(entries, limit, now), now)
            except VersionConflict:
                await asyncio.sleep(0)
                continue
            return
