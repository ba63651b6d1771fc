"""The CLIs' health over raw HTTP: a logged-out CLI refused at once, ``fallback_model``,
``/v1/auth/status`` and ``/healthz/deep``, on the app served by hypercorn in-process.

Claude Code's real provider (invocation and parser) runs on the fake process backend, which
replays what the pinned CLI printed (``tests/recordings/claude``): no Node, no model. The
model the CLI was given picks the recording: ``sonnet`` fails as the prompt says, ``haiku``
answers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import trio

from cliwrap.config import load_config
from cliwrap.health import LoginState
from cliwrap.providers import PROVIDERS
from cliwrap.server.app import create_app
from cliwrap.server.service import Service
from cliwrap.testing.fake_processes import FakeBackend, FakeCli, open_fake_backend
from cliwrap.testing.in_process import served_in_process
from cliwrap.testing.live import eventually

from .test_stream_status import RECORDINGS

HANG_GUARD = 60  # seconds; only so that a regression fails instead of hanging the suite
LOGGED_OUT = '{"loggedIn": false, "authMethod": "none", "apiProvider": "firstParty"}'


async def replay(cli: FakeCli) -> int:
    """``--model haiku`` answers; any other model replays the recording the prompt names."""
    prompt = (await cli.read_stdin()).decode()
    model = cli.argv[cli.argv.index("--model") + 1]
    name = "thinking_and_text" if model == "haiku" else prompt.split("replay:", 1)[1].split()[0]
    for line in (RECORDINGS / f"{name}.jsonl").read_bytes().splitlines():
        await cli.print(line)
    return 0 if name == "thinking_and_text" else 1


@attrs.frozen
class Live:
    url: str
    backend: FakeBackend
    service: Service


@asynccontextmanager
async def live_app(tmp_path: Path, claude: str = "") -> AsyncIterator[Live]:
    config_file = tmp_path / "config.toml"
    # What the login probe runs: this "claude" says it is logged out (`claude auth status`).
    command = tmp_path / "claude"
    command.write_text(f"#!/bin/sh\necho '{LOGGED_OUT}'\nexit 1\n")
    command.chmod(0o755)
    config_file.write_text(
        f'[server]\nstate_dir = "{tmp_path}"\nkeepalive_interval = 30\nshutdown_grace = 0\n'
        "[health]\nlogin_interval = 0\n"
        f'[providers.claude]\ncommand = "{command}"\n' + claude
    )
    config = load_config(config_file, {}, {n: p.defaults for n, p in PROVIDERS.items()})
    async with open_fake_backend(replay) as backend, trio.open_nursery() as nursery:
        app = create_app(config, {"PATH": "/usr/bin:/bin"}, backend)
        nursery.start_soon(app.extensions["cliwrap"].watch_logins)  # as run_sessions does
        async with served_in_process(app) as url:
            yield Live(url, backend, app.extensions["cliwrap"])
        nursery.cancel_scope.cancel()


def chat(prompt: str, model: str = "sonnet", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": prompt}], **extra}


async def test_a_logged_out_cli_is_refused_at_once_in_every_surface_then_healthy_again(
    tmp_path: Path,
) -> None:
    with trio.fail_after(HANG_GUARD):
        async with live_app(tmp_path) as live, httpx.AsyncClient(base_url=live.url) as http:
            first = await http.post("/v1/chat/completions", json=chat("replay:auth_error"))
            assert first.status_code == 401
            assert first.json()["error"]["code"] == "cli_not_logged_in"
            # A run's 401 refuses nothing by itself: it makes the server probe the login now,
            # and the probe's verdict (here: logged out) is the one that refuses.
            await eventually(lambda: not live.service.login.get("claude").from_run)
            started = len(live.backend.started)
            status = (await http.get("/v1/auth/status")).json()
            claude = status["providers"]["claude"]
            assert claude["healthy"] is False
            assert claude["checked_at"] is not None
            assert "claude" in claude["hint"]
            # Known logged out: 401 at once, in each surface's shape, and no process.
            again = await http.post("/v1/chat/completions", json=chat("hello", stream=True))
            assert again.status_code == 401
            assert again.json()["error"]["code"] == "cli_not_logged_in"
            messages = await http.post("/v1/messages", json=chat("hello", max_tokens=9))
            assert messages.status_code == 401
            assert messages.json()["error"]["type"] == "authentication_error"
            responses = await http.post("/v1/responses", json={"model": "sonnet", "input": "hi"})
            assert responses.status_code == 401
            assert len(live.backend.started) == started
            # A run that answers marks it healthy again (here: the verdict is made stale).
            live.service.login._trust = 0.0
            ok = await http.post("/v1/chat/completions", json=chat("hi", model="haiku"))
            assert ok.status_code == 200
            assert live.service.login.get("claude").healthy is True


async def test_an_overloaded_model_falls_back_and_says_so(tmp_path: Path) -> None:
    with trio.fail_after(HANG_GUARD):
        async with (
            live_app(tmp_path, 'fallback_model = "haiku"\n') as live,
            httpx.AsyncClient(base_url=live.url) as http,
        ):
            answer = await http.post("/v1/chat/completions", json=chat("replay:overloaded"))
            assert answer.status_code == 200
            assert answer.headers["x-cliwrap-fallback"] == "sonnet"
            assert answer.json()["model"] == "claude/haiku"
            assert answer.json()["choices"][0]["message"]["content"]
            answered, tried = live.service.runs.recent()[:2]  # newest first
            assert (answered.model, answered.fallback_from) == ("claude/haiku", "sonnet")
            assert (tried.model, tried.outcome) == ("sonnet", "failed:overloaded")
            body = chat("replay:rate_limit", stream=True)
            async with http.stream("POST", "/v1/chat/completions", json=body) as stream:
                assert stream.status_code == 200
                assert stream.headers["x-cliwrap-fallback"] == "sonnet"
                text = "".join([chunk async for chunk in stream.aiter_text()])
            assert '"model":"claude/haiku"' in text.replace(" ", "")
            assert text.rstrip().endswith("data: [DONE]")
            assert live.backend.live == []


async def test_without_a_fallback_the_failure_is_answered(tmp_path: Path) -> None:
    with trio.fail_after(HANG_GUARD):
        async with live_app(tmp_path) as live, httpx.AsyncClient(base_url=live.url) as http:
            answer = await http.post("/v1/chat/completions", json=chat("replay:overloaded"))
            assert answer.status_code in (503, 529)
            assert "x-cliwrap-fallback" not in answer.headers
            assert len(live.backend.started) == 1


async def test_healthz_deep_is_a_real_probe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The test's ``claude auth status`` says logged out: not ready (503); a probe that
    finds a login makes it ready."""
    with trio.fail_after(HANG_GUARD):
        async with live_app(tmp_path) as live, httpx.AsyncClient(base_url=live.url) as http:
            deep = await http.get("/healthz/deep")
            assert deep.status_code == 503
            assert deep.json()["providers"]["claude"] == {
                "installed": True,
                "healthy": False,
                "method": None,
            }
            assert deep.json()["providers"]["gemini"]["healthy"] is False  # no key at all

            async def logged_in(*args: object) -> LoginState:
                return LoginState(method="claude.ai", healthy=True)

            monkeypatch.setattr("cliwrap.server.service.probe_login", logged_in)
            ready = await http.get("/healthz/deep")
            assert ready.status_code == 200
            assert ready.json()["providers"]["claude"]["method"] == "claude.ai"
