"""The rate limiter and the keys' concurrent-run slots on trio's MockClock: buckets refill
at their pace in virtual time, slots come back however a run ends, and the app answers a
refusal with a 429 in the surface's own shape (Retry-After, ``retry_after``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from cliwrap.access.limiter import STORE_RETRY, Limiter, MemoryCounters, Quota, Verdict
from cliwrap.config import Config, RateLimitsConfig, ServerConfig
from cliwrap.core.errors import ApiError, ErrorKind
from cliwrap.server.app import create_app
from cliwrap.server.websocket_sessions import serve_websocket
from cliwrap.testing.fake_processes import FakeCli, open_fake_backend

from .helpers import make_runtime
from .test_websocket_sessions import FakeService, FakeSocket, frames_until_last, request


@attrs.frozen
class Limits:
    """A stand-in for ``KeyLimits`` (access/keys.py): what the limiter reads of it."""

    rpm: Mapping[str, int] = attrs.field(factory=dict)
    concurrent: int = 0


@attrs.frozen
class Key:
    """A stand-in for ``ApiKey``."""

    id: str
    limits: Limits = Limits()


def limiter(**options: Any) -> tuple[Limiter, list[tuple[str, str]]]:
    refusals: list[tuple[str, str]] = []
    made = Limiter(MemoryCounters(), on_refusal=lambda *r: refusals.append(r), **options)
    return made, refusals


async def refused(limiter: Limiter, *args: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        await limiter.check(*args)
    return caught.value


async def test_an_address_gets_its_burst_then_one_request_per_interval(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limits, refusals = limiter(per_address={"chat": 3})
    for _ in range(3):
        await limits.check("chat", "10.0.0.1")
    error = await refused(limits, "chat", "10.0.0.1")
    assert error.kind is ErrorKind.RATE_LIMIT
    assert error.retry_after == pytest.approx(20)
    assert "3 per minute" in error.message
    assert refusals == [("chat", "address")]
    await limits.check("chat", "10.0.0.2")  # another address has its own bucket
    await limits.check("other", "10.0.0.1")  # and another group
    await trio.sleep(19.9)
    await refused(limits, "chat", "10.0.0.1")  # a refusal charges nothing...
    await trio.sleep(0.1)
    await limits.check("chat", "10.0.0.1")  # ...so the wait said is the wait
    await refused(limits, "chat", "10.0.0.1")


async def test_a_keys_own_limit_wins_over_the_servers_per_key_default(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limits, refusals = limiter(per_address={"chat": 100}, per_key={"chat": 2, "other": 1})
    own = Key("k1", Limits(rpm={"chat": 1}))
    await limits.check("chat", "10.0.0.1", own)
    error = await refused(limits, "chat", "10.0.0.1", own)
    assert "from this API key: 1 per minute" in error.message
    assert error.retry_after == pytest.approx(60)
    plain = Key("k2")
    await limits.check("chat", "10.0.0.1", plain)
    await limits.check("chat", "10.0.0.1", plain)
    await refused(limits, "chat", "10.0.0.1", plain)
    await limits.check("other", "10.0.0.1", plain)
    await refused(limits, "other", "10.0.0.3", plain)  # the key's bucket, from anywhere
    assert refusals == [("chat", "key"), ("chat", "key"), ("other", "key")]
    # No key: the address alone; the refusals above charged the address nothing.
    for _ in range(97):
        await limits.check("chat", "10.0.0.1")
    await refused(limits, "chat", "10.0.0.1")


async def test_zero_is_no_limit_and_disabled_is_none(
    autojump_clock: trio.testing.MockClock,
) -> None:
    open_health, _ = limiter(per_address={"health": 0})
    off, _ = limiter(enabled=False, per_address={"chat": 1})
    for _ in range(2000):
        await open_health.check("health", "10.0.0.1")
        await off.check("chat", "10.0.0.1")


async def test_idle_buckets_are_swept(autojump_clock: trio.testing.MockClock) -> None:
    counters = MemoryCounters()
    limits = Limiter(counters)
    for n in range(100):
        await limits.check("chat", f"10.0.0.{n}")
    await trio.sleep(61)
    await limits.check("chat", "10.0.1.1")
    assert list(counters._tats) == ["a:chat:10.0.1.1"]


async def test_concurrent_slots_come_back_however_the_run_ends(
    autojump_clock: trio.testing.MockClock,
) -> None:
    counters = MemoryCounters()
    refusals: list[tuple[str, str]] = []
    limits = Limiter(counters, on_refusal=lambda *r: refusals.append(r))
    key = Key("k", Limits(concurrent=2))
    async with limits.running(key, 2):
        assert counters.taken("c:k") == 2
        with pytest.raises(ApiError) as caught:
            async with limits.running(key):
                pass
        assert caught.value.kind is ErrorKind.CONCURRENCY_LIMIT
        assert caught.value.status == 429
        assert caught.value.retry_after is not None
    assert refusals == [("chat", "concurrency")]
    assert counters.taken("c:k") == 0
    with trio.move_on_after(5):  # cancelled mid-run (a disconnect)
        async with limits.running(key):
            await trio.sleep_forever()
    with pytest.raises(RuntimeError):
        async with limits.running(key, 2):
            raise RuntimeError("the run failed")
    assert counters.taken("c:k") == 0
    async with limits.running(Key("free")), limits.running(None):  # no limit
        pass


class Flaky:
    """Memory counters that fail while ``broken``, counting the calls that reach them."""

    def __init__(self) -> None:
        self.inner = MemoryCounters()
        self.broken = True
        self.calls = 0

    def _reach(self) -> None:
        self.calls += 1
        if self.broken:
            raise ConnectionError("redis is gone")

    async def hit(self, quotas: Sequence[Quota]) -> Verdict:
        self._reach()
        return await self.inner.hit(quotas)

    async def acquire(self, name: str, count: int, limit: int) -> bool:
        self._reach()
        return await self.inner.acquire(name, count, limit)

    async def release(self, name: str, count: int) -> None:
        self._reach()
        await self.inner.release(name, count)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()


async def test_failing_counters_serve_open_are_let_be_a_while_and_said_once(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    counters = Flaky()
    limits = Limiter(counters, per_address={"chat": 1})
    for _ in range(3):
        await limits.check("chat", "10.0.0.1")  # not refused: the limits are off
    async with limits.running(Key("k", Limits(concurrent=1))):
        pass
    assert counters.calls == 1  # the others did not wait for a failing store
    await trio.sleep(STORE_RETRY)
    counters.broken = False
    await limits.check("chat", "10.0.0.1")
    await refused(limits, "chat", "10.0.0.1")  # enforced again
    messages = [r.message for r in caplog.records]
    assert messages == [
        "rate limits not enforced: the counter store failed: redis is gone",
        "rate limits enforced again: the counter store answers",
    ]


async def test_a_slot_taken_is_given_back_even_while_the_store_fails(
    autojump_clock: trio.testing.MockClock,
) -> None:
    counters = Flaky()
    counters.broken = False
    limits = Limiter(counters)
    key = Key("k", Limits(concurrent=1))
    async with limits.running(key):
        counters.broken = True
        await limits.check("chat", "10.0.0.1")  # fails: the store is let be a while...
    counters.broken = False
    assert counters.calls == 3  # ...but the release was tried anyway (and failed)
    assert counters.inner.taken("c:k") == 1  # owed: Redis gives it back with its lease


def app_with(tmp_path: Path, **per_address: int) -> Any:
    config = Config(
        server=ServerConfig(state_dir=str(tmp_path)),
        rate_limits=RateLimitsConfig(per_address=per_address),
    )
    return create_app(config, {})


async def test_the_app_answers_429_in_each_surfaces_shape(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    app = app_with(tmp_path, chat=1, health=1)
    client = app.test_client()
    scope = {"client": ("10.0.0.7", 5555)}
    assert (await client.get("/health", scope_base=scope)).status_code == 200
    health = await client.get("/health", scope_base=scope)
    assert health.status_code == 429
    assert health.headers["Retry-After"] == "60"
    error = (await health.get_json())["error"]
    assert error["code"] == "rate_limit_exceeded"
    assert error["type"] == "rate_limit_error"
    assert error["retry_after"] == 60
    other = await client.get("/health", scope_base={"client": ("10.0.0.8", 1)})
    assert other.status_code == 200

    body = {"model": "nope", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    first = await client.post("/v1/messages", json=body, scope_base=scope)
    assert first.status_code != 429  # counted (and then refused for its model)
    second = await client.post("/v1/messages", json=body, scope_base=scope)
    assert second.status_code == 429
    assert second.headers["Retry-After"] == "60"
    assert await second.get_json() == {
        "type": "error",
        "error": {
            "type": "rate_limit_error",
            "message": (await second.get_json())["error"]["message"],
        },
    }
    chat = await client.post("/v1/chat/completions", json=body, scope_base=scope)
    assert chat.status_code == 429  # the same group: chat
    assert (await chat.get_json())["error"]["retry_after"] == 60


async def answer(cli: FakeCli) -> int:
    await cli.print("say:hello")
    await cli.print("done")
    return 0


async def test_each_websocket_request_counts_as_a_chat_and_holds_a_slot(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    counters = MemoryCounters()
    key = Key("k", Limits(rpm={"chat": 2}, concurrent=1))
    async with open_fake_backend(answer) as backend:
        runtime = make_runtime(tmp_path, backend)
        service = FakeService(runtime, limiter=Limiter(counters), limited=key)
        socket = FakeSocket()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                lambda: serve_websocket(service, socket, None, 64 * 1024, address="10.0.0.9")
            )
            await socket.to_server.send(request("a"))
            assert [f["type"] for f in await frames_until_last(socket, "a")][-1] == "done"
            assert counters.taken("c:k") == 0  # given back once the run settled
            await socket.to_server.send(request("b"))
            assert (await frames_until_last(socket, "b"))[-1]["type"] == "done"
            await socket.to_server.send(request("c"))
            (last,) = await frames_until_last(socket, "c")
            assert last["type"] == "error"
            assert last["status"] == 429
            assert last["error"]["code"] == "rate_limit_exceeded"
            assert last["error"]["retry_after"] == 30
            nursery.cancel_scope.cancel()
