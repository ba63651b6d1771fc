"""CLI processes: each in its own process group, always signalled as a group, always reaped.

A CLI may start children (node workers, shells, MCP servers); signalling only the CLI would
orphan them. So every CLI leads a new session, and every signal goes to the whole group:
the polite one first (SIGTERM, or SIGINT for CLIs that only clean up on it), SIGKILL after a
grace period, and SIGKILL again for anything left once the leader is reaped.

The ledger records each live group in the state directory, one file per group, so that a
server killed with SIGKILL can sweep its orphans at the next start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs
import trio

__all__ = ["WORKDIR_PREFIX", "Ledger", "group_members", "kill_group", "run_in_group"]

WORKDIR_PREFIX = "cliwrap-"
"""Every private directory cliwrap makes for a CLI starts with this."""

log = logging.getLogger(__name__)


@attrs.frozen
class Ledger:
    """Process groups this server started and has not yet reaped, as files in ``folder``.

    A file per group (named by its id, holding the leader's boot id and start time, and the
    run's private directory) makes adding and removing atomic without locks, lets the sweep
    tell our group from an unrelated process that later received the same id, and lets it
    remove the directory a killed server could not.
    """

    folder: Path

    def add(self, pgid: int, workdir: Path | None = None) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        entry = f"{_identity(pgid) or ''}\n{workdir or ''}\n"
        (self.folder / str(pgid)).write_text(entry, encoding="utf-8")

    def remove(self, pgid: int) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.folder / str(pgid)).unlink()

    def sweep(self, grace: float = 2.0) -> list[int]:
        """Stop the groups a previous server left behind; return their ids.

        Blocking (it runs once, before serving). Like a live run's stop: SIGTERM first, so a
        CLI can remove its own per-process files, then SIGKILL for what is left after
        ``grace`` seconds.
        """
        ours = []
        leftovers: list[Path] = []
        for entry in self.folder.glob("*") if self.folder.is_dir() else ():
            if not entry.name.isdigit():
                continue
            pgid = int(entry.name)
            recorded, _, workdir = entry.read_text(encoding="utf-8").partition("\n")
            current = _identity(pgid)
            leader_is_ours = current is not None and current == recorded
            # While any process is in the group, the kernel won't reuse its id for a new
            # group, so members of a group whose leader is gone are still ours.
            orphans_only = current is None and bool(group_members(pgid))
            if leader_is_ours or orphans_only:
                kill_group(pgid, signal.SIGTERM)
                ours.append(pgid)
            if workdir.strip():
                leftovers.append(Path(workdir.strip()))
            entry.unlink()
        deadline = time.monotonic() + grace
        while any(group_members(g) for g in ours) and time.monotonic() < deadline:
            time.sleep(0.01)
        for pgid in ours:
            kill_group(pgid)
        for folder in leftovers:
            if folder.name.startswith(WORKDIR_PREFIX):  # never anything we did not make
                shutil.rmtree(folder, ignore_errors=True)
        return ours


def _identity(pid: int) -> str | None:
    """Boot id and start time of ``pid``: unique across reboots and pid reuse."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return f"{boot} {fields[19]}"  # field 22 of stat: start time in clock ticks after boot


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in group ``pgid``, read from /proc.

    Zombies are left out: they run nothing, and where PID 1 does not reap orphans (some
    containers) they linger after being killed.
    """
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="ascii").rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


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
