"""Graph round trips and wall time for grading by name, through the real action code against the sandbox Graph
with added latency per request (150 ms by default, Graph-like)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from bot.actions import grade
from bot.actions.context import ActionContext, Services
from bot.cards.renderer import CardLibrary
from bot.commands import parse_command
from bot.commands.model import Grade
from bot.graph.client import EducationClient, GraphHttp
from bot.graph.ids import TenantId, UserId
from bot.settings import Settings
from bot.storage import MemoryStore
from bot.turn import Actor, Conversation
from sandbox.graph import Knobs
from sandbox.stack import SandboxStack

ROOT = Path(__file__).resolve().parents[1]
TEACHER = "Dana Whitfield"


class Bench:
    """One sandbox, one teacher, fresh or warm caches."""

    def __init__(self, latency: float) -> None:
        self.stack = SandboxStack.build(knobs=Knobs(latency_seconds=latency))
        self.settings = Settings(graph_endpoint=self.stack.graph_url, authority_host=self.stack.entra.base_url)
        self.cards = CardLibrary.load(ROOT / "cards")

    async def services(self) -> Services:
        graph = GraphHttp.create(self.settings, transport=self.stack.graph_transport())
        return Services(settings=self.settings, graph=graph, store=MemoryStore(), cards=self.cards)

    def context(self, services: Services) -> ActionContext:
        user_id = self.stack.user_id(TEACHER)
        return ActionContext(
            services=services,
            actor=Actor(TenantId(self.stack.tenant_id), UserId(user_id), TEACHER),
            conversation=Conversation("bench", "personal", "https://127.0.0.1:1/"),
            client=EducationClient(services.graph, self.stack.graph_token(user_id)),
        )

    async def measure(self, ctx: ActionContext, text: str) -> tuple[int, float]:
        command = parse_command(text)
        assert isinstance(command, Grade), command
        self.stack.graph.reset_request_log()
        started = time.perf_counter()
        await grade.run(ctx, command)
        return self.stack.graph.request_count, (time.perf_counter() - started) * 1000


async def measure(latency: float = 0.150) -> dict[str, float]:
    """Cold (nothing cached) and warm grade-by-name: round trips and wall milliseconds."""
    bench = Bench(latency)
    services = await bench.services()
    try:
        ctx = bench.context(services)
        cold_trips, cold_ms = await bench.measure(ctx, "grade Alice Smith 85 on Essay 2")
        warm_trips, warm_ms = await bench.measure(ctx, "grade Bob Jones 90 on Essay 2")
    finally:
        await services.graph.aclose()
    return {
        "grade_cold_round_trips": cold_trips,
        "grade_cold_ms": round(cold_ms, 1),
        "grade_warm_round_trips": warm_trips,
        "grade_warm_ms": round(warm_ms, 1),
    }


def run() -> dict[str, float]:
    return asyncio.run(measure())


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name:32} {value}")
