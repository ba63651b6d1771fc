"""The server log through structlog: every record one logfmt or JSON line, request ids bound."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
import trio

from cliwrap.observability.logs import configure_logging, formatter
from cliwrap.server.access_log import AccessLog
from cliwrap.testing.live import READY

log = logging.getLogger("cliwrap.test_logs")


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """The server's logging set up as ``cliwrap serve`` does, writing into a string; the
    root logger and structlog are put back afterwards."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    buffer = io.StringIO()
    try:
        yield buffer
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        structlog.reset_defaults()


def test_a_module_logger_writes_one_json_object_per_line(stream: io.StringIO) -> None:
    configure_logging("info", "json", stream)
    log.debug("not at info")
    log.info("%d CLIs found", 2, extra={"clis": ["claude", "codex"]})
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("it failed")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert list(first) == ["timestamp", "level", "logger", "event", "clis"]
    assert first["timestamp"].endswith("Z")
    assert first["level"] == "info"
    assert first["logger"] == "cliwrap.test_logs"
    assert first["event"] == "2 CLIs found"
    assert first["clis"] == ["claude", "codex"]
    assert second["level"] == "error"
    assert "ValueError: boom" in second["exception"]


def test_logfmt_quotes_what_needs_it_and_writes_none_as_a_dash(stream: io.StringIO) -> None:
    configure_logging("debug", "logfmt", stream)
    log.warning("run failed", extra={"error": 'said "no"', "model": None, "ms": 1.5})
    [line] = stream.getvalue().splitlines()
    assert line.startswith("timestamp=")
    assert line.endswith(
        ' level=warning logger=cliwrap.test_logs event="run failed" '
        'error="said \\"no\\"" model=- ms=1.5'
    )


def test_structlog_loggers_go_to_the_same_lines(stream: io.StringIO) -> None:
    configure_logging("info", "json", stream)
    structlog.stdlib.get_logger("cliwrap.native").info("probed", provider="claude")
    [line] = stream.getvalue().splitlines()
    fields = json.loads(line)
    assert fields["logger"] == "cliwrap.native"
    assert fields["event"] == "probed"
    assert fields["provider"] == "claude"


async def test_what_a_request_logs_carries_its_id_in_child_tasks_too() -> None:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(formatter("logfmt"))  # renders as it is logged, as the server's does
    log.addHandler(handler)
    log.setLevel(logging.INFO)

    async def in_a_task() -> None:
        log.info("in a task it started")

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        log.info("in the handler")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(in_a_task)
        await send({"type": "http.response.start", "status": 204, "headers": []})

    async def send(message: Any) -> None:
        pass

    async def receive() -> Any:
        raise AssertionError("not read")

    scope = {"type": "http", "method": "GET", "path": "/x", "headers": [(b"x-request-id", b"r-1")]}
    try:
        await AccessLog(app, enabled=False)(scope, receive, send)
        log.info("after the request")
    finally:
        log.removeHandler(handler)
        log.setLevel(logging.NOTSET)
    lines = buffer.getvalue().splitlines()
    assert lines[0].endswith('event="in the handler" request_id=r-1')
    assert lines[1].endswith('event="in a task it started" request_id=r-1')
    assert lines[2].endswith('event="after the request"')


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="logfmt, json"):
        formatter("xml")


@pytest.mark.parametrize("log_format", ["logfmt", "json"])
def test_the_live_server_helper_reads_the_address_in_either_format(log_format: str) -> None:
    record = logging.LogRecord(
        "cliwrap", logging.INFO, __file__, 1, "cliwrap serving on %s", ("http://[::1]:8123",), None
    )
    match = READY.search(formatter(log_format).format(record))
    assert match is not None
    assert match.group(1) == "http://[::1]:8123"
