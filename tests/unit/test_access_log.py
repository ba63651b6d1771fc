"""Request ids and the access log: one line per request, an id on every response."""

from __future__ import annotations

import json
import logging
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest
import trio

from cliwrap.config import Config, ProviderConfig, ServerConfig
from cliwrap.observability.logs import formatter
from cliwrap.server.access_log import (
    AccessLog,
    format_line,
    log_failed_run,
    record_of,
    request_id,
)
from cliwrap.server.app import create_app

JSON_LINE = formatter("json")
LOGFMT_LINE = formatter("logfmt")


def lines_of(
    caplog: pytest.LogCaptureFixture, logger: str, log_format: str = "logfmt"
) -> list[str]:
    """The records ``logger`` wrote, as the server's log renders them (structlog)."""
    render = JSON_LINE if log_format == "json" else LOGFMT_LINE
    return [render.format(r) for r in caplog.records if r.name == logger]


def test_a_sane_client_request_id_is_kept_and_any_other_replaced() -> None:
    assert request_id([(b"X-Request-Id", b"req_01:abc-9.z")]) == "req_01:abc-9.z"
    for insane in (b"two words", b"x" * 200, b"line\nbreak", b'quo"te', b""):
        made = request_id([(b"x-request-id", insane)])
        assert made != insane.decode("latin-1")
        assert len(made) == 32
    assert request_id([]) != request_id([])


def test_logfmt_quotes_only_what_needs_it_and_json_is_one_object() -> None:
    fields = {"path": "/v1/models", "model": None, "outcome": 'failed: "quota"', "ms": 1.5}
    assert format_line(fields, "logfmt") == (
        'path=/v1/models model=- outcome="failed: \\"quota\\"" ms=1.5'
    )
    assert json.loads(format_line(fields, "json")) == fields


async def fake_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    record = record_of(scope)
    assert record is not None
    record.model = "sonnet"
    record.provider = "claude"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"a", b"b")]})
    await trio.sleep(1)  # a stream: the duration runs until its end
    await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})


async def run(app: AccessLog, headers: list[tuple[bytes, bytes]]) -> list[MutableMapping[str, Any]]:
    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        raise AssertionError("not read")

    scope = {"type": "http", "method": "POST", "path": "/v1/messages", "headers": headers}
    await app(scope, receive, send)
    return sent


async def test_one_line_per_request_with_what_the_handler_noted(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "cliwrap.access")
    sent = await run(AccessLog(fake_app), [(b"x-request-id", b"abc123")])
    assert (b"x-request-id", b"abc123") in sent[0]["headers"]
    assert (b"a", b"b") in sent[0]["headers"]
    [line] = lines_of(caplog, "cliwrap.access", "json")
    fields = json.loads(line)
    assert list(fields)[:4] == ["timestamp", "level", "logger", "event"]
    del fields["timestamp"]
    assert fields == {
        "level": "info",
        "logger": "cliwrap.access",
        "event": "request",
        "method": "POST",
        "path": "/v1/messages",
        "status": 200,
        "duration_ms": 1000.0,
        "request_id": "abc123",
        "model": "sonnet",
        "provider": "claude",
        "outcome": "ok",
    }


async def test_an_outcome_noted_later_wins_and_a_disconnect_is_logged(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "cliwrap.access")

    async def failing(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        record = record_of(scope)
        assert record is not None
        record.outcome = "failed:timeout"

    await run(AccessLog(failing), [])
    with trio.move_on_after(1):
        await run(AccessLog(fake_app), [])
    lines = lines_of(caplog, "cliwrap.access")
    assert " level=info logger=cliwrap.access event=request method=POST " in lines[0]
    assert " status=200 " in lines[0]
    assert lines[0].endswith("outcome=failed:timeout")
    assert lines[1].endswith("outcome=disconnected")


async def test_no_access_log_when_switched_off(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "cliwrap.access")
    sent = await run(AccessLog(fake_app, enabled=False), [])
    assert any(name == b"x-request-id" for name, _ in sent[0]["headers"])
    assert not [r for r in caplog.records if r.name == "cliwrap.access"]


def test_a_failed_run_is_logged_with_its_request_id_and_no_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "cliwrap.runs")
    log_failed_run("abc123", "claude exited 1", "reading /home/me/x\nkey sk-ant-api03-secret99\n")
    [message] = lines_of(caplog, "cliwrap.runs")
    assert ' level=warning logger=cliwrap.runs event="run failed" request_id=abc123 ' in message
    assert 'error="claude exited 1" stderr_tail="reading /home/me/x\\nkey' in message
    assert "sk-ant" not in message


async def test_every_response_of_the_app_has_a_request_id(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "cliwrap.access")
    missing = {"claude": ProviderConfig(command=str(tmp_path / "no-such-cli"), models=("sonnet",))}
    config = Config(server=ServerConfig(state_dir=str(tmp_path)), providers=missing)
    client = create_app(config, {"PATH": ""}).test_client()
    health = await client.get("/health", headers={"X-Request-Id": "mine-1"})
    assert health.headers["x-request-id"] == "mine-1"
    body = {"model": "sonnet", "messages": [{"role": "user", "content": "hi"}]}
    refused = await client.post("/v1/chat/completions", json=body)
    assert refused.status_code == 503
    assert len(refused.headers["x-request-id"]) == 32
    unknown = await client.get("/nowhere")
    assert unknown.status_code == 404
    assert unknown.headers["x-request-id"]
    lines = lines_of(caplog, "cliwrap.access")
    assert " method=GET path=/health status=200 " in lines[0]
    assert "request_id=mine-1" in lines[0]
    assert "model=sonnet provider=claude outcome=error" in lines[1]
