"""WebSocket sessions on the fake process backend and trio's MockClock, with an in-memory
socket: exactly one last frame per request id, after its CLI is gone; bad frames touch
nothing else; unauthenticated sockets are bounded."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio
import trio.testing

from cliwrap.access.limiter import LimitedKey, Limiter, MemoryCounters
from cliwrap.core.errors import ApiError, ErrorKind
from cliwrap.core.request import ChatRequest
from cliwrap.runtime.job import JobPlan, Runtime
from cliwrap.runtime.runs import Runs
from cliwrap.server.websocket_sessions import AUTH_TIMEOUT, Tracking, serve_websocket
from cliwrap.testing.fake_processes import FakeBackend, FakeCli, open_fake_backend

from .helpers import make_plan, make_runtime


@attrs.define
class FakeService:
    runtime: Runtime
    key: str | None = None
    limiter: Limiter = attrs.field(factory=lambda: Limiter(MemoryCounters()))
    limited: LimitedKey | None = None
    """The key every request counts as, for the rate limits."""

    def limited_key(self, given: str | None) -> LimitedKey | None:
        return self.limited

    async def prepare(self, chat: ChatRequest, key: str | None = None) -> list[JobPlan]:
        return [make_plan(argv=("fake-cli", chat.model))]

    async def key_error(self, given: str | None) -> ApiError | None:
        await trio.lowlevel.checkpoint()
        if self.key is None or given == self.key:
            return None
        return ApiError(ErrorKind.AUTHENTICATION, "Incorrect API key provided.")


class FakeSocket:
    """The server's end of a WebSocket, driven by the test through two channels."""

    def __init__(self) -> None:
        self.to_server, self._inbox = trio.open_memory_channel[str](100)
        self._outbox, self.from_server = trio.open_memory_channel[dict[str, Any]](100)
        self.closed: int | None = None
        self.runtime: Runtime | None = None
        """The runtime of the service behind it (to drain it)."""

    async def accept(self) -> None:
        pass

    async def receive(self) -> str:
        return await self._inbox.receive()

    async def send(self, data: str) -> None:
        if self.closed is not None:
            raise trio.ClosedResourceError("the socket is closed")
        await self._outbox.send(json.loads(data))

    async def close(self, code: int, reason: str = "") -> None:
        self.closed = code


@asynccontextmanager
async def session(
    tmp_path: Path,
    backend: FakeBackend,
    key: str | None = None,
    header_key: str | None = None,
    tracking: Tracking | None = None,
) -> AsyncIterator[FakeSocket]:
    socket = FakeSocket()
    service = FakeService(make_runtime(tmp_path, backend), key)
    socket.runtime = service.runtime
    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve_websocket, service, socket, header_key, 64 * 1024, tracking)
        yield socket
        nursery.cancel_scope.cancel()


def request(id_: str, model: str = "m", **body: Any) -> str:
    messages = [{"role": "user", "content": "hi"}]
    return json.dumps(
        {"type": "request", "id": id_, "body": {"model": model, "messages": messages, **body}}
    )


async def frames_until_last(socket: FakeSocket, id_: str) -> list[dict[str, Any]]:
    """``id_``'s frames up to and including its done or error frame."""
    frames = []
    while True:
        frame = await socket.from_server.receive()
        if frame.get("id") != id_:
            continue
        frames.append(frame)
        if frame["type"] in ("done", "error"):
            return frames


async def slow_answer(cli: FakeCli) -> int:
    await cli.print("say:hello")
    await cli.print("done")
    await trio.sleep(1)  # a CLI that takes its time to exit after answering
    return 0


async def test_one_last_frame_per_id_after_the_cli_is_gone_then_the_id_is_free(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_fake_backend(slow_answer) as backend, session(tmp_path, backend) as socket:
        await socket.to_server.send(request("a"))
        first = await frames_until_last(socket, "a")
        assert [f["type"] for f in first] == ["start", "delta", "done"]
        assert first[-1]["finish_reason"] == "stop"
        assert backend.live == []  # "done" means gone
        # The id is free again at once: a new request with it runs, and a cancel for the
        # finished run sends nothing.
        await socket.to_server.send(json.dumps({"type": "cancel", "id": "a"}))
        await socket.to_server.send(request("a"))
        second = await frames_until_last(socket, "a")
        assert [f["type"] for f in second] == ["start", "delta", "done"]


async def test_a_cancelled_run_ends_with_done_cancelled_once_its_cli_is_reaped(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async def forever(cli: FakeCli) -> int:
        await cli.print("say:thinking")
        await trio.sleep_forever()

    async with open_fake_backend(forever) as backend, session(tmp_path, backend) as socket:
        await socket.to_server.send(request("a"))
        assert (await socket.from_server.receive())["type"] == "start"
        assert (await socket.from_server.receive())["type"] == "delta"
        await socket.to_server.send(json.dumps({"type": "cancel", "id": "a"}))
        last = await socket.from_server.receive()
        assert last == {"type": "done", "id": "a", "finish_reason": "cancelled"}
        assert backend.live == []
        with trio.move_on_after(60):
            extra = await socket.from_server.receive()
            raise AssertionError(f"a second last frame: {extra}")


async def test_runs_are_tracked_and_one_cancelled_by_id_gets_a_request_cancelled_error(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async def forever(cli: FakeCli) -> int:
        await cli.print("say:thinking")
        await trio.sleep_forever()

    runs = Runs()
    tracking = Tracking(runs, "conn")
    async with (
        open_fake_backend(forever) as backend,
        session(tmp_path, backend, tracking=tracking) as socket,
    ):
        await socket.to_server.send(request("a"))
        await socket.to_server.send(request("b"))
        started: set[str] = set()
        while started != {"a", "b"}:  # both runs have said something
            frame = await socket.from_server.receive()
            if frame["type"] == "delta":
                started.add(frame["id"])
        assert sorted(r.request_id for r in runs.live()) == ["conn:a", "conn:b"]
        assert runs.cancel("conn:a", runs.caller(None)) != []
        last = (await frames_until_last(socket, "a"))[-1]
        assert last["type"] == "error"
        assert last["error"]["code"] == "request_cancelled"
        assert len(backend.live) == 1  # b goes on
        # A cancel frame is the client's own: its run is reported "cancelled" too.
        await socket.to_server.send(json.dumps({"type": "cancel", "id": "b"}))
        await frames_until_last(socket, "b")
        assert backend.live == []
    assert runs.live() == []
    assert sorted((r.request_id, r.outcome) for r in runs.recent()) == [
        ("conn:a", "cancelled"),
        ("conn:b", "cancelled"),
    ]


async def test_bad_frames_get_their_own_error_and_touch_nothing_else(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async def answer_later(cli: FakeCli) -> int:
        await trio.sleep(5)
        await cli.print("say:fine")
        await cli.print("done")
        return 0

    async with open_fake_backend(answer_later) as backend, session(tmp_path, backend) as socket:
        await socket.to_server.send(request("good"))
        assert (await socket.from_server.receive())["type"] == "start"
        deep = '{"type": "request", "id": "deep", "body": ' + "[" * 20_000 + "]" * 20_000 + "}"
        role = json.dumps(
            {"type": "request", "id": "role", "body": {"model": "m", "messages": [{"role": {}}]}}
        )
        for bad in (deep, role, "x" * (64 * 1024 + 1), "\ud800"):
            await socket.to_server.send(bad)
        errors = [await socket.from_server.receive() for _ in range(4)]
        # The request's own error comes from its task; the others as each frame is read.
        assert sorted((e["type"], e["id"] or "", e["status"]) for e in errors) == [
            ("error", "", 400),
            ("error", "", 400),
            ("error", "", 413),
            ("error", "role", 400),
        ]
        good = await frames_until_last(socket, "good")
        assert [f["type"] for f in good] == ["delta", "done"]
        assert socket.closed is None


async def test_a_socket_that_does_not_authenticate_is_closed_in_time(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with (
        open_fake_backend(slow_answer) as backend,
        session(tmp_path, backend, key="k") as socket,
    ):
        started = trio.current_time()
        error = await socket.from_server.receive()
        assert (error["type"], error["status"]) == ("error", 401)
        assert trio.current_time() - started == AUTH_TIMEOUT
        await trio.testing.wait_all_tasks_blocked()
        assert socket.closed == 1008


async def test_nothing_is_parsed_before_authentication(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with (
        open_fake_backend(slow_answer) as backend,
        session(tmp_path, backend, key="k") as socket,
    ):
        await socket.to_server.send(request("a", padding="x" * 10_000))
        error = await socket.from_server.receive()
        assert (error["type"], error["id"], error["status"]) == ("error", None, 401)
        await trio.testing.wait_all_tasks_blocked()
        assert socket.closed == 1008
        assert backend.started == []


async def test_an_auth_frame_then_requests(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with (
        open_fake_backend(slow_answer) as backend,
        session(tmp_path, backend, key="k") as socket,
    ):
        await socket.to_server.send(json.dumps({"type": "auth", "api_key": "k"}))
        assert await socket.from_server.receive() == {"type": "authenticated"}
        await socket.to_server.send(request("a"))
        frames = await frames_until_last(socket, "a")
        assert frames[-1]["type"] == "done"


async def test_a_drain_sends_every_last_frame_then_closes_going_away(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Whatever order trio runs the tasks in (it varies it), the socket closes only once
    every run's last frame is out: tried many times over."""

    async def forever(cli: FakeCli) -> int:
        await cli.print("say:thinking")
        await trio.sleep_forever()

    for attempt in range(30):
        async with (
            open_fake_backend(forever) as backend,
            session(tmp_path / str(attempt), backend) as socket,
        ):
            await socket.to_server.send(request("a"))
            await backend.wait_started()
            assert socket.runtime is not None
            socket.runtime.draining.set()
            with trio.fail_after(60):  # virtual seconds: a last frame that never comes fails
                last = (await frames_until_last(socket, "a"))[-1]
            assert (last["type"], last["status"]) == ("error", 503)
            await trio.testing.wait_all_tasks_blocked()
            assert socket.closed == 1001
            assert backend.live == []
