"""Request quotas over sliding windows, as Microsoft Graph enforces them per app per tenant.

Microsoft's throttling-limits page (concepts/throttling-limits.md, "Assignment service limits") documents, for the
education assignments and submissions APIs, 350 requests per 10 seconds and 10,000 per 3,600 seconds per app per
tenant (older versions of the page say 500 and 15,000). "Any request can be evaluated against multiple limits ...
The first limit to be reached triggers throttling behavior", and every part of a `$batch` is evaluated on its own
(concepts/json-batching.md). A refused request answers 429 with `Retry-After`; whether a refused request still
counts is undocumented: here it does not.

`Quota.charge` admits a request (recording it) or says how many seconds remain until one would be admitted.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class QuotaWindow:
    """At most `requests` in any `seconds`-long window."""

    requests: int
    seconds: float

    def __post_init__(self) -> None:
        if self.requests < 1 or not self.seconds > 0:
            raise ValueError("a quota window needs at least one request and a positive length")


class Quota:
    """Sliding-window quotas per key (e.g. per app id): a request is admitted only if every window has room."""

    def __init__(self, windows: Sequence[QuotaWindow]) -> None:
        self.windows = tuple(windows)
        self._longest = max((w.seconds for w in self.windows), default=0.0)
        self._moments: dict[Hashable, deque[float]] = {}

    def charge(self, key: Hashable, now: float) -> float | None:
        """Admit one request for `key` at `now` (seconds) and return None, or return the seconds until one fits.

        Nothing is recorded for a refused request.
        """
        moments = self._moments.setdefault(key, deque())
        while moments and moments[0] <= now - self._longest:
            moments.popleft()
        wait = 0.0
        for window in self.windows:
            if len(moments) < window.requests:
                continue
            # The window is full when the `requests`-th most recent moment is still inside it; a request fits again
            # once that moment has left it.
            oldest_counted = moments[len(moments) - window.requests]
            if oldest_counted > now - window.seconds:
                wait = max(wait, oldest_counted + window.seconds - now)
        if wait > 0:
            return wait
        moments.append(now)
        return None

    def reset(self) -> None:
        """Forget every request counted so far."""
        self._moments.clear()
