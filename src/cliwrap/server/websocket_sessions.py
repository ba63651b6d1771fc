"""The WebSocket endpoint's I/O: one nursery per connection, one task per request in it.

Each ``request`` frame starts a task in the connection's nursery that runs the request as a
job (the same supervision an HTTP request gets) and sends its frames; each task has its own
cancel scope, which a ``cancel`` frame cancels, so that one run stops (its CLI's group is
signalled and reaped) while the others go on. When the socket closes, Quart cancels this
handler, the cancellation unwinds through the nursery, and every run on the connection ends
the same way. Frames are written by one task at a time (a lock), whole.

With a :class:`Tracking`, each run is also in the server's runs registry (``/v1/requests``)
as ``<connection's request id>:<frame id>``; cancelling it there ends it with an error frame
``request_cancelled``, where a ``cancel`` frame ends it with ``done`` / ``cancelled``.

Every request id gets exactly one last frame, ``done`` or ``error``, and only once its run's
outcome is known, that is, once its CLI is reaped; from that moment the id is free for a new
request. A frame the server cannot use gets an error frame naming its own id (or null) and
touches nothing else on the socket. Before a client has authenticated, only a small ``auth``
frame is read at all, and a socket that does not authenticate in time is closed.

When the server drains, the connection stays open while its runs finish (or are stopped
with an error frame once the grace is over, as an HTTP stream would be), new requests get a
503 error frame, and then the server closes the socket with 1001 (going away), so an idle
connection never holds a shutdown up.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
from functools import partial
from typing import Any, Protocol

import attrs
import trio

from ..access.limiter import LimitedKey, Limiter
from ..core.errors import ApiError, ErrorKind
from ..core.events import Event, Failed, Finished
from ..core.request import ChatRequest
from ..runtime.job import JobPlan, Runtime, open_job
from ..runtime.runs import LiveRun, Runs
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
from .access_log import sane_id
from .live_requests import tracked

__all__ = ["AUTH_FRAME_LIMIT", "AUTH_TIMEOUT", "Tracking", "serve_websocket"]

log = logging.getLogger(__name__)

POLICY_VIOLATION = 1008
GOING_AWAY = 1001
AUTH_TIMEOUT = 10.0
"""Seconds an unauthenticated socket has to send its ``auth`` frame."""
AUTH_FRAME_LIMIT = 4096
"""Bytes an unauthenticated client may send in one frame: enough for an ``auth`` frame."""


class _Service(Protocol):
    @property
    def runtime(self) -> Runtime: ...

    async def prepare(self, chat: ChatRequest, key: str | None = None) -> list[JobPlan]: ...

    async def key_error(self, given: str | None) -> ApiError | None: ...

    @property
    def limiter(self) -> Limiter: ...

    def limited_key(self, given: str | None) -> LimitedKey | None: ...


class _Socket(Protocol):
    async def accept(self) -> None: ...

    async def receive(self) -> str | bytes: ...

    async def send(self, data: str) -> None: ...

    async def close(self, code: int, reason: str = "") -> None: ...


@attrs.frozen
class Tracking:
    """Where a connection's runs are registered (``/v1/requests``): the registry, the
    connection's own request id (a run's id is ``<connection id>:<frame id>``) and the
    client's address."""

    runs: Runs
    connection_id: str
    client: str = ""


async def serve_websocket(
    service: _Service,
    socket: _Socket,
    header_key: str | None,
    max_frame_bytes: int,
    tracking: Tracking | None = None,
    *,
    address: str | None = None,
) -> None:
    """Serve one connection from ``address`` until the client closes it."""
    await socket.accept()
    session = _Session(service, socket, max_frame_bytes, tracking)
    session.address = address
    session.key = header_key
    if await service.key_error(header_key) is not None and not await session.authenticate():
        return
    await session.serve()


class _Session:
    def __init__(
        self,
        service: _Service,
        socket: _Socket,
        max_frame_bytes: int,
        tracking: Tracking | None = None,
    ) -> None:
        self._service = service
        self._tracking = tracking
        self._serial = itertools.count(1)
        self._socket = socket
        self._max_frame_bytes = max_frame_bytes
        self._lock = trio.Lock()
        self._runs: dict[str, trio.CancelScope] = {}
        self._active = 0
        """Runs whose last frame has not gone out yet (a drain waits for them)."""
        self._quiet = trio.Event()  # set when the last of them has sent its last frame
        self.key: str | None = None
        """The API key the client presented: the conversations it may continue are its."""
        self.address: str | None = None
        """The client's address, for the rate limits: each request counts as a chat."""

    async def send(self, frame: dict[str, Any]) -> None:
        async with self._lock:
            await self._socket.send(json.dumps(frame, ensure_ascii=False))

    async def authenticate(self) -> bool:
        """Wait for a valid ``auth`` frame; close the socket (1008) on anything else."""
        error = ApiError(ErrorKind.AUTHENTICATION, f"No auth frame within {AUTH_TIMEOUT:g} s.")
        with trio.move_on_after(AUTH_TIMEOUT):
            data = await self._socket.receive()
            frame = None
            if len(data) <= AUTH_FRAME_LIMIT:  # nothing bigger is even parsed
                with contextlib.suppress(FrameError, RecursionError, ValueError, TypeError):
                    frame = parse_frame(data)
            error = ApiError(ErrorKind.AUTHENTICATION, "Authenticate first: send an auth frame.")
            if isinstance(frame, AuthFrame):
                refused = await self._service.key_error(frame.api_key)
                if refused is None:
                    self.key = frame.api_key
                    await self.send({"type": "authenticated"})
                    return True
                error = refused
        await self.send(error_frame(None, error))
        await self._socket.close(POLICY_VIOLATION, "authentication failed")
        return False

    async def serve(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._leave_when_drained, nursery.cancel_scope)
            while True:
                data = await self._socket.receive()
                try:
                    frame = self._parse(data)
                except FrameError as bad:
                    await self.send(error_frame(bad.id, bad.error))
                    continue
                if isinstance(frame, AuthFrame):
                    await self.send({"type": "authenticated"})
                elif isinstance(frame, CancelFrame):
                    scope = self._runs.get(frame.id)
                    if scope is not None:
                        scope.cancel()
                elif frame.id in self._runs:
                    error = ApiError(
                        ErrorKind.INVALID_REQUEST,
                        f"A request with id {frame.id!r} is already running.",
                    )
                    await self.send(error_frame(frame.id, error))
                else:
                    self._runs[frame.id] = trio.CancelScope()
                    self._active += 1
                    nursery.start_soon(self._run, frame)

    def _parse(self, data: str | bytes) -> RequestFrame | CancelFrame | AuthFrame:
        if len(data) > self._max_frame_bytes:
            raise FrameError(
                ApiError(
                    ErrorKind.REQUEST_TOO_LARGE,
                    f"A frame is limited to {self._max_frame_bytes} bytes.",
                )
            )
        try:
            return parse_frame(data)
        except FrameError:
            raise
        except (RecursionError, ValueError, TypeError) as exc:  # deep nesting, bad text
            raise FrameError(
                ApiError(ErrorKind.INVALID_REQUEST, f"A frame must be a JSON object ({exc}).")
            ) from None

    async def _run(self, frame: RequestFrame) -> None:
        """Run one request; its last frame goes out once, after its outcome."""
        last: dict[str, Any] = {"type": "done", "id": frame.id, "finish_reason": "cancelled"}
        try:
            try:
                with self._runs[frame.id]:
                    last = await self._answer(frame)
            finally:
                # The run is over (its CLI reaped): the id is free from its last frame on.
                del self._runs[frame.id]
            await self.send(last)
        finally:
            self._active -= 1
            if not self._active:
                self._quiet.set()

    async def _answer(self, frame: RequestFrame) -> dict[str, Any]:
        """Run the request, sending its frames; the last frame, to be sent when it is over."""
        try:
            key = self._service.limited_key(self.key)
            await self._service.limiter.check("chat", self.address, key)
            chat = parse_chat_request(frame.body)
            if chat.n > 1:
                raise ApiError(
                    ErrorKind.INVALID_REQUEST,
                    "On the WebSocket, n must be 1: send several requests instead.",
                    param="n",
                )
            try:
                (plan,) = await self._service.prepare(chat, self.key)
            except ApiError as refused:
                if self._tracking is not None:
                    self._admit(frame.id, chat).failed(refused)
                raise
            runtime = self._service.runtime
            job = (
                open_job(runtime, plan)
                if self._tracking is None
                else tracked(
                    partial(self._admit, frame.id, chat),
                    lambda live: open_job(runtime, attrs.evolve(plan, live=live)),
                    cancelled="cancelled",
                )
            )
            async with self._service.limiter.running(key), job as run:
                start = {"type": "start", "id": frame.id, "model": chat.model}
                if plan.conversation is not None:
                    start["session_id"] = plan.conversation
                await self.send(start)
                async for update in run.updates:
                    await self._send_update(frame.id, update)
                outcome = run.outcome
        except ApiError as error:
            return error_frame(frame.id, error)
        except Exception:
            log.exception("WebSocket request %r failed unexpectedly", frame.id)
            return error_frame(
                frame.id, ApiError(ErrorKind.INTERNAL, "cliwrap failed on this request.")
            )
        if isinstance(outcome, Failed):
            return error_frame(frame.id, outcome.error)
        assert isinstance(outcome, Finished)
        (done,) = event_frames(frame.id, outcome)
        return done

    def _admit(self, frame_id: str, chat: ChatRequest) -> LiveRun:
        """The registry's entry for the request ``frame_id`` on this connection."""
        assert self._tracking is not None
        tracking = self._tracking
        run_id = f"{tracking.connection_id}:{frame_id}"
        if not sane_id(run_id):  # the client's frame id is not fit for a URL or a log
            run_id = f"{tracking.connection_id}:{next(self._serial)}"
        return tracking.runs.admit(
            run_id,
            "websocket",
            tracking.runs.caller(self.key),
            client=tracking.client,
            model=chat.model,
            stream=True,
        )

    async def _send_update(self, id_: str, update: Event) -> None:
        for out in event_frames(id_, update):
            await self.send(out)

    async def _leave_when_drained(self, connection: trio.CancelScope) -> None:
        await self._service.runtime.draining.wait()
        while self._active:
            self._quiet = trio.Event()
            await self._quiet.wait()
        await self._socket.close(GOING_AWAY, "server shutting down")
        connection.cancel()
