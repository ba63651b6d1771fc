"""A fake :class:`~cliwrap.runtime.backend.ProcessBackend`: scripted CLIs on trio's clock.

Each started process runs a *script*, an async function that plays the CLI through a
:class:`FakeCli` (print lines, read stdin, sleep, exit with a status). Everything happens on
trio's clock, so tests of the job, the WebSocket sessions and admission run under
``MockClock(autojump_threshold=0)``: a CLI that is silent for ten minutes costs nothing, and
no bound depends on how busy the machine is.

stdout is a lockstep pipe (a write waits until the job reads it), so backpressure reaches
the script as it reaches a real CLI through a full pipe. Signals are delivered as the kernel
would: a signal the script does not ignore ends it at once with ``-signum``; SIGKILL cannot
be ignored, except by a process made ``unkillable`` (one stuck in the kernel).
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import trio
import trio.lowlevel
import trio.testing

__all__ = ["FakeBackend", "FakeCli", "FakeProcess", "Script", "open_fake_backend"]

Script = Callable[["FakeCli"], Awaitable[int]]
"""Plays one CLI run; returns its exit status."""


class FakeCli:
    """The CLI's side of a fake process, as a script sees it."""

    def __init__(self, process: FakeProcess) -> None:
        self._process = process
        self.argv = process.argv
        self.env = process.env
        self.cwd = process.cwd
        self.ignored: set[int] = set()
        """Signals this CLI ignores (SIGTERM, say, for one that will not stop politely)."""

    async def print(self, line: str | bytes) -> None:
        """Write ``line`` and a newline to stdout; waits while the reader is behind."""
        data = line.encode() if isinstance(line, str) else line
        await self._process._stdout_in.send_all(data + b"\n")

    async def write(self, data: bytes) -> None:
        """Write raw bytes to stdout (no newline)."""
        await self._process._stdout_in.send_all(data)

    async def eprint(self, line: str) -> None:
        await self._process._stderr_in.send_all(line.encode() + b"\n")

    async def read_stdin(self) -> bytes:
        """Everything written to stdin until it is closed."""
        chunks = []
        while chunk := await self._process._stdin_out.receive_some():
            chunks.append(chunk)
        return b"".join(chunks)

    async def read_line(self) -> bytes:
        """One line from stdin (without its newline); empty at end of input."""
        buffer = self._process._stdin_buffer
        while b"\n" not in buffer:
            chunk = await self._process._stdin_out.receive_some()
            if not chunk:
                line = bytes(buffer)
                buffer.clear()
                return line
            buffer += chunk
        line, _, rest = bytes(buffer).partition(b"\n")
        buffer[:] = rest
        return line


class FakeProcess:
    """One fake CLI process (see :class:`~cliwrap.runtime.backend.GroupProcess`)."""

    def __init__(
        self, pid: int, argv: Sequence[str], env: Mapping[str, str], cwd: Path, unkillable: bool
    ) -> None:
        self.pid = pid
        self.argv = tuple(argv)
        self.env = dict(env)
        self.cwd = cwd
        self.unkillable = unkillable
        self.returncode: int | None = None
        self.signals: list[int] = []
        """Every signal sent to the group, in order."""
        self.stdin, self._stdin_out = trio.testing.memory_stream_one_way_pair()
        self._stdin_buffer = bytearray()
        self._stdout_in, self.stdout = trio.testing.lockstep_stream_one_way_pair()
        self._stderr_in, self.stderr = trio.testing.memory_stream_one_way_pair()
        self._scope = trio.CancelScope()
        self._exited = trio.Event()
        self.cli = FakeCli(self)

    @property
    def alive(self) -> bool:
        return not self._exited.is_set()

    async def wait(self) -> int:
        await self._exited.wait()
        assert self.returncode is not None
        return self.returncode

    def signal_group(self, signum: int) -> None:
        if not self.alive:
            return
        self.signals.append(signum)
        if signum == signal.SIGKILL and self.unkillable:
            return
        if signum != signal.SIGKILL and signum in self.cli.ignored:
            return
        self._end(-signum)

    async def _run(self, script: Script) -> None:
        with self._scope:
            code = await script(self.cli)
            if self.returncode is None:
                self._end(code)  # it exited by itself
        if self.unkillable:
            await trio.sleep_forever()

    def _end(self, code: int) -> None:
        if self.unkillable:
            self._scope.cancel()
            return
        self.returncode = code
        self._scope.cancel()
        # trio's in-memory streams close synchronously too (EOF for the reader).
        cast(Any, self._stdout_in).close()
        cast(Any, self._stderr_in).close()
        self._exited.set()


class FakeBackend:
    """Starts :class:`FakeProcess` es that each run ``script`` (which may read ``cli.argv``)."""

    def __init__(self, nursery: trio.Nursery, script: Script) -> None:
        self._nursery = nursery
        self.script = script
        self.started: list[FakeProcess] = []
        self.fail_next: OSError | None = None
        """Set to make the next start fail as exec would (not executable, say)."""
        self.unkillable_next = False
        """Set to make the next process one that even SIGKILL cannot end."""
        self._new_start = trio.Event()

    @property
    def live(self) -> list[FakeProcess]:
        """Processes not yet ended: after a run is over, this must be empty."""
        return [p for p in self.started if p.alive]

    async def start(self, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path) -> FakeProcess:
        await trio.lowlevel.checkpoint()
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        process = FakeProcess(10_000 + len(self.started), argv, env, cwd, self.unkillable_next)
        self.unkillable_next = False
        self.started.append(process)
        self._nursery.start_soon(process._run, self.script)
        self._new_start.set()
        self._new_start = trio.Event()
        return process

    async def wait_started(self, count: int = 1) -> list[FakeProcess]:
        """Wait until ``count`` processes have been started in all; those processes."""
        while len(self.started) < count:
            await self._new_start.wait()
        return self.started[:count]


@asynccontextmanager
async def open_fake_backend(script: Script) -> AsyncIterator[FakeBackend]:
    """A fake backend whose processes run ``script`` in a nursery of their own, ended (and
    any process still running with it) when the block ends."""
    async with trio.open_nursery() as nursery:
        yield FakeBackend(nursery, script)
        nursery.cancel_scope.cancel()
