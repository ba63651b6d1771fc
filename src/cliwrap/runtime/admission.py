"""How many CLIs run at once, and how many requests may wait for one.

A CLI is a real process with real memory, so at most ``max_concurrent`` run; up to
``max_queue`` more requests wait in arrival order (trio's semaphore is fair); beyond that a
request is refused at once with 429 and a Retry-After, rather than left hanging.

Admission is one atomic reservation: :meth:`Gate.reserve` counts the request in (or refuses
it) without awaiting anything, before its response starts, so a burst cannot slip past the
check and be refused later inside a 200 stream. A reserved request keeps its place until its
:class:`Ticket` is released, which happens exactly once, whatever ends the run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from ..core.errors import ApiError, ErrorKind

__all__ = ["Gate", "Ticket"]

QUEUE_RETRY_AFTER = 2.0


class Gate:
    def __init__(self, max_concurrent: int, max_queue: int) -> None:
        self._slots = trio.Semaphore(max_concurrent)
        self._max_concurrent = max_concurrent
        self._max_queue = max_queue
        self._reserved = 0

    @property
    def running(self) -> int:
        return self._max_concurrent - self._slots.value

    @property
    def waiting(self) -> int:
        """Admitted requests that do not hold a CLI slot yet."""
        return self._reserved - self.running

    def reserve(self, count: int = 1) -> list[Ticket]:
        """Admit ``count`` runs (one request's ``n``) together, or refuse them all now."""
        if self._reserved + count > self._max_concurrent + self._max_queue:
            raise ApiError(
                ErrorKind.QUEUE_FULL,
                f"All {self._max_concurrent} CLI slots are busy and {self.waiting} "
                "requests are already waiting; try again shortly.",
                retry_after=QUEUE_RETRY_AFTER,
            )
        self._reserved += count
        return [Ticket(self) for _ in range(count)]

    def _release(self) -> None:
        self._reserved -= 1


class Ticket:
    """One admitted run's place: in the queue, then in a CLI slot."""

    def __init__(self, gate: Gate) -> None:
        self._gate = gate
        self._released = False

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one CLI slot, waiting in line for it if need be; the place ends with it."""
        try:
            async with self._gate._slots:
                yield
        finally:
            self.release()

    def release(self) -> None:
        """Give the place up (once; later calls do nothing)."""
        if not self._released:
            self._released = True
            self._gate._release()
