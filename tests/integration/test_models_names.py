"""Models, the predecessors' names, /v1/compatibility and CORS, through the SDKs and raw HTTP.

One live server for the module: Codex is a fake CLI that prints a version and a catalog (the
context windows come from it), the others are not installed (their limits come from the
tables), and one origin may call from a browser.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest

from cliwrap.providers import PROVIDERS
from cliwrap.testing import LiveServer

ORIGIN = "https://app.example"
KEY = "test-key"
CATALOG = (
    '{"models": [{"slug": "gpt-6.1-sol", "visibility": "list", "priority": 1,'
    ' "context_window": 500000}]}'
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("models")
    codex = folder / "codex"
    codex.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        '  --version) echo "codex-cli 9.9.9" ;;\n'
        f"  debug) echo '{CATALOG}' ;;\n"
        "esac\n"
    )
    codex.chmod(codex.stat().st_mode | stat.S_IXUSR)
    config = folder / "config.toml"
    lines = [
        "[server]",
        f'state_dir = "{folder / "state"}"',
        f'api_keys = ["{KEY}"]',
        f'cors_origins = ["{ORIGIN}"]',
        "[providers.codex]",
        f'command = "{codex}"',
        "[providers.claude.limits]",
        "haiku = { max_output_tokens = 1234 }",
    ]
    lines += [
        f'[providers.{name}]\ncommand = "/nonexistent/{name}"'
        for name in PROVIDERS
        if name not in ("codex", "claude")
    ]
    lines.append('[providers.claude]\ncommand = "/nonexistent/claude"')
    config.write_text("\n".join(lines) + "\n")
    env = {"PYTHONPATH": os.pathsep.join(sys.path)}
    with LiveServer(config, folder / "state", env=env) as live:
        yield live


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0) as sdk:
        yield sdk


def test_the_list_has_limits_and_no_progress_twins(client: openai.OpenAI) -> None:
    listed = {m.id: m.model_extra or {} for m in client.models.list().data}
    assert {"opus", "sonnet", "haiku", "gpt-6.1-sol", "codex-auto", "qwen-auto"} <= set(listed)
    assert not any(name.endswith("-progress") for name in listed)
    sol = listed["gpt-6.1-sol"]  # the window from the CLI's own catalog
    assert sol["context_length"] == sol["max_model_len"] == sol["max_input_tokens"] == 500000
    assert sol["top_provider"] == {
        "context_length": 500000,
        "max_completion_tokens": 128000,
        "is_moderated": False,
    }
    haiku = listed["haiku"]  # the output limit from the config, the window from the table
    assert (haiku["context_length"], haiku["max_output_tokens"]) == (200000, 1234)
    assert listed["gemini-2.5-pro"]["context_window"] == 1048576
    assert listed["qwen3-coder-plus"]["max_tokens"] == 32768


@pytest.mark.parametrize(
    ("name", "owner", "context"),
    [
        ("claude/opus", "claude", 200000),
        ("gpt-4o", "claude", 200000),  # a built-in alias: not listed, still retrievable
        ("sonnet-progress", "claude", 200000),
        ("qwen-qwen3-coder-plus", "qwen", 1000000),
        ("claude-3-5-sonnet-20241022-chat", "claude", 200000),
        ("gpt-6.1-sol", "codex", 500000),
    ],
)
def test_a_model_is_retrieved_by_any_name_that_routes(
    client: openai.OpenAI, name: str, owner: str, context: int
) -> None:
    model = client.models.retrieve(name)
    assert (model.id, model.owned_by) == (name, owner)
    assert (model.model_extra or {})["context_length"] == context


def test_an_unknown_model_is_a_404_in_openai_shape(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("llama-3")
    assert caught.value.code == "model_not_found"


def test_anthropic_clients_get_anthropics_shape(server: LiveServer) -> None:
    with anthropic.Anthropic(base_url=server.url, api_key=KEY, max_retries=0) as sdk:
        page = sdk.models.list(limit=2)
        assert [m.id for m in page.data] == ["opus", "sonnet"]
        assert page.has_more is True
        assert page.data[0].type == "model"
        assert page.data[0].max_input_tokens == 200000
        assert page.data[0].max_tokens == 128000
        everything = [m.id for m in sdk.models.list(limit=1000)]
        assert "gpt-6.1-sol" in everything
        assert sdk.models.retrieve("claude/haiku").max_tokens == 1234
        with pytest.raises(anthropic.NotFoundError) as caught:
            sdk.models.retrieve("llama-3")
        assert caught.value.body["type"] == "error"  # type: ignore[index]
        with pytest.raises(anthropic.BadRequestError):
            sdk.models.list(limit=0)


def test_compatibility_says_what_each_cli_does_with_each_parameter(server: LiveServer) -> None:
    body = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.3,
        "max_tokens": 50,
        "presence_penalty": 1,
        "top_p": 7,
    }
    answer = httpx.post(
        server.url + "/v1/compatibility",
        json=body,
        headers={"Authorization": f"Bearer {KEY}", "X-Claude-Max-Turns": "2"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["routes_to"] == {"provider": "claude", "model": "sonnet"}
    assert report["rejected"] == {"top_p": "'top_p' must be a number from 0 to 1."}
    clis = report["clis"]
    assert set(clis) == set(PROVIDERS)
    assert "temperature" in clis["gemini"]["honoured"]
    assert "temperature" in clis["claude"]["ignored"]
    assert "presence_penalty" in clis["codex"]["ignored"]
    assert "max_tokens" in clis["qwen"]["applied_by_cliwrap"]  # enforced, not passed on
    assert "max_tokens" in clis["claude"]["honoured"]
    assert "max_tokens" not in clis["claude"]["applied_by_cliwrap"]
    assert "X-Claude-Max-Turns" in clis["claude"]["honoured"]
    assert "X-Claude-Max-Turns" in clis["gemini"]["ignored"]
    refused = httpx.post(
        server.url + "/v1/compatibility?surface=grpc",
        json=body,
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=30,
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "surface"


def test_a_preflight_is_answered_without_a_key(server: LiveServer) -> None:
    answer = httpx.options(
        server.url + "/v1/chat/completions",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
        timeout=30,
    )
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in answer.headers["access-control-allow-methods"]
    assert answer.headers["access-control-allow-headers"] == "authorization, content-type"
    assert "Origin" in answer.headers["vary"]


def test_answers_and_errors_carry_cors_headers_for_allowed_origins_only(
    server: LiveServer,
) -> None:
    refused = httpx.get(server.url + "/v1/models", headers={"Origin": ORIGIN}, timeout=30)
    assert refused.status_code == 401  # no key: the page still gets to read why
    assert refused.headers["access-control-allow-origin"] == ORIGIN
    assert "Retry-After" in refused.headers["access-control-expose-headers"]
    listed = httpx.get(
        server.url + "/v1/models",
        headers={"Origin": ORIGIN, "Authorization": f"Bearer {KEY}"},
        timeout=30,
    )
    assert listed.headers["access-control-allow-origin"] == ORIGIN
    other = httpx.options(
        server.url + "/v1/chat/completions",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        timeout=30,
    )
    assert "access-control-allow-origin" not in other.headers
