"""Usage per key, model and UTC day: the rows, their store's protocol, and the run observer
that records each settled run into them.

One convention for every store and every reader: ``input_tokens`` are the tokens the model
read afresh (cache writes included), ``cached_tokens`` those it read from the prompt cache,
``output_tokens`` what it wrote; a token budget counts input and output (see
:class:`~cliwrap.access.keys.KeyLimits`). :func:`counters` turns a run's
:class:`~cliwrap.core.events.Usage` into them, once.

:class:`UsageRecorder` is a :data:`~cliwrap.runtime.runs.RunObserver`: it must not block the
run that reports, so it only queues the report; its :meth:`~UsageRecorder.run` task writes
the rows.
"""

from __future__ import annotations

import datetime
import logging
import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import attrs
import trio

from ..core.errors import ApiError, ErrorKind
from ..core.events import Usage
from ..runtime.runs import RunReport
from .keys import ApiKey, sees_everyone

__all__ = [
    "UsageRecorder",
    "UsageRow",
    "UsageStore",
    "counters",
    "day_of",
    "rows_of",
    "usage_answer",
    "usage_body",
]

log = logging.getLogger(__name__)

_BACKLOG = 10_000
"""Reports the recorder holds while its store is slow; beyond that they are dropped (and
the log says so) rather than hold up the runs that report them."""


@attrs.frozen
class UsageRow:
    """What one key spent on one model on one UTC day."""

    key: str
    """The key's name ("" for requests on an open server)."""
    model: str
    """The model as the client named it."""
    date: str
    """``YYYY-MM-DD``, UTC."""
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


_COUNTERS = ("requests", "input_tokens", "output_tokens", "cached_tokens", "cost_usd")


def counters(usage: Usage | None) -> tuple[int, int, int, float]:
    """``(input_tokens, output_tokens, cached_tokens, cost_usd)`` of a run's usage, as
    every usage store adds them up (a run that reported none counts zero)."""
    if usage is None:
        return 0, 0, 0, 0.0
    cost = usage.cost_usd if usage.cost_usd is not None and math.isfinite(usage.cost_usd) else 0.0
    return (
        usage.input_tokens + usage.cache_write_tokens,
        usage.output_tokens,
        usage.cache_read_tokens,
        max(0.0, cost),
    )


def day_of(wall_time: float) -> str:
    """The UTC day of ``wall_time`` (``time.time()`` seconds), as ``YYYY-MM-DD``."""
    return time.strftime("%Y-%m-%d", time.gmtime(wall_time))


def usage_body(rows: Sequence[UsageRow]) -> dict[str, Any]:
    """``GET /v1/usage``'s answer: the rows (by date, key, model) and their totals."""
    ordered = sorted(rows, key=lambda row: (row.date, row.key, row.model))
    totals: dict[str, Any] = dict.fromkeys(_COUNTERS, 0)
    totals["cost_usd"] = 0.0
    for row in ordered:
        for name in _COUNTERS:
            totals[name] += getattr(row, name)
    totals["cost_usd"] = round(totals["cost_usd"], 10)
    return {"object": "list", "data": [row.as_dict() for row in ordered], "totals": totals}


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _date(args: Mapping[str, str], name: str, default: str) -> str:
    value = args.get(name)
    if value is None:
        return default
    try:
        if _DATE.fullmatch(value):
            return datetime.date.fromisoformat(value).isoformat()
    except ValueError:
        pass
    raise ApiError(
        ErrorKind.INVALID_REQUEST, f"'{name}' must be a date as YYYY-MM-DD (UTC).", param=name
    )


async def usage_answer(
    store: UsageStore | None, key: ApiKey | None, args: Mapping[str, str], now: float
) -> dict[str, Any]:
    """``GET /v1/usage?since=&until=&key=``: the rows from ``since`` (default: the 1st of
    this UTC month) to ``until`` (default: today), both included, and their totals.

    ``key`` (the requester's :class:`~cliwrap.access.keys.ApiKey`) decides whose rows: an
    admin key, or anyone on a server without keys, sees every key's (or those of the key
    named by ``key=``); any other key sees only its own, and naming another is a 403.
    """
    today = day_of(now)
    since = _date(args, "since", today[:8] + "01")
    until = _date(args, "until", today)
    if since > until:
        raise ApiError(ErrorKind.INVALID_REQUEST, "'since' is after 'until'.", param="since")
    wanted = args.get("key")
    if sees_everyone(key):
        name = wanted
    else:
        assert key is not None
        if wanted is not None and wanted != key.name:
            raise ApiError(
                ErrorKind.PERMISSION,
                "Only an admin key sees another key's usage.",
                param="key",
            )
        name = key.name
    rows = [] if store is None else await store.rows(name, since, until)
    return usage_body(rows)


class UsageStore(Protocol):
    """Where usage is kept (SQLite by default; Redis when several servers share it)."""

    async def add(
        self, key_name: str, model: str, day: str, usage: Usage | None, requests: int = 1
    ) -> None:
        """Add a run's :func:`counters` and ``requests`` to the row of (key, model, day)."""
        ...

    async def rows(self, key_name: str | None, since: str, until: str) -> list[UsageRow]:
        """The rows from day ``since`` to day ``until`` (both included), of ``key_name``
        only, or of every key with ``None``."""
        ...

    async def spent(self, key_name: str, since_day: str) -> tuple[int, float]:
        """``key_name``'s input plus output tokens and dollars from ``since_day`` on."""
        ...


class UsageRecorder:
    """The run observer that records usage; :meth:`run` writes what it was told."""

    def __init__(self, store: UsageStore | None = None, backlog: int = _BACKLOG) -> None:
        self.store = store
        """Where rows go; ``None``: nowhere (reports are taken and forgotten)."""
        self._send, self._receive = trio.open_memory_channel[RunReport](backlog)
        self._dropped = 0

    def __call__(self, report: RunReport) -> None:
        """Queue ``report`` for :meth:`run` (never blocks)."""
        try:
            self._send.send_nowait(report)
        except trio.WouldBlock:
            self._dropped += 1
            if self._dropped == 1 or self._dropped % 1000 == 0:
                log.warning("usage store behind: %d run(s) not recorded", self._dropped)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Write each queued report into the store, until cancelled."""
        task_status.started()
        async for report in self._receive:
            await self.record(report)

    async def record(self, report: RunReport) -> None:
        """Write one report (a store failure is logged, not raised: usage accounting must
        never take the server down)."""
        if self.store is None:
            return
        try:
            await self.store.add(
                report.key_name, report.model, day_of(report.ended_at), report.usage
            )
        except Exception:
            log.exception("cannot record the usage of run %s", report.request_id)


def rows_of(reports: Iterable[RunReport]) -> list[UsageRow]:
    """The rows a set of reports makes, summed (what a store holds after recording them):
    the reference the stores are tested against."""
    rows: dict[tuple[str, str, str], UsageRow] = {}
    for report in reports:
        where = (report.key_name, report.model, day_of(report.ended_at))
        row = rows.get(where, UsageRow(*where))
        input_tokens, output_tokens, cached, cost = counters(report.usage)
        rows[where] = attrs.evolve(
            row,
            requests=row.requests + 1,
            input_tokens=row.input_tokens + input_tokens,
            output_tokens=row.output_tokens + output_tokens,
            cached_tokens=row.cached_tokens + cached,
            cost_usd=row.cost_usd + cost,
        )
    return list(rows.values())
