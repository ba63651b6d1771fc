"""max_tokens, reasoning effort, thinking budget, temperature / top_p and their headers:
passed on to the model where the CLI can, enforced where it cannot."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cliwrap.core.errors import ApiError
from cliwrap.core.events import Finished, FinishReason, TextDelta, Usage
from cliwrap.core.request import ChatRequest, Message
from cliwrap.providers.claude import ClaudeParser
from cliwrap.providers.gemini import generation_config
from cliwrap.semantics.stops import OutputLimit
from cliwrap.surfaces.anthropic_messages import parse_messages_request
from cliwrap.surfaces.openai_chat import parse_chat_request
from cliwrap.surfaces.params import from_headers

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


def test_an_earlier_wrappers_x_claude_headers_are_aliases() -> None:
    assert from_headers(
        {
            "X-Claude-Effort": "max",
            "X-Claude-Max-Thinking-Tokens": "4096",
            "x-claude-max-turns": "3",
        }
    ) == {"reasoning_effort": "max", "thinking_budget": 4096, "max_turns": 3}
    assert from_headers({"X-Claude-Thinking": "disabled"}) == {"thinking_budget": 0}
    assert from_headers({"X-Claude-Thinking": "Adaptive"}) == {}
    assert from_headers(
        {"X-Claude-Thinking": "enabled", "X-Claude-Max-Thinking-Tokens": "2048"}
    ) == {"thinking_budget": 2048}
    # cliwrap's own header wins over its alias
    assert from_headers({"X-Claude-Max-Turns": "3", "X-Max-Turns": "1"}) == {"max_turns": 1}
    for bad in (
        {"X-Claude-Thinking": "sometimes"},
        {"X-Claude-Max-Turns": "0"},
        {"X-Claude-Effort": "extreme"},
    ):
        with pytest.raises(ApiError) as caught:
            from_headers(bad)
        assert caught.value.status == 400
        assert caught.value.param == next(iter(bad))


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


EXPECTED = {
    "claude": {"max": 50, "effort": "low"},
    "gemini": {"max": 50, "temperature": 0.3, "top_p": 0.9, "budget": 1024},
    "codex": {"effort": "low"},
}
