"""CLI processes kept between turns: who owns them, and how a request borrows one.

A conversation's CLI process outlives the request that started it, so no request can own it.
The :class:`SessionPool`'s nursery does, from the server's start to its end: one task per
process runs it in its own group (:func:`~cliwrap.runtime.processes.run_in_group`), keeps
its stderr tail and ends it when the pool says so — the process idled too long, the pool
is over its count or memory budget, a turn went wrong, the conversation was deleted, or the
server is stopping. Every live process is in the ledger like any run's.

A request *leases* a process for one turn (:meth:`SessionPool.lease`). It writes the turn
and reads the answer inside its own nursery, so keepalives, progress, deadlines and a
client's disconnect work exactly as for a one-off run. When the lease ends:

- the turn ended as the CLI said it would (its turn-end line read): the process goes back
  to the pool, idle, ready for the conversation's next turn;
- anything else (cancelled, timed out, failed, cut short): the process's history no longer
  matches the client's, so it is not used again. The pool (not the request, which may be
  gone) sends the CLI's own interrupt, reads until the turn ends or
  ``interrupt_grace`` passes, then ends the process; the conversation's next turn starts a
  fresh one, seeded with the history cliwrap kept.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import trio

from ..config import SessionsConfig
from ..core.events import Finished, Outcome
from ..providers.base import Invocation, LiveSession, TurnParser
from .backend import GroupProcess
from .groups import group_rss
from .job import Runtime, keep_tail, prepare_workdir, start_in_group
from .lines import StreamLines

__all__ = ["Lease", "LiveProcess", "SessionPool", "SessionRecipe"]

log = logging.getLogger(__name__)

_CHORES_GRACE = 5.0
"""On shutdown, how long the bookkeeping still queued may take."""
_RESERVED_FOR = 30.0
"""How long a process started for a turn stays out of the idle ones before its lease."""
_EXIT_GRACE = 2.0
"""After its stdin closes, how long a CLI has to exit by itself before it is signalled."""

SessionRecipe = Callable[[Path], tuple[Invocation, LiveSession, Path | None]]
"""Builds a process's invocation and session state, given its private directory; and the
folder outside it where the CLI keeps the session's files, if it does (its user's home)."""


@attrs.define(eq=False)
class LiveProcess:
    """One CLI process kept across turns, as the pool sees it."""

    shape: str
    """What was fixed when it started (see :func:`~cliwrap.conversations.shape_of`)."""
    session: LiveSession
    workdir: Path
    process: GroupProcess
    lines: StreamLines
    started_at: float
    last_used: float
    stderr_tail: collections.deque[bytes] = attrs.field(factory=collections.deque)
    turns: int = 0
    leased: bool = False
    reserved: bool = True
    """Started for a turn that has not leased it yet: not idle, so not ended to make room."""
    retired: bool = False
    """Asked to end; never leased again."""
    rss: int = 0
    """Resident memory of its group when last measured, in bytes."""
    files: Path | None = None
    """Where the CLI keeps this session's files outside :attr:`workdir` (cleaned up later)."""
    _end: trio.Event = attrs.field(factory=trio.Event)
    ended: trio.Event = attrs.field(factory=trio.Event)

    @property
    def alive(self) -> bool:
        return self.process.returncode is None and not self.retired

    def retire(self) -> None:
        """Ask the owner to end it (closing its stdin first, then signals)."""
        self.retired = True
        self._end.set()


@attrs.define(eq=False)
class Lease:
    """One turn's use of a :class:`LiveProcess`; the request's run sets :attr:`outcome`."""

    live: LiveProcess
    parser: TurnParser
    outcome: Outcome | None = None
    """How the turn ended, as the request's run decided it (None: it did not get that far)."""

    @property
    def clean(self) -> bool:
        """The answer finished and the CLI ended its turn: the process may take the next."""
        return isinstance(self.outcome, Finished) and self.parser.turn_over


class SessionPool:
    """The owner of every CLI process kept between turns (see the module docstring)."""

    def __init__(
        self,
        runtime: Runtime,
        settings: SessionsConfig,
        on_ended: Callable[[LiveProcess], None] | None = None,
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.on_ended = on_ended
        """Told of each process once it is reaped (its session files' cleanup is due)."""
        self.live: set[LiveProcess] = set()
        self.started = 0
        """Processes started since the server started (for stats and benchmarks)."""
        self._nursery: trio.Nursery | None = None
        self._chores, self._chore_queue = trio.open_memory_channel[Callable[[], Awaitable[None]]](
            math.inf
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Own the processes until cancelled (the server stops); then every one is ended
        and reaped before this returns."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._tend)
            nursery.start_soon(self._do_chores)
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                self._nursery = None
                with trio.CancelScope(shield=True), trio.move_on_after(_CHORES_GRACE):
                    while True:
                        try:
                            chore = self._chore_queue.receive_nowait()
                        except trio.WouldBlock:
                            break
                        await chore()

    def later(self, chore: Callable[[], Awaitable[None]]) -> None:
        """Run ``chore`` in the pool's nursery, after those queued before it (bookkeeping a
        response need not wait for, in order: a conversation's turns are stored in turn)."""
        self._chores.send_nowait(chore)

    def later_task(self, task: Callable[..., Awaitable[None]], *args: object) -> None:
        """Run ``task(*args)`` in the pool's nursery, now, beside the others."""
        if self._nursery is not None:
            self._nursery.start_soon(task, *args)

    async def _do_chores(self) -> None:
        async for chore in self._chore_queue:
            await chore()

    @property
    def running(self) -> bool:
        return self._nursery is not None

    async def start(self, shape: str, recipe: SessionRecipe) -> LiveProcess:
        """A new process from ``recipe``, owned by the pool (started in its nursery, ready
        when this returns). Raises OSError if it cannot start."""
        if self._nursery is None:
            raise RuntimeError("the session pool is not running")
        self._make_room()
        live: LiveProcess = await self._nursery.start(self._own, shape, recipe)
        return live

    @asynccontextmanager
    async def lease(
        self, live: LiveProcess, turn: bytes, parser: TurnParser
    ) -> AsyncIterator[Lease]:
        """Lend ``live`` for one turn: ``turn`` is written to it here; the caller reads the
        answer through ``parser`` from ``live.lines``."""
        assert not live.leased, "a live process serves one turn at a time"
        assert live.alive, "a retired process serves no turn"
        live.leased = True
        live.reserved = False
        lease = Lease(live, parser)
        try:
            await live.process.stdin.send_all(turn)
            yield lease
        finally:
            live.leased = False
            live.last_used = trio.current_time()
            if lease.clean and live.alive:
                live.turns += 1
            elif live.alive and self._nursery is not None:
                self._nursery.start_soon(self._interrupt, live, parser)
            else:
                live.retire()

    async def _own(
        self, shape: str, recipe: SessionRecipe, task_status: trio.TaskStatus[LiveProcess]
    ) -> None:
        runtime = self.runtime
        workdir = await runtime.blocking(runtime.ledger.make_workdir, "session")
        live: LiveProcess | None = None
        try:
            invocation, session, files = await runtime.blocking(_prepared, recipe, workdir)
            async with trio.open_nursery() as nursery:
                process = await start_in_group(nursery, runtime, invocation, workdir)
                now = trio.current_time()
                live = LiveProcess(
                    shape, session, workdir, process, StreamLines(process.stdout), now, now
                )
                live.files = files
                nursery.start_soon(keep_tail, process.stderr, live.stderr_tail)
                if invocation.stdin:
                    await process.stdin.send_all(invocation.stdin)
                self.live.add(live)
                self.started += 1
                task_status.started(live)
                await _until_either(live._end.wait, process.wait)
                live.retired = True
                with trio.move_on_after(_EXIT_GRACE):
                    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                        await process.stdin.aclose()
                    await process.wait()
                nursery.cancel_scope.cancel()
        finally:
            if live is not None:
                live.retired = True
                self.live.discard(live)
                live.ended.set()
                if self.on_ended is not None:
                    self.on_ended(live)
            with trio.CancelScope(shield=True):
                await runtime.blocking(runtime.ledger.remove_workdir, workdir)

    async def _interrupt(self, live: LiveProcess, parser: TurnParser) -> None:
        """End a turn its request gave up on: the CLI's own interrupt, a bounded wait for the
        turn's end, then the process (its history now differs from the client's)."""
        with trio.move_on_after(self.settings.interrupt_grace):
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                data = live.session.interrupt()
                if data:
                    await live.process.stdin.send_all(data)
                while not parser.turn_over:
                    line = await live.lines.next()
                    if line is None:
                        break
                    parser.feed(line)
                    reply = parser.to_send()  # what the turn still owes (Codex's interrupt)
                    if reply:
                        await live.process.stdin.send_all(reply)
        live.retire()

    def _make_room(self) -> None:
        """Keep the count under ``max_processes``: retire the longest-idle ones."""
        idle = sorted(
            (p for p in self.live if _idle(p, trio.current_time())),
            key=lambda p: p.last_used,
        )
        excess = len([p for p in self.live if p.alive]) + 1 - self.settings.max_processes
        for live in idle[: max(0, excess)]:
            live.retire()

    async def _tend(self) -> None:
        """Retire processes idle past ``idle_timeout``, and the longest-idle ones while the
        pool is over its memory budget."""
        settings = self.settings
        period = min(30.0, settings.idle_timeout / 4)
        while True:
            await trio.sleep(period)
            now = trio.current_time()
            for live in list(self.live):
                if _idle(live, now) and now - live.last_used > settings.idle_timeout:
                    live.retire()
            if settings.memory_budget_mb:
                await self.measure()
                budget = settings.memory_budget_mb * 1024 * 1024
                idle = sorted((p for p in self.live if _idle(p, now)), key=lambda p: p.last_used)
                total = sum(p.rss for p in self.live if p.alive)
                for live in idle:
                    if total <= budget:
                        break
                    total -= live.rss
                    live.retire()

    async def measure(self) -> None:
        """Read each live process group's resident memory (for the budget and the stats)."""
        for live in list(self.live):
            live.rss = await self.runtime.blocking(group_rss, live.process.pid)

    def stats(self) -> dict[str, object]:
        alive = [p for p in self.live if p.alive]
        return {
            "live": len(alive),
            "leased": sum(p.leased for p in alive),
            "started": self.started,
            "rss_bytes": sum(p.rss for p in alive),
        }


def _idle(live: LiveProcess, now: float) -> bool:
    """Whether ``live`` waits for a turn (not one it was just started for, which its request
    is about to lease; one reserved for long was abandoned, and counts as idle)."""
    if live.leased or not live.alive:
        return False
    return not live.reserved or now - live.started_at > _RESERVED_FOR


def _prepared(recipe: SessionRecipe, workdir: Path) -> tuple[Invocation, LiveSession, Path | None]:
    """The recipe built and its directory laid out (blocking: in a thread)."""
    invocation, session, files = recipe(workdir)
    prepare_workdir(invocation, workdir)
    return invocation, session, files


async def _until_either(*waits: Callable[[], Awaitable[object]]) -> None:
    """Return as soon as one of ``waits`` returns."""
    async with trio.open_nursery() as nursery:

        async def first(wait: Callable[[], Awaitable[object]]) -> None:
            await wait()
            nursery.cancel_scope.cancel()

        for wait in waits:
            nursery.start_soon(first, wait)
