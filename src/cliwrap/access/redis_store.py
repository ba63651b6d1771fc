"""Shared state in Redis, for several cliwrap instances behind one address.

With ``storage.redis_url`` set, the rate-limit buckets, the keys' concurrent-run slots (and
the keys, their usage and their budgets' spending: :mod:`cliwrap.access.redis_keys`) live in
Redis, so that a client meets the same limits whichever instance answers it.

Every read-and-write is one Lua script, so it is atomic across instances without locks: the
GCRA script is :func:`cliwrap.access.limiter.decide_all` in Lua (the system tests run both on
the same requests and compare). Its clock is Redis's own (``TIME``), one clock for every
instance, so that instances whose clocks disagree still share one pace.

Concurrent-run slots are counted per instance (a hash: instance -> slots taken), and each
instance holds a lease it renews every few seconds: slots of an instance whose lease has run
out (it crashed, or lost Redis) no longer count, so a crash never leaves a key's slots taken.

I/O: trio has no Redis client of its own and redis-py's asyncio client needs asyncio, so the
synchronous client runs in worker threads (a few, through a :class:`trio.CapacityLimiter`:
each holds one pooled connection). A call is one round trip of well under a millisecond on a
local network, which the thread hop roughly doubles (docs/benchmarks.md); writing a RESP client
on trio streams would save that hop and cost a protocol implementation to maintain.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import trio

from .limiter import MICROS, PERIOD, Quota, Verdict, micros

__all__ = ["RedisConnection", "RedisCounters"]

T = TypeVar("T")

log = logging.getLogger(__name__)

LEASE = 30.0
"""Seconds an instance's slots count after its last renewal."""
RENEW = 10.0
"""Seconds between renewals of the lease."""
_THREADS = 8
"""Worker threads (and so connections) talking to Redis at once, per instance."""
_TIMEOUT = 2.0
"""Seconds a Redis call may take before it fails (and the limits are served open)."""

_NOW = """
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
"""
"""``now`` in whole microseconds: ARGV[1], or (empty) Redis's own clock."""

GCRA_SCRIPT = (
    _NOW
    + f"""
local period = {int(PERIOD) * MICROS}
local worst, wait, tats = 0, 0, {{}}
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[i + 1])
  local interval = math.max(1, math.floor((period + math.floor(rate / 2)) / rate))
  local tat = tonumber(redis.call('GET', key) or '0')
  local new_tat = math.max(tat, now) + interval
  local allow_at = new_tat - rate * interval
  if allow_at > now and allow_at - now >= wait then
    worst, wait = i, allow_at - now
  end
  tats[i] = new_tat
end
local reply = {{worst, wait}}
for i, key in ipairs(KEYS) do
  if worst == 0 then
    redis.call('SET', key, string.format('%d', tats[i]),
               'PX', math.max(1, math.ceil((tats[i] - now) / 1000)))
  else
    tats[i] = tonumber(redis.call('GET', key) or '0')
  end
  reply[#reply + 1] = string.format('%d', tats[i])
end
return reply
"""
)
"""KEYS: the buckets; ARGV: now, then each bucket's count per minute (its burst too). Returns
the refusing bucket's index from 1 (0: allowed), the wait and every bucket's TAT from now on
(microseconds). A bucket expires when its TAT passes: it is as good as new then."""

ACQUIRE_SCRIPT = (
    _NOW
    + """
local instance, count, limit = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local fields, total = redis.call('HGETALL', KEYS[1]), 0
for i = 1, #fields, 2 do
  local lease = tonumber(redis.call('HGET', KEYS[2], fields[i]) or '0')
  if fields[i] ~= instance and lease < now then
    redis.call('HDEL', KEYS[1], fields[i])
  else
    total = total + tonumber(fields[i + 1])
  end
end
if total + count > limit then return 0 end
redis.call('HINCRBY', KEYS[1], instance, count)
return 1
"""
)
"""KEYS: the slots' hash (instance -> taken), the leases' hash (instance -> until);
ARGV: now, instance, count, limit. Slots of instances whose lease ran out are dropped."""

RELEASE_SCRIPT = """
if redis.call('HINCRBY', KEYS[1], ARGV[1], -tonumber(ARGV[2])) <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return 1
"""

RENEW_SCRIPT = (
    _NOW
    + """
redis.call('HSET', KEYS[1], ARGV[2], string.format('%d', now + tonumber(ARGV[3])))
local leases = redis.call('HGETALL', KEYS[1])
for i = 1, #leases, 2 do
  if tonumber(leases[i + 1]) < now - 3600000000 then redis.call('HDEL', KEYS[1], leases[i]) end
end
return 1
"""
)
"""Renew this instance's lease; forget leases that ran out an hour ago (instances gone)."""


class RedisConnection:
    """redis-py's synchronous client, called from a few worker threads."""

    def __init__(self, url: str, *, prefix: str = "cliwrap:") -> None:
        import redis  # only a server with storage.redis_url needs it (and imports it)

        self.client: Any = redis.Redis.from_url(
            url,
            socket_timeout=_TIMEOUT,
            socket_connect_timeout=_TIMEOUT,
            max_connections=_THREADS,
            decode_responses=True,
        )
        self.prefix = prefix
        self._threads = trio.CapacityLimiter(_THREADS)

    async def call(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in a worker thread (a call in flight finishes even when the
        caller is cancelled: it is bounded by the socket timeout)."""
        return await trio.to_thread.run_sync(function, *args, limiter=self._threads)

    def script(self, source: str) -> Any:
        """A Lua script, sent by its hash after its first use (``EVALSHA``)."""
        return self.client.register_script(source)

    def close(self) -> None:
        self.client.close()


class RedisCounters:
    """:class:`~cliwrap.access.limiter.Counters` in Redis, shared by every instance."""

    def __init__(self, redis: RedisConnection, now: Callable[[], float] | None = None) -> None:
        self._redis = redis
        self._now = now
        """A clock for tests; None: Redis's own."""
        self.instance = uuid.uuid4().hex
        self._gcra = redis.script(GCRA_SCRIPT)
        self._acquire = redis.script(ACQUIRE_SCRIPT)
        self._release = redis.script(RELEASE_SCRIPT)
        self._renew = redis.script(RENEW_SCRIPT)
        self._leases = f"{redis.prefix}leases"
        self._owed: dict[str, int] = {}
        """Slots whose release failed, to give back before the next renewal."""

    def _clock(self) -> str:
        return "" if self._now is None else str(micros(self._now()))

    async def hit(self, quotas: Sequence[Quota]) -> Verdict:
        keys = [f"{self._redis.prefix}{q.bucket}" for q in quotas]
        args = [self._clock(), *(q.per_minute for q in quotas)]
        reply = await self._redis.call(partial_script(self._gcra, keys, args))
        worst, wait, *tats = reply
        index = int(worst)
        return Verdict(
            index == 0,
            tuple(int(t) for t in tats),
            int(wait) / MICROS,
            quotas[index - 1] if index else None,
        )

    async def acquire(self, name: str, count: int, limit: int) -> bool:
        keys = [f"{self._redis.prefix}{name}", self._leases]
        args = [self._clock(), self.instance, count, limit]
        return bool(await self._redis.call(partial_script(self._acquire, keys, args)))

    async def release(self, name: str, count: int) -> None:
        """Give the slots back; if Redis fails, they are owed, and given back before the
        lease is renewed again (else the lease would keep them taken while we live)."""
        try:
            await self._give_back(name, count)
        except Exception:
            self._owed[name] = self._owed.get(name, 0) + count
            raise

    async def _give_back(self, name: str, count: int) -> None:
        keys = [f"{self._redis.prefix}{name}"]
        await self._redis.call(partial_script(self._release, keys, [self.instance, count]))

    async def renew(self) -> None:
        """Renew this instance's lease on its slots, once the slots owed are given back."""
        for name, count in list(self._owed.items()):
            await self._give_back(name, count)
            del self._owed[name]
        args = [self._clock(), self.instance, micros(LEASE)]
        await self._redis.call(partial_script(self._renew, [self._leases], args))

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Hold this instance's lease until cancelled; then let it go (its slots with it)."""
        started = False
        try:
            while True:
                try:
                    await self.renew()
                except Exception as error:  # said by the limiter's next call too
                    log.warning("cannot renew the lease on concurrent-run slots: %s", error)
                if not started:
                    task_status.started()
                    started = True
                await trio.sleep(RENEW)
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(_TIMEOUT):
                try:
                    await self._redis.call(self._redis.client.hdel, self._leases, self.instance)
                except Exception as error:
                    log.warning("cannot give up the lease on concurrent-run slots: %s", error)


def partial_script(script: Any, keys: Sequence[str], args: Sequence[Any]) -> Callable[[], Any]:
    """A blocking call of ``script`` on ``keys`` with ``args``, for a worker thread."""

    def run() -> Any:
        return script(keys=list(keys), args=list(args))

    return run
