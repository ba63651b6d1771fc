"""CLI processes: each in its own process group, always signalled as a group, always reaped.

A CLI may start children (node workers, shells, MCP servers); signalling only the CLI would
orphan them. So every CLI leads a new session, and every signal goes to the whole group:
the polite one first (SIGTERM, or SIGINT for CLIs that only clean up on it), SIGKILL after a
grace period, and SIGKILL again for anything left once the leader is reaped.

Every group is recorded in the :class:`~cliwrap.runtime.ledger.Ledger` while it lives.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import trio

from .groups import kill_group
from .ledger import Ledger

__all__ = ["run_in_group"]

log = logging.getLogger(__name__)


async def run_in_group(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    stdin: bytes | None,
    ledger: Ledger,
    stop_signal: int = signal.SIGTERM,
    kill_grace: float = 2.0,
    task_status: trio.TaskStatus[trio.Process] = trio.TASK_STATUS_IGNORED,
) -> int:
    """Run ``argv`` as the leader of a new process group; return its exit status.

    Started with the :class:`trio.Process` (for its stdout and stderr). ``stdin`` is written
    and closed; None leaves the pipe open to the caller, who talks to the CLI through it.
    However this task ends, normally or cancelled, the group is signalled and the leader
    reaped before it returns, shielded from cancellation.
    """
    process = await trio.lowlevel.open_process(
        list(argv),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env),
        cwd=cwd,
        start_new_session=True,
    )
    ledger.add(process.pid, cwd)
    try:
        async with trio.open_nursery() as nursery:
            if stdin is not None:
                nursery.start_soon(_feed, process, stdin)
            task_status.started(process)
            return await process.wait()
    finally:
        with trio.CancelScope(shield=True):
            if process.returncode is None:
                await _stop(process, stop_signal, kill_grace)
            kill_group(process.pid)  # whatever the leader left behind
            ledger.remove(process.pid)


async def _feed(process: trio.Process, data: bytes) -> None:
    assert process.stdin is not None
    async with process.stdin:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await process.stdin.send_all(data)


async def _stop(process: trio.Process, stop_signal: int, grace: float) -> None:
    log.debug("pid %d: stopping its group with signal %d", process.pid, stop_signal)
    kill_group(process.pid, stop_signal)
    sent = trio.current_time()
    with trio.move_on_after(grace):
        await process.wait()
        log.debug(
            "pid %d exited %.1f ms after signal %d",
            process.pid,
            (trio.current_time() - sent) * 1000,
            stop_signal,
        )
        return
    log.warning(
        "pid %d ignored signal %d for %.1fs; killing its group", process.pid, stop_signal, grace
    )
    kill_group(process.pid)
    await process.wait()
