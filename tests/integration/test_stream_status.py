"""A stream's status line waits for the run: failures before the first output are real HTTP
statuses, and a refused request is a real 429, on the app served by hypercorn in-process.

The CLI is Claude Code's real provider (invocation and parser) on the fake process backend,
which replays what the pinned CLI printed in ``tests/recordings/claude``: no Node, no model.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import httpx
import trio

from cliwrap.config import load_config
from cliwrap.providers import PROVIDERS
from cliwrap.runtime.job import Runtime
from cliwrap.server.app import create_app
from cliwrap.testing.fake_processes import FakeBackend, FakeCli, open_fake_backend
from cliwrap.testing.in_process import served_in_process

RECORDINGS = Path(__file__).parents[1] / "recordings" / "claude"
HANG_GUARD = 60  # seconds; only so that a regression fails instead of hanging the suite


async def replay(cli: FakeCli) -> int:
    """Claude Code as recorded: the prompt names the recording (``replay:NAME``), or
    ``hold`` keeps the CLI busy until it is stopped."""
    prompt = (await cli.read_stdin()).decode()
    if "hold" in prompt:
        await trio.sleep_forever()
    if "replay:" not in prompt:  # stopped before its prompt arrived
        return 1
    name = prompt.split("replay:", 1)[1].split()[0]
    for line in (RECORDINGS / f"{name}.jsonl").read_bytes().splitlines():
        await cli.print(line)
    status: int = json.loads((RECORDINGS / f"{name}.status").read_text())["returncode"]
    return status


@attrs.frozen
class Live:
    url: str
    backend: FakeBackend
    runtime: Runtime


@asynccontextmanager
async def live_app(tmp_path: Path, extra: str = "", **limits: int) -> AsyncIterator[Live]:
    """The app on 127.0.0.1 with Claude Code played by :func:`replay`; ``extra``: more
    config (TOML tables)."""
    config_file = tmp_path / "config.toml"
    table = "".join(f"{key} = {value}\n" for key, value in limits.items())
    config_file.write_text(
        f'[server]\nstate_dir = "{tmp_path}"\nkeepalive_interval = 30\nshutdown_grace = 0\n'
        f"[limits]\n{table}"
        '[providers.claude]\ncommand = "/bin/true"\n' + extra
    )
    config = load_config(config_file, {}, {n: p.defaults for n, p in PROVIDERS.items()})
    async with open_fake_backend(replay) as backend:
        app = create_app(config, {"PATH": "/usr/bin:/bin"}, backend)
        async with served_in_process(app) as url:
            yield Live(url, backend, app.extensions["cliwrap"].runtime)


def chat(prompt: str, **extra: Any) -> dict[str, Any]:
    messages = [{"role": "user", "content": prompt}]
    return {"model": "sonnet", "messages": messages, "stream": True, **extra}


async def test_a_rate_limit_before_any_output_is_a_429_with_retry_after(tmp_path: Path) -> None:
    with trio.fail_after(HANG_GUARD):
        async with live_app(tmp_path) as live, httpx.AsyncClient(base_url=live.url) as http:
            response = await http.post("/v1/chat/completions", json=chat("replay:rate_limit"))
            assert response.status_code == 429
            assert response.headers["retry-after"] == "7"
            assert response.headers["content-type"] == "application/json"
            assert response.json()["error"]["type"] == "rate_limit_error"
            assert live.backend.live == []
            anthropic = await http.post(
                "/v1/messages", json={**chat("replay:overloaded_with_retry_after"), "max_tokens": 9}
            )
            assert anthropic.status_code in (503, 529)
            assert anthropic.json()["type"] == "error"
            assert "retry-after" in anthropic.headers


async def test_an_answer_streams_with_200(tmp_path: Path) -> None:
    with trio.fail_after(HANG_GUARD):
        async with live_app(tmp_path) as live, httpx.AsyncClient(base_url=live.url) as http:
            body = chat("replay:thinking_and_text")
            async with http.stream("POST", "/v1/chat/completions", json=body) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                text = "".join([chunk async for chunk in response.aiter_text()])
    assert text.rstrip().endswith("data: [DONE]")
    assert '"finish_reason":"stop"' in text.replace(" ", "")


async def test_a_burst_beyond_the_queue_gets_real_429s_streaming_included(
    tmp_path: Path,
) -> None:
    """Two slots and one place in the queue: of six streaming requests sent at once, three
    are admitted and three refused with a real 429 and Retry-After, never a 200 with the
    refusal inside the stream."""
    statuses: list[int] = []
    refused = trio.Event()
    with trio.fail_after(HANG_GUARD):
        async with live_app(tmp_path, max_concurrent=2, max_queue=1) as live:
            async with httpx.AsyncClient(base_url=live.url, timeout=HANG_GUARD) as http:

                async def one() -> None:
                    request = http.build_request("POST", "/v1/chat/completions", json=chat("hold"))
                    response = await http.send(request, stream=True)
                    statuses.append(response.status_code)
                    if statuses.count(429) == 3:
                        refused.set()
                    if response.status_code == 429:
                        assert response.headers["retry-after"]
                        await response.aread()
                        assert response.json()["error"]["code"] == "queue_full"
                    await response.aclose()

                async with trio.open_nursery() as burst:
                    for _ in range(6):
                        burst.start_soon(one)
                    # The admitted ones hold until the CLI is stopped: wait for the refusals,
                    # then leave (which disconnects the held ones).
                    await refused.wait()
                    burst.cancel_scope.cancel()
            assert statuses.count(429) == 3
            assert 200 not in statuses  # the held ones never committed (no output yet)
            for process in live.backend.started:  # the disconnected runs' CLIs end
                await process.wait()


async def test_a_stream_drained_before_its_first_output_is_a_503(tmp_path: Path) -> None:
    with trio.fail_after(HANG_GUARD):
        async with live_app(tmp_path) as live, httpx.AsyncClient(base_url=live.url) as http:
            async with trio.open_nursery() as nursery:
                answers: list[httpx.Response] = []

                async def ask() -> None:
                    answers.append(await http.post("/v1/chat/completions", json=chat("hold")))

                nursery.start_soon(ask)
                await live.backend.wait_started()
                live.runtime.draining.set()
            (answer,) = answers
            assert answer.status_code == 503
            assert answer.json()["error"]["code"] == "server_shutting_down"
            assert live.backend.live == []
