"""CLI processes: each in its own process group, always signalled as a group, always reaped.

A CLI may start children (node workers, shells, MCP servers); signalling only the CLI would
orphan them. So every CLI leads a new group (see :mod:`~cliwrap.runtime.backend`), and every
signal goes to the whole group: the polite one first (SIGTERM, or SIGINT for CLIs that only
clean up on it), SIGKILL after a grace period, and SIGKILL again for anything left once the
leader is reaped. Every group is recorded in the :class:`~cliwrap.runtime.ledger.Ledger`
while it lives.

A process that will not die even after SIGKILL (stuck in the kernel, say) cannot hold a
request or the shutdown forever: the wait after SIGKILL is bounded, the failure is logged, and
its ledger entry stays, so the next start's sweep tries again.
"""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import trio

from .backend import GroupProcess, ProcessBackend
from .ledger import Ledger

__all__ = ["KILL_WAIT", "ProcessWatch", "run_in_group"]

log = logging.getLogger(__name__)

KILL_WAIT = 5.0
"""How long to wait for a leader to be reaped after SIGKILL before giving up on it."""

ProcessWatch = Callable[[], Callable[[], None]]
"""Told that a process started; returns what to call once it has ended (reaped, or given
up on). A plain callback, so that whoever counts processes (the metrics) is no dependency of
the runtime."""


async def run_in_group(
    backend: ProcessBackend,
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    stdin: bytes | None,
    ledger: Ledger,
    stop_signal: int = signal.SIGTERM,
    kill_grace: float = 2.0,
    watch: ProcessWatch | None = None,
    task_status: trio.TaskStatus[GroupProcess] = trio.TASK_STATUS_IGNORED,
) -> int | None:
    """Run ``argv`` as the leader of a new process group; its exit status (None if it could
    not be reaped).

    ``task_status.started`` hands the caller the process (for its stdout and stderr).
    ``stdin`` is written and closed; None leaves the pipe open to the caller, who talks to
    the CLI through it. However this task ends, normally or cancelled, the group is
    signalled and the leader reaped before it returns, shielded from cancellation.
    ``watch`` is told when the process has started and when it has ended.
    """
    process = await backend.start(argv, env=env, cwd=cwd)
    ended: Callable[[], None] | None = None
    reaped = False
    try:
        if watch is not None:
            ended = watch()
        # Inside the try: if the ledger cannot be written (a full or read-only state
        # directory), the CLI is still stopped and reaped.
        ledger.add(process.pid, cwd)
        async with trio.open_nursery() as nursery:
            if stdin is not None:
                nursery.start_soon(_feed, process, stdin)
            task_status.started(process)
            returncode = await process.wait()
            reaped = True
            return returncode
    finally:
        with trio.CancelScope(shield=True):
            if process.returncode is None:
                reaped = await _stop(process, stop_signal, kill_grace)
            else:
                reaped = True
            process.signal_group(signal.SIGKILL)  # whatever the leader left behind
            if reaped:
                with contextlib.suppress(OSError):
                    ledger.remove(process.pid)
            if ended is not None:
                ended()


async def _feed(process: GroupProcess, data: bytes) -> None:
    async with process.stdin:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await process.stdin.send_all(data)


async def _stop(process: GroupProcess, stop_signal: int, grace: float) -> bool:
    """Stop ``process``'s group: the polite signal, then SIGKILL; true once it is reaped."""
    log.debug("pid %d: stopping its group with signal %d", process.pid, stop_signal)
    process.signal_group(stop_signal)
    sent = trio.current_time()
    with trio.move_on_after(grace):
        await process.wait()
        log.debug(
            "pid %d exited %.1f ms after signal %d",
            process.pid,
            (trio.current_time() - sent) * 1000,
            stop_signal,
        )
        return True
    log.warning(
        "pid %d ignored signal %d for %.1fs; killing its group", process.pid, stop_signal, grace
    )
    process.signal_group(signal.SIGKILL)
    with trio.move_on_after(KILL_WAIT):
        await process.wait()
        return True
    log.error(
        "pid %d survived SIGKILL for %.1fs; giving up on it (its ledger entry stays)",
        process.pid,
        KILL_WAIT,
    )
    return False
