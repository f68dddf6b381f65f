"""The Graph self-limit: every instance together stays under the tenant's quota; a long wait becomes GraphThrottled."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest

from bot.graph import requests as build
from bot.graph.batch import BatchPart
from bot.graph.client import EducationClient, GraphHttp
from bot.graph.errors import GraphThrottled
from bot.graph.ids import AssignmentId, ClassId, SubmissionId
from bot.graph.retry import RetryPolicy
from bot.limits import GraphTenantLimiter, SharedLimiter, VirtualTime, build_limits
from bot.settings import Settings
from bot.storage import MemoryStore
from tests.limits.test_shared import peak

TOKEN = "token-not-logged"


@dataclass
class CountingGraph:
    """Answers every request (a `$batch` part by part) and records when each request, or part, arrived."""

    time: VirtualTime
    arrivals: list[tuple[str, float]] = field(default_factory=list[tuple[str, float]])

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/$batch"):
            parts = json.loads(request.content)["requests"]
            self.arrivals.extend(("part", self.time.now) for _ in parts)
            responses = [{"id": part["id"], "status": 200, "headers": {}, "body": {}} for part in parts]
            return httpx.Response(200, json={"responses": responses})
        self.arrivals.append((request.url.path, self.time.now))
        return httpx.Response(200, json={"value": []})

    def times(self) -> list[float]:
        return [moment for _, moment in self.arrivals]


@pytest.fixture
def time() -> VirtualTime:
    return VirtualTime(start=5_000.0)


@pytest.fixture
def graph(time: VirtualTime) -> CountingGraph:
    return CountingGraph(time)


@pytest.fixture
async def store() -> AsyncIterator[MemoryStore]:
    store = MemoryStore()
    yield store
    await store.aclose()


def settings(**values: object) -> Settings:
    return Settings(graph_endpoint="https://graph.microsoft.com", _env_file=None, **values)  # type: ignore[call-arg]


def instance(
    store: MemoryStore, time: VirtualTime, graph: CountingGraph, *, per_second: float = 28, budget: float = 60
) -> GraphHttp:
    """One bot instance's GraphHttp: its own limiter object over the shared store."""
    limiter = GraphTenantLimiter(SharedLimiter(store, clock=time.clock, sleep=time.sleep), per_second=per_second)
    retry = RetryPolicy(budget_seconds=budget, sleep=time.sleep, clock=time.clock)
    return GraphHttp.create(
        settings(), transport=httpx.MockTransport(graph), retry=retry, before_request=limiter.before_request
    )


async def test_two_instances_together_stay_under_the_tenant_rate(
    store: MemoryStore, time: VirtualTime, graph: CountingGraph
) -> None:
    instances = [instance(store, time, graph) for _ in range(2)]
    clients = [EducationClient(http, TOKEN, tenant_id="tenant-1") for http in instances]

    async def burst() -> None:
        await asyncio.gather(*(clients[n % 2].my_classes() for n in range(90)))

    await time.run(burst())
    assert len(graph.arrivals) == 90
    assert peak(graph.times()) <= 28
    assert peak(graph.times(), 10.0) <= 280
    for http in instances:
        await http.aclose()


async def test_another_tenant_is_not_held_up(store: MemoryStore, time: VirtualTime, graph: CountingGraph) -> None:
    http = instance(store, time, graph, per_second=2)
    busy = EducationClient(http, TOKEN, tenant_id="busy")
    quiet = EducationClient(http, TOKEN, tenant_id="quiet")

    async def both() -> None:
        await asyncio.gather(*(busy.my_classes() for _ in range(6)), quiet.my_classes())

    await time.run(both())
    assert min(graph.times()) == 5_000.0
    assert sorted(graph.times())[:3] == [5_000.0, 5_000.0, 5_000.0], "the quiet tenant went at once"
    await http.aclose()


async def test_each_batch_part_counts_as_a_request(store: MemoryStore, time: VirtualTime, graph: CountingGraph) -> None:
    http = instance(store, time, graph)
    client = EducationClient(http, TOKEN, tenant_id="tenant-1")
    c, a = ClassId("c"), AssignmentId("a")
    parts = [BatchPart(str(n), build.return_submission(c, a, SubmissionId(f"s{n}"))) for n in range(20)]

    async def batch_then_singles() -> None:
        await client.batch(parts)
        await asyncio.gather(*(client.my_classes() for _ in range(9)))

    await time.run(batch_then_singles())
    singles = sorted(moment for path, moment in graph.arrivals if path != "part")
    assert singles.count(5_000.0) == 8, "20 parts + 8 requests fill the second"
    assert singles[-1] == pytest.approx(5_001.0)
    await http.aclose()


async def test_a_wait_longer_than_the_budget_raises_throttled_without_sending(
    store: MemoryStore, time: VirtualTime, graph: CountingGraph
) -> None:
    http = instance(store, time, graph, per_second=1, budget=0.5)
    client = EducationClient(http, TOKEN, tenant_id="tenant-1")
    await time.run(client.my_classes())
    with pytest.raises(GraphThrottled) as throttled:
        await time.run(client.my_classes())
    assert throttled.value.retry_after == pytest.approx(1.0)
    assert len(graph.arrivals) == 1
    await http.aclose()


async def test_requests_naming_no_tenant_share_the_default_tenant(
    store: MemoryStore, time: VirtualTime, graph: CountingGraph
) -> None:
    limits = build_limits(
        settings(graph_tenant_rate_per_second=1, app_tenant_id="home"),
        store,
        limiter=SharedLimiter(store, clock=time.clock, sleep=time.sleep),
    )
    retry = RetryPolicy(budget_seconds=60, sleep=time.sleep, clock=time.clock)
    http = GraphHttp.create(
        settings(), transport=httpx.MockTransport(graph), retry=retry, before_request=limits.graph.before_request
    )
    unnamed = EducationClient(http, TOKEN)
    named = EducationClient(http, TOKEN, tenant_id="home")

    async def both() -> None:
        await asyncio.gather(unnamed.my_classes(), named.my_classes())

    await time.run(both())
    assert sorted(graph.times()) == [5_000.0, 5_001.0]
    await http.aclose()


def test_the_default_rate_is_at_most_80_percent_of_the_documented_quota() -> None:
    assert settings().graph_tenant_rate_per_second * 10 <= 0.8 * 350
