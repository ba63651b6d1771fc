"""The stub model backends' HTTP server (cliwrap.testing.http)."""

from __future__ import annotations

import trio

from cliwrap.testing import Recorded, handle_backends, serve_stub


async def exchange(port: int, request: bytes) -> bytes:
    async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
        await stream.send_all(request)
        received = b""
        while b"\r\n\r\n" not in received:
            received += await stream.receive_some(65536)
        return received


async def test_a_head_request_gets_headers_only_and_the_server_lives_on() -> None:
    # Claude Code checks its backend with ``HEAD /api/hello`` unless told not to.
    records: list[Recorded] = []
    async with trio.open_nursery() as nursery:
        port = await nursery.start(serve_stub, handle_backends, records)
        head = await exchange(port, b"HEAD /api/hello HTTP/1.1\r\nhost: stub\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 404 ")
        assert head.endswith(b"\r\n\r\n")  # and no body after the headers
        again = await exchange(port, b"GET /api/hello HTTP/1.1\r\nhost: stub\r\n\r\n")
        assert again.startswith(b"HTTP/1.1 404 ")
        nursery.cancel_scope.cancel()
    assert [r.method for r in records] == ["HEAD", "GET"]
