"""The documented Assignments quota: 350 requests per 10 s and 10,000 per hour per app per tenant, `$batch` parts
counted one by one, 429 with Retry-After beyond it (concepts/throttling-limits.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import pytest

from sandbox.graph import GraphEducation, Knobs
from sandbox.quota import Quota, QuotaWindow
from sandbox.transport import mock_transport
from tests.sandbox.conftest import BASE_URL, TENANT, FakeClock, auth, fake_verify

CLASSES = "/education/me/classes"


def test_documented_quota_is_the_default() -> None:
    assert Knobs().quota_windows() == (QuotaWindow(350, 10.0), QuotaWindow(10_000, 3600.0))
    assert Knobs(quota_per_10_seconds=None, quota_per_hour=None).quota_windows() == ()


def test_quota_admits_up_to_the_limit_then_says_when_the_oldest_leaves() -> None:
    quota = Quota([QuotaWindow(3, 10.0)])
    assert [quota.charge("app", at) for at in (0.0, 1.0, 2.0)] == [None, None, None]
    assert quota.charge("app", 4.0) == pytest.approx(6.0)  # the request at 0.0 leaves the window at 10.0
    assert quota.charge("other app", 4.0) is None  # each key has its own quota
    assert quota.charge("app", 9.999) == pytest.approx(0.001)
    assert quota.charge("app", 10.0) is None
    assert quota.charge("app", 10.5) == pytest.approx(0.5)  # refused requests were not counted: 1.0 is next out


def test_the_longer_window_holds_when_the_shorter_has_room() -> None:
    quota = Quota([QuotaWindow(2, 1.0), QuotaWindow(3, 60.0)])
    assert [quota.charge("app", at) for at in (0.0, 5.0, 10.0)] == [None, None, None]
    assert quota.charge("app", 20.0) == pytest.approx(40.0)
    assert quota.charge("app", 60.0) is None


def _verify_with_app(token: str) -> Mapping[str, Any]:
    """`<app>/<oid>|<scopes>`: the sandbox's fake tokens plus the `appid` claim of Entra access tokens."""
    app, _, rest = token.partition("/")
    return {**fake_verify(rest), "tid": TENANT, "appid": app}


@pytest.fixture
def service(clock: FakeClock) -> GraphEducation:
    return GraphEducation.from_seed(
        verify_token=_verify_with_app, clock=clock, knobs=Knobs(quota_per_10_seconds=5, quota_per_hour=8)
    )


@pytest.fixture
async def graph(service: GraphEducation) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=mock_transport(service, BASE_URL), base_url=f"{BASE_URL}/v1.0") as client:
        yield client


def _as(app: str, service: GraphEducation) -> dict[str, str]:
    headers = auth(service.school.user_named("Dana Whitfield"))
    headers["Authorization"] = headers["Authorization"].replace("Bearer ", f"Bearer {app}/")
    return headers


async def _admitted(
    graph: httpx.AsyncClient, headers: dict[str, str], count: int, clock: FakeClock, every: float
) -> None:
    """Send `count` requests `every` seconds apart; each must be admitted."""
    for _ in range(count):
        assert (await graph.get(CLASSES, headers=headers)).status_code == 200
        clock.advance(every)


async def test_over_the_quota_graph_answers_429_until_retry_after_has_passed(
    graph: httpx.AsyncClient, service: GraphEducation, clock: FakeClock
) -> None:
    bot = _as("bot-app", service)
    await _admitted(graph, bot, 5, clock, every=1)
    refused = await graph.get(CLASSES, headers=bot)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "TooManyRequests"  # examples/graph/throttling.429.json
    assert refused.json()["error"]["innerError"]["code"] == "429"
    assert float(refused.headers["retry-after"]) == pytest.approx(5.0)  # the first request leaves at 10 s
    assert (await graph.get(CLASSES, headers=_as("another-app", service))).status_code == 200  # per app

    clock.advance(float(refused.headers["retry-after"]))
    assert (await graph.get(CLASSES, headers=bot)).status_code == 200


async def test_the_hourly_quota_holds_once_the_ten_second_one_has_room(
    graph: httpx.AsyncClient, service: GraphEducation, clock: FakeClock
) -> None:
    bot = _as("bot-app", service)
    await _admitted(graph, bot, 8, clock, every=11)
    refused = await graph.get(CLASSES, headers=bot)
    assert refused.status_code == 429
    assert float(refused.headers["retry-after"]) == pytest.approx(3600 - 88)


async def test_every_batch_part_counts_and_only_the_parts_over_the_quota_are_refused(
    graph: httpx.AsyncClient, service: GraphEducation
) -> None:
    requests = [{"id": str(n), "method": "GET", "url": CLASSES} for n in range(1, 8)]
    response = await graph.post("/$batch", json={"requests": requests}, headers=_as("bot-app", service))
    assert response.status_code == 200
    statuses = {part["id"]: part["status"] for part in response.json()["responses"]}
    assert sorted(statuses.values()) == [200] * 5 + [429] * 2
    refused = [part for part in response.json()["responses"] if part["status"] == 429]
    assert all(float(part["headers"]["Retry-After"]) > 0 for part in refused)


async def test_knobs_change_the_quota_at_run_time(graph: httpx.AsyncClient, service: GraphEducation) -> None:
    bot = _as("bot-app", service)
    for _ in range(5):
        assert (await graph.get(CLASSES, headers=bot)).status_code == 200
    assert (await graph.get(CLASSES, headers=bot)).status_code == 429
    async with httpx.AsyncClient(transport=mock_transport(service, BASE_URL), base_url=BASE_URL) as control:
        answer = await control.post("/_sandbox/knobs", json={"quota_per_10_seconds": None, "quota_per_hour": None})
        assert answer.status_code == 200
    assert [(await graph.get(CLASSES, headers=bot)).status_code for _ in range(20)] == [200] * 20


async def test_reset_forgets_what_was_counted(graph: httpx.AsyncClient, service: GraphEducation) -> None:
    bot = _as("bot-app", service)
    for _ in range(5):
        await graph.get(CLASSES, headers=bot)
    assert (await graph.get(CLASSES, headers=bot)).status_code == 429
    service.reset()
    assert (await graph.get(CLASSES, headers=bot)).status_code == 200


async def test_requests_refused_for_their_token_are_not_counted(
    graph: httpx.AsyncClient, service: GraphEducation
) -> None:
    for _ in range(10):
        assert (await graph.get(CLASSES)).status_code == 401
    bot = _as("bot-app", service)
    assert [(await graph.get(CLASSES, headers=bot)).status_code for _ in range(6)] == [200] * 5 + [429]
