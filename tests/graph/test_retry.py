"""Retries: Retry-After in all its forms, backoff, timeouts, and the attempt and time budgets (on a fake clock)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from bot.graph.client import EducationClient, GraphHttp
from bot.graph.errors import GraphThrottled, GraphTimeout, GraphUnavailable
from bot.graph.ids import AssignmentId, ClassId, OutcomeId, SubmissionId
from bot.graph.retry import RetryPolicy, parse_retry_after
from bot.settings import Settings
from tests.graph.conftest import TOKEN, FakeGraph, FakeTime, example_response, graph_error

NOW = datetime(2025, 2, 13, 10, 0, 0, tzinfo=UTC)
CLASSES = "/education/me/classes"
OK = httpx.Response(200, json={"value": [{"id": "c1", "displayName": "Biology"}]})
C, A, S, OUT = ClassId("c"), AssignmentId("a"), SubmissionId("s"), OutcomeId("o")
SUB = "/education/classes/c/assignments/a/submissions/s"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("2", 2.0),
        ("2.128", 2.128),
        (" 3 ", 3.0),
        ("0", 0.0),
        ("-4", 0.0),
        ("Thu, 13 Feb 2025 10:00:05 GMT", 5.0),
        ("Thu, 13 Feb 2025 09:59:00 GMT", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("nan", None),
        ("inf", None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


def test_backoff_is_full_jitter_and_capped() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=3.0, random=lambda: 1.0)
    assert [policy.backoff(n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert RetryPolicy(random=lambda: 0.0).backoff(3) == 0.0


def _throttled(value: str | None, status: int = 429) -> httpx.Response:
    headers = {"Retry-After": value} if value is not None else {}
    return graph_error(status, "TooManyRequests", headers=headers)


@pytest.mark.parametrize(
    ("retry_after", "slept"),
    [("2", 2.0), ("2.128", 2.128), (format_datetime(datetime(2025, 2, 13, 10, 0, 3, tzinfo=UTC), usegmt=True), 3.0)],
)
async def test_429_honours_retry_after(
    client: EducationClient, fake: FakeGraph, fake_time: FakeTime, retry_after: str, slept: float
) -> None:
    fake.add("GET", CLASSES, _throttled(retry_after), OK)
    classes = await client.my_classes()
    assert [c.display_name for c in classes] == ["Biology"]
    assert fake_time.sleeps == [slept]
    assert fake.seen[0].headers["client-request-id"] == fake.seen[1].headers["client-request-id"]


async def test_429_without_retry_after_backs_off_exponentially(
    client: EducationClient, fake: FakeGraph, fake_time: FakeTime
) -> None:
    fake.add("GET", CLASSES, _throttled(None), _throttled(None), _throttled(None), OK)
    await client.my_classes()
    assert fake_time.sleeps == [0.25, 0.5, 1.0]  # jitter 0.5 x (0.5, 1, 2)


@pytest.mark.parametrize("status", [503, 504])
async def test_503_and_504_are_retried_for_reads(
    client: EducationClient, fake: FakeGraph, fake_time: FakeTime, status: int
) -> None:
    fake.add("GET", CLASSES, _throttled("1", status), OK)
    assert len(await client.my_classes()) == 1
    assert fake_time.sleeps == [1.0]


async def test_post_actions_are_retried_on_429_and_503(
    client: EducationClient, fake: FakeGraph, fake_time: FakeTime
) -> None:
    fake.add(
        "POST",
        f"{SUB}/return",
        _throttled("1"),
        _throttled("1", 503),
        example_response("educationsubmission-return.example"),
    )
    submission = await client.return_submission(C, A, S)
    assert submission.status.value == "returned"
    assert fake_time.sleeps == [1.0, 1.0]


async def test_post_action_is_not_retried_on_504(client: EducationClient, fake: FakeGraph, fake_time: FakeTime) -> None:
    fake.add(
        "POST", f"{SUB}/reassign", _throttled("1", 504), example_response("educationsubmission-reassign.with-prefer")
    )
    with pytest.raises(GraphThrottled) as caught:
        await client.reassign(C, A, S)
    assert caught.value.status == 504 and caught.value.retry_after == 1.0
    assert len(fake.seen) == 1 and fake_time.sleeps == []


async def test_points_patch_is_retried(client: EducationClient, fake: FakeGraph, fake_time: FakeTime) -> None:
    fake.add("PATCH", f"{SUB}/outcomes/o", _throttled("2.128", 504), example_response("educationoutcome-update.points"))
    outcome = await client.update_points(C, A, S, OUT, 85)
    assert outcome.points is not None and outcome.points.points == 85
    assert fake_time.sleeps == [2.128]


async def test_wait_longer_than_the_budget_is_not_slept(
    client: EducationClient, fake: FakeGraph, fake_time: FakeTime
) -> None:
    fake.add("GET", CLASSES, _throttled("30"), OK)
    with pytest.raises(GraphThrottled) as caught:
        await client.my_classes()
    assert caught.value.retry_after == 30.0
    assert fake_time.sleeps == [] and len(fake.seen) == 1


async def test_budget_is_shared_by_the_retries_of_one_call(
    client: EducationClient, fake: FakeGraph, fake_time: FakeTime
) -> None:
    fake.add("GET", CLASSES, _throttled("2.5"), _throttled("2.5"), _throttled("2.5"), OK)
    with pytest.raises(GraphThrottled) as caught:
        await client.my_classes()
    assert fake_time.sleeps == [2.5, 2.5]  # a third 2.5 s would overrun the 6 s budget
    assert caught.value.retry_after == 2.5
    assert len(fake.seen) == 3


async def test_attempts_are_bounded(settings: Settings, fake: FakeGraph, fake_time: FakeTime) -> None:
    fake.add("GET", CLASSES, _throttled("0"))
    http = GraphHttp.create(settings, transport=fake.transport, retry=fake_time.policy(attempts=3, budget=60))
    try:
        with pytest.raises(GraphThrottled):
            await EducationClient(http, TOKEN).my_classes()
    finally:
        await http.aclose()
    assert len(fake.seen) == 3 and fake_time.sleeps == [0.0, 0.0]


def _raising(exc: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def answer(request: httpx.Request) -> httpx.Response:
        raise exc

    return answer


async def test_read_timeout_on_a_read_is_retried(client: EducationClient, fake: FakeGraph, fake_time: FakeTime) -> None:
    fake.add("GET", CLASSES, _raising(httpx.ReadTimeout("slow")), OK)
    assert len(await client.my_classes()) == 1
    assert fake_time.sleeps == [0.25]


async def test_timeouts_end_in_graph_timeout(client: EducationClient, fake: FakeGraph, fake_time: FakeTime) -> None:
    fake.add("GET", CLASSES, _raising(httpx.ReadTimeout("slow")))
    with pytest.raises(GraphTimeout):
        await client.my_classes()
    assert len(fake.seen) == 4 and fake_time.sleeps == [0.25, 0.5, 1.0]


async def test_read_timeout_on_return_is_not_retried(
    client: EducationClient, fake: FakeGraph, fake_time: FakeTime
) -> None:
    fake.add("POST", f"{SUB}/return", _raising(httpx.ReadTimeout("slow")))
    with pytest.raises(GraphTimeout):
        await client.return_submission(C, A, S)
    assert len(fake.seen) == 1 and fake_time.sleeps == []


async def test_connection_refused_is_retried_even_for_post(
    client: EducationClient, fake: FakeGraph, fake_time: FakeTime
) -> None:
    fake.add(
        "POST",
        f"{SUB}/excuse",
        _raising(httpx.ConnectError("refused")),
        example_response("educationsubmission-excuse.with-prefer"),
    )
    assert (await client.excuse(C, A, S)).status.value == "excused"


async def test_connection_reset_ends_in_graph_unavailable(client: EducationClient, fake: FakeGraph) -> None:
    fake.add("GET", CLASSES, _raising(httpx.ReadError("connection reset by peer")))
    with pytest.raises(GraphUnavailable) as caught:
        await client.my_classes()
    assert "ReadError" in str(caught.value) and TOKEN not in str(caught.value)


async def test_timeouts_come_from_settings(fake: FakeGraph) -> None:
    settings = Settings(graph_timeout_seconds=3.5, _env_file=None)  # type: ignore[call-arg]
    seen: list[dict[str, float | None]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return OK

    fake.add("GET", CLASSES, answer)
    http = GraphHttp.create(settings, transport=fake.transport)
    try:
        await EducationClient(http, TOKEN).my_classes()
    finally:
        await http.aclose()
    assert seen == [{"connect": 3.5, "read": 3.5, "write": 3.5, "pool": 3.5}]
    assert http.retry.budget_seconds == settings.graph_max_retry_seconds
