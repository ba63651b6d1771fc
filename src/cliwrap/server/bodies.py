"""A Quart response body that *is* the job: Quart's send loop runs inside the job's nursery.

Quart enters a response body with ``async with`` and then iterates it to send each piece.
Entering this body opens the job (:func:`~cliwrap.runtime.job.open_job`) and leaving it
closes the job, so whatever ends the response (the last byte, a client disconnect that
cancels the request, a server shutdown) ends the CLI's process group before the response is
done. No task outlives its request, and nothing yields from inside a nursery: the nursery is
held open by ``__aenter__``/``__aexit__``, not by a generator.

The status line waits for the run: :class:`JobConnection` sends it only once the body has
something to say (the CLI's first event, or the first keepalive, so that a proxy never sees a
silent connection). A run refused or failed before that is answered with its real status and
headers (429 with ``Retry-After``, 401, 504…) instead of a 200 with an error inside.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar, cast

import attrs
import trio
from quart.wrappers.response import ResponseBody
from quart_trio.asgi import TrioASGIHTTPConnection

from ..core.errors import ApiError, error_leaves
from ..runtime.job import RunStream

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = [
    "Collector",
    "ErrorReply",
    "FallbackState",
    "JobBody",
    "JobConnection",
    "StreamEncoder",
]

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)

ErrorReply = tuple[int, dict[str, str], bytes]
"""A whole error response: status, headers and body, in the surface's own shape."""


class StreamEncoder(Protocol[T_contra]):
    """A surface's sans-IO encoder: events (or indexed events, for ``n`` > 1) in, bytes out;
    the run's outcome is one more event to encode."""

    def start(self) -> bytes: ...

    def encode(self, event: T_contra) -> bytes: ...


class Collector(Protocol[T_contra]):
    """A surface's sans-IO gatherer for a non-streaming answer: events in, one body out."""

    def add(self, event: T_contra) -> None: ...

    def body(self) -> dict[str, Any]:
        """The answer's body; raises the run's :class:`ApiError` if it failed."""
        ...


NextAttempt = Callable[
    [ApiError, str],
    Awaitable[tuple[Callable[[], Any], Any, dict[str, str], str] | None],
]
"""Given a failure before the first byte and the model that failed: the next model's
opener, encoder, response headers and name, or None (no fallback: answer the failure)."""


@attrs.define
class FallbackState:
    """A stream's ``fallback_model`` chain: the model now tried, and how to get the next."""

    model: str
    next_attempt: NextAttempt


class JobBody(ResponseBody, Generic[T]):
    """The response body of a job (:func:`~cliwrap.runtime.job.open_job`), or of several
    (:func:`~cliwrap.runtime.fanout.open_jobs`): ``open_stream`` opens it, ``encoder``
    writes it, ``error_reply`` answers a run that fails before its first byte."""

    def __init__(
        self,
        open_stream: Callable[[], AbstractAsyncContextManager[RunStream[T]]],
        encoder: StreamEncoder[T],
        error_reply: Callable[[ApiError], ErrorReply],
        settled: Callable[[ApiError | None], None] | None = None,
    ) -> None:
        self._open_stream = open_stream
        self._settled = settled
        self._encoder = encoder
        self.error_reply = error_reply
        self._job: AbstractAsyncContextManager[RunStream[T]] | None = None
        self._stream: RunStream[T] | None = None
        self._ended = False
        self.fallback: FallbackState | None = None
        self.headers: dict[str, str] = {}
        """Headers learnt while opening (a fallback's), for the status line."""

    async def __aenter__(self) -> JobBody[T]:
        self._job = self._open_stream()
        self._stream = await self._job.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._job is None:  # a fallback's run was refused before it opened
            return
        try:
            await self._job.__aexit__(exc_type, exc_value, tb)
        except BaseExceptionGroup as group:
            # Handlers above us should see one error, as trio-websocket does it.
            leaves = error_leaves(group)
            if len(leaves) == 1:
                raise leaves[0] from None
            raise

    async def opening(self) -> bytes | ApiError:
        """What commits the response: the first bytes of the stream, or, when the run failed
        before saying anything, its error (to be answered with its own status)."""
        assert self._stream is not None
        while True:
            try:
                first = await self._stream.updates.receive()
            except trio.EndOfChannel:
                failure = self._stream.failure
                if failure is not None and await self._fall_back(failure):
                    continue
                if failure is not None:
                    if self._settled is not None:
                        self._settled(failure)
                    return failure
                return self._encoder.start() + self._end()
            return self._encoder.start() + self._encoder.encode(first)

    async def _fall_back(self, failure: ApiError) -> bool:
        """Close the failed run and open the next model's, if there is one: nothing has
        reached the client yet."""
        if self.fallback is None:
            return False
        following = await self.fallback.next_attempt(failure, self.fallback.model)
        if following is None:
            return False
        opener, encoder, headers, model = following
        assert self._job is not None
        job, self._job, self._stream = self._job, None, None
        await job.__aexit__(None, None, None)
        new = opener()
        self._stream = await new.__aenter__()
        self._job = new
        self._encoder = encoder
        self.headers = headers
        self.fallback = attrs.evolve(self.fallback, model=model)
        return True

    def __aiter__(self) -> JobBody[T]:
        return self

    async def __anext__(self) -> bytes:
        assert self._stream is not None
        while not self._ended:
            try:
                event = await self._stream.updates.receive()
            except trio.EndOfChannel:
                return self._end()
            data = self._encoder.encode(event)
            if data:
                return data
        raise StopAsyncIteration

    def _end(self) -> bytes:
        """The outcome, rendered: the run and its CLIs are over."""
        assert self._stream is not None
        self._ended = True
        if self._settled is not None:
            self._settled(self._stream.failure)
        return self._encoder.encode(self._stream.outcome)


class JobConnection(TrioASGIHTTPConnection):
    """quart-trio's HTTP connection, sending a :class:`JobBody`'s status line only once the
    run has committed to an answer (see the module's docstring)."""

    async def _send_response(self, send: Any, response: Any) -> None:
        body = response.response
        if not isinstance(body, JobBody):
            await super()._send_response(send, response)
            return
        try:
            async with body as job:
                opening = await job.opening()
                if isinstance(opening, ApiError):
                    await _send_whole(send, response, body.error_reply(opening))
                    return
                headers = dict(response.headers.items())
                headers.update(job.headers)
                await send(_start(response.status_code, headers))
                await send(_chunk(opening))
                async for data in job:
                    await send(_chunk(data))
        except ApiError as refused:  # refused before the run began: a full queue
            await _send_whole(send, response, body.error_reply(refused))
            return
        await send(_chunk(b"", more=False))


_STREAM_ONLY = {"content-type", "cache-control", "x-accel-buffering", "content-length"}


async def _send_whole(send: Any, response: Any, reply: ErrorReply) -> None:
    status, headers, data = reply
    merged = {k: v for k, v in response.headers.items() if k.lower() not in _STREAM_ONLY}
    merged.update(headers)
    merged["Content-Type"] = "application/json"
    merged["Content-Length"] = str(len(data))
    await send(_start(status, merged))
    await send(_chunk(data, more=False))


def _start(status: int, headers: Any) -> dict[str, Any]:
    pairs = [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in headers.items()]
    return {"type": "http.response.start", "status": status, "headers": pairs}


def _chunk(data: bytes, *, more: bool = True) -> dict[str, Any]:
    return cast(dict[str, Any], {"type": "http.response.body", "body": data, "more_body": more})
