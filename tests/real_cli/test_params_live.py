"""max_tokens, reasoning effort, thinking budget, temperature / top_p and their headers:
passed on to the model where the CLI can, enforced where it cannot."""

from __future__ import annotations

from typing import Any

import httpx

from cliwrap.testing import LiveServer, StubThread

from ..unit.test_params import EXPECTED, USER
from .conftest import SdkFactory
from .test_cli_matrix import CLIS, Cli, each_cli, marker, model_requests

# Against the real CLIs: what reaches the model API.


def received(cli: Cli, body: dict[str, Any]) -> dict[str, Any]:
    """The parameters in a model request, whichever API it is."""
    if cli.api == "/v1/messages":
        return {
            "max": body.get("max_tokens"),
            "effort": (body.get("output_config") or {}).get("effort"),
        }
    if cli.api.startswith("/v1beta"):
        config = body.get("generationConfig") or {}
        return {
            "max": config.get("maxOutputTokens"),
            "temperature": config.get("temperature"),
            "top_p": config.get("topP"),
            "budget": (config.get("thinkingConfig") or {}).get("thinkingBudget"),
        }
    return {"effort": (body.get("reasoning") or {}).get("effort")}


@each_cli
def test_parameters_reach_the_model_where_the_cli_can_pass_them(
    cli: Cli, server: LiveServer, sdk: SdkFactory, stub: StubThread
) -> None:
    tag = marker()
    reply = sdk(server).chat.completions.create(
        model=cli.model,
        messages=[{"role": "user", "content": f"[[reply:{'long answer ' * 20}]] {tag}"}],
        max_tokens=50,
        reasoning_effort="low",
        temperature=0.3,
        top_p=0.9,
    )
    (sent,) = model_requests(stub, cli, tag)
    if cli.name in EXPECTED:
        assert received(cli, sent.body) == EXPECTED[cli.name]
    if cli.name in ("qwen", "codex"):  # enforced here: about four characters a token
        assert reply.choices[0].finish_reason == "length"
        assert len(reply.choices[0].message.content or "") == 200
    else:
        assert reply.choices[0].finish_reason == "stop"  # the stub ignores the limit


def test_claude_code_does_not_resume_past_the_clients_limit(
    server: LiveServer, sdk: SdkFactory
) -> None:
    reply = sdk(server).chat.completions.create(
        model="sonnet",
        max_tokens=50,
        messages=[{"role": "user", "content": "[[reply:cut short]] [[stop:max_tokens]]"}],
    )
    assert reply.choices[0].message.content == "cut short"
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None
    assert reply.usage.completion_tokens > 0


def test_headers_reach_the_model(server: LiveServer, stub: StubThread) -> None:
    tag = marker()
    response = httpx.post(
        server.base_url + "/chat/completions",
        headers={"X-Reasoning-Effort": "high", "X-Max-Turns": "1"},
        json={"model": "sonnet", "messages": [{"role": "user", "content": f"hi {tag}"}]},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    (sent,) = model_requests(stub, CLIS[0], tag)
    assert received(CLIS[0], sent.body)["effort"] == "high"
    bad = httpx.post(
        server.base_url + "/chat/completions",
        headers={"X-Thinking-Budget": "lots"},
        json={"model": "sonnet", "messages": USER},
        timeout=60,
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "X-Thinking-Budget"
