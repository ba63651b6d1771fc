"""Huge JSON documents decoded by a worker process the server owns, so the loop keeps serving.

A worker *thread* is not enough: CPython's ``json.loads`` holds the GIL for the whole document
(about 100 ms for 30 MiB), and the event loop waits for the GIL meanwhile. In a worker process
only the unpickling of the result holds it (a seventh of that). The document travels through a
temporary file, since pushing 30 MiB through a pipe costs the parent as much as decoding.

The worker is owned like a CLI: started through the runtime's
:class:`~cliwrap.runtime.backend.ProcessBackend` as the leader of its own group, recorded in a
ledger while it lives, stopped and reaped by :meth:`Decoders.run`'s nursery when the server
stops, and it exits by itself when its stdin ends (its server is gone, however it went). It
starts at the first huge document, not before. Without it (no server around it, or a worker
that broke), :meth:`Decoders.reply` says None and the caller decodes in a thread as before.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

import trio

from .backend import GroupProcess, ProcessBackend
from .decode_worker import HEADER
from .ledger import Ledger
from .processes import run_in_group

__all__ = ["Decoders"]

log = logging.getLogger(__name__)

_START_TIMEOUT = 10.0


class Decoders:
    """The server's decoder worker, once :meth:`run` has started it."""

    def __init__(self, backend: ProcessBackend, ledger: Ledger, kill_grace: float) -> None:
        self._backend = backend
        self._ledger = ledger
        self._kill_grace = kill_grace
        self._serving = False
        self._needed = trio.Event()
        self._ready = trio.Event()
        self._process: GroupProcess | None = None
        self._lock = trio.Lock()
        self._broken = False

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Own the worker for as long as this task runs (the server's life)."""
        self._serving = True
        task_status.started()
        try:
            await self._needed.wait()
            argv = (sys.executable, "-m", "cliwrap.runtime.decode_worker")
            async with trio.open_nursery() as nursery:
                self._process = await nursery.start(
                    partial(
                        run_in_group,
                        self._backend,
                        argv,
                        env=dict(os.environ),
                        cwd=Path(tempfile.gettempdir()),
                        stdin=None,
                        ledger=self._ledger,
                        kill_grace=self._kill_grace,
                    )
                )
                nursery.start_soon(_discard, self._process.stderr)
                self._ready.set()
        except OSError as error:
            log.warning("cannot start the JSON decoder (%s); decoding in threads", error)
        finally:
            self._broken = True
            self._ready.set()

    async def reply(self, kind: str, document: bytes) -> tuple[Any, ...] | None:
        """The worker's reply for ``document`` (see :mod:`.decode_worker`), or None if there
        is no working decoder (decode it in a thread instead)."""
        if not self._serving or self._broken:
            return None
        self._needed.set()
        with trio.move_on_after(_START_TIMEOUT):
            await self._ready.wait()
        if self._process is None or self._broken:
            return None
        path = Path(await trio.to_thread.run_sync(_stored, document))
        try:
            async with self._lock:
                try:
                    return await self._exchange(self._process, f"{kind} {path}\n".encode())
                except BaseException:
                    # A cut exchange leaves the pipe out of step: this worker is done.
                    self._broken = True
                    raise
        except (trio.BrokenResourceError, trio.ClosedResourceError, EOFError) as error:
            log.warning("the JSON decoder stopped (%s); decoding in threads", error)
            return None
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(partial(path.unlink, missing_ok=True))

    async def _exchange(self, process: GroupProcess, request: bytes) -> tuple[Any, ...]:
        await process.stdin.send_all(request)
        (size,) = HEADER.unpack(await _read_exactly(process.stdout, HEADER.size))
        reply: tuple[Any, ...] = pickle.loads(await _read_exactly(process.stdout, size))  # noqa: S301 (our own worker)
        return reply


def _stored(document: bytes) -> str:
    """A new temporary file holding ``document``, for the worker to read."""
    fd, name = tempfile.mkstemp(prefix="cliwrap-document-")
    with os.fdopen(fd, "wb") as file:
        file.write(document)
    return name


async def _read_exactly(stream: trio.abc.ReceiveStream, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = await stream.receive_some(min(size - len(data), 1 << 20))
        if not chunk:
            raise EOFError("the decoder's output ended")
        data += chunk
    return bytes(data)


async def _discard(stream: trio.abc.ReceiveStream) -> None:
    """Read the worker's stderr to its end, so it can never block writing to it."""
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        while await stream.receive_some(65536):
            pass
