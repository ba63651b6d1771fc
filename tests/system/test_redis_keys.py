"""API keys and usage in a real redis-server, as several instances share them: a key made
through one connection is found through another, names are unique among active keys,
revoking frees the name, and usage added by instances at once adds up."""

from __future__ import annotations

from collections.abc import AsyncIterator

import attrs
import pytest
import trio

from cliwrap.access.keys import KeyExistsError, KeyLimits, new_key
from cliwrap.access.redis_keys import RedisKeys, RedisUsage
from cliwrap.access.redis_store import RedisConnection
from cliwrap.access.usage import UsageRow
from cliwrap.core.events import Usage


@pytest.fixture
async def connections(clean_redis: str) -> AsyncIterator[tuple[RedisConnection, RedisConnection]]:
    one, two = RedisConnection(clean_redis), RedisConnection(clean_redis)
    yield one, two
    one.close()
    two.close()


async def test_keys_are_shared_and_names_unique_among_active_keys(
    connections: tuple[RedisConnection, RedisConnection],
) -> None:
    here, there = (RedisKeys(c) for c in connections)
    limits = KeyLimits(rpm={"chat": 5}, concurrent=2, budget_usd=1.5, budget_period="month")
    _, first = new_key("ci", 1000.25, limits=limits)
    await here.create(first)
    assert await there.lookup(first.id) == first
    assert await there.list() == [first]
    _, clash = new_key("ci", 1001.0)
    with pytest.raises(KeyExistsError):
        await there.create(clash)
    _, admin = new_key("ops", 1002.0, admin=True)
    await there.create(admin)
    assert [k.name for k in await here.list()] == ["ci", "ops"]

    revoked = await there.revoke("ci", 2000.5)
    assert revoked is not None
    assert revoked.revoked == 2000.5
    assert not revoked.active
    assert await there.revoke("ci", 2001.0) is None  # no active key of that name now
    assert (await here.lookup(first.id)) == revoked  # found, and seen revoked
    await here.create(clash)  # the name is free again
    assert [k.name for k in await here.list()] == ["ci", "ops"]  # oldest first
    assert [k.id for k in await here.list(include_revoked=True)] == [
        first.id,
        clash.id,
        admin.id,
    ]
    assert await here.lookup("no-such-id") is None


async def test_usage_from_several_instances_adds_up(
    connections: tuple[RedisConnection, RedisConnection],
) -> None:
    stores = [RedisUsage(c) for c in connections]
    run = Usage(
        input_tokens=10, output_tokens=5, cache_read_tokens=100, cache_write_tokens=2, cost_usd=0.01
    )

    async def add(store: RedisUsage, day: str, key: str, model: str) -> None:
        await store.add(key, model, day, run)

    async with trio.open_nursery() as nursery:
        for i in range(20):
            nursery.start_soon(add, stores[i % 2], "2026-11-30", "ci", "sonnet")
        nursery.start_soon(add, stores[0], "2026-11-29", "ci", 'odd "model"\t[1]')
        nursery.start_soon(add, stores[1], "2026-11-30", "ops", "sonnet")
        nursery.start_soon(add, stores[1], "2026-10-01", "ci", "sonnet")
    await stores[0].add("ci", "sonnet", "2026-11-30", None)  # a run that reported no usage

    rows = await stores[1].rows("ci", "2026-11-01", "2026-11-30")
    by = {(r.model, r.date): r for r in rows}
    assert set(by) == {("sonnet", "2026-11-30"), ('odd "model"\t[1]', "2026-11-29")}
    sonnet = by["sonnet", "2026-11-30"]
    assert sonnet.cost_usd == pytest.approx(0.2)
    assert attrs.evolve(sonnet, cost_usd=0.0) == UsageRow(
        "ci",
        "sonnet",
        "2026-11-30",
        requests=21,
        input_tokens=240,
        output_tokens=100,
        cached_tokens=2000,
    )
    everyone = await stores[0].rows(None, "2026-11-30", "2026-11-30")
    assert sorted(r.key for r in everyone) == ["ci", "ops"]

    # 21 runs with usage in November: input (cache writes included) and output, 17 each
    tokens, usd = await stores[0].spent("ci", "2026-11-01")
    assert tokens == 21 * 17
    assert usd == pytest.approx(0.21)
    assert (await stores[1].spent("ci", "2026-10-01"))[0] == 22 * 17
    assert await stores[1].spent("nobody", "2026-01-01") == (0, 0.0)


async def test_old_spending_is_dropped_but_not_the_usage_rows(
    connections: tuple[RedisConnection, RedisConnection],
) -> None:
    store = RedisUsage(connections[0])
    await store.add("ci", "m", "2026-01-01", Usage(input_tokens=1))
    await store.add("ci", "m", "2026-06-01", Usage(input_tokens=2))
    assert await store.spent("ci", "2000-01-01") == (2, 0.0)  # only the last 62 days kept
    assert len(await store.rows("ci", "2026-01-01", "2026-12-31")) == 2
