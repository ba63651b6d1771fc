"""One request, one nursery: the CLI run and everything that watches it.

:func:`open_job` opens a nursery that supervises, together, the CLI's process group (fed
its prompt on stdin), the stdout pump through the provider's parser, a bounded stderr tail,
the keepalive ticker, the progress emitter and the deadlines. The caller reads
:mod:`~cliwrap.core.events` from a bounded channel, so a slow client slows the CLI (through its
stdout pipe) instead of filling memory.

Leaving the ``async with`` for any reason (the answer is complete, the client went away,
a deadline passed, the server is shutting down) cancels the nursery, and the process
group is signalled and reaped before the exit completes. Failures never escape as
exceptions: they arrive as one :class:`~cliwrap.core.events.Failed` event, the last one.
"""

from __future__ import annotations

import collections
import logging
import shutil
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import aclosing, asynccontextmanager
from functools import partial
from pathlib import Path

import attrs
import trio

from ..config import Deadlines
from ..core import progress
from ..core.errors import ApiError, ErrorKind
from ..core.events import (
    Event,
    Failed,
    Finished,
    Indexed,
    Keepalive,
    Progress,
    TextDelta,
    ThinkingDelta,
    ToolCalled,
)
from ..providers import Dialogue, Invocation, LineParser
from ..providers.base import PRIVATE_HOME
from ..semantics.chain import EventFilter, FilterChain
from .admission import Gate
from .ledger import WORKDIR_PREFIX, Ledger
from .processes import run_in_group

__all__ = ["JobPlan", "Runtime", "open_job", "open_jobs"]

log = logging.getLogger(__name__)

_CHANNEL_SIZE = 32
_STDERR_TAIL = 8192
_MAX_LINE = 64 * 1024 * 1024
_EXIT_GRACE = 2.0
"""After the CLI's last line, how long it has to exit by itself before it is stopped."""


@attrs.frozen
class Runtime:
    """What every job shares: the server's limits, ledger, deadlines and drain signal."""

    gate: Gate
    ledger: Ledger
    deadlines: Deadlines
    keepalive_interval: float
    shutdown_grace: float
    draining: trio.Event = attrs.field(factory=trio.Event)


@attrs.frozen
class JobPlan:
    """One run, decided before it starts."""

    build: Callable[[Path], Invocation]
    """The invocation, given the run's private working directory."""
    parser: LineParser
    progress: bool = False
    filters: tuple[Callable[[], EventFilter], ...] = ()
    """Makers of the filters the events pass through, in order (a tool-call scanner, …)."""
    accepted_at: float = attrs.field(factory=trio.current_time)
    """When the request arrived: the total deadline counts queueing too."""


@asynccontextmanager
async def open_job(
    runtime: Runtime, plan: JobPlan
) -> AsyncIterator[trio.MemoryReceiveChannel[Event]]:
    """Run ``plan`` under a fresh nursery; yield the channel its events arrive on.

    The channel closes after the terminal event (Finished or Failed) and the reaping of
    the CLI, so a reader that drains it knows nothing is left running.
    """
    send, receive = trio.open_memory_channel[Event](_CHANNEL_SIZE)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_supervise, runtime, plan, send)
        try:
            yield receive
        finally:
            nursery.cancel_scope.cancel()
            receive.close()


@asynccontextmanager
async def open_jobs(
    runtime: Runtime, plans: Sequence[JobPlan]
) -> AsyncIterator[trio.MemoryReceiveChannel[Indexed]]:
    """Run several ``plans`` at once (``n`` > 1), each as :func:`open_job` runs one; yield one
    channel of ``(index, event)``.

    The runs share one nursery, so leaving (the client gone, a failure) ends them all; the
    channel closes when every run has ended and its CLI is reaped.
    """
    send, receive = trio.open_memory_channel[Indexed](_CHANNEL_SIZE)

    async def forward(
        index: int, plan: JobPlan, out: trio.MemorySendChannel[tuple[int, Event]]
    ) -> None:
        async with out, open_job(runtime, plan) as events:
            async for event in events:
                await out.send((index, event))

    async with trio.open_nursery() as nursery:
        async with send:
            for index, plan in enumerate(plans):
                nursery.start_soon(forward, index, plan, send.clone())
        try:
            yield receive
        finally:
            nursery.cancel_scope.cancel()
            receive.close()


class _Run:
    """The state the supervising tasks share."""

    def __init__(self, send: trio.MemorySendChannel[Event], filters: FilterChain) -> None:
        self._send = send
        self._filters = filters
        self.last_sent = trio.current_time()
        self.answer_started = trio.Event()
        self.ended = False
        self.failed = False

    async def emit(self, event: Event) -> None:
        for each in self._filters.feed(event):
            await self._emit(each)

    @property
    def cut(self) -> bool:
        """A filter ended the answer (a stop sequence): the CLI may stop."""
        return self._filters.cut

    async def _emit(self, event: Event) -> None:
        if self.ended:
            return
        if isinstance(event, (TextDelta, ThinkingDelta, ToolCalled)):
            self.answer_started.set()
        self.ended = isinstance(event, (Finished, Failed))
        self.failed = isinstance(event, Failed)
        try:
            await self._send.send(event)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.ended = True  # nobody is reading any more; the nursery is being cancelled
        self.last_sent = trio.current_time()


async def _supervise(runtime: Runtime, plan: JobPlan, send: trio.MemorySendChannel[Event]) -> None:
    run = _Run(send, FilterChain([make() for make in plan.filters]))
    async with send:
        failure: ApiError | None = None
        try:
            async with trio.open_nursery() as watchers:
                watchers.start_soon(_keepalive, run, runtime.keepalive_interval)
                if plan.progress:
                    watchers.start_soon(_progress, run)
                failure = await _admitted_run(runtime, plan, run)
                watchers.cancel_scope.cancel()
        except Exception:
            log.exception("job failed unexpectedly")
            failure = ApiError(
                ErrorKind.INTERNAL, "cliwrap failed while running the CLI; see its log"
            )
        if failure is None and not run.ended:
            failure = ApiError(
                ErrorKind.CLI_FAILED, "The CLI stopped without finishing its answer."
            )
        if failure is not None:
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                await run.emit(Failed(failure))


async def _admitted_run(runtime: Runtime, plan: JobPlan, run: _Run) -> ApiError | None:
    """Wait for a slot and run the CLI within the total deadline and the drain; None if fine."""
    stopped_by_drain = False
    total = runtime.deadlines.total

    async def stop_on_drain(scope: trio.CancelScope) -> None:
        nonlocal stopped_by_drain
        await runtime.draining.wait()
        await trio.sleep(runtime.shutdown_grace)
        stopped_by_drain = True
        scope.cancel()

    async with trio.open_nursery() as nursery:
        with trio.CancelScope(deadline=plan.accepted_at + total) as scope:
            nursery.start_soon(stop_on_drain, scope)
            try:
                async with runtime.gate.slot():
                    failure = await _run_cli(runtime, plan, run)
            except ApiError as error:
                failure = error
        nursery.cancel_scope.cancel()
    if stopped_by_drain:
        return ApiError(
            ErrorKind.SHUTTING_DOWN, "The server is shutting down; the run was stopped."
        )
    if scope.cancelled_caught:
        return ApiError(
            ErrorKind.TIMEOUT, f"The request took longer than the {total:g} s total deadline."
        )
    return failure


async def _run_cli(runtime: Runtime, plan: JobPlan, run: _Run) -> ApiError | None:
    workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX + "run-"))
    try:
        invocation = plan.build(workdir)
        (workdir / PRIVATE_HOME).mkdir()
        invocation.write_files(workdir)
        return await _supervise_process(runtime, plan, run, invocation, workdir)
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(partial(shutil.rmtree, workdir, ignore_errors=True))


async def _supervise_process(
    runtime: Runtime, plan: JobPlan, run: _Run, invocation: Invocation, workdir: Path
) -> ApiError | None:
    deadlines = runtime.deadlines
    tail: collections.deque[bytes] = collections.deque()
    failure = None
    async with trio.open_nursery() as nursery:
        try:
            process: trio.Process = await nursery.start(
                partial(
                    run_in_group,
                    invocation.argv,
                    env=invocation.env,
                    cwd=workdir,
                    stdin=None if invocation.dialogue else invocation.stdin,
                    ledger=runtime.ledger,
                    stop_signal=invocation.stop_signal,
                    kill_grace=deadlines.kill_grace,
                )
            )
        except OSError as exc:  # not executable, wrong format, ...: nothing was started
            return ApiError(
                ErrorKind.CLI_FAILED, f"Could not start {invocation.argv[0]}: {exc.strerror}."
            )
        log.debug(
            "pid %d started %.1f ms after the request",
            process.pid,
            (trio.current_time() - plan.accepted_at) * 1000,
        )
        assert process.stdout is not None
        assert process.stderr is not None
        nursery.start_soon(_keep_tail, process.stderr, tail)
        talk = _Talk(process, plan.parser) if invocation.dialogue else None
        watchdog = trio.CancelScope(deadline=trio.current_time() + deadlines.first_output)
        with watchdog:
            if talk is not None:
                await talk.write(invocation.stdin)
            async with aclosing(_lines(process.stdout)) as lines:
                async for line in lines:
                    for event in plan.parser.feed(line):
                        if isinstance(event, (TextDelta, ThinkingDelta)):
                            if not run.answer_started.is_set():
                                log.debug(
                                    "pid %d first output %.1f ms after the request",
                                    process.pid,
                                    (trio.current_time() - plan.accepted_at) * 1000,
                                )
                            watchdog.deadline = trio.current_time() + deadlines.idle
                        await run.emit(event)
                    if talk is not None:
                        await talk.answer()
                    if run.ended:
                        # The answer is complete. Some CLIs go on after a failure (Qwen
                        # Code retries by itself): what they print now is for nobody.
                        break
        if watchdog.cancelled_caught:
            which = "first output" if not run.answer_started.is_set() else "idle"
            limit = deadlines.idle if run.answer_started.is_set() else deadlines.first_output
            failure = ApiError(
                ErrorKind.TIMEOUT,
                f"The CLI produced no output within the {limit:g} s {which} deadline.",
            )
        elif not run.failed and not run.cut:
            # A clean exit lets the CLI tidy up after itself; a failed run, or one whose
            # answer a filter ended early, is stopped now.
            with trio.move_on_after(_EXIT_GRACE):
                returncode = await process.wait()
                for event in plan.parser.finish(
                    returncode, b"".join(tail).decode(errors="replace")
                ):
                    await run.emit(event)
        nursery.cancel_scope.cancel()
    return failure


class _Talk:
    """The job's half of a dialogue: writes what a :class:`Dialogue` parser asks for."""

    def __init__(self, process: trio.Process, parser: LineParser) -> None:
        assert process.stdin is not None
        assert isinstance(parser, Dialogue), "a dialogue invocation needs a Dialogue parser"
        self._stdin = process.stdin
        self._parser = parser
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
        await self._stdin.aclose()


async def _lines(stream: trio.abc.ReceiveStream) -> AsyncGenerator[bytes, None]:
    """Complete lines from ``stream`` (a last unterminated line included)."""
    buffer = bytearray()
    while True:
        chunk = await stream.receive_some(65536)
        if not chunk:
            break
        buffer += chunk
        *lines, rest = buffer.split(b"\n")
        buffer = bytearray(rest)
        for line in lines:
            if line.strip():
                yield bytes(line)
        if len(buffer) > _MAX_LINE:
            log.warning("dropping an over-long CLI output line (%d bytes)", len(buffer))
            buffer.clear()
    if buffer.strip():
        yield bytes(buffer)


async def _keep_tail(stream: trio.abc.ReceiveStream, tail: collections.deque[bytes]) -> None:
    size = 0
    while chunk := await stream.receive_some(65536):
        tail.append(bytes(chunk))
        size += len(chunk)
        while size - len(tail[0]) >= _STDERR_TAIL:
            size -= len(tail.popleft())


async def _keepalive(run: _Run, interval: float) -> None:
    while not run.ended:
        await trio.sleep_until(run.last_sent + interval)
        if trio.current_time() >= run.last_sent + interval:
            await run.emit(Keepalive())


async def _progress(run: _Run) -> None:
    for delay, mark in progress.marks():
        with trio.move_on_after(delay):
            await run.answer_started.wait()
        if run.answer_started.is_set():
            return
        await run.emit(Progress(mark))
