"""Proactive messages to students, rate-limited: `Notifier` over a `StudentChannel`."""

from bot.notify.limits import RateLimits, RetryPolicy, TokenBucket
from bot.notify.notifier import (
    BLOCKED_NAMESPACE,
    Blocked,
    ChannelError,
    Delivered,
    Delivery,
    Failed,
    MemoryStudentChannel,
    Notifier,
    NotifyResult,
    StudentChannel,
)

__all__ = [
    "BLOCKED_NAMESPACE",
    "Blocked",
    "ChannelError",
    "Delivered",
    "Delivery",
    "Failed",
    "MemoryStudentChannel",
    "Notifier",
    "NotifyResult",
    "RateLimits",
    "RetryPolicy",
    "StudentChannel",
    "TokenBucket",
]
