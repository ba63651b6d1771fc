"""``GET /v1/requests`` and ``DELETE /v1/requests/{id}``: the runs registry as the API shows it.

:func:`tracked` puts a run in the registry (:class:`~cliwrap.runtime.runs.Runs`) for as long
as its job is open, so an entry can never outlive its run: it is admitted when the job opens
(the gate's admission), and settled when the job has closed, whatever closed it (the outcome,
a refusal, the client going away). The views are the wire shape (``RunView``) of a live entry
and of a settled report; the run's id is its request id (``X-Request-Id``), or, on the
WebSocket, the connection's request id and the request frame's id.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

import trio

from ..core.errors import ApiError, error_leaves
from ..runtime.job import RunStream
from ..runtime.runs import Caller, LiveRun, RunReport, Runs

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["listing", "report_view", "run_view", "tracked"]

T = TypeVar("T")


@asynccontextmanager
async def tracked(
    admit: Callable[[], LiveRun],
    opened: Callable[[LiveRun], AbstractAsyncContextManager[RunStream[T]]],
    *,
    cancelled: str = "disconnected",
) -> AsyncIterator[RunStream[T]]:
    """``opened(live)`` (a job, or the jobs of ``n`` > 1) with its entry ``admit()`` in the
    registry, settled once it is closed; ``cancelled``: the outcome when the request is
    cancelled from outside (an HTTP client that left; a WebSocket ``cancel`` frame)."""
    live = admit()
    try:
        async with opened(live) as stream:
            yield stream
    except BaseException as exc:
        live.ended_by(_cause(exc), cancelled=cancelled)
        raise
    if stream.failure is not None:
        live.failed(stream.failure)
    else:
        live.settle(200, "finished")


def _cause(exc: BaseException) -> BaseException:
    """The one error a request ended with: a cancellation wins, then a single API error."""
    leaves = error_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc]
    for leaf in leaves:
        if isinstance(leaf, trio.Cancelled):
            return leaf
    errors = [leaf for leaf in leaves if isinstance(leaf, ApiError)]
    return errors[0] if len(errors) == 1 else exc


def _key(key_name: str, key_id: str) -> str:
    """The key as shown: its name, else the start of its hash."""
    return key_name or key_id[:12]


def _ms(start: float | None, end: float | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start) * 1000, 1)


def run_view(run: LiveRun, now: float) -> dict[str, Any]:
    """A live entry as a ``RunView``: its state, how long it has run so far."""
    return {
        "id": run.request_id,
        "surface": run.surface,
        "key": _key(run.caller.key_name, run.caller.key_id),
        "model": run.model,
        "provider": run.provider,
        "stream": run.stream,
        "state": run.state,
        "started_at": run.accepted_at,
        "first_output_ms": _ms(run.accepted_at, run.first_output_at),
        "duration_ms": _ms(run.accepted_at, now),
        "status": None if run.report is None else run.report.status,
    }


def report_view(report: RunReport) -> dict[str, Any]:
    """A settled run as a ``RunView``: its outcome is its state."""
    return {
        "id": report.request_id,
        "surface": report.surface,
        "key": _key(report.key_name, report.key_id),
        "model": report.model,
        "provider": report.provider,
        "stream": report.stream,
        "state": report.outcome,
        "started_at": report.accepted_at,
        "first_output_ms": _ms(report.accepted_at, report.first_output_at),
        "duration_ms": _ms(report.accepted_at, report.ended_at),
        "status": report.status,
    }


def listing(runs: Runs, caller: Caller, queued: int) -> dict[str, Any]:
    """``GET /v1/requests``: what ``caller`` may see, and how many runs wait for a slot."""
    now = runs.clock()
    return {
        "live": [run_view(run, now) for run in runs.live(caller)],
        "queued": queued,
        "recent": [report_view(report) for report in runs.recent(caller)],
    }
