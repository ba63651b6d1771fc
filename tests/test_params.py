"""max_tokens, reasoning effort, thinking budget, temperature / top_p and their headers:
passed on to the model where the CLI can, enforced where it cannot."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from cliwrap.api.anthropic_messages import parse_messages_request
from cliwrap.api.openai_chat import parse_chat_request
from cliwrap.api.params import from_headers
from cliwrap.errors import ApiError
from cliwrap.events import Finished, FinishReason, TextDelta, Usage
from cliwrap.providers.claude import ClaudeParser
from cliwrap.providers.gemini import generation_config
from cliwrap.request import ChatRequest, Message
from cliwrap.stops import OutputLimit
from cliwrap.testing import LiveServer, StubThread

from .conftest import SdkFactory
from .test_cli_matrix import CLIS, Cli, each_cli, marker, model_requests

USER = [{"role": "user", "content": "x"}]


def test_the_output_limit_cuts_at_about_four_characters_a_token() -> None:
    limit = OutputLimit(3)
    events = [out for piece in ("abcde", "fghij", "klmno") for out in limit.feed(TextDelta(piece))]
    assert events == [
        TextDelta("abcde"),
        TextDelta("fghij"),
        TextDelta("kl"),
        Finished(FinishReason.LENGTH),
    ]
    assert limit.feed(Finished()) == []


def test_parameters_are_read_and_checked_on_each_surface() -> None:
    chat = parse_chat_request(
        {
            "model": "m",
            "messages": USER,
            "max_completion_tokens": 9,
            "max_tokens": 5,
            "reasoning_effort": "high",
            "temperature": 0.2,
            "top_p": 0.5,
        }
    )
    assert (chat.max_tokens, chat.reasoning_effort, chat.temperature, chat.top_p) == (
        9,
        "high",
        0.2,
        0.5,
    )
    for bad in ({"max_tokens": 0}, {"reasoning_effort": "huge"}, {"temperature": 3}):
        with pytest.raises(ApiError) as caught:
            parse_chat_request({"model": "m", "messages": USER, **bad})
        assert caught.value.param == next(iter(bad))
    messages = parse_messages_request(
        {
            "model": "m",
            "max_tokens": 64,
            "messages": USER,
            "thinking": {"type": "enabled", "budget_tokens": 2048},
        }
    )
    assert (messages.max_tokens, messages.thinking_budget) == (64, 2048)
    with pytest.raises(ApiError) as caught:
        parse_messages_request(
            {
                "model": "m",
                "max_tokens": 64,
                "messages": USER,
                "thinking": {"type": "enabled", "budget_tokens": 10},
            }
        )
    assert "budget_tokens" in caught.value.message


def test_headers_set_effort_thinking_budget_and_max_turns() -> None:
    assert from_headers(
        {"x-reasoning-effort": "LOW", "X-Thinking-Budget": "0", "X-Max-Turns": "2"}
    ) == {"reasoning_effort": "low", "thinking_budget": 0, "max_turns": 2}
    for bad in ({"X-Max-Turns": "two"}, {"X-Reasoning-Effort": "loud"}):
        with pytest.raises(ApiError) as caught:
            from_headers(bad)
        assert caught.value.status == 400


def test_gemini_gets_them_as_generation_config() -> None:
    request = ChatRequest(
        model="m",
        messages=(Message("user", "x"),),
        max_tokens=50,
        temperature=0.3,
        reasoning_effort="low",
    )
    assert generation_config(request) == {
        "maxOutputTokens": 50,
        "temperature": 0.3,
        "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True},
    }
    assert generation_config(ChatRequest(model="m", messages=())) == {}


def stream_event(event: dict[str, Any]) -> bytes:
    return json.dumps({"type": "stream_event", "event": event}).encode()


def test_claude_ends_at_the_clients_limit_instead_of_resuming() -> None:
    parser = ClaudeParser(stop_at_length=True)
    start = {"type": "message_start", "message": {"id": "m1", "usage": {"input_tokens": 7}}}
    assert parser.feed(stream_event(start)) == []
    delta = {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "cut"}}
    assert parser.feed(stream_event(delta)) == [TextDelta("cut")]
    stop = {
        "type": "message_delta",
        "delta": {"stop_reason": "max_tokens"},
        "usage": {"output_tokens": 5},
    }
    assert parser.feed(stream_event(stop)) == [
        Usage(input_tokens=7, output_tokens=5),
        Finished(FinishReason.LENGTH),
    ]
    assert ClaudeParser().feed(stream_event(stop)) == []  # without a client limit it resumes


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


EXPECTED = {
    "claude": {"max": 50, "effort": "low"},
    "gemini": {"max": 50, "temperature": 0.3, "top_p": 0.9, "budget": 1024},
    "codex": {"effort": "low"},
}


@pytest.mark.real_cli
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


@pytest.mark.real_cli
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


@pytest.mark.real_cli
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
