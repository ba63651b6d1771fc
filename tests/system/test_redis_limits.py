"""Rate limits and concurrent-run slots shared through a real redis-server: the Lua script
decides exactly as the Python core does, slots of a crashed instance come back when its
lease runs out, and two live cliwrap servers on one Redis enforce one limit between them."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cliwrap.access.limiter import MICROS, Quota, decide_all
from cliwrap.access.redis_store import LEASE, RedisConnection, RedisCounters
from cliwrap.testing import LiveServer

from .conftest import flush

PROVIDERS = ("claude", "gemini", "qwen", "codex")
T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


steps = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=3 * MICROS),  # the gap before the request
        st.lists(st.integers(0, 2), min_size=1, max_size=3, unique=True),  # its buckets
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=steps, rates=st.lists(st.integers(1, 700), min_size=3, max_size=3))
def test_the_lua_script_decides_as_the_python_core(
    redis_url: str, steps: list[tuple[int, list[int]]], rates: list[int]
) -> None:
    flush(redis_url)
    quotas = [Quota(f"q{i}", rate, "address") for i, rate in enumerate(rates)]
    clock = Clock()
    redis = RedisConnection(redis_url)
    counters = RedisCounters(redis, clock)

    async def run() -> None:
        now, tats = round(T0 * MICROS), [0, 0, 0]
        for gap, chosen in steps:
            now += gap
            clock.now = now / MICROS
            asked = [quotas[i] for i in chosen]
            expected = decide_all(now, [tats[i] for i in chosen], asked)
            got = await counters.hit(asked)
            assert got == expected
            if expected.allowed:
                for i, tat in zip(chosen, expected.tats, strict=True):
                    tats[i] = tat

    try:
        trio.run(run)
    finally:
        redis.close()


async def test_slots_are_shared_and_a_dead_instances_come_back(clean_redis: str) -> None:
    clock = Clock()
    one, two = RedisConnection(clean_redis), RedisConnection(clean_redis)
    try:
        first, second = RedisCounters(one, clock), RedisCounters(two, clock)
        await first.renew()
        await second.renew()
        assert await first.acquire("c:k", 2, 3)
        assert not await second.acquire("c:k", 2, 3)  # 2 of 3 taken, on the other instance
        assert await second.acquire("c:k", 1, 3)
        await first.release("c:k", 1)
        assert await second.acquire("c:k", 1, 3)
        assert not await first.acquire("c:k", 1, 3)
        # The first instance dies holding a slot: its lease runs out, its slots stop counting.
        clock.now += LEASE / 2
        await second.renew()
        assert not await second.acquire("c:k", 1, 3)
        clock.now += LEASE / 2 + 1
        assert await second.acquire("c:k", 1, 3)
        assert await one.call(one.client.hgetall, "cliwrap:c:k") == {second.instance: "3"}
        for _ in range(3):
            await second.release("c:k", 1)
        assert await one.call(one.client.exists, "cliwrap:c:k") == 0
    finally:
        one.close()
        two.close()


async def test_a_release_that_failed_is_given_back_before_the_lease_is_renewed(
    clean_redis: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis = RedisConnection(clean_redis)
    try:
        counters = RedisCounters(redis)
        await counters.renew()
        assert await counters.acquire("c:k", 2, 2)
        working = counters._give_back

        async def failing(name: str, count: int) -> None:
            raise ConnectionError("redis is gone")

        monkeypatch.setattr(counters, "_give_back", failing)
        with pytest.raises(ConnectionError):
            await counters.release("c:k", 2)
        monkeypatch.setattr(counters, "_give_back", working)
        assert not await counters.acquire("c:k", 1, 2)  # still taken
        await counters.renew()
        assert await redis.call(redis.client.exists, "cliwrap:c:k") == 0
    finally:
        redis.close()


async def test_the_lease_is_held_while_running_and_given_up_at_the_end(
    clean_redis: str, autojump_clock: trio.testing.MockClock
) -> None:
    redis = RedisConnection(clean_redis)
    try:
        counters = RedisCounters(redis)
        async with trio.open_nursery() as nursery:
            await nursery.start(counters.run)
            leases = await redis.call(redis.client.hgetall, "cliwrap:leases")
            assert list(leases) == [counters.instance]
            nursery.cancel_scope.cancel()
        assert await redis.call(redis.client.hgetall, "cliwrap:leases") == {}
    finally:
        redis.close()


def config(tmp_path: Path, name: str, redis_url: str) -> Path:
    path = tmp_path / f"{name}.toml"
    lines = [
        "[server]",
        f'state_dir = "{tmp_path / name}"',
        'api_keys = ["k-one", "k-two"]',
        "shutdown_grace = 0.0",
        "[storage]",
        f'redis_url = "{redis_url}"',
        "[rate_limits]",
        "per_address = {health = 3, chat = 100}",
        "per_key = {chat = 2}",
        "[warmup]",
        'strategy = "none"',
    ]
    lines += [f"[providers.{name}]\nenabled = false" for name in PROVIDERS]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def two_servers(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Two cliwrap servers sharing one Redis; their URLs."""
    tmp_path = tmp_path_factory.mktemp("servers")
    env = {"PYTHONPATH": os.pathsep.join(sys.path)}
    servers = [
        LiveServer(config(tmp_path, name, redis_url), tmp_path / name, env) for name in ("a", "b")
    ]
    for server in servers:
        server.start()
    try:
        yield [server.url for server in servers]
    finally:
        for server in servers:
            server.stop()


def test_two_servers_share_one_limit_per_address(two_servers: list[str], redis_url: str) -> None:
    flush(redis_url)
    a, b = two_servers
    assert [httpx.get(f"{url}/health").status_code for url in (a, b, a)] == [200, 200, 200]
    for url in (b, a):
        refused = httpx.get(f"{url}/health")
        assert refused.status_code == 429
        # 20 s after the first of the three (less whatever time has passed since)
        assert 1 <= int(refused.headers["retry-after"]) <= 20
        assert refused.json()["error"]["code"] == "rate_limit_exceeded"


def test_two_servers_share_one_limit_per_key(two_servers: list[str], redis_url: str) -> None:
    flush(redis_url)
    a, b = two_servers
    body = {"model": "sonnet", "messages": [{"role": "user", "content": "hi"}]}

    def chat(url: str, key: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"}
        return httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers)

    # Counted, then answered (no CLI is enabled: not a 429).
    assert chat(a, "k-one").status_code != 429
    assert chat(b, "k-one").status_code != 429
    refused = chat(a, "k-one")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 30
    assert "this API key" in refused.json()["error"]["message"]
    assert refused.json()["error"]["retry_after"] == int(refused.headers["retry-after"])
    assert chat(b, "k-two").status_code != 429  # another key, its own bucket
    # A bad key is refused by authentication and counts for nothing.
    assert chat(b, "wrong").status_code == 401
