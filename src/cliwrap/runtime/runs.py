"""The server's chat requests while they run, and what each reports once it has settled.

:class:`Runs` is the live registry: every chat request (HTTP or WebSocket) is admitted as a
:class:`LiveRun` (queued, then running), which can be cancelled (``DELETE /v1/requests/{id}``)
and is settled once. Its :class:`RunReport` is handed to every :data:`RunObserver`: usage
accounting, metrics, the dashboard's list of recent requests. One value for all of them, so
they never disagree about a run.
"""

from __future__ import annotations

import collections
import itertools
import logging
import time
from collections.abc import Callable

import attrs
import trio

from ..conversations import key_id
from ..core.errors import ApiError, ErrorKind
from ..core.events import Usage

__all__ = ["RECENT", "Caller", "LiveRun", "RunObserver", "RunReport", "Runs", "outcome_of"]

log = logging.getLogger(__name__)

RECENT = 100
"""How many settled runs the registry remembers (the dashboard's recent requests)."""


@attrs.frozen
class RunReport:
    """One settled chat request, as its observers see it (no prompt, no answer, no secret)."""

    request_id: str
    surface: str
    """``chat_completions``, ``responses``, ``messages`` or ``websocket``."""
    key_name: str
    """The API key's name ("" when the request presented none)."""
    key_id: str
    """The key's hash (:func:`cliwrap.conversations.key_id`), "" for none."""
    client: str
    """The client's address."""
    model: str
    """The model as the client asked for it."""
    provider: str
    """The CLI that answered ("" when none was reached)."""
    stream: bool
    accepted_at: float
    """Wall-clock time (``time.time()``) the request arrived."""
    first_output_at: float | None
    """Wall-clock time of the first answer bytes; None when nothing was produced."""
    ended_at: float
    status: int
    """The HTTP status the request was answered with (or would have been, for a stream
    that had already started: 200)."""
    outcome: str
    """``finished``, ``failed:<kind>`` (``failed:rate_limit`` …), ``cancelled`` or
    ``disconnected``."""
    usage: Usage | None = None
    fallback_from: str | None = None
    """The model first tried, when a fallback model answered instead."""


RunObserver = Callable[[RunReport], None]
"""Told of every settled run; must not block (a slow observer hands work to a task)."""


@attrs.frozen
class Caller:
    """Who is asking, as the runs registry needs to know it: whose runs it may see and stop.

    Today (before named keys) it comes from the key the client presented: its hash, a name
    (``config-N`` for the N-th ``server.api_keys`` entry), and ``admin`` for a configured key or
    a server without keys. The service builds it (:meth:`Runs.caller`); named keys replace only
    that function.
    """

    key_id: str = ""
    key_name: str = ""
    admin: bool = True

    def may_see(self, key_id: str) -> bool:
        """Whether this caller may see (and cancel) a run of the key ``key_id``."""
        return self.admin or key_id == self.key_id


class LiveRun:
    """One chat request from its admission to its report: queued, running, settled.

    The job marks it running (a CLI slot is its) and notes its first output and its usage;
    whoever sees the request end settles it, once (later calls do nothing). :meth:`cancel`
    asks the job to stop the run: the job decides the outcome ``request_cancelled`` and
    cancels the run's scope, the same scope its deadlines and the drain cancel, so the CLI's
    process group is signalled and reaped exactly as when the client goes away.
    """

    def __init__(
        self,
        registry: Runs,
        request_id: str,
        surface: str,
        caller: Caller,
        client: str,
        model: str,
        provider: str,
        stream: bool,
        serial: int,
    ) -> None:
        self._registry = registry
        self.serial = serial
        self.request_id = request_id
        self.surface = surface
        self.caller = caller
        self.client = client
        self.model = model
        self.provider = provider
        self.stream = stream
        self.fallback_from: str | None = None
        """The model the client asked for, when this run is a fallback model's."""
        self.accepted_at = registry.clock()
        self.running_at: float | None = None
        self.first_output_at: float | None = None
        self.usage: Usage | None = None
        self.stop = trio.Event()
        """Set by :meth:`cancel`; the job watches it."""
        self.report: RunReport | None = None

    @property
    def state(self) -> str:
        """``queued``, ``running``, or the outcome once settled."""
        if self.report is not None:
            return self.report.outcome
        return "queued" if self.running_at is None else "running"

    def running(self) -> None:
        """The run holds a CLI slot now."""
        if self.running_at is None:
            self.running_at = self._registry.clock()

    def output(self) -> None:
        """The run produced answer content (the first call counts)."""
        if self.first_output_at is None:
            self.first_output_at = self._registry.clock()

    def used(self, usage: Usage) -> None:
        """The run's usage (several runs of one request, ``n`` > 1, add up)."""
        self.usage = usage if self.usage is None else self.usage + usage

    def cancel(self) -> None:
        """Ask the job to stop this run (``DELETE /v1/requests/{id}``)."""
        self.stop.set()

    def settle(self, status: int, outcome: str) -> RunReport:
        """End the entry with ``outcome`` (once): its report goes to the observers."""
        if self.report is None:
            self.report = RunReport(
                request_id=self.request_id,
                surface=self.surface,
                key_name=self.caller.key_name,
                key_id=self.caller.key_id,
                client=self.client,
                model=self.model,
                provider=self.provider,
                stream=self.stream,
                accepted_at=self.accepted_at,
                first_output_at=self.first_output_at,
                ended_at=self._registry.clock(),
                status=status,
                outcome=outcome,
                usage=self.usage,
                fallback_from=self.fallback_from,
            )
            self._registry._settled(self)
        return self.report

    def failed(self, error: ApiError) -> RunReport:
        """Settle with ``error``; a stream that had started was a 200 with the error inside."""
        status = 200 if self.stream and self.first_output_at is not None else error.status
        return self.settle(status, outcome_of(error))

    def ended_by(self, exc: BaseException, *, cancelled: str = "disconnected") -> RunReport:
        """Settle as ``exc`` ended the request (if nothing settled it before): an ApiError
        with its status, a cancellation (the client went away, or cancelled on its own
        socket) as ``cancelled``, anything else as an internal error."""
        if isinstance(exc, ApiError):
            return self.failed(exc)
        if isinstance(exc, trio.Cancelled):
            return self.settle(499, cancelled)
        return self.settle(500, "failed:internal")


def outcome_of(error: ApiError | None) -> str:
    """A :class:`RunReport` outcome: ``finished``, ``cancelled`` or ``failed:<kind>``."""
    if error is None:
        return "finished"
    if error.kind is ErrorKind.CANCELLED:
        return "cancelled"
    return f"failed:{error.kind.name.lower()}"


class Runs:
    """The live runs of the server, and the reports of the last ``keep`` that settled.

    Every chat request (HTTP or WebSocket) is admitted here and settled once; its
    :class:`RunReport` goes to each observer (usage, metrics), and the dashboard reads the
    live entries and the recent reports.
    """

    def __init__(
        self,
        caller: Callable[[str | None], Caller] | None = None,
        *,
        keep: int = RECENT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._caller = caller or (lambda key: Caller(key_id(key)))
        self.clock = clock
        self._live: dict[int, LiveRun] = {}
        self._serial = itertools.count()
        self._recent: collections.deque[RunReport] = collections.deque(maxlen=keep)
        self._observers: list[RunObserver] = []

    def caller(self, presented_key: str | None) -> Caller:
        """Who presents ``presented_key`` (the seam where named keys plug in)."""
        return self._caller(presented_key)

    def observe(self, observer: RunObserver) -> None:
        """Tell ``observer`` of every run that settles from now on."""
        self._observers.append(observer)

    def admit(
        self,
        request_id: str,
        surface: str,
        caller: Caller,
        *,
        client: str = "",
        model: str = "",
        provider: str = "",
        stream: bool = False,
    ) -> LiveRun:
        """A new live entry for an accepted request (queued until the job marks it running)."""
        serial = next(self._serial)
        run = LiveRun(self, request_id, surface, caller, client, model, provider, stream, serial)
        self._live[serial] = run
        return run

    def live(self, caller: Caller | None = None) -> list[LiveRun]:
        """The live entries ``caller`` may see (all without one), oldest first."""
        return [r for r in self._live.values() if caller is None or caller.may_see(r.caller.key_id)]

    def recent(self, caller: Caller | None = None) -> list[RunReport]:
        """The last settled reports ``caller`` may see, newest first."""
        return [r for r in reversed(self._recent) if caller is None or caller.may_see(r.key_id)]

    def cancel(self, request_id: str, caller: Caller) -> list[LiveRun]:
        """Cancel the live runs named ``request_id`` that ``caller`` may see (usually one: a
        client that reuses an ``X-Request-Id`` names all its runs with it)."""
        found = [r for r in self.live(caller) if r.request_id == request_id]
        for run in found:
            run.cancel()
        return found

    def _settled(self, run: LiveRun) -> None:
        assert run.report is not None
        del self._live[run.serial]
        self._recent.append(run.report)
        for observer in self._observers:
            try:
                observer(run.report)
            except Exception:
                log.exception("a run observer failed on %s", run.request_id)
