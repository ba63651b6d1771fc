"""The seam under every CLI process: start one in its own group, talk to it, signal, reap.

The runtime never calls the operating system for a CLI directly; it talks to a
:class:`ProcessBackend`, as httpcore's connection logic talks to a network backend. The
POSIX backend here is the only production implementation. ``cliwrap.testing`` has a fake one
that plays scripted CLIs on trio's clock, so that every phase of a run (spawn, output,
silence, a CLI that ignores SIGTERM, one that never dies) can be driven under
``MockClock(autojump_threshold=0)``, with no real process and no real sleep.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import attrs
import trio

from .groups import kill_group

__all__ = ["GroupProcess", "PosixBackend", "PosixProcess", "ProcessBackend"]


class GroupProcess(Protocol):
    """One started CLI: the leader of a process group of its own, with piped stdio."""

    @property
    def pid(self) -> int:
        """The leader's process id, which is also its group's id."""
        ...

    @property
    def returncode(self) -> int | None:
        """The leader's exit status once it has been reaped, else None."""
        ...

    @property
    def stdin(self) -> trio.abc.SendStream: ...

    @property
    def stdout(self) -> trio.abc.ReceiveStream: ...

    @property
    def stderr(self) -> trio.abc.ReceiveStream: ...

    async def wait(self) -> int:
        """Wait for the leader to exit and reap it; its exit status."""
        ...

    def signal_group(self, signum: int) -> None:
        """Send ``signum`` to every process in the group; nothing happens if none is left."""
        ...


class ProcessBackend(Protocol):
    """Starts CLI processes, each as the leader of a new process group."""

    async def start(
        self, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path
    ) -> GroupProcess: ...


@attrs.frozen
class PosixProcess:
    """A :class:`trio.Process` that leads its own session (and so its own group)."""

    process: trio.Process

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    @property
    def stdin(self) -> trio.abc.SendStream:
        assert self.process.stdin is not None
        return self.process.stdin

    @property
    def stdout(self) -> trio.abc.ReceiveStream:
        assert self.process.stdout is not None
        return self.process.stdout

    @property
    def stderr(self) -> trio.abc.ReceiveStream:
        assert self.process.stderr is not None
        return self.process.stderr

    async def wait(self) -> int:
        return await self.process.wait()

    def signal_group(self, signum: int) -> None:
        kill_group(self.pid, signum)


class PosixBackend:
    """Real processes: ``start_new_session`` makes each CLI the leader of a new group."""

    async def start(
        self, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path
    ) -> PosixProcess:
        process = await trio.lowlevel.open_process(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
        return PosixProcess(process)
