"""`JobRunner`: the background jobs one bot instance is writing, and the identity it holds their leases under.

Each `Services` owns one (`Services.jobs`), so two instances built in one process (tests, the two-instance
benchmark) never see each other's jobs and nothing is kept in module state.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from typing import Any


class JobRunner:
    """Running jobs by id (strong references: a job is not garbage-collected mid-way) and the leases taken."""

    def __init__(self) -> None:
        """A runner with a fresh id (new at every start, so a restart never takes old leases for its own)."""
        self.runner_id = uuid.uuid4().hex
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.held: set[str] = set()
        """Jobs whose lease this runner took and has not given up (released when the instance stops)."""

    def running(self, job_id: str) -> asyncio.Task[None] | None:
        """The task writing the job in this runner, if any."""
        return self.tasks.get(job_id)

    def spawn(self, job_id: str, work: Coroutine[Any, Any, None]) -> None:
        """Write a job (whose lease this runner now holds) in a background task."""
        task = asyncio.create_task(work, name=f"bulk-job-{job_id}")
        self.tasks[job_id] = task
        self.held.add(job_id)

        def forget(done: asyncio.Task[None]) -> None:
            if self.tasks.get(job_id) is done:
                del self.tasks[job_id]

        task.add_done_callback(forget)

    async def wait(self, job_id: str) -> None:
        """Wait until the job's task in this runner ends (at once when it is not running here).

        Raises:
            asyncio.CancelledError: the job's task was cancelled.
        """
        task = self.tasks.get(job_id)
        if task is not None:
            await task
