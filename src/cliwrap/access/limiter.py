"""Rate limits and concurrent runs: a sans-IO GCRA core and the :class:`Limiter` over it.

GCRA (the generic cell rate algorithm) keeps one number per bucket, its *theoretical arrival
time* (TAT): the moment the bucket would be empty again if requests kept their pace. A request
is let through when it does not arrive more than ``burst`` intervals ahead of that pace. That
one timestamp gives an exact ``Retry-After`` (when the next request would be let through), a
burst of ``burst`` requests at once and a steady ``rate`` per minute after it, in constant
memory and one atomic read-and-write: in a dict for one instance, in one Lua script when
several instances share Redis (:mod:`cliwrap.access.redis_store`, the same arithmetic).

:func:`decide` and :func:`decide_all` are the arithmetic, pure. :class:`Limiter` is what the
server asks: it builds the buckets of a request (per client address and per API key, per
endpoint group: :mod:`cliwrap.access.groups`) and asks its :class:`Counters` to decide them
all at once, so that a refusal charges no bucket. It also hands out a key's concurrent-run
slots (``KeyLimits.concurrent``): taken when a chat run is admitted, given back when it
settles, whatever way it settles.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol, TypeVar

import attrs
import trio

from ..core.errors import ApiError, ErrorKind
from .groups import DEFAULT_PER_ADDRESS, GROUPS

__all__ = [
    "MICROS",
    "PERIOD",
    "STORE_RETRY",
    "Counters",
    "Decision",
    "KeyLimitsLike",
    "LimitedKey",
    "Limiter",
    "MemoryCounters",
    "Quota",
    "Verdict",
    "client_address",
    "decide",
    "decide_all",
    "holding_slots",
    "interval_of",
    "micros",
]

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

PERIOD = 60.0
"""Seconds a limit's count is per (limits are configured per minute)."""
MICROS = 1_000_000
"""Time is counted in whole microseconds: a TAT moves by the same whole interval however
often it is added to, so a burst of exactly ``burst`` passes (in floating point, summed onto
an epoch-sized time, it would not), and a Lua double holds it exactly."""


def interval_of(rate: int) -> int:
    """Microseconds between requests at ``rate`` per :data:`PERIOD` (rounded; at least 1)."""
    return max(1, (int(PERIOD) * MICROS + rate // 2) // rate)


def micros(seconds: float) -> int:
    """A time in seconds as whole microseconds."""
    return int(seconds * MICROS)


@attrs.frozen
class Decision:
    """One bucket's answer: let through (and its new TAT) or not (and for how long)."""

    allowed: bool
    tat: int
    """The bucket's TAT from now on (unchanged when refused), in microseconds."""
    retry_after: float
    """Seconds until this request would be let through (0 when it is)."""


def decide(now: int, tat: int, rate: int, burst: int) -> Decision:
    """GCRA for one request at ``now`` on a bucket whose TAT is ``tat`` (0: a new bucket),
    both in microseconds, allowing ``rate`` requests per :data:`PERIOD` and bursts of
    ``burst``."""
    interval = interval_of(rate)
    new_tat = max(tat, now) + interval
    allow_at = new_tat - burst * interval
    if allow_at > now:
        return Decision(False, tat, (allow_at - now) / MICROS)
    return Decision(True, new_tat, 0.0)


@attrs.frozen
class Quota:
    """One bucket a request counts against and its limit (burst = the per-minute count)."""

    bucket: str
    per_minute: int
    scope: str
    """``address`` or ``key``: who is limited, for the refusal's message and metrics."""


@attrs.frozen
class Verdict:
    """A request's answer over all its buckets: let through only if every one lets it."""

    allowed: bool
    tats: tuple[int, ...]
    """Every bucket's TAT from now on (all unchanged when refused)."""
    retry_after: float
    refused: Quota | None = None
    """The bucket that refused longest (None when allowed)."""


def decide_all(now: int, tats: Sequence[int], quotas: Sequence[Quota]) -> Verdict:
    """:func:`decide` over several buckets at once, all or nothing: a refused request
    charges none of them (else a client refused per key would still spend its address's)."""
    decisions = [
        decide(now, tat, quota.per_minute, quota.per_minute)
        for tat, quota in zip(tats, quotas, strict=True)
    ]
    refused = [(d.retry_after, i) for i, d in enumerate(decisions) if not d.allowed]
    if refused:
        wait, worst = max(refused)
        return Verdict(False, tuple(tats), wait, quotas[worst])
    return Verdict(True, tuple(d.tat for d in decisions), 0.0)


class Counters(Protocol):
    """Where the buckets and the slot counters live: one instance's memory, or Redis."""

    async def hit(self, quotas: Sequence[Quota]) -> Verdict:
        """Decide one request over ``quotas`` and record it, atomically."""
        ...

    async def acquire(self, name: str, count: int, limit: int) -> bool:
        """Take ``count`` of ``name``'s ``limit`` slots if they are free, atomically."""
        ...

    async def release(self, name: str, count: int) -> None:
        """Give back ``count`` slots taken with :meth:`acquire`."""
        ...

    async def run(self, *, task_status: trio.TaskStatus[None] = ...) -> None:
        """Keep what the counters need going (Redis: this instance's lease) until cancelled."""
        ...


_SWEEP_PERIOD = PERIOD


class MemoryCounters:
    """The counters of a single instance: a dict of TATs and a dict of slots taken.

    Every read-and-write happens between two checkpoints of the one event loop, so it is
    atomic without a lock. Buckets whose TAT has passed (as good as new) are swept once a
    minute, so memory follows the clients of the last minute, not of all time.
    """

    def __init__(self, now: Callable[[], float] = trio.current_time) -> None:
        self._now = now
        self._tats: dict[str, int] = {}
        self._slots: dict[str, int] = {}
        self._next_sweep = 0

    async def hit(self, quotas: Sequence[Quota]) -> Verdict:
        now = micros(self._now())
        if now >= self._next_sweep:
            self._tats = {bucket: tat for bucket, tat in self._tats.items() if tat > now}
            self._next_sweep = now + micros(_SWEEP_PERIOD)
        verdict = decide_all(now, [self._tats.get(q.bucket, 0) for q in quotas], quotas)
        if verdict.allowed:
            for quota, tat in zip(quotas, verdict.tats, strict=True):
                self._tats[quota.bucket] = tat
        return verdict

    async def acquire(self, name: str, count: int, limit: int) -> bool:
        taken = self._slots.get(name, 0)
        if taken + count > limit:
            return False
        self._slots[name] = taken + count
        return True

    async def release(self, name: str, count: int) -> None:
        left = self._slots.get(name, 0) - count
        if left > 0:
            self._slots[name] = left
        else:
            self._slots.pop(name, None)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await trio.sleep_forever()

    def taken(self, name: str) -> int:
        """Slots of ``name`` taken now (for tests and the dashboard)."""
        return self._slots.get(name, 0)


class KeyLimitsLike(Protocol):
    """What the limiter reads of a key's limits (``KeyLimits``, :mod:`cliwrap.access.keys`)."""

    @property
    def rpm(self) -> Mapping[str, int]: ...

    @property
    def concurrent(self) -> int: ...


class LimitedKey(Protocol):
    """What the limiter reads of an authenticated API key (``ApiKey``)."""

    @property
    def id(self) -> str: ...

    @property
    def limits(self) -> KeyLimitsLike: ...


RefusalObserver = Callable[[str, str], None]
"""Told ``(group, scope)`` of every refusal (``scope``: ``address``, ``key`` or
``concurrency``); the metrics count them. Must not block."""

STORE_RETRY = 5.0
"""Seconds the limiter leaves failing counters be before it asks them again."""
CONCURRENCY_RETRY_AFTER = 1.0
"""Seconds a client refused for its key's concurrent runs is told to wait: when a run of its
settles is not known, and one usually settles within seconds."""


class Limiter:
    """The server's rate limits and concurrent-run slots over a :class:`Counters`.

    ``per_address`` and ``per_key`` are requests per minute by group, over
    :data:`~cliwrap.access.groups.DEFAULT_PER_ADDRESS` and nothing respectively (0: no
    limit for that group); a key's own ``rpm`` wins over ``per_key``.
    """

    def __init__(
        self,
        counters: Counters,
        *,
        enabled: bool = True,
        per_address: Mapping[str, int] | None = None,
        per_key: Mapping[str, int] | None = None,
        on_refusal: RefusalObserver | None = None,
    ) -> None:
        self.counters = counters
        self.enabled = enabled
        self.per_address = {**DEFAULT_PER_ADDRESS, **(per_address or {})}
        self.per_key = dict(per_key or {})
        self.on_refusal: RefusalObserver = on_refusal or _ignore
        self._failing_until: float | None = None

    def quotas(self, group: str, address: str | None, key: LimitedKey | None) -> list[Quota]:
        """The buckets a request in ``group`` from ``address`` with ``key`` counts against."""
        assert group in GROUPS, group
        quotas = []
        if address is not None and self.per_address.get(group, 0) > 0:
            quotas.append(Quota(f"a:{group}:{address}", self.per_address[group], "address"))
        if key is not None:
            own = key.limits.rpm.get(group, self.per_key.get(group, 0))
            if own > 0:
                quotas.append(Quota(f"k:{group}:{key.id}", own, "key"))
        return quotas

    async def check(self, group: str, address: str | None, key: LimitedKey | None = None) -> None:
        """Count one request; a 429 ``rate_limit_exceeded`` with its ``Retry-After`` if one
        of its buckets is full (and then none of them counts it)."""
        if not self.enabled:
            return
        quotas = self.quotas(group, address, key)
        if not quotas:
            return
        verdict = await self._ask(self.counters.hit, quotas)
        if verdict is None or verdict.allowed:
            return
        refused = verdict.refused
        assert refused is not None
        self.on_refusal(group, refused.scope)
        who = "this address" if refused.scope == "address" else "this API key"
        raise ApiError(
            ErrorKind.RATE_LIMIT,
            f"Rate limit reached for {group} requests from {who}: {refused.per_minute} per "
            f"minute. Retry in {verdict.retry_after:.1f} s.",
            retry_after=verdict.retry_after,
        )

    @asynccontextmanager
    async def running(self, key: LimitedKey | None, count: int = 1) -> AsyncIterator[None]:
        """Hold ``count`` of ``key``'s concurrent-run slots while the block runs (a key
        with ``concurrent`` 0, or no key: no limit); a 429 ``concurrency_limit_exceeded`` at
        once if they are not free. They come back however the block ends, cancelled too."""
        limit = 0 if key is None else key.limits.concurrent
        taken = None
        if key is not None and limit > 0 and self.enabled:
            name = f"c:{key.id}"
            taken = await self._ask(self.counters.acquire, name, count, limit)
            if taken is False:
                self.on_refusal("chat", "concurrency")
                raise ApiError(
                    ErrorKind.CONCURRENCY_LIMIT,
                    f"This API key may have {limit} run{'s' if limit != 1 else ''} at once, "
                    "and that many are running.",
                    retry_after=CONCURRENCY_RETRY_AFTER,
                )
        try:
            yield
        finally:
            if taken:
                with trio.CancelScope(shield=True):
                    # A failed release is the counters' to retry (Redis: with its lease).
                    await self._ask(self.counters.release, name, count, always=True)

    async def _ask(
        self, call: Callable[..., Awaitable[R]], *args: Any, always: bool = False
    ) -> R | None:
        """``call(*args)`` on the counters; None if they fail. Then the limits are not
        enforced (an outage of Redis should not take the API down with it), said once, and
        the counters are let be for :data:`STORE_RETRY` seconds, so that requests do not
        each wait for a timeout meanwhile (``always``: try anyway)."""
        now = trio.current_time()
        if self._failing_until is not None and now < self._failing_until and not always:
            return None
        try:
            result = await call(*args)
        except Exception as error:
            if self._failing_until is None:
                log.error("rate limits not enforced: the counter store failed: %s", error)
            self._failing_until = trio.current_time() + STORE_RETRY
            return None
        if self._failing_until is not None:
            log.warning("rate limits enforced again: the counter store answers")
            self._failing_until = None
        return result


def _ignore(group: str, scope: str) -> None:
    pass


@asynccontextmanager
async def holding_slots(
    limiter: Limiter,
    key: LimitedKey | None,
    count: int,
    opened: Callable[[], AbstractAsyncContextManager[T]],
) -> AsyncIterator[T]:
    """``opened()`` (a run, or ``count`` runs) while holding ``count`` of ``key``'s slots:
    taken before the run is admitted, given back once it has settled."""
    async with limiter.running(key, count), opened() as run:
        yield run


def client_address(scope: Mapping[str, Any], trusted: Collection[str] = ()) -> str | None:
    """The client's address in an ASGI scope (None when the server does not know it).

    From a ``trusted`` proxy (nginx in front of several instances), the address that proxy
    appended to ``X-Forwarded-For`` (its last entry): the one a client cannot forge. From
    anyone else the header is ignored, or any client could pick its own bucket.
    """
    client = scope.get("client")
    peer = str(client[0]) if client else None
    if peer is None or peer not in trusted:
        return peer
    forwarded = [v for k, v in scope.get("headers", ()) if k.lower() == b"x-forwarded-for"]
    if not forwarded:
        return peer
    last = forwarded[-1].decode("latin-1").rsplit(",", 1)[-1].strip()
    return last or peer
