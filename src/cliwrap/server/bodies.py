"""A Quart response body that *is* the job: Quart's send loop runs inside the job's nursery.

Quart enters a response body with ``async with`` and then iterates it to send each piece.
Entering this body opens the job (:func:`~cliwrap.runtime.job.open_job`) and leaving it closes the
job, so whatever ends the response (the last byte, a client disconnect that cancels the
request, a server shutdown) ends the CLI's process group before the response is done. No
task outlives its request, and nothing yields from inside a nursery: the nursery is held
open by ``__aenter__``/``__aexit__``, not by a generator.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

import trio
from quart.wrappers.response import ResponseBody

from ..core.errors import ApiError, ErrorKind, error_leaves

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["Collector", "JobBody", "StreamEncoder"]

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)


class StreamEncoder(Protocol[T_contra]):
    """A surface's sans-IO encoder: events (or indexed events, for ``n`` > 1) in, bytes out."""

    done: bool

    def start(self) -> bytes: ...

    def encode(self, event: T_contra) -> bytes: ...

    def fail(self, error: ApiError) -> bytes: ...


class Collector(Protocol[T_contra]):
    """A surface's sans-IO gatherer for a non-streaming answer: events in, one body out."""

    def add(self, event: T_contra) -> None: ...

    def body(self) -> dict[str, Any]:
        """The answer's body; raises the run's :class:`ApiError` if it failed."""
        ...


class JobBody(ResponseBody, Generic[T]):
    """The response body of a job (:func:`~cliwrap.runtime.job.open_job`), or of several
    (:func:`~cliwrap.runtime.job.open_jobs`): ``open_stream`` opens it, ``encoder`` writes it."""

    def __init__(
        self,
        open_stream: Callable[[], AbstractAsyncContextManager[trio.MemoryReceiveChannel[T]]],
        encoder: StreamEncoder[T],
    ) -> None:
        self._open_stream = open_stream
        self._encoder = encoder
        self._job: AbstractAsyncContextManager[trio.MemoryReceiveChannel[T]] | None = None
        self._events: trio.MemoryReceiveChannel[T] | None = None
        self._started = False

    async def __aenter__(self) -> JobBody[T]:
        self._job = self._open_stream()
        self._events = await self._job.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._job is not None
        try:
            await self._job.__aexit__(exc_type, exc_value, tb)
        except BaseExceptionGroup as group:
            # Handlers above us should see one error, as trio-websocket does it.
            leaves = error_leaves(group)
            if len(leaves) == 1:
                raise leaves[0] from None
            raise

    def __aiter__(self) -> JobBody[T]:
        return self

    async def __anext__(self) -> bytes:
        assert self._events is not None
        if not self._started:
            self._started = True
            return self._encoder.start()
        while True:
            try:
                event = await self._events.receive()
            except trio.EndOfChannel:
                # The job has ended and its CLI is reaped; only now does the response end.
                if not self._encoder.done:
                    return self._encoder.fail(
                        ApiError(ErrorKind.INTERNAL, "The run ended without an outcome.")
                    )
                raise StopAsyncIteration from None
            data = self._encoder.encode(event)
            if data:
                return data
