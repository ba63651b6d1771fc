"""API keys on a live server: ``cliwrap keys`` against the server's state directory from
another process while it runs, authentication with the keys it makes and revokes through the
OpenAI SDK, a spent budget's 429, and ``GET /v1/usage``.

Claude Code is a shell script that replays a recorded answer (no Node, no model); the
server's own config key is the admin.
"""

from __future__ import annotations

import calendar
import contextlib
import io
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
import trio

from cliwrap.access.usage import day_of
from cliwrap.cli import main
from cliwrap.core.events import Usage
from cliwrap.storage import Store
from cliwrap.testing import LiveServer

ADMIN = "admin-token"
RECORDING = Path(__file__).parents[1] / "recordings" / "claude" / "thinking_and_text.jsonl"
_BOUND = 30.0


def fake_claude(folder: Path) -> Path:
    script = folder / "claude"
    script.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "--version" ]; then echo "2.1.0 (Claude Code)"; exit 0; fi\n'
        "cat > /dev/null\n"
        f"cat '{RECORDING}'\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def write_config(folder: Path, *, api_keys: tuple[str, ...] = ()) -> Path:
    config = folder / "config.toml"
    lines = [
        "[server]",
        f'state_dir = "{folder / "state"}"',
        f"api_keys = {json.dumps(list(api_keys))}",
        "shutdown_grace = 0.0",
        "[sessions]",
        "enabled = false",
        "[warmup]",
        'strategy = "none"',
        "[providers.claude]",
        f'command = "{fake_claude(folder)}"',
    ]
    lines += [f"[providers.{name}]\nenabled = false" for name in ("codex", "gemini", "qwen")]
    config.write_text("\n".join(lines) + "\n")
    return config


ENV = {"PYTHONPATH": os.pathsep.join(sys.path)}


def keys(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``cliwrap keys ARGS``, run in this test's process: not the server's, which has the
    store open at the same time (as a second terminal's command would), without paying a
    Python start-up per command."""
    out, err = io.StringIO(), io.StringIO()
    interrupt = signal.getsignal(signal.SIGINT)  # main() resets it, as a command may
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = main(["keys", *args, "--config", str(config)])
            except SystemExit as exit:  # argparse's refusals
                status = exit.code if isinstance(exit.code, int) else 2
    finally:
        signal.signal(signal.SIGINT, interrupt)
    return subprocess.CompletedProcess(
        ["cliwrap", "keys", *args], status, out.getvalue(), err.getvalue()
    )


def create(config: Path, name: str, *options: str) -> str:
    done = keys(config, "create", name, *options)
    assert done.returncode == 0, done.stderr
    (token,) = [line for line in done.stdout.splitlines() if line.startswith("cwk_")]
    return token


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


@pytest.fixture(scope="module")
def config(folder: Path) -> Path:
    return write_config(folder, api_keys=(ADMIN,))


@pytest.fixture(scope="module")
def server(folder: Path, config: Path) -> Iterator[LiveServer]:
    with LiveServer(config, folder / "state", env=ENV) as live:
        yield live


def sdk(server: LiveServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=key, max_retries=0)


def ask(client: openai.OpenAI) -> str:
    reply = client.chat.completions.create(
        model="sonnet", messages=[{"role": "user", "content": "Hi"}]
    )
    return reply.choices[0].message.content or ""


def wait_until_refused(server: LiveServer, key: str) -> None:
    """Until requests with ``key`` get a 401 (the keyring's refresh, proved on trio's clock
    in tests/runtime/test_access_store.py; the bound only stops a regression hanging)."""
    deadline = time.monotonic() + _BOUND
    with sdk(server, key) as client:
        while True:
            try:
                client.models.list()
            except openai.AuthenticationError:
                return
            if time.monotonic() > deadline:
                raise TimeoutError("the revoked key is still accepted")
            time.sleep(0.05)


def add_usage(folder: Path, key: str, model: str, day: str, usage: Usage) -> None:
    """Usage as the server records it, written to its store from another connection."""

    async def write() -> None:
        async with await Store.open(folder / "state" / "cliwrap.sqlite3") as store:
            await store.add_usage(
                key,
                model,
                day,
                (
                    usage.input_tokens,
                    usage.output_tokens,
                    usage.cache_read_tokens,
                    usage.cost_usd or 0.0,
                ),
            )

    trio.run(write)


def test_keys_made_while_the_server_runs_work_at_once_and_revoked_ones_stop(
    server: LiveServer, config: Path
) -> None:
    token = create(config, "laptop")
    with sdk(server, token) as client:
        assert ask(client) == "Hi! How can I help?"  # its first request: no waiting
    listed = json.loads(keys(config, "list", "--json").stdout)
    assert [(k["name"], k["admin"], k["prefix"]) for k in listed] == [("laptop", False, token[:12])]
    assert token not in keys(config, "list").stdout
    done = keys(config, "revoke", "laptop")
    assert done.returncode == 0, done.stderr
    wait_until_refused(server, token)
    with pytest.raises(openai.AuthenticationError) as caught:
        ask(sdk(server, token))
    assert caught.value.code == "invalid_api_key"
    assert keys(config, "revoke", "laptop").returncode == 1  # nothing left to revoke
    with sdk(server, ADMIN) as client:  # the config's key is unaffected
        assert ask(client) == "Hi! How can I help?"


def test_bad_arguments_are_refused_before_the_store_is_touched(config: Path) -> None:
    done = keys(config, "create", "x", "--rpm", "chat=many")
    assert done.returncode == 2
    assert "GROUP=N" in done.stderr
    create(config, "twice")
    done = keys(config, "create", "twice")
    assert done.returncode == 1
    assert "already an active key named 'twice'" in done.stderr


def test_a_spent_budget_is_a_429_with_retry_after(
    server: LiveServer, config: Path, folder: Path
) -> None:
    token = create(config, "capped", "--budget-tokens", "100", "--budget-usd", "5")
    with sdk(server, token) as client:
        assert ask(client)  # nothing spent yet
        today = day_of(time.time())
        add_usage(folder, "capped", "sonnet", today, Usage(input_tokens=60, output_tokens=40))
        with pytest.raises(openai.RateLimitError) as caught:
            ask(client)
    error = caught.value
    assert error.code == "budget_exceeded"
    body = error.body
    assert isinstance(body, dict)
    spent = re.search(r"(\d+) of 100 tokens", body["message"])
    assert spent is not None, body["message"]
    assert int(spent.group(1)) > 100  # the rows added, and the first run's own tokens
    now = time.time()
    tomorrow = calendar.timegm(time.strptime(today, "%Y-%m-%d")) + 86400
    retry_after = int(error.response.headers["Retry-After"])
    assert body["retry_after"] == retry_after
    assert 0 < retry_after <= tomorrow - now + 2
    # Streams are refused the same way, with the real status.
    with httpx.Client(base_url=server.url, timeout=_BOUND) as http:
        answer = http.post(
            "/v1/messages",
            headers={"x-api-key": token, "anthropic-version": "2023-06-01"},
            json={
                "model": "sonnet",
                "max_tokens": 5,
                "stream": True,
                "messages": [{"role": "user", "content": "Hi"}],
            },
        )
    assert answer.status_code == 429
    assert int(answer.headers["Retry-After"]) in (retry_after, retry_after - 1)
    assert answer.json()["error"]["type"] == "rate_limit_error"


def test_usage_is_seen_by_its_key_and_by_admins(
    server: LiveServer, config: Path, folder: Path
) -> None:
    mine = create(config, "reader")
    create(config, "other")
    add_usage(
        folder,
        "reader",
        "sonnet",
        "2026-01-05",
        Usage(input_tokens=10, output_tokens=3, cache_read_tokens=7, cost_usd=0.5),
    )
    add_usage(folder, "reader", "opus", "2026-01-06", Usage(input_tokens=1))
    add_usage(folder, "other", "sonnet", "2026-01-05", Usage(output_tokens=100))
    window = {"since": "2026-01-01", "until": "2026-01-31"}
    with httpx.Client(base_url=server.url, timeout=_BOUND) as http:
        own = http.get("/v1/usage", params=window, headers={"Authorization": f"Bearer {mine}"})
        everyone = http.get(
            "/v1/usage", params=window, headers={"Authorization": f"Bearer {ADMIN}"}
        )
        filtered = http.get(
            "/v1/usage",
            params={**window, "key": "other"},
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
        forbidden = http.get(
            "/v1/usage",
            params={**window, "key": "other"},
            headers={"Authorization": f"Bearer {mine}"},
        )
        bad = http.get(
            "/v1/usage", params={"since": "january"}, headers={"Authorization": f"Bearer {ADMIN}"}
        )
        anonymous = http.get("/v1/usage")
    assert own.status_code == 200
    assert own.json() == {
        "object": "list",
        "data": [
            {
                "key": "reader",
                "model": "sonnet",
                "date": "2026-01-05",
                "requests": 1,
                "input_tokens": 10,
                "output_tokens": 3,
                "cached_tokens": 7,
                "cost_usd": 0.5,
            },
            {
                "key": "reader",
                "model": "opus",
                "date": "2026-01-06",
                "requests": 1,
                "input_tokens": 1,
                "output_tokens": 0,
                "cached_tokens": 0,
                "cost_usd": 0.0,
            },
        ],
        "totals": {
            "requests": 2,
            "input_tokens": 11,
            "output_tokens": 3,
            "cached_tokens": 7,
            "cost_usd": 0.5,
        },
    }
    assert {row["key"] for row in everyone.json()["data"]} == {"reader", "other"}
    assert [row["key"] for row in filtered.json()["data"]] == ["other"]
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["param"] == "key"
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "since"
    assert anonymous.status_code == 401
