"""How many CLIs run at once, and how many requests may wait for one.

A CLI is a real process with real memory, so at most ``max_concurrent`` run; up to
``max_queue`` more requests wait in arrival order (trio's semaphore is fair); beyond that a
request is refused at once with 429 and a Retry-After, rather than left hanging.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from ..core.errors import ApiError, ErrorKind

__all__ = ["Gate"]

QUEUE_RETRY_AFTER = 2.0


class Gate:
    def __init__(self, max_concurrent: int, max_queue: int) -> None:
        self._slots = trio.Semaphore(max_concurrent)
        self._max_concurrent = max_concurrent
        self._max_queue = max_queue
        self.waiting = 0

    @property
    def running(self) -> int:
        return self._max_concurrent - self._slots.value

    def check(self) -> None:
        """Refuse now, before any response starts, if the request could not even queue."""
        if self._slots.value == 0 and self.waiting >= self._max_queue:
            raise ApiError(
                ErrorKind.QUEUE_FULL,
                f"All {self._max_concurrent} CLI slots are busy and {self.waiting} "
                "requests are already waiting; try again shortly.",
                retry_after=QUEUE_RETRY_AFTER,
            )

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one CLI slot, waiting in line for it if need be."""
        self.check()
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            self._slots.release()
