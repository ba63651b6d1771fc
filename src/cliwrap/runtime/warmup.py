"""CLI processes started before they are asked for: the predecessor's warm-up strategies.

A new conversation's first turn pays for the CLI's start (0.4 s for Claude Code, seconds
for the Node CLIs, before the model is even asked). A CLI started in advance for the same
*shape* (provider, model, system prompt, tools: what is fixed at its start) answers at
once. Coding agents start many conversations with one shape (sub-agents, new tasks), so the
shapes seen recently are the ones worth keeping processes ready for.

- ``none``: nothing is started in advance.
- ``periodic``: every ``refresh_interval`` the recently used CLIs are run briefly (their
  version probe), so their files stay in the page cache: no process is kept.
- ``persistent``: ``size`` ready processes for each recent shape (at most ``max_shapes``),
  replaced as soon as one is taken.
- ``adaptive``: periodic, and persistent while requests arrive at ``persistent_threshold``
  per minute or more, for the shapes that started a second conversation (an agent's main
  conversation goes on in its own process; the shapes its sub-agents and new tasks share
  are the ones that come back).

Ready processes belong to the :class:`~cliwrap.runtime.sessions.SessionPool` like every live
one (ledger, shutdown, memory budget); one unused for ``idle_timeout`` is ended, and so is a
shape not seen for as long.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Awaitable, Callable

import attrs
import trio

from ..config import WarmupConfig
from .sessions import LiveProcess, SessionPool, SessionRecipe

__all__ = ["Warmup"]

log = logging.getLogger(__name__)

_RATE_WINDOW = 60.0


@attrs.define(eq=False)
class _Shape:
    provider: str
    recipe: Callable[[], SessionRecipe]
    """A recipe for a fresh session of this shape (a new session id each call)."""
    last_used: float
    ready: list[LiveProcess] = attrs.field(factory=list)
    starting: int = 0
    uses: int = 0
    """New conversations of this shape so far."""


class Warmup:
    """Ready processes per conversation shape (see the module docstring)."""

    def __init__(
        self,
        pool: SessionPool,
        settings: WarmupConfig,
        warm_cli: Callable[[str], Awaitable[object]] | None = None,
    ) -> None:
        self.pool = pool
        self.settings = settings
        self._warm_cli = warm_cli
        """Runs a CLI briefly (its version probe), for ``periodic``."""
        self._shapes: collections.OrderedDict[str, _Shape] = collections.OrderedDict()
        self._requests: collections.deque[float] = collections.deque()
        self._last_request: float | None = None
        self.warmups = 0
        self.failures = 0
        self._warmup_time = 0.0
        self.hits = 0
        self.misses = 0

    @property
    def persistent(self) -> bool:
        """Whether ready processes are kept now."""
        strategy = self.settings.strategy
        if strategy == "persistent":
            return True
        return strategy == "adaptive" and self.rate >= self.settings.persistent_threshold

    @property
    def rate(self) -> float:
        """Requests in the last minute."""
        self._forget_old(trio.current_time())
        return float(len(self._requests))

    def noted(self) -> None:
        """A request arrived (for the rate ``adaptive`` watches)."""
        now = trio.current_time()
        self._requests.append(now)
        self._last_request = now
        self._forget_old(now)

    def _forget_old(self, now: float) -> None:
        while self._requests and self._requests[0] < now - _RATE_WINDOW:
            self._requests.popleft()

    def take(
        self, shape: str, provider: str, recipe: Callable[[], SessionRecipe]
    ) -> LiveProcess | None:
        """A ready process for a new conversation of ``shape``, if there is one; the shape is
        remembered either way, and replenished when processes are kept ready."""
        if self.settings.strategy == "none":
            return None
        now = trio.current_time()
        entry = self._shapes.get(shape)
        if entry is None:
            entry = _Shape(provider, recipe, now)
            self._shapes[shape] = entry
            while len(self._shapes) > self.settings.max_shapes:
                _, dropped = self._shapes.popitem(last=False)
                for live in dropped.ready:
                    live.retire()
        entry.last_used = now
        entry.recipe = recipe
        entry.uses += 1
        self._shapes.move_to_end(shape)
        ready = None
        while entry.ready:
            live = entry.ready.pop(0)
            if live.alive and not live.leased:
                ready = live
                break
        if ready is None:
            self.misses += 1
        else:
            self.hits += 1
        self._replenish(shape, entry)
        return ready

    def _replenish(self, shape: str, entry: _Shape) -> None:
        if not self.persistent or not self.pool.running:
            return
        if self.settings.strategy == "adaptive" and entry.uses < 2:
            return  # a shape earns ready processes by coming back
        for _ in range(self.settings.size - len(entry.ready) - entry.starting):
            entry.starting += 1
            self.pool.later_task(self._start_one, shape, entry)

    async def _start_one(self, shape: str, entry: _Shape) -> None:
        started = time.perf_counter()
        try:
            live = await self.pool.start(shape, entry.recipe())
        except Exception as error:
            self.failures += 1
            log.warning("could not start a ready %s process: %s", entry.provider, error)
            return
        finally:
            entry.starting -= 1
        self.warmups += 1
        self._warmup_time += time.perf_counter() - started
        if self._shapes.get(shape) is entry:
            live.reserved = False  # a ready one is idle: the pool may end it for room
            entry.ready.append(live)
        else:
            live.retire()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Tend the ready processes until cancelled: end idle ones, refresh periodically."""
        task_status.started()
        settings = self.settings
        while True:
            await trio.sleep(settings.refresh_interval)
            now = trio.current_time()
            for shape, entry in list(self._shapes.items()):
                for live in list(entry.ready):
                    if not live.alive or now - live.last_used > settings.idle_timeout:
                        entry.ready.remove(live)
                        live.retire()
                if now - entry.last_used > settings.idle_timeout:
                    for live in entry.ready:
                        live.retire()
                    del self._shapes[shape]
                elif self.persistent:
                    self._replenish(shape, entry)
            if not self.persistent:
                for entry in self._shapes.values():
                    for live in entry.ready:
                        live.retire()
                    entry.ready.clear()
            if settings.strategy in ("periodic", "adaptive") and self._warm_cli is not None:
                for provider in {entry.provider for entry in self._shapes.values()}:
                    try:
                        await self._warm_cli(provider)
                        self.warmups += 1
                    except Exception:
                        self.failures += 1
                        log.exception("periodic warm-up of %s failed", provider)

    def stats(self) -> dict[str, object]:
        """The predecessor's fields, then cliwrap's own."""
        now = trio.current_time()
        ready = [live for entry in self._shapes.values() for live in entry.ready if live.alive]
        return {
            "strategy": self.settings.strategy,
            "is_persistent_mode": self.persistent,
            "warmup_count": self.warmups,
            "warmup_failures": self.failures,
            "average_warmup_time": round(self._warmup_time / self.warmups, 3)
            if self.warmups
            else 0.0,
            "last_request_ago": round(now - self._last_request, 1)
            if self._last_request is not None
            else None,
            "current_rpm": self.rate,
            "ready_processes": len(ready),
            "ready_rss_bytes": sum(live.rss for live in ready),
            "shapes": len(self._shapes),
            "hits": self.hits,
            "misses": self.misses,
            "pool": self.pool.stats(),
        }
