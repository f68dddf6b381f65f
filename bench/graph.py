"""Graph round trips and wall time for grading by name, through the real action code against the sandbox Graph
with added latency per request (150 ms by default, Graph-like).

`Bench` is shared with `bench.actions`: one sandbox school in process (httpx.MockTransport, so no TLS cost), one
teacher, and a count of the Graph round trips (a `$batch` counts once) each measured step made.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

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
from sandbox.school import Outcome, Submission, User
from sandbox.stack import SandboxStack

ROOT = Path(__file__).resolve().parents[1]
TEACHER = "Dana Whitfield"
LATENCY_SECONDS = 0.150

_T = TypeVar("_T")

_EXTRA_GIVEN = ["Quincy", "Rafaela", "Tobias", "Yara", "Felix", "Ingrid", "Oskar", "Priscilla", "Leopold", "Marisol"]
_EXTRA_SURNAMES = ["Adebayo", "Okonkwo", "Lindgren", "Haddad", "Moreau", "Solberg", "Varga", "Quispe", "Achterberg"]


class Bench:
    """One sandbox school served in process with `latency` seconds per Graph request, and one teacher."""

    def __init__(self, latency: float = LATENCY_SECONDS) -> None:
        self.stack = SandboxStack.build(knobs=Knobs(latency_seconds=latency))
        self.settings = Settings(graph_endpoint=self.stack.graph_url, authority_host=self.stack.entra.base_url)
        self.cards = CardLibrary.load(ROOT / "cards")

    async def services(self) -> Services:
        """Fresh app-wide services (empty caches) talking to this sandbox; close `graph` when done."""
        graph = GraphHttp.create(self.settings, transport=self.stack.graph_transport())
        return Services(settings=self.settings, graph=graph, store=MemoryStore(), cards=self.cards)

    def context(self, services: Services) -> ActionContext:
        """The teacher's turn, with a delegated Graph token as on-behalf-of would issue it."""
        user_id = self.stack.user_id(TEACHER)
        return ActionContext(
            services=services,
            actor=Actor(TenantId(self.stack.tenant_id), UserId(user_id), TEACHER),
            conversation=Conversation("bench", "personal", "https://127.0.0.1:1/"),
            client=EducationClient(services.graph, self.stack.graph_token(user_id)),
        )

    async def counted(self, work: Awaitable[_T]) -> tuple[_T, int, float]:
        """Run `work` and return its result, the Graph round trips it made and its wall milliseconds."""
        self.stack.graph.reset_request_log()
        started = time.perf_counter()
        result = await work
        return result, self.stack.graph.request_count, (time.perf_counter() - started) * 1000

    async def grade(self, ctx: ActionContext, text: str) -> tuple[int, float]:
        """Round trips and wall milliseconds of one typed grade command.

        Raises:
            ValueError: `text` is not a grade command.
        """
        command = parse_command(text)
        if not isinstance(command, Grade):
            raise ValueError(f"not a grade command: {text!r}")
        _, trips, ms = await self.counted(grade.run(ctx, command))
        return trips, ms

    def add_students(self, class_name: str, assignment_name: str, count: int) -> list[str]:
        """Enrol `count` extra students in a class, each with a submitted submission of the assignment.

        The seed school has 25 students in its largest class; a 30-student bulk grade needs more. Call this before
        the first Graph read so every cache sees the enlarged class.

        Returns:
            The new students' display names (distinct, each resolving exactly).

        Raises:
            ValueError: more students asked for than there are bench names.
        """
        school = self.stack.school
        school_class = school.class_named(class_name)
        assignment = school.assignment_named(school_class.id, assignment_name)
        names = [f"{given} {surname}" for given, surname in zip(_EXTRA_GIVEN, _EXTRA_SURNAMES, strict=False)]
        if count > len(names):
            raise ValueError(f"at most {len(names)} extra students")
        added: list[str] = []
        for index, name in enumerate(names[:count]):
            user_id = f"bench-student-{index:04d}"
            nickname = name.lower().replace(" ", ".")
            school.users.append(
                User(
                    id=user_id,
                    displayName=name,
                    givenName=name.split(" ")[0],
                    surname=name.split(" ")[1],
                    mailNickname=nickname,
                    userPrincipalName=f"{nickname}@lakesideschool.onmicrosoft.com",
                    mail=f"{nickname}@lakesideschool.onmicrosoft.com",
                    primaryRole="student",
                )
            )
            school_class.studentIds.append(user_id)
            school.submissions.append(
                Submission(
                    id=f"bench-submission-{index:04d}",
                    classId=school_class.id,
                    assignmentId=assignment.id,
                    userId=user_id,
                    status="submitted",
                    submittedDateTime=assignment.createdDateTime,
                    submittedBy=user_id,
                    outcomes=[
                        Outcome(id=f"bench-feedback-{index:04d}", kind="feedback"),
                        Outcome(id=f"bench-points-{index:04d}", kind="points"),
                    ],
                )
            )
            added.append(name)
        school.model_post_init(None)  # re-index the lists by id
        return added


async def measure(latency: float = LATENCY_SECONDS) -> dict[str, float]:
    """Cold (nothing cached) and warm grade-by-name: round trips and wall milliseconds."""
    bench = Bench(latency)
    services = await bench.services()
    try:
        ctx = bench.context(services)
        cold_trips, cold_ms = await bench.grade(ctx, "grade Alice Smith 85 on Essay 2")
        warm_trips, warm_ms = await bench.grade(ctx, "grade Bob Jones 90 on Essay 2")
    finally:
        await services.graph.aclose()
    return {
        "grade_cold_round_trips": cold_trips,
        "grade_cold_ms": round(cold_ms, 1),
        "grade_warm_round_trips": warm_trips,
        "grade_warm_ms": round(warm_ms, 1),
    }


def run() -> dict[str, float]:
    """Run `measure` on a fresh event loop."""
    return asyncio.run(measure())


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name:32} {value}")
