"""Keep-alive HTTP/1.1 connections against a live app (hypercorn in-process, raw sockets).

An answer given before the request body was read (401, 404, 405, 413) must leave the
connection able to take the client's next request, or close it; it must never leave the
client waiting. Also: large bodies are decoded off the event loop.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import h11
import pytest
import trio

from cliwrap.config import Config, Limits, ServerConfig
from cliwrap.server import early_responses
from cliwrap.server.app import create_app
from cliwrap.surfaces import json_body
from cliwrap.testing.in_process import served_in_process

KEY = "test-key"
HANG_GUARD = 60  # seconds; only so that a regression fails instead of hanging the suite


@asynccontextmanager
async def live_app(tmp_path: Path, **limits: Any) -> AsyncIterator[int]:
    """The app served by hypercorn on 127.0.0.1; yields its port."""
    config = Config(
        server=ServerConfig(api_keys=(KEY,), state_dir=str(tmp_path)),
        limits=Limits(**limits),
    )
    app = create_app(config, {"PATH": "/nonexistent"})
    async with served_in_process(app) as url:
        yield int(url.rsplit(":", 1)[1])


class Client:
    """One HTTP/1.1 connection, requests one after another (h11 on the client side)."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.h11 = h11.Connection(h11.CLIENT)

    async def send_head(self, method: str, path: str, length: int, auth: bool = True) -> None:
        headers = [("Host", "test"), ("Content-Type", "application/json")]
        headers.append(("Content-Length", str(length)))
        if auth:
            headers.append(("Authorization", f"Bearer {KEY}"))
        await self.stream.send_all(
            self.h11.send(h11.Request(method=method, target=path, headers=headers))
        )

    async def send_body(self, data: bytes, end: bool = True) -> None:
        await self.stream.send_all(self.h11.send(h11.Data(data=data)))
        if end:
            await self.stream.send_all(self.h11.send(h11.EndOfMessage()))

    async def response(self) -> tuple[h11.Response, bytes] | None:
        """The next response and its body; None if the server closed the connection."""
        head: h11.Response | None = None
        body = b""
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                self.h11.receive_data(await self.stream.receive_some())
            elif isinstance(event, h11.Response):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                return head, body
            elif isinstance(event, h11.ConnectionClosed):
                return None

    async def get_health(self) -> int:
        self.h11.start_next_cycle()
        await self.stream.send_all(
            self.h11.send(h11.Request(method="GET", target="/health", headers=[("Host", "t")]))
        )
        await self.stream.send_all(self.h11.send(h11.EndOfMessage()))
        answer = await self.response()
        assert answer is not None
        return answer[0].status_code


def header(response: h11.Response, name: bytes) -> bytes | None:
    return dict(response.headers).get(name)


# Bigger than hypercorn's queue to the app holds (10 reads of up to 64 KiB), smaller than
# what is drained after an early answer.
BODY = 900 * 1024


@pytest.mark.parametrize(
    ("method", "path", "auth", "status"),
    [
        ("POST", "/v1/chat/completions", False, 401),
        ("POST", "/v1/nowhere", True, 404),
        ("POST", "/health", True, 405),
        ("POST", "/v1/messages", True, 413),
    ],
)
async def test_an_early_answer_leaves_the_connection_usable(
    tmp_path: Path, method: str, path: str, auth: bool, status: int
) -> None:
    with trio.fail_after(HANG_GUARD):
        async with live_app(tmp_path, max_body_bytes=64 * 1024) as port:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            async with stream:
                client = Client(stream)
                await client.send_head(method, path, BODY, auth=auth)
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(client.send_body, b"x" * BODY)
                    answer = await client.response()
                assert answer is not None
                assert answer[0].status_code == status
                assert header(answer[0], b"connection") != b"close"
                assert await client.get_health() == 200


async def test_a_body_that_does_not_end_gets_connection_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(early_responses, "DRAIN_SECONDS", 0.05)
    with trio.fail_after(HANG_GUARD):
        async with live_app(tmp_path) as port:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            async with stream:
                client = Client(stream)
                await client.send_head("POST", "/v1/chat/completions", 10_000, auth=False)
                await client.send_body(b"x" * 1000, end=False)  # and no more
                answer = await client.response()
                assert answer is not None
                assert answer[0].status_code == 401
                assert header(answer[0], b"connection") == b"close"
                assert await client.response() is None  # closed, not left hanging


async def test_405_names_the_allowed_methods(tmp_path: Path) -> None:
    with trio.fail_after(HANG_GUARD):
        async with live_app(tmp_path) as port:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            async with stream:
                client = Client(stream)
                await client.send_head("DELETE", "/v1/chat/completions", 2)
                await client.send_body(b"{}")
                answer = await client.response()
    assert answer is not None
    assert answer[0].status_code == 405
    allowed = header(answer[0], b"allow")
    assert allowed is not None
    assert "POST" in allowed.decode().split(", ")


async def test_large_bodies_are_decoded_in_a_worker_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []
    real = json_body.decode

    def recording(data: bytes | str) -> Any:
        threads.append(threading.current_thread().name)
        return real(data)

    monkeypatch.setattr(json_body, "decode", recording)
    big = b'{"model": "claude", "messages": [], "pad": "' + b"x" * (300 * 1024) + b'"}'
    small = b'{"model": "claude", "messages": []}'
    with trio.fail_after(HANG_GUARD):
        async with live_app(tmp_path) as port:
            for body in (small, big):
                stream = await trio.open_tcp_stream("127.0.0.1", port)
                async with stream:
                    client = Client(stream)
                    await client.send_head("POST", "/v1/chat/completions", len(body))
                    await client.send_body(body)
                    answer = await client.response()
                    assert answer is not None
                    assert answer[0].status_code == 400  # empty messages
    main = threading.main_thread().name
    assert threads[0] == main
    assert threads[1] != main
