"""A small HTTP/1.1 server for stub model backends, with full control of the bytes.

Stubs must do what real backends do on a bad day: answer slowly, stop mid-stream, reset the
connection. A framework would hide exactly those; h11 over trio sockets does not. The server
runs either in the caller's trio nursery (:func:`serve_stub`) or in a thread of its own
(:class:`StubThread`) for synchronous tests and for servers that run as subprocesses.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections.abc import Callable, Iterable
from typing import Any

import attrs
import h11
import trio

__all__ = ["DROP", "Handler", "Recorded", "Response", "StubThread", "serve_stub"]

DROP = object()
"""A step that resets the connection (TCP RST) instead of sending more."""

Step = bytes | float | object
"""Bytes to send, seconds to wait, or :data:`DROP`."""


@attrs.frozen
class Recorded:
    """One request as the stub received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@attrs.frozen
class Response:
    status: int
    headers: tuple[tuple[str, str], ...] = ()
    steps: Iterable[Step] = ()
    """What to do after the status line, in order. Without a content-length, h11 chunks."""

    @classmethod
    def json(cls, status: int, body: object, headers: tuple[tuple[str, str], ...] = ()) -> Response:
        data = json.dumps(body).encode()
        return cls(
            status,
            (("content-type", "application/json"), ("content-length", str(len(data))), *headers),
            (data,),
        )


Handler = Callable[[Recorded], Response]


async def serve_stub(
    handler: Handler,
    records: list[Recorded],
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``handler`` on 127.0.0.1 at a free port, started with the port number."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]

    async def connection(stream: trio.SocketStream) -> None:
        await _connection(stream, handler, records)

    async with trio.open_nursery() as nursery:
        task_status.started(port)
        await trio.serve_listeners(connection, listeners, handler_nursery=nursery)


async def _connection(stream: trio.SocketStream, handler: Handler, records: list[Recorded]) -> None:
    conn = h11.Connection(h11.SERVER)
    try:
        while True:
            request = await _read_request(stream, conn)
            if request is None:
                return
            records.append(request)
            response = handler(request)
            if request.method == "HEAD":  # the headers a GET would have, and no body
                body = [step for step in response.steps if not isinstance(step, bytes)]
                response = attrs.evolve(response, steps=body)
            if not await _respond(stream, conn, response):
                return
            if conn.our_state is h11.MUST_CLOSE:
                return
            conn.start_next_cycle()
    except (trio.BrokenResourceError, trio.ClosedResourceError, h11.RemoteProtocolError):
        return
    finally:
        await stream.aclose()


async def _read_request(stream: trio.SocketStream, conn: h11.Connection) -> Recorded | None:
    head: h11.Request | None = None
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await stream.receive_some(65536)
            conn.receive_data(data)
            continue
        if isinstance(event, h11.Request):
            head = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            assert head is not None
            headers = {k.decode().lower(): v.decode() for k, v in head.headers}
            try:
                parsed: Any = json.loads(body) if body else None
            except ValueError:
                parsed = body.decode(errors="replace")
            return Recorded(head.method.decode(), head.target.decode(), headers, parsed)
        else:  # ConnectionClosed or PAUSED
            return None


async def _respond(stream: trio.SocketStream, conn: h11.Connection, response: Response) -> bool:
    """Send ``response``; False when the connection was dropped on purpose."""
    headers = [(k.encode(), v.encode()) for k, v in response.headers]
    await stream.send_all(conn.send(h11.Response(status_code=response.status, headers=headers)))
    for step in response.steps:
        if step is DROP:
            # SO_LINGER 0: close sends RST, which clients report as ECONNRESET.
            stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if isinstance(step, float):
            await trio.sleep(step)
        else:
            assert isinstance(step, bytes)
            await stream.send_all(conn.send(h11.Data(data=step)))
    await stream.send_all(conn.send(h11.EndOfMessage()))
    return True


class StubThread:
    """A stub server on its own thread and trio loop: for sync tests and subprocess servers."""

    def __init__(self, handler: Handler) -> None:
        self.records: list[Recorded] = []
        self._handler = handler
        self._ready = threading.Event()
        self._port = 0
        self._token: trio.lowlevel.TrioToken | None = None
        self._scope: trio.CancelScope | None = None
        self._thread = threading.Thread(target=trio.run, args=(self._main,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def __enter__(self) -> StubThread:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("stub server did not start")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._token is not None and self._scope is not None:
            trio.from_thread.run_sync(self._scope.cancel, trio_token=self._token)
        self._thread.join(10)

    def find(self, marker: str) -> list[Recorded]:
        """The recorded requests whose body mentions ``marker``."""
        return [r for r in list(self.records) if marker in json.dumps(r.body)]

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        with trio.CancelScope() as self._scope:
            async with trio.open_nursery() as nursery:
                self._port = await nursery.start(serve_stub, self._handler, self.records)
                self._ready.set()
