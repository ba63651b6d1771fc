"""API keys and their usage in Redis: the :class:`~cliwrap.access.keys.KeyStore` and
:class:`~cliwrap.access.usage.UsageStore` that several instances share (``storage.redis_url``).

The layout (every name under the connection's prefix, ``cliwrap:``):

- ``key:<id>``: the key as JSON, never changed once written; ``key-revoked`` (a hash: id ->
  when) says which are revoked; ``keys`` (a sorted set of ids by creation) lists them; and
  ``key-name:<name>`` holds the id of the *active* key of that name, which is what makes a
  name unique among the active keys (one Lua script creates, another revokes).
- ``usage:<day>``: a hash per UTC day, one field per (key, model, counter); ``usage-days``
  (a sorted set) the days that have any, so a query over a range reads only those.
- ``spent:<key name>``: the key's input plus output tokens and dollars per day, what a
  budget check reads (a month at most: older days are dropped as new ones are added).

Every write is one Lua script (atomic across instances); counters are added with
``HINCRBY`` / ``HINCRBYFLOAT``, so instances never overwrite each other's counts.
"""

from __future__ import annotations

import builtins
import datetime
import json
from typing import Any

from ..core.events import Usage
from .keys import ApiKey, KeyExistsError, KeyLimits
from .redis_store import RedisConnection, partial_script
from .usage import UsageRow, counters

__all__ = ["RedisKeys", "RedisUsage"]

_KEEP_SPENT_DAYS = 62
"""Days of spending kept per key: a budget's period is a month at most."""

CREATE_SCRIPT = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
return 1
"""
"""KEYS: key:<id>, key-name:<name>, keys; ARGV: the key's JSON, its id, its creation time."""

REVOKE_SCRIPT = """
local id = redis.call('GET', KEYS[1])
if not id then return false end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[2], id, ARGV[1])
return id
"""
"""KEYS: key-name:<name>, key-revoked; ARGV: when. Returns the revoked key's id."""

LIST_SCRIPT = """
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
local reply = {}
for _, id in ipairs(ids) do
  reply[#reply + 1] = redis.call('GET', ARGV[1] .. id) or ''
  reply[#reply + 1] = redis.call('HGET', KEYS[2], id) or ''
end
return reply
"""
"""KEYS: keys, key-revoked; ARGV: the prefix of key:<id>. Each key's JSON and revocation."""

ADD_SCRIPT = """
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
local names = {'requests', 'input_tokens', 'output_tokens', 'cached_tokens'}
for i, name in ipairs(names) do
  redis.call('HINCRBY', KEYS[1], ARGV[3] .. name .. '"]', ARGV[3 + i])
end
redis.call('HINCRBYFLOAT', KEYS[1], ARGV[3] .. 'cost_usd"]', ARGV[8])
redis.call('HINCRBY', KEYS[3], 'tokens:' .. ARGV[2], ARGV[5] + ARGV[6])
redis.call('HINCRBYFLOAT', KEYS[3], 'usd:' .. ARGV[2], ARGV[8])
local fields = redis.call('HKEYS', KEYS[3])
for _, field in ipairs(fields) do
  if string.sub(field, -10) < ARGV[9] then redis.call('HDEL', KEYS[3], field) end
end
return 1
"""
"""KEYS: usage:<day>, usage-days, spent:<key>; ARGV: the day as a number (YYYYMMDD), the
day, the row's field prefix (a JSON array's start), requests, input, output and cached
tokens, dollars, the first day of spending kept."""


class RedisKeys:
    """:class:`~cliwrap.access.keys.KeyStore` in Redis."""

    def __init__(self, redis: RedisConnection) -> None:
        self._redis = redis
        self._prefix = redis.prefix
        self._create = redis.script(CREATE_SCRIPT)
        self._revoke = redis.script(REVOKE_SCRIPT)
        self._list = redis.script(LIST_SCRIPT)

    async def create(self, key: ApiKey) -> None:
        p = self._prefix
        keys = [f"{p}key:{key.id}", f"{p}key-name:{key.name}", f"{p}keys"]
        document = json.dumps({"id": key.id, **key.as_dict()})
        args = [document, key.id, repr(key.created)]
        if not await self._redis.call(partial_script(self._create, keys, args)):
            raise KeyExistsError(f"an active key is already named {key.name!r}")

    async def list(self, *, include_revoked: bool = False) -> builtins.list[ApiKey]:
        p = self._prefix
        reply = await self._redis.call(
            partial_script(self._list, [f"{p}keys", f"{p}key-revoked"], [f"{p}key:"])
        )
        found = [
            _key(document, revoked)
            for document, revoked in zip(reply[::2], reply[1::2], strict=True)
            if document
        ]
        return [key for key in found if include_revoked or key.active]

    async def revoke(self, name: str, at: float) -> ApiKey | None:
        p = self._prefix
        keys = [f"{p}key-name:{name}", f"{p}key-revoked"]
        id_ = await self._redis.call(partial_script(self._revoke, keys, [repr(at)]))
        return None if id_ is None else await self.lookup(id_)

    async def lookup(self, key_id: str) -> ApiKey | None:
        p = self._prefix
        client = self._redis.client

        def read() -> list[Any]:
            with client.pipeline(transaction=False) as pipe:
                pipe.get(f"{p}key:{key_id}")
                pipe.hget(f"{p}key-revoked", key_id)
                result: list[Any] = pipe.execute()
                return result

        document, revoked = await self._redis.call(read)
        return None if document is None else _key(document, revoked or "")


def _key(document: str, revoked: str) -> ApiKey:
    data = json.loads(document)
    return ApiKey(
        id=data["id"],
        name=data["name"],
        prefix=data["prefix"],
        created=data["created"],
        revoked=float(revoked) if revoked else None,
        admin=data["admin"],
        limits=KeyLimits.from_dict(data["limits"]),
    )


class RedisUsage:
    """:class:`~cliwrap.access.usage.UsageStore` in Redis."""

    def __init__(self, redis: RedisConnection) -> None:
        self._redis = redis
        self._prefix = redis.prefix
        self._add = redis.script(ADD_SCRIPT)

    async def add(
        self, key_name: str, model: str, day: str, usage: Usage | None, requests: int = 1
    ) -> None:
        p = self._prefix
        input_tokens, output_tokens, cached, cost = counters(usage)
        row = json.dumps([key_name, model, ""])[:-3]  # '["key", "model", ' + counter + '"]'
        kept = (datetime.date.fromisoformat(day) - datetime.timedelta(_KEEP_SPENT_DAYS)).isoformat()
        keys = [f"{p}usage:{day}", f"{p}usage-days", f"{p}spent:{key_name}"]
        args = [
            day.replace("-", ""),
            day,
            row + '"',
            requests,
            input_tokens,
            output_tokens,
            cached,
            repr(cost),
            kept,
        ]
        await self._redis.call(partial_script(self._add, keys, args))

    async def rows(self, key_name: str | None, since: str, until: str) -> list[UsageRow]:
        p = self._prefix
        client = self._redis.client
        low, high = since.replace("-", ""), until.replace("-", "")

        def read() -> list[tuple[str, dict[str, str]]]:
            days: list[str] = client.zrangebyscore(f"{p}usage-days", low, high)
            with client.pipeline(transaction=False) as pipe:
                for day in days:
                    pipe.hgetall(f"{p}usage:{day}")
                return list(zip(days, pipe.execute(), strict=True))

        found: dict[tuple[str, str, str], dict[str, Any]] = {}
        for day, fields in await self._redis.call(read):
            for field, value in fields.items():
                key, model, counter = json.loads(field)
                if key_name is not None and key != key_name:
                    continue
                row = found.setdefault((key, model, day), {})
                row[counter] = float(value) if counter == "cost_usd" else int(value)
        return [UsageRow(key, model, day, **values) for (key, model, day), values in found.items()]

    async def spent(self, key_name: str, since_day: str) -> tuple[int, float]:
        fields: dict[str, str] = await self._redis.call(
            self._redis.client.hgetall, f"{self._prefix}spent:{key_name}"
        )
        tokens, usd = 0, 0.0
        for field, value in fields.items():
            kind, _, day = field.partition(":")
            if day >= since_day:
                if kind == "tokens":
                    tokens += int(value)
                else:
                    usd += float(value)
        return tokens, usd
