"""The WebSocket endpoint's I/O: one nursery per connection, one task per request in it.

Each ``request`` frame starts a task in the connection's nursery that runs the request as a
job (the same supervision an HTTP request gets) and sends its frames; each task has its own
cancel scope, which a ``cancel`` frame cancels, so that one run stops (its CLI's group is
signalled and reaped) while the others go on. When the socket closes, Quart cancels this
handler, the cancellation unwinds through the nursery, and every run on the connection ends
the same way. Frames are written by one task at a time (a lock), whole.

When the server drains, the connection stays open while its runs finish (or are stopped
with an error frame once the grace is over, as an HTTP stream would be), new requests get a
503 error frame, and then the server closes the socket with 1001 (going away), so an idle
connection never holds a shutdown up.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

import trio

from ..core.errors import ApiError, ErrorKind
from ..core.request import ChatRequest
from ..runtime.job import JobPlan, Runtime, open_job
from ..surfaces.openai_chat import parse_chat_request
from ..surfaces.websocket_frames import (
    AuthFrame,
    CancelFrame,
    FrameError,
    RequestFrame,
    error_frame,
    event_frames,
    parse_frame,
)

__all__ = ["serve_websocket"]

log = logging.getLogger(__name__)

POLICY_VIOLATION = 1008
GOING_AWAY = 1001


class _Service(Protocol):
    @property
    def runtime(self) -> Runtime: ...

    async def prepare(self, chat: ChatRequest) -> list[JobPlan]: ...

    def key_error(self, given: str | None) -> ApiError | None: ...


class _Socket(Protocol):
    async def accept(self) -> None: ...

    async def receive(self) -> str | bytes: ...

    async def send(self, data: str) -> None: ...

    async def close(self, code: int, reason: str = "") -> None: ...


async def serve_websocket(service: _Service, socket: _Socket, header_key: str | None) -> None:
    """Serve one connection until the client closes it."""
    await socket.accept()
    session = _Session(service, socket)
    await session.serve(authenticated=service.key_error(header_key) is None)


class _Session:
    def __init__(self, service: _Service, socket: _Socket) -> None:
        self._service = service
        self._socket = socket
        self._lock = trio.Lock()
        self._runs: dict[str, trio.CancelScope] = {}
        self._quiet = trio.Event()  # set when the last run in progress ends

    async def send(self, frame: dict[str, Any]) -> None:
        async with self._lock:
            await self._socket.send(json.dumps(frame, ensure_ascii=False))

    async def serve(self, *, authenticated: bool) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._leave_when_drained, nursery.cancel_scope)
            while True:
                data = await self._socket.receive()
                try:
                    frame = parse_frame(data)
                except FrameError as bad:
                    await self.send(error_frame(bad.id, bad.error))
                    continue
                if not authenticated:
                    error = self._service.key_error(
                        frame.api_key if isinstance(frame, AuthFrame) else None
                    )
                    if error is not None:
                        await self.send(error_frame(None, error))
                        await self._socket.close(POLICY_VIOLATION, "authentication failed")
                        nursery.cancel_scope.cancel()
                        return
                    authenticated = True
                    await self.send({"type": "authenticated"})
                elif isinstance(frame, AuthFrame):
                    await self.send({"type": "authenticated"})
                elif isinstance(frame, CancelFrame):
                    scope = self._runs.get(frame.id)
                    if scope is not None:
                        scope.cancel()
                elif frame.id in self._runs:
                    await self.send(_duplicate(frame.id))
                else:
                    self._runs[frame.id] = trio.CancelScope()
                    nursery.start_soon(self._run, frame)

    async def _run(self, frame: RequestFrame) -> None:
        ended = False
        try:
            with self._runs[frame.id]:
                ended = await self._answer(frame)
            if not ended:
                # Cancelled: open_job has reaped the CLI before returning.
                await self.send({"type": "done", "id": frame.id, "finish_reason": "cancelled"})
        finally:
            del self._runs[frame.id]
            if not self._runs:
                self._quiet.set()

    async def _answer(self, frame: RequestFrame) -> bool:
        """Run the request, sending its frames; true once its last frame is sent."""
        try:
            chat = parse_chat_request(frame.body)
            if chat.n > 1:
                raise ApiError(
                    ErrorKind.INVALID_REQUEST,
                    "On the WebSocket, n must be 1: send several requests instead.",
                    param="n",
                )
            (plan,) = await self._service.prepare(chat)
        except ApiError as error:
            await self.send(error_frame(frame.id, error))
            return True
        await self.send({"type": "start", "id": frame.id, "model": chat.model})
        async with open_job(self._service.runtime, plan) as events:
            async for event in events:
                for out in event_frames(frame.id, event):
                    await self.send(out)
        return True  # a job's last event is always Finished or Failed

    async def _leave_when_drained(self, connection: trio.CancelScope) -> None:
        await self._service.runtime.draining.wait()
        while self._runs:
            self._quiet = trio.Event()
            await self._quiet.wait()
        await self._socket.close(GOING_AWAY, "server shutting down")
        connection.cancel()


def _duplicate(id_: str) -> dict[str, Any]:
    error = ApiError(ErrorKind.INVALID_REQUEST, f"A request with id {id_!r} is already running.")
    return error_frame(id_, error)
