"""Any JSON at any surface's parser: a ChatRequest or a 4xx ApiError, never anything else.

Each surface parser is sans-IO, so hypothesis can throw arbitrary JSON values at it: whole
bodies, and valid bodies with one or more fields (at any depth) replaced by any JSON value of
any type. The only exception allowed out is :class:`ApiError` with a 4xx status; any other
one would be a 500 on the server. The budget is fixed and derandomized, so CI runs the same
few hundred examples every time, in seconds.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from cliwrap.core.errors import ApiError
from cliwrap.core.request import ChatRequest
from cliwrap.providers.routing import Route
from cliwrap.surfaces import anthropic_messages, openai_chat, openai_responses

from . import test_images
from .test_routing import CATALOG

BUDGET = settings(
    max_examples=200,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

PNG = base64.b64encode(test_images.PNG).decode()

# Strings the parsers look for, so that arbitrary values often land on a real code path.
WORDS = [
    "user",
    "assistant",
    "system",
    "developer",
    "tool",
    "function",
    "text",
    "input_text",
    "output_text",
    "image",
    "image_url",
    "input_image",
    "message",
    "function_call",
    "function_call_output",
    "reasoning",
    "tool_use",
    "tool_result",
    "thinking",
    "json_object",
    "json_schema",
    "base64",
    "auto",
    "any",
    "none",
    "required",
    "enabled",
    "disabled",
    "high",
    "claude",
    "gemini/--yolo",
    "sonnet-progress",
    "get_weather",
    "{}",
    '{"a": 1}',
    "not json",
    "\x00",
    "\ud800",
    "",
    " ",
    "http://[::1",
    "https://example.com/a.png",
    f"data:image/png;base64,{PNG}",
    "data:image/png;base64,%%%",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(WORDS)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(WORDS) | st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)

TOOL_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}

CHAT = {
    "model": "claude",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "hi"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ],
    "tools": [
        {
            "type": "function",
            "function": {"name": "get_weather", "description": "d", "parameters": TOOL_SCHEMA},
        }
    ],
    "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    "stream": True,
    "stream_options": {"include_usage": True},
    "n": 2,
    "stop": ["x"],
    "max_tokens": 10,
    "reasoning_effort": "high",
    "temperature": 1,
    "top_p": 0.5,
    "response_format": {"type": "json_schema", "json_schema": {"schema": TOOL_SCHEMA}},
}
LEGACY = {
    "model": "claude",
    "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "function_call": {"name": "f", "arguments": "{}"}},
        {"role": "function", "name": "f", "content": "done"},
    ],
    "functions": [{"name": "f", "parameters": TOOL_SCHEMA}],
    "function_call": {"name": "f"},
}
RESPONSES = {
    "model": "claude",
    "instructions": "Be brief.",
    "input": [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "hi"},
                {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}"},
            ],
        },
        {"type": "reasoning", "summary": []},
        {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
        {"type": "message", "role": "assistant", "content": "ok"},
    ],
    "tools": [{"type": "function", "name": "get_weather", "parameters": TOOL_SCHEMA}],
    "tool_choice": {"type": "function", "name": "get_weather"},
    "text": {"format": {"type": "json_schema", "name": "w", "schema": TOOL_SCHEMA}},
    "reasoning": {"effort": "low"},
    "max_output_tokens": 5,
    "stream": False,
}
MESSAGES = {
    "model": "claude",
    "max_tokens": 100,
    "system": [{"type": "text", "text": "Be brief."}],
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "hi"},
                {"type": "image", "source": {"type": "base64", "data": PNG}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hm"},
                {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "P"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "sunny", "is_error": 1},
                {"type": "text", "text": "and?"},
            ],
        },
    ],
    "tools": [{"name": "get_weather", "description": "d", "input_schema": TOOL_SCHEMA}],
    "tool_choice": {"type": "tool", "name": "get_weather"},
    "stop_sequences": ["x"],
    "metadata": {"user_id": "u"},
    "thinking": {"type": "enabled", "budget_tokens": 2048},
    "output_format": {"type": "json_schema", "schema": TOOL_SCHEMA},
    "temperature": 0.5,
    "top_p": 0.5,
    "top_k": 3,
    "stream": True,
}


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _replaced(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        return {**node, head: _replaced(node[head], rest, value)}
    return [_replaced(v, rest, value) if i == head else v for i, v in enumerate(node)]


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> Any:
    """``base`` with one to three of its values (or keys' values, at any depth) replaced."""
    body: Any = base
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(body)
        path = draw(st.sampled_from(paths))
        body = _replaced(body, path, draw(json_values))
    return body


def bodies(base: dict[str, Any]) -> st.SearchStrategy[Any]:
    return mutated(base) | json_values | st.dictionaries(st.sampled_from(list(base)), json_values)


def _outcome(call: Callable[[], object]) -> object:
    """What ``call`` returns, or the ApiError it raises (any other exception escapes)."""
    try:
        return call()
    except ApiError as error:
        return error


def _parses_or_4xx(parse: Callable[[Any], ChatRequest], body: Any) -> None:
    outcome = _outcome(lambda: parse(body))
    if isinstance(outcome, ApiError):
        assert 400 <= outcome.status < 500, outcome
    else:
        assert isinstance(outcome, ChatRequest)


def test_the_examples_are_valid() -> None:
    """The bases parse as they are: mutations start from bodies that reach every branch."""
    openai_chat.parse_chat_request(CHAT)
    openai_chat.parse_chat_request(LEGACY)
    openai_responses.parse_responses_request(RESPONSES)
    anthropic_messages.parse_messages_request(MESSAGES)


@BUDGET
@given(bodies(CHAT) | bodies(LEGACY))
def test_chat_completions_parser(body: Any) -> None:
    _parses_or_4xx(openai_chat.parse_chat_request, body)


@BUDGET
@given(bodies(RESPONSES))
def test_responses_parser(body: Any) -> None:
    _parses_or_4xx(openai_responses.parse_responses_request, body)


@BUDGET
@given(bodies(MESSAGES))
def test_messages_parser(body: Any) -> None:
    _parses_or_4xx(anthropic_messages.parse_messages_request, body)


@BUDGET
@given(st.sampled_from(WORDS) | st.text(max_size=20) | st.from_regex(r"[a-z]+/.{0,8}"))
def test_routing(name: str) -> None:
    route = _outcome(lambda: CATALOG.resolve(name))
    if isinstance(route, ApiError):
        assert 400 <= route.status < 500
        return
    assert isinstance(route, Route)
    assert not route.model.startswith("-"), route
    assert route.model.isprintable(), route
    assert not any(c.isspace() for c in route.model), route


@pytest.mark.parametrize(
    "parse",
    [
        openai_chat.parse_chat_request,
        openai_responses.parse_responses_request,
        anthropic_messages.parse_messages_request,
    ],
)
def test_an_object_as_a_role_is_a_400(parse: Callable[[Any], ChatRequest]) -> None:
    body = {
        "model": "claude",
        "max_tokens": 5,
        "messages": [{"role": {}, "content": "hi"}],
        "input": [{"role": {}, "content": "hi"}],
    }
    with pytest.raises(ApiError) as caught:
        parse(body)
    assert caught.value.status == 400
