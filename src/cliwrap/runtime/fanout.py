"""Several answers to one request (``n`` > 1): parallel runs that succeed or fail together.

Each run is a job of its own (:func:`~cliwrap.runtime.job.open_job`), with its own CLI and
deadlines, all admitted at once. Their updates are merged into one channel of
``(index, event)``; a run's own finish travels there too, once its CLI is reaped. The
request fails fast: the first failed run cancels its siblings, and once they are reaped the
request's outcome is that failure, so neither a stream nor a one-body answer waits for runs
whose answer can no longer be used.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial

import trio

from ..core.events import Failed, Finished, Indexed
from .admission import Ticket
from .job import JobPlan, RunStream, Runtime, open_job, open_run_stream

__all__ = ["open_jobs"]


@asynccontextmanager
async def open_jobs(
    runtime: Runtime, plans: Sequence[JobPlan]
) -> AsyncIterator[RunStream[Indexed]]:
    """Run ``plans`` at once; yield one :class:`RunStream` of indexed events.

    Admission is atomic for all of them: a queue without room for every run raises
    :class:`~cliwrap.core.errors.ApiError` (429) before any starts.
    """
    tickets = runtime.gate.reserve(len(plans))
    try:
        async with open_run_stream(partial(_fan_out, runtime, plans, tickets)) as stream:
            yield stream
    finally:
        for ticket in tickets:
            ticket.release()


async def _fan_out(
    runtime: Runtime,
    plans: Sequence[JobPlan],
    tickets: Sequence[Ticket],
    send: trio.MemorySendChannel[Indexed],
    stream: RunStream[Indexed],
) -> None:
    failed: list[tuple[int, Failed]] = []

    async def one(index: int, plan: JobPlan, ticket: Ticket, runs: trio.CancelScope) -> None:
        async with open_job(runtime, plan, ticket) as run:
            async for update in run.updates:
                await send.send((index, update))
            outcome = run.outcome
        # This run's CLI is reaped by now.
        if isinstance(outcome, Failed):
            if not failed:
                failed.append((index, outcome))
            runs.cancel()  # the others' answers can no longer be used
        else:
            await send.send((index, outcome))

    async with send:
        async with trio.open_nursery() as runs:
            for index, (plan, ticket) in enumerate(zip(plans, tickets, strict=True)):
                runs.start_soon(one, index, plan, ticket, runs.cancel_scope)
        if failed:
            index, failure = failed[0]
            stream.settle((index, failure), failure.error)
        else:
            stream.settle((0, Finished()), None)
