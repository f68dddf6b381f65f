"""Notification fan-out to 1,000 students through the Notifier and the shared limits, on simulated time.

1,000 messages at 25 a second take 40 s of real time, so the clock is simulated (`VirtualTime`): the figures are the
simulated seconds the fan-out took and the busiest second per conversation and per tenant, as a recording
`StudentChannel` saw them. Two notifiers (two bot instances) share one store, each sending to half the class, while a
few students also get a burst of messages of their own.

    python -m bench.fanout
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field

from bot.graph.ids import TenantId, UserId
from bot.limits import SharedLimiter, SharedSendLimits, VirtualTime
from bot.notify.notifier import Delivered, Delivery, Notifier, NotifyResult
from bot.storage import MemoryStore
from bot.turn import Reply

TENANT = TenantId("sandbox-tenant")
STUDENTS = 1_000
INSTANCES = 2
BURSTY_STUDENTS = 5
BURST = 10
MICROS = 1_000_000


@dataclass
class RecordingChannel:
    """A `StudentChannel` that delivers everything and records who got a message when (simulated seconds)."""

    time: VirtualTime
    log: list[tuple[str, float]] = field(default_factory=list[tuple[str, float]])

    async def send_personal(self, tenant_id: TenantId, user_id: UserId, reply: Reply) -> Delivery:
        """Record the send; answer 201."""
        self.log.append((user_id, self.time.clock()))
        return Delivery(status=201)


def peak_per_second(moments: list[float]) -> int:
    """The most moments in any one-second window [a, a + 1), counted in whole microseconds."""
    ticks = sorted(round(moment * MICROS) for moment in moments)
    best = 0
    end = 0
    for start, tick in enumerate(ticks):
        end = max(end, start)
        while end < len(ticks) and ticks[end] < tick + MICROS:
            end += 1
        best = max(best, end - start)
    return best


async def _fan_out() -> dict[str, float]:
    time = VirtualTime(start=0.0)
    store = MemoryStore()
    channel = RecordingChannel(time)
    notifiers = [
        Notifier(channel, store, limits=SharedSendLimits(SharedLimiter(store, clock=time.clock, sleep=time.sleep)))
        for _ in range(INSTANCES)
    ]
    message = Reply(text="Your teacher returned Essay 2.")
    students = [UserId(f"sandbox-student-{n:04d}") for n in range(STUDENTS)]
    shares = [{s: message for s in students[i::INSTANCES]} for i in range(INSTANCES)]

    async def everything() -> list[NotifyResult]:
        fan_outs = [notifier.notify_all(TENANT, share) for notifier, share in zip(notifiers, shares, strict=True)]
        bursts = [
            notifiers[n % INSTANCES].notify(TENANT, students[n], message)
            for n in range(BURSTY_STUDENTS)
            for _ in range(BURST)
        ]
        done = await asyncio.gather(*fan_outs, *bursts)
        results: list[NotifyResult] = []
        for item in done:
            results.extend(item.values() if isinstance(item, dict) else [item])
        return results

    results = await time.run(everything())
    await store.aclose()
    if not all(isinstance(result, Delivered) for result in results):
        raise RuntimeError("some notifications were not delivered")
    by_student: dict[str, list[float]] = defaultdict(list)
    for user, moment in channel.log:
        by_student[user].append(moment)
    moments = [moment for _, moment in channel.log]
    return {
        "fanout_1000_simulated_s": max(moments) - min(moments),
        "fanout_peak_per_conversation_per_s": float(max(peak_per_second(m) for m in by_student.values())),
        "fanout_peak_per_tenant_per_s": float(peak_per_second(moments)),
    }


def run() -> dict[str, float]:
    """Fan out to 1,000 students (plus 5 students with 10 messages each) from two instances on simulated time.

    Returns:
        `fanout_1000_simulated_s` (simulated seconds from the first send to the last),
        `fanout_peak_per_conversation_per_s` (must be <= 7) and `fanout_peak_per_tenant_per_s` (must be <= 25).
    """
    return asyncio.run(_fan_out())


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name}: {value:g}")
