"""One request, one nursery: the CLI run and everything that watches it.

:func:`open_job` opens a nursery that supervises, together, the CLI's process group (fed its
prompt on stdin), the stdout pump through the provider's parser and the request's filters, a
bounded stderr tail, the keepalive ticker, the progress emitter and the deadlines. The caller
reads the run's updates from a bounded channel, so a slow client slows the CLI (through its
stdout pipe) instead of filling memory; while the client is the one behind, the CLI's
first-output and idle clocks stand still.

A run has exactly one :data:`~cliwrap.core.events.Outcome`. Whoever learns first how the run
ends (the parser, a filter, a deadline, the drain, a crash) decides it through
:meth:`_Run.decide`, and later claims are ignored. The outcome is published on the
:class:`RunStream` only after the process group is reaped, and before the update channel
closes: it travels outside the bounded channel, so it can never be dropped or timed out.

Leaving the ``async with`` for any reason (the answer is complete, the client went away,
the server is shutting down) cancels the nursery, and the process group is signalled and
reaped before the exit completes.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs
import trio

from ..config import Deadlines
from ..core import progress
from ..core.errors import ApiError, ErrorKind
from ..core.events import (
    Event,
    Failed,
    Finished,
    Keepalive,
    Outcome,
    Progress,
    TextDelta,
    ThinkingDelta,
    ToolCalled,
    ToolCallStarted,
    Update,
    Usage,
)
from ..providers import Dialogue, Invocation, LineParser
from ..providers.base import PRIVATE_HOME, WORK_DIR, DecodedLine
from ..semantics.chain import EventFilter, FilterChain
from .admission import Gate, Ticket
from .backend import GroupProcess, PosixBackend, ProcessBackend
from .decoder import Decoders
from .ledger import Ledger
from .lines import StreamLines
from .processes import ProcessWatch, run_in_group

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from .runs import LiveRun
    from .sessions import Lease

__all__ = [
    "JobPlan",
    "RunStream",
    "Runtime",
    "keep_tail",
    "open_job",
    "open_run_stream",
    "prepare_workdir",
    "start_in_group",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

_CHANNEL_SIZE = 32
_STDERR_TAIL = 8192
_EXIT_GRACE = 2.0
"""After the CLI's last line, how long it has to exit by itself before it is stopped."""
_BIG_LINE = 1024 * 1024
"""Lines longer than this (bytes) are parsed off the event loop."""
_TAIL_GRACE = 0.5
"""After the group is reaped, how long its stderr may take to reach its end."""


@attrs.frozen
class Runtime:
    """What every job shares: the server's limits, ledger, deadlines, processes and drain."""

    gate: Gate
    ledger: Ledger
    deadlines: Deadlines
    keepalive_interval: float
    shutdown_grace: float
    backend: ProcessBackend = attrs.field(factory=PosixBackend)
    blocking: Callable[..., Awaitable[Any]] = trio.to_thread.run_sync
    """Runs blocking file work (run directories, images) off the event loop: a worker thread.
    Tests on trio's MockClock run it inline, so that no real time passes unseen."""
    decoders: Decoders | None = None
    """The server's JSON decoder process, for huge CLI lines (none: decoded in a thread)."""
    draining: trio.Event = attrs.field(factory=trio.Event)
    process_watch: Callable[[str], Callable[[], None]] | None = None
    """Told the provider's name when one of its CLI processes starts; returns what is told
    when it has ended (a :data:`~cliwrap.runtime.processes.ProcessWatch` per provider: the
    metrics count processes). Every CLI process, a run's or a conversation's, passes here."""


@attrs.frozen
class JobPlan:
    """One run, decided before it starts."""

    build: Callable[[Path], Invocation]
    """The invocation, given the run's private working directory."""
    parser: LineParser
    progress: bool = False
    marks_are_content: bool = True
    """Whether progress marks are answer text (else the surfaces send them as keepalives)."""
    filters: tuple[Callable[[], EventFilter], ...] = ()
    """Makers of the filters the events pass through, in order (a tool-call scanner, …)."""
    accepted_at: float = attrs.field(factory=trio.current_time)
    """When the request arrived: the total deadline counts queueing too."""
    on_failure: Callable[[ApiError, str], None] | None = None
    """Told of a failed run, with the tail of its CLI's stderr (for the server's log)."""
    turn: Callable[[], AbstractAsyncContextManager[Lease]] | None = None
    """A conversation's turn: lease its live CLI process (from the session pool) instead of
    starting one for this run; ``build`` and ``parser`` are then not used."""
    after: Callable[[Outcome], None] | None = None
    """Told the outcome once it is known, before anyone reads it (a conversation moves on)."""
    conversation: str | None = None
    """The conversation this run is a turn of (its id goes back as ``X-Session-Id``)."""
    live: LiveRun | None = None
    """The request's entry in the runs registry: marked running and given the first output
    and the usage; cancelling it stops the run with ``request_cancelled``."""


class RunStream(Generic[T]):
    """A run as its reader sees it: updates while it goes on, then its outcome.

    ``outcome`` is the run's outcome in the stream's own item type (an event, or an indexed
    event for ``n`` > 1), set once, after every CLI is reaped and before ``updates`` closes:
    a reader that has seen the channel end always finds it.
    """

    def __init__(self, updates: trio.MemoryReceiveChannel[T]) -> None:
        self.updates = updates
        self._outcome: T | None = None
        self.failure: ApiError | None = None
        """The error, when the outcome is a failure."""

    @property
    def outcome(self) -> T:
        assert self._outcome is not None, "read the outcome after the updates have ended"
        return self._outcome

    def settle(self, outcome: T, failure: ApiError | None) -> None:
        assert self._outcome is None, "a run has exactly one outcome"
        self._outcome = outcome
        self.failure = failure


@asynccontextmanager
async def open_job(
    runtime: Runtime, plan: JobPlan, ticket: Ticket | None = None
) -> AsyncIterator[RunStream[Update | Outcome]]:
    """Run ``plan`` under a fresh nursery; yield its :class:`RunStream`.

    Admission happens here, at once: a full queue raises :class:`ApiError` (429) before
    anything starts, unless the caller brings the ``ticket`` it reserved already.
    """
    if ticket is None:
        (ticket,) = runtime.gate.reserve()
    try:
        async with open_run_stream(partial(_supervise, runtime, plan, ticket)) as stream:
            yield stream
    finally:
        ticket.release()


@asynccontextmanager
async def open_run_stream(
    supervise: Callable[[trio.MemorySendChannel[T], RunStream[T]], Awaitable[None]],
) -> AsyncIterator[RunStream[T]]:
    """A :class:`RunStream` fed by ``supervise(send, stream)``, a task in a nursery of its
    own: leaving the block cancels it, and it settles the stream and closes ``send``."""
    send, receive = trio.open_memory_channel[T](_CHANNEL_SIZE)
    stream: RunStream[T] = RunStream(receive)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(supervise, send, stream)
        try:
            yield stream
        finally:
            nursery.cancel_scope.cancel()
            receive.close()


class _Run:
    """The state a run's tasks share, and the one place its outcome is decided."""

    def __init__(
        self,
        send: trio.MemorySendChannel[Update | Outcome],
        filters: FilterChain,
        live: LiveRun | None = None,
    ):
        self._send = send
        self._filters = filters
        self._live = live
        self.outcome: Outcome | None = None
        self.last_sent = trio.current_time()
        self.answer_started = trio.Event()
        self.watchdog = trio.CancelScope()
        """The first-output / idle deadline around the stdout pump."""
        self.stderr_tail: collections.deque[bytes] = collections.deque()
        """The last few KiB the CLI wrote on stderr."""

    @property
    def stderr_text(self) -> str:
        return b"".join(self.stderr_tail).decode(errors="replace")

    @property
    def over(self) -> bool:
        return self.outcome is not None

    @property
    def cut(self) -> bool:
        """A filter ended the answer (a stop sequence): the CLI may be stopped at once."""
        return self._filters.cut

    def decide(self, outcome: Outcome) -> None:
        """How the run ends, if nobody has said so yet; later claims are ignored."""
        if self.outcome is None:
            self.outcome = outcome

    async def emit(self, event: Event) -> None:
        """Pass ``event`` through the filters; send the updates, decide on an outcome."""
        for out in self._filters.feed(event):
            if isinstance(out, (Finished, Failed)):
                self.decide(out)
            elif not self.over:
                await self.send(out)

    async def send(self, update: Update) -> None:
        """Send one update; while the reader is behind, the CLI's clocks stand still."""
        if isinstance(update, (TextDelta, ThinkingDelta, ToolCallStarted, ToolCalled)):
            self.answer_started.set()
            if self._live is not None:
                self._live.output()
        elif isinstance(update, Usage) and self._live is not None:
            self._live.used(update)
        try:
            try:
                self._send.send_nowait(update)
            except trio.WouldBlock:
                await self._send_paused(update)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # nobody is reading any more; the nursery is being cancelled
        self.last_sent = trio.current_time()

    async def _send_paused(self, update: Update) -> None:
        remaining = self.watchdog.deadline - trio.current_time()
        self.watchdog.deadline = math.inf
        try:
            await self._send.send(update)
        finally:
            self.watchdog.deadline = trio.current_time() + remaining

    def offer(self, update: Update) -> None:
        """Send ``update`` only if the reader has room (a keepalive for a reader that is
        behind would only queue up)."""
        try:
            self._send.send_nowait(update)
        except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            return
        self.last_sent = trio.current_time()


async def _supervise(
    runtime: Runtime,
    plan: JobPlan,
    ticket: Ticket,
    send: trio.MemorySendChannel[Update | Outcome],
    stream: RunStream[Update | Outcome],
) -> None:
    run = _Run(send, FilterChain([make() for make in plan.filters]), plan.live)
    async with send:
        try:
            async with trio.open_nursery() as watchers:
                watchers.start_soon(_keepalive, run, runtime.keepalive_interval)
                if plan.progress:
                    watchers.start_soon(_progress, run, plan.marks_are_content)
                await _admitted_run(runtime, plan, ticket, run)
                watchers.cancel_scope.cancel()
        except Exception:
            log.exception("job failed unexpectedly")
            run.decide(
                Failed(ApiError(ErrorKind.INTERNAL, "cliwrap failed while running the CLI."))
            )
        run.decide(
            Failed(ApiError(ErrorKind.CLI_FAILED, "The CLI stopped without finishing its answer."))
        )
        assert run.outcome is not None
        # Every process of the run is reaped by now: the outcome may be known.
        failure = run.outcome.error if isinstance(run.outcome, Failed) else None
        if isinstance(run.outcome, Finished) and run.outcome.note is not None:
            log.warning("%s", run.outcome.note)
        if failure is not None and plan.on_failure is not None:
            plan.on_failure(failure, run.stderr_text)
        if plan.after is not None:
            plan.after(run.outcome)
        stream.settle(run.outcome, failure)


async def _admitted_run(runtime: Runtime, plan: JobPlan, ticket: Ticket, run: _Run) -> None:
    """Wait for a slot and run the CLI within the total deadline and the drain."""
    total = runtime.deadlines.total

    async def stop_on_drain(scope: trio.CancelScope) -> None:
        await runtime.draining.wait()
        await trio.sleep(runtime.shutdown_grace)
        run.decide(
            Failed(
                ApiError(
                    ErrorKind.SHUTTING_DOWN, "The server is shutting down; the run was stopped."
                )
            )
        )
        scope.cancel()

    async def stop_on_cancel(live: LiveRun, scope: trio.CancelScope) -> None:
        # DELETE /v1/requests/{id}: the same scope as the drain's, at once.
        await live.stop.wait()
        cancelled = "The request was cancelled (DELETE /v1/requests/{id})."
        run.decide(Failed(ApiError(ErrorKind.CANCELLED, cancelled)))
        scope.cancel()

    async with trio.open_nursery() as nursery:
        with trio.CancelScope(deadline=plan.accepted_at + total) as scope:
            nursery.start_soon(stop_on_drain, scope)
            if plan.live is not None:
                nursery.start_soon(stop_on_cancel, plan.live, scope)
            try:
                async with ticket.slot():
                    if plan.live is not None:
                        plan.live.running()
                    if plan.turn is not None:
                        await _run_turn(runtime, plan.turn, run)
                    else:
                        await _run_cli(runtime, plan, run)
            except ApiError as error:
                run.decide(Failed(error))
        nursery.cancel_scope.cancel()
    if scope.cancelled_caught:
        run.decide(
            Failed(
                ApiError(
                    ErrorKind.TIMEOUT,
                    f"The request took longer than the {total:g} s total deadline.",
                )
            )
        )


async def _run_cli(runtime: Runtime, plan: JobPlan, run: _Run) -> None:
    # Recorded in the ledger before it exists, so a crash leaves nothing behind.
    workdir = await runtime.blocking(runtime.ledger.make_workdir, "run")
    try:
        invocation = await runtime.blocking(_built, plan, workdir)
        await _supervise_process(runtime, plan, run, invocation, workdir)
    finally:
        with trio.CancelScope(shield=True):
            await runtime.blocking(runtime.ledger.remove_workdir, workdir)


async def _run_turn(
    runtime: Runtime, lease_turn: Callable[[], AbstractAsyncContextManager[Lease]], run: _Run
) -> None:
    """One turn on a conversation's live CLI process, leased from the session pool: the
    same pump, watchdog and outcome as a run of its own; the process stays the pool's."""
    deadlines = runtime.deadlines
    async with lease_turn() as lease:
        live, parser = lease.live, lease.parser
        talk = _Talk(live.process.stdin, parser)
        run.watchdog.deadline = trio.current_time() + deadlines.first_output
        with run.watchdog:
            await _pump(live.lines, parser, run, talk, deadlines.idle, runtime)
        _watchdog_verdict(run, deadlines)
        if not run.over:  # its stdout ended: the process is exiting
            returncode = -1
            with trio.move_on_after(_TAIL_GRACE):
                returncode = await live.process.wait()
            run.stderr_tail.extend(live.stderr_tail)
            for event in parser.finish(returncode, run.stderr_text):
                await run.emit(event)
        lease.outcome = run.outcome


def _watchdog_verdict(run: _Run, deadlines: Deadlines) -> None:
    """The failure a fired first-output or idle deadline means, if it fired."""
    if not run.watchdog.cancelled_caught:
        return
    started = run.answer_started.is_set()
    which, limit = ("idle", deadlines.idle) if started else ("first output", deadlines.first_output)
    run.decide(
        Failed(
            ApiError(
                ErrorKind.TIMEOUT,
                f"The CLI produced no output within the {limit:g} s {which} deadline.",
            )
        )
    )


def _built(plan: JobPlan, workdir: Path) -> Invocation:
    """The invocation, its directory laid out: in a thread, as building it may read the
    CLI's own config (Codex's model providers) and its files may be megabytes (images)."""
    invocation = plan.build(workdir)
    prepare_workdir(invocation, workdir)
    return invocation


def prepare_workdir(invocation: Invocation, workdir: Path) -> None:
    """The private home, the CLI's working directory and the invocation's files (images can
    be megabytes: a thread)."""
    (workdir / PRIVATE_HOME).mkdir()
    (workdir / WORK_DIR).mkdir()
    invocation.write_files(workdir)


async def _supervise_process(
    runtime: Runtime, plan: JobPlan, run: _Run, invocation: Invocation, workdir: Path
) -> None:
    deadlines = runtime.deadlines
    returncode: int | None = None
    async with trio.open_nursery() as nursery:
        try:
            process = await start_in_group(nursery, runtime, invocation, workdir)
        except OSError as exc:  # not executable, wrong format, ledger unwritable, ...
            reason = exc.strerror or str(exc)
            run.decide(
                Failed(
                    ApiError(
                        ErrorKind.CLI_FAILED, f"Could not start {invocation.argv[0]}: {reason}."
                    )
                )
            )
            return
        log.debug(
            "pid %d started %.1f ms after the request",
            process.pid,
            (trio.current_time() - plan.accepted_at) * 1000,
        )
        nursery.start_soon(keep_tail, process.stderr, run.stderr_tail)
        talk = _Talk(process.stdin, plan.parser, closing=True) if invocation.dialogue else None
        run.watchdog.deadline = trio.current_time() + deadlines.first_output
        with run.watchdog:
            if talk is not None:
                await talk.write(invocation.stdin)
            await _pump(
                StreamLines(process.stdout), plan.parser, run, talk, deadlines.idle, runtime
            )
        _watchdog_verdict(run, deadlines)
        if (
            not run.watchdog.cancelled_caught
            and not isinstance(run.outcome, Failed)
            and not run.cut
        ):
            # A clean exit lets the CLI tidy up after itself; a failed run, or one whose
            # answer a filter ended early, is stopped now.
            with trio.move_on_after(_EXIT_GRACE):
                returncode = await process.wait()
        nursery.cancel_scope.cancel()
    # The group is reaped: what it wrote last on stderr can be read to the end now, for the
    # parser's last word and the server's log.
    with trio.move_on_after(_TAIL_GRACE):
        await keep_tail(process.stderr, run.stderr_tail)
    if returncode is not None:
        for event in plan.parser.finish(returncode, run.stderr_text):
            await run.emit(event)


async def start_in_group(
    nursery: trio.Nursery, runtime: Runtime, invocation: Invocation, workdir: Path
) -> GroupProcess:
    """``invocation``'s process, in its own group in the ledger, owned by a task in
    ``nursery`` (:func:`~cliwrap.runtime.processes.run_in_group`): working in ``workdir``'s
    work folder, its stdin fed and closed, or kept open for a dialogue."""
    watch: ProcessWatch | None = None
    if runtime.process_watch is not None:
        watch = partial(runtime.process_watch, invocation.provider)
    process: GroupProcess = await nursery.start(
        partial(
            run_in_group,
            runtime.backend,
            invocation.argv,
            env=invocation.env,
            cwd=workdir / WORK_DIR,
            stdin=None if invocation.dialogue else invocation.stdin,
            ledger=runtime.ledger,
            stop_signal=invocation.stop_signal,
            kill_grace=runtime.deadlines.kill_grace,
            watch=watch,
        )
    )
    return process


async def _pump(
    lines: StreamLines,
    parser: LineParser,
    run: _Run,
    talk: _Talk | None,
    idle: float,
    runtime: Runtime,
) -> None:
    """The CLI's stdout, line by line, through the parser, until the outcome is known.

    A line of more than :data:`_BIG_LINE` bytes is not parsed on the event loop: decoding a
    30 MiB JSON line takes long enough to stall every other request (:func:`_feed_big`).
    """
    while (line := await lines.next()) is not None:
        events = (
            await _feed_big(parser, line, runtime) if len(line) > _BIG_LINE else parser.feed(line)
        )
        for event in events:
            if isinstance(event, (TextDelta, ThinkingDelta)):
                run.watchdog.deadline = trio.current_time() + idle
            await run.emit(event)
        if talk is not None:
            await talk.answer()
        if run.over:
            # The answer is complete. Some CLIs go on after a failure (Qwen Code
            # retries by itself): what they print now is for nobody.
            return


async def _feed_big(parser: LineParser, line: bytes, runtime: Runtime) -> list[Event]:
    """``parser.feed(line)`` for a huge line: its JSON decoded by the server's decoder
    process when there is one (a thread would still hold the GIL for the whole decode), the
    rest in a worker thread."""
    reply = await runtime.decoders.reply("line", line) if runtime.decoders else None
    if reply is not None and reply[0] == "ok":
        line = DecodedLine(line, reply[1])
    events: list[Event] = await runtime.blocking(parser.feed, line)
    return events


class _Talk:
    """The job's half of a dialogue: writes what a :class:`Dialogue` parser asks for.

    ``closing``: the run owns the process, and closes its stdin when the parser says so; a
    leased process's stdin stays open for its next turn.
    """

    def __init__(
        self, stdin: trio.abc.SendStream, parser: LineParser, *, closing: bool = False
    ) -> None:
        assert isinstance(parser, Dialogue), "a dialogue invocation needs a Dialogue parser"
        self._stdin = stdin
        self._parser = parser
        self._closing = closing
        self._open = True

    async def write(self, data: bytes) -> None:
        if data and self._open:
            try:
                await self._stdin.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                await self.close()  # it stopped listening; its exit tells the rest

    async def answer(self) -> None:
        if not self._open:
            return
        data = self._parser.to_send()
        if data is None:
            await self.close()
        else:
            await self.write(data)

    async def close(self) -> None:
        self._open = False
        if self._closing:
            await self._stdin.aclose()


async def keep_tail(stream: trio.abc.ReceiveStream, tail: collections.deque[bytes]) -> None:
    """Keep the last :data:`_STDERR_TAIL` bytes of ``stream`` in ``tail``, until its end."""
    size = sum(map(len, tail))
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        while chunk := await stream.receive_some(65536):
            tail.append(bytes(chunk))
            size += len(chunk)
            while size - len(tail[0]) >= _STDERR_TAIL:
                size -= len(tail.popleft())


async def _keepalive(run: _Run, interval: float) -> None:
    while not run.over:
        await trio.sleep_until(run.last_sent + interval)
        if trio.current_time() >= run.last_sent + interval:
            run.offer(Keepalive())
            # A reader that is behind got none; wait a whole interval before trying again.
            run.last_sent = max(run.last_sent, trio.current_time())


async def _progress(run: _Run, content: bool) -> None:
    for delay, mark in progress.marks():
        with trio.move_on_after(delay):
            await run.answer_started.wait()
        if run.answer_started.is_set() or run.over:
            return
        await run.send(Progress(mark, content))
