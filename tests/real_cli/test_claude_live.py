"""Claude Code end to end: the real pinned CLI, a stub Anthropic backend, real clients."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import uuid
from contextlib import AbstractContextManager
from functools import partial
from pathlib import Path

import httpx
import openai
import pytest
import trio

from cliwrap.testing import LiveServer, group_alive

from .conftest import SdkFactory, ServerFactory


def stream(server: LiveServer, content: str) -> AbstractContextManager[httpx.Response]:
    """A raw streaming chat request, for the wire details the SDKs hide."""
    body = {"model": "sonnet", "stream": True, "messages": [{"role": "user", "content": content}]}
    return httpx.stream("POST", server.base_url + "/chat/completions", json=body, timeout=30)


def marker() -> str:
    return uuid.uuid4().hex[:12]


async def test_async_client_streams(server: LiveServer) -> None:
    async_client = openai.AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0)
    tag = marker()
    stream = await async_client.chat.completions.create(
        model="sonnet", stream=True, messages=[{"role": "user", "content": f"async {tag}"}]
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == f"echo: async {tag}"
    reply = await async_client.chat.completions.create(
        model="claude/sonnet", messages=[{"role": "user", "content": f"again {tag}"}]
    )
    assert reply.choices[0].message.content == f"echo: again {tag}"
    await async_client.close()


def test_slow_stream_gets_keepalives(start_server: ServerFactory) -> None:
    slow = start_server(server={"keepalive_interval": 0.2})
    with stream(slow, "[[hold:1.5]] [[delay:0.5]] [[reply:ab]] [[chunk:1]]") as response:
        lines = [line for line in response.iter_lines() if line]
    keepalives = [i for i, line in enumerate(lines) if line.startswith(":")]
    first_text = next(i for i, line in enumerate(lines) if '"content":"a"' in line)
    # Keepalives while the model was silent; how many, and between slow deltas, is tested
    # on the MockClock (tests/runtime/test_job.py), where a busy machine cannot skew it.
    assert keepalives
    assert keepalives[0] < first_text
    assert lines[-1] == "data: [DONE]"


def test_progress_model_shows_marks_before_the_answer(
    start_server: ServerFactory, sdk: SdkFactory
) -> None:
    slow = start_server(server={"keepalive_interval": 5.0})
    stream = sdk(slow).chat.completions.create(
        model="sonnet-progress",
        stream=True,
        messages=[{"role": "user", "content": "[[hold:1.5]] [[reply:done]]"}],
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    marks, _, answer = text.partition("\n\n")
    # Marks at 0 s and 1 s, then 2.5 s (when a loaded machine slows the CLI's start), ...
    assert marks.split() in (["⏳", "⏳·"], ["⏳", "⏳·", "◐"])
    assert answer == "done"


def test_first_output_deadline(start_server: ServerFactory, sdk: SdkFactory) -> None:
    short = start_server(deadlines={"first_output": 1.5})
    with pytest.raises(openai.APIStatusError, match="first output") as caught:
        sdk(short).chat.completions.create(
            model="sonnet", messages=[{"role": "user", "content": "[[hold:30]]"}]
        )
    assert caught.value.status_code == 504


def test_cli_missing_is_503_with_install_hint(start_server: ServerFactory, sdk: SdkFactory) -> None:
    missing = start_server(providers__claude={"command": "/nonexistent/claude"})
    with pytest.raises(openai.APIStatusError, match="npm install") as caught:
        sdk(missing).chat.completions.create(
            model="sonnet", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.status_code == 503
    models = sdk(missing).models.list()
    installed = {m.id: (m.model_extra or {})["installed"] for m in models.data}
    assert installed["sonnet"] is False
    assert installed["gemini-2.5-flash"] is True


def test_fifty_concurrent_streams_each_get_their_own_answer(server: LiveServer) -> None:
    async def one(async_client: openai.AsyncOpenAI, n: int, answers: dict[int, str]) -> None:
        stream = await async_client.chat.completions.create(
            model="sonnet",
            stream=True,
            messages=[{"role": "user", "content": f"request number {n}"}],
        )
        answers[n] = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    async def main() -> dict[int, str]:
        answers: dict[int, str] = {}
        async_client = openai.AsyncOpenAI(
            base_url=server.base_url, api_key="x", max_retries=0, timeout=120
        )
        async with trio.open_nursery() as nursery:
            for n in range(50):
                nursery.start_soon(one, async_client, n, answers)
        await async_client.close()
        return answers

    answers = trio.run(main)
    assert answers == {n: f"echo: request number {n}" for n in range(50)}


def test_sigterm_drains_streams_in_flight(start_server: ServerFactory) -> None:
    # Keepalives every 0.2 s commit each stream (200) long before the drain; a stream that had
    # not begun would get a plain 503 instead (tests/integration/test_stream_status.py).
    draining = start_server(server={"shutdown_grace": 0.3, "keepalive_interval": 0.2})
    results: dict[int, list[str]] = {}

    async def stream(n: int) -> None:
        async with (
            httpx.AsyncClient(timeout=30) as http,
            http.stream(
                "POST",
                draining.base_url + "/chat/completions",
                json={
                    "model": "sonnet",
                    "stream": True,
                    "messages": [{"role": "user", "content": f"[[hold:30]] {n}"}],
                },
            ) as response,
        ):
            results[n] = [line async for line in response.aiter_lines() if line.startswith("data:")]

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            for n in range(3):
                nursery.start_soon(stream, n)
            await trio.to_thread.run_sync(draining.wait_for_cli, 3)
            groups = draining.pgids()
            draining.signal(signal.SIGTERM)
        status = await trio.to_thread.run_sync(partial(draining.stop, signal_first=False))
        assert status == 0, draining.log
        assert not [g for g in groups if group_alive(g)]

    trio.run(main)
    assert sorted(results) == [0, 1, 2]
    for lines in results.values():
        assert lines[-1] == "data: [DONE]"
        assert "server_shutting_down" in lines[-2]
    assert draining.pgids() == []


def test_crash_recovery_sweeps_orphaned_cli(start_server: ServerFactory) -> None:
    crashed = start_server()

    def hang() -> None:
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(
                crashed.base_url + "/chat/completions",
                json={"model": "sonnet", "messages": [{"role": "user", "content": "[[hold:60]]"}]},
                timeout=30,
            )

    thread = threading.Thread(target=hang)
    thread.start()
    (pgid,) = crashed.wait_for_cli()
    workdir = Path(f"/proc/{pgid}/cwd").readlink()
    time.sleep(0.5)  # past its start-up output: with its reader gone, a write would kill it
    crashed.kill()  # SIGKILL: no cleanup at all
    thread.join()
    assert group_alive(pgid), "the orphaned CLI should outlive a SIGKILLed server"
    restarted = start_server(state_dir=crashed.state_dir)
    swept = time.monotonic()
    while group_alive(pgid) and time.monotonic() - swept < 30:
        time.sleep(0.005)  # SIGKILL is delivered asynchronously
    assert not group_alive(pgid)
    assert restarted.pgids() == []
    assert "left by a stopped server" in restarted.log
    assert not workdir.exists(), "the sweep removes the dead run's private directory"


def test_not_logged_in_is_401_with_what_to_run(
    start_server: ServerFactory, sdk: SdkFactory
) -> None:
    logged_out = start_server(providers__claude={"env": {"ANTHROPIC_API_KEY": ""}})
    with pytest.raises(openai.APIStatusError) as caught:
        sdk(logged_out).chat.completions.create(
            model="sonnet", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.status_code == 401
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["code"] == "cli_not_logged_in"
    assert "Not logged in" in caught.value.message
    assert "/login" in caught.value.message
