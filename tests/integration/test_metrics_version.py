"""``/metrics`` after real runs, ``/version`` over raw HTTP: the app served by hypercorn
in-process, Claude Code played by a real process (a shell script replaying what the pinned
CLI printed, ``tests/recordings/claude``), so that the process counters count real processes.
"""

from __future__ import annotations

import json
import platform
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from cliwrap import __version__
from cliwrap.config import load_config
from cliwrap.providers import PROVIDERS
from cliwrap.server.app import create_app
from cliwrap.testing.in_process import served_in_process

RECORDING = Path(__file__).parents[1] / "recordings" / "claude" / "thinking_and_text.jsonl"
HANG_GUARD = 60  # seconds; only so that a regression fails instead of hanging the suite
KEY = "sk-metrics-test"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def fake_claude(folder: Path) -> Path:
    """A ``claude`` that says its version, or reads its prompt and answers as recorded."""
    script = folder / "claude"
    script.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "--version" ]; then echo "2.9.9 (Claude Code)"; exit 0; fi\n'
        "cat > /dev/null\n"
        f"cat '{RECORDING}'\n"
    )
    script.chmod(0o755)
    return script


@asynccontextmanager
async def live_server(tmp_path: Path, keys: tuple[str, ...] = ()) -> AsyncIterator[str]:
    """The app on 127.0.0.1 (its URL), with the fake Claude Code and no other CLI."""
    config_file = tmp_path / "config.toml"
    others = "".join(f"[providers.{name}]\nenabled = false\n" for name in PROVIDERS)
    others = others.replace("[providers.claude]\nenabled = false\n", "")
    config_file.write_text(
        f'[server]\nstate_dir = "{tmp_path}"\nshutdown_grace = 0\napi_keys = {json.dumps(keys)}\n'
        "[sessions]\nenabled = false\n"
        f'[providers.claude]\ncommand = "{fake_claude(tmp_path)}"\n' + others
    )
    config = load_config(config_file, {}, {n: p.defaults for n, p in PROVIDERS.items()})
    async with served_in_process(create_app(config, {"PATH": "/usr/bin:/bin"})) as url:
        yield url


async def scrape(http: httpx.AsyncClient) -> Samples:
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


async def one_run(http: httpx.AsyncClient, stream: bool) -> None:
    body = {"model": "sonnet", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    response = await http.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text


def labels(**given: str) -> frozenset[tuple[str, str]]:
    return frozenset(given.items())


async def test_metrics_count_real_cli_processes_and_read_the_gate(tmp_path: Path) -> None:
    with trio.fail_after(HANG_GUARD):
        async with live_server(tmp_path) as url, httpx.AsyncClient(base_url=url) as http:
            before = await scrape(http)
            assert before[("cliwrap_cli_processes_live", labels())] == 0
            assert ("cliwrap_cli_processes_started_total", labels(provider="claude")) not in before
            await one_run(http, stream=False)
            await one_run(http, stream=True)
            after = await scrape(http)
    assert after[("cliwrap_cli_processes_started_total", labels(provider="claude"))] == 2
    assert after[("cliwrap_cli_processes_live", labels())] == 0  # both reaped
    assert after[("cliwrap_runs_active", labels())] == 0
    assert after[("cliwrap_queue_depth", labels())] == 0


async def test_metrics_count_requests_times_and_tokens_of_real_runs(tmp_path: Path) -> None:
    with trio.fail_after(HANG_GUARD):
        async with live_server(tmp_path) as url, httpx.AsyncClient(base_url=url) as http:
            await one_run(http, stream=False)
            await one_run(http, stream=True)
            found = await scrape(http)
    request = {"surface": "chat_completions", "model": "sonnet", "provider": "claude"}
    assert found[("cliwrap_requests_total", labels(**request, status="200"))] == 2
    by_cli = labels(surface="chat_completions", provider="claude")
    assert found[("cliwrap_time_to_first_token_seconds_count", by_cli)] == 2
    assert found[("cliwrap_request_duration_seconds_count", by_cli)] == 2
    # The recording's result line: 16 input and 8 output tokens, $0.000112.
    tokens = {"key": "", "model": "sonnet"}
    assert found[("cliwrap_tokens_total", labels(**tokens, kind="input"))] == 32
    assert found[("cliwrap_tokens_total", labels(**tokens, kind="output"))] == 16
    assert found[("cliwrap_cost_usd_total", labels(**tokens))] == pytest.approx(0.000224)


async def test_metrics_need_the_key_when_keys_exist_and_version_does_not(
    tmp_path: Path,
) -> None:
    with trio.fail_after(HANG_GUARD):
        async with live_server(tmp_path, keys=(KEY,)) as url, httpx.AsyncClient() as http:
            refused = await http.get(f"{url}/metrics")
            assert refused.status_code == 401
            assert refused.json()["error"]["type"] == "authentication_error"
            allowed = await http.get(f"{url}/metrics", headers={"Authorization": f"Bearer {KEY}"})
            assert allowed.status_code == 200
            assert "cliwrap_cli_processes_live 0.0" in allowed.text
            version = await raw_get(url, "/version")
    head, _, body = version.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"\r\ncontent-type: application/json" in head.lower()
    assert json.loads(body) == {
        "version": __version__,
        "python": platform.python_version(),
        "clis": {"claude": "2.9.9"},
    }


async def raw_get(url: str, path: str) -> bytes:
    """GET ``path`` over a plain socket, as curl would send it; the answer's head and body
    (read to its ``content-length``: hypercorn leaves the connection to the client to close)."""
    host, _, port = url.removeprefix("http://").partition(":")
    stream = await trio.open_tcp_stream(host, int(port))
    async with stream:
        request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        await stream.send_all(request.encode())
        received = b""
        while b"\r\n\r\n" not in received or len(received) < _answer_length(received):
            chunk = await stream.receive_some()
            assert chunk, f"closed after {received!r}"
            received += chunk
    return received


def _answer_length(received: bytes) -> int:
    head, _, _ = received.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(head) + 4 + int(value)
    raise AssertionError(f"no content-length in {head!r}")
