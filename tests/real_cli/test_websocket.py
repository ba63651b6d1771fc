"""The WebSocket protocol (/v1/ws) through trio-websocket against a live server.

Several requests on one socket, cancel, close, auth; runs against two different CLIs.
"""

from __future__ import annotations

import json
import signal
from typing import Any

import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

from cliwrap.testing import LiveServer, eventually, group_alive

from .conftest import ServerFactory

MODELS = pytest.mark.parametrize("model", ["gpt-5.5", "qwen3-coder-plus"])


def ws_url(server: LiveServer) -> str:
    return server.url.replace("http://", "ws://") + "/v1/ws"


def request(id_: str, model: str, content: str, **extra: Any) -> str:
    body = {"model": model, "messages": [{"role": "user", "content": content}], **extra}
    return json.dumps({"type": "request", "id": id_, "body": body})


async def receive(ws: WebSocketConnection) -> dict[str, Any]:
    with trio.fail_after(30):
        frame: dict[str, Any] = json.loads(await ws.get_message())
        return frame


async def until_done(ws: WebSocketConnection, ids: set[str]) -> list[dict[str, Any]]:
    """Every frame until each of ``ids`` has had its ``done`` or ``error``."""
    frames = []
    open_ids = set(ids)
    while open_ids:
        frame = await receive(ws)
        frames.append(frame)
        if frame["type"] in ("done", "error"):
            open_ids.discard(frame["id"])
    return frames


@MODELS
async def test_a_request_streams_start_deltas_reasoning_usage_done(
    model: str, server: LiveServer
) -> None:
    async with open_websocket_url(ws_url(server)) as ws:
        await ws.send_message(
            request("r1", model, "[[reply:one two three four]] [[think:hm]] [[chunk:4]]")
        )
        frames = await until_done(ws, {"r1"})
    assert all(f["id"] == "r1" for f in frames)
    kinds = [f["type"] for f in frames]
    assert kinds[0] == "start"
    assert kinds[-1] == "done"
    assert frames[-1]["finish_reason"] == "stop"
    deltas = [f["content"] for f in frames if f["type"] == "delta"]
    assert "".join(deltas) == "one two three four"
    assert len(deltas) >= 4
    assert "".join(f["content"] for f in frames if f["type"] == "reasoning") == "hm"
    (usage,) = [f["usage"] for f in frames if f["type"] == "usage"]
    assert usage["completion_tokens"] > 0


async def test_requests_run_concurrently_on_one_socket(server: LiveServer) -> None:
    async with open_websocket_url(ws_url(server)) as ws:
        await ws.send_message(request("a", "gpt-5.5", "[[hold:3]] [[reply:from a]]"))
        await ws.send_message(request("b", "qwen3-coder-plus", "[[reply:from b]]"))
        await ws.send_message(request("c", "gpt-5.5", "[[hold:3]] [[reply:from c]]"))
        frames = await until_done(ws, {"a", "b", "c"})
    for id_ in "abc":
        text = "".join(f["content"] for f in frames if f["id"] == id_ and f["type"] == "delta")
        assert text == f"from {id_}"
    order = [(f["type"], f["id"]) for f in frames if f["type"] in ("start", "done")]
    first_done = next(i for i, (kind, _) in enumerate(order) if kind == "done")
    assert {id_ for kind, id_ in order[:first_done] if kind == "start"} == {"a", "b", "c"}, order


@MODELS
async def test_cancel_stops_one_run_and_its_cli_while_another_goes_on(
    model: str, server: LiveServer
) -> None:
    async with open_websocket_url(ws_url(server)) as ws:
        before = set(server.pgids())
        await ws.send_message(request("held", model, "[[hold:30]]"))
        assert (await receive(ws))["type"] == "start"
        with trio.fail_after(15):
            await eventually(lambda: set(server.pgids()) - before)
        (pgid,) = set(server.pgids()) - before
        await trio.sleep(0.5)  # the CLI is up and waiting for the model
        await ws.send_message(request("other", model, "[[hold:1]] [[reply:still here]]"))
        await ws.send_message(json.dumps({"type": "cancel", "id": "held"}))
        frames = await until_done(ws, {"held"})
        # The turn's CLI belongs to the server's session pool, which interrupts the turn and
        # then ends that process (its history is no longer the client's), within
        # sessions.interrupt_grace and the exit grace.
        with trio.fail_after(10):
            await eventually(lambda: not group_alive(pgid))
        done = [f for f in frames if f["id"] == "held"][-1]
        assert done == {"type": "done", "id": "held", "finish_reason": "cancelled"}
        if not any(f["id"] == "other" and f["type"] == "done" for f in frames):
            frames += await until_done(ws, {"other"})
    other = "".join(f["content"] for f in frames if f["id"] == "other" and f["type"] == "delta")
    assert other == "still here"


async def test_closing_the_socket_stops_every_run(server: LiveServer) -> None:
    before = set(server.pgids())
    async with open_websocket_url(ws_url(server)) as ws:
        await ws.send_message(request("x", "gpt-5.5", "[[hold:30]]"))
        await ws.send_message(request("y", "qwen3-coder-plus", "[[hold:30]]"))
        with trio.fail_after(15):
            await eventually(lambda: len(set(server.pgids()) - before) == 2)
        groups = set(server.pgids()) - before
    with trio.fail_after(3):
        await eventually(lambda: not any(group_alive(g) for g in groups))


async def test_bad_frames_get_error_frames_and_the_socket_stays(server: LiveServer) -> None:
    async with open_websocket_url(ws_url(server)) as ws:
        await ws.send_message("not json")
        error = await receive(ws)
        assert error["type"] == "error"
        assert error["id"] is None
        assert error["status"] == 400
        await ws.send_message(request("m", "llama-3", "hi"))
        error = await receive(ws)
        assert error["id"] == "m"
        assert error["status"] == 404
        assert error["error"]["code"] == "model_not_found"
        await ws.send_message(json.dumps({"type": "request", "id": "n", "body": {"model": 1}}))
        assert (await receive(ws))["status"] == 400
        await ws.send_message(request("ok", "gpt-5.5", "[[reply:fine]]"))
        frames = await until_done(ws, {"ok"})
    assert frames[-1]["type"] == "done"


async def test_progress_travels_in_its_own_frames(server: LiveServer) -> None:
    async with open_websocket_url(ws_url(server)) as ws:
        await ws.send_message(request("p", "gpt-5.5-progress", "[[hold:1.2]] [[reply:answer]]"))
        frames = await until_done(ws, {"p"})
    assert any(f["type"] == "progress" for f in frames)
    assert "".join(f["content"] for f in frames if f["type"] == "delta") == "answer"


@pytest.fixture(scope="module")
def keyed_server(start_server: ServerFactory) -> LiveServer:
    return start_server(server={"api_keys": ["ws-key"]})


async def test_auth_by_header(keyed_server: LiveServer) -> None:
    headers = [(b"Authorization", b"Bearer ws-key")]
    async with open_websocket_url(ws_url(keyed_server), extra_headers=headers) as ws:
        await ws.send_message(request("h", "gpt-5.5", "[[reply:by header]]"))
        assert (await until_done(ws, {"h"}))[-1]["type"] == "done"


async def test_auth_by_first_frame(keyed_server: LiveServer) -> None:
    async with open_websocket_url(ws_url(keyed_server)) as ws:
        await ws.send_message(json.dumps({"type": "auth", "api_key": "ws-key"}))
        assert (await receive(ws))["type"] == "authenticated"
        await ws.send_message(request("f", "gpt-5.5", "[[reply:by frame]]"))
        assert (await until_done(ws, {"f"}))[-1]["type"] == "done"


async def test_without_a_key_an_error_frame_then_close(keyed_server: LiveServer) -> None:
    async with open_websocket_url(ws_url(keyed_server)) as ws:
        await ws.send_message(request("r", "gpt-5.5", "hi"))
        refused = await receive(ws)
        assert refused["type"] == "error"
        assert refused["status"] == 401
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws)
        assert closed.value.reason is not None
        assert closed.value.reason.code == 1008
        # trio-websocket 0.12 never closes a client's TCP stream when the server closed the
        # WebSocket first (its reader stops at EOF, and aclose() returns early): do it here.
        await ws._stream.aclose()


def test_a_drain_ends_the_runs_then_closes_the_socket_going_away(
    start_server: ServerFactory,
) -> None:
    draining = start_server(server={"shutdown_grace": 0.3})

    async def main() -> tuple[list[dict[str, Any]], int | None]:
        async with open_websocket_url(ws_url(draining)) as ws:
            await ws.send_message(request("long", "gpt-5.5", "[[hold:30]]"))
            await trio.to_thread.run_sync(draining.wait_for_cli, 1)
            draining.signal(signal.SIGTERM)
            frames = await until_done(ws, {"long"})
            with pytest.raises(ConnectionClosed) as closed:
                await receive(ws)
            await ws._stream.aclose()  # see test_without_a_key_an_error_frame_then_close
        assert closed.value.reason is not None
        return frames, closed.value.reason.code

    frames, code = trio.run(main)
    assert frames[-1]["type"] == "error"
    assert frames[-1]["status"] == 503
    assert frames[-1]["error"]["code"] == "server_shutting_down"
    assert code == 1001
    assert draining.stop(signal_first=False) == 0, draining.log
    assert draining.pgids() == []
