"""The client against Prism mocking Microsoft's Graph education OpenAPI slice (requests validated by Prism)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.graph.client import EducationClient, GraphHttp
from bot.graph.ids import AssignmentId, ClassId, OutcomeId, SubmissionId
from bot.graph.models import PointsOutcome, Submission
from bot.settings import Settings

pytestmark = pytest.mark.prism

ROOT = Path(__file__).parents[2]
PRISM = ROOT / "node_modules" / ".bin" / "prism"
MOCK_SPEC = (ROOT / ".." / "shared" / "specs" / "graph-education.mock.openapi.yaml").resolve()
C, A, S, OUT = ClassId("c1"), AssignmentId("a1"), SubmissionId("s1"), OutcomeId("o1")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def prism_url() -> Iterator[str]:
    """Start Prism on a free port in its own process group; stop the group afterwards."""
    if not PRISM.exists():
        pytest.skip(f"Prism is not installed ({PRISM} is absent; run `npm install`)")
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 -- fixed argv, no shell
        [str(PRISM), "mock", "-h", "127.0.0.1", "-p", str(port), str(MOCK_SPEC)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not _listening(port):
            if process.poll() is not None:
                pytest.fail(f"Prism exited with status {process.returncode} before listening")
            if time.monotonic() > deadline:
                pytest.fail("Prism did not listen within 30 s")
            time.sleep(0.2)
        # The mock serves the spec's paths without the /v1.0 of its `servers` entry.
        yield f"http://127.0.0.1:{port}"
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


async def test_client_calls_are_accepted_by_prism_and_parse(prism_url: str) -> None:
    settings = Settings(graph_endpoint=prism_url, _env_file=None)  # type: ignore[call-arg]
    http = GraphHttp.create(settings, base_url=prism_url)
    try:
        graph = EducationClient(http, "test-token")
        classes = await graph.my_taught_classes()
        members = await graph.list_members(C)
        outcome = await graph.update_points(C, A, S, OUT, 85)
        returned = await graph.return_submission(C, A, S)
        reassigned = await graph.reassign(C, A, S)
        excused = await graph.excuse(C, A, S)
    finally:
        await http.aclose()
    assert classes and all(c.id for c in classes)
    assert members and all(m.id for m in members)
    assert isinstance(outcome, PointsOutcome) and outcome.id
    assert all(isinstance(s, Submission) and s.id for s in (returned, reassigned, excused))
