"""Function calling: the prompt contract, the scanner on the answer, and every surface.

Unit tests of the sans-IO parts (the contract, history rendering, the scanner fed at every
split), then the OpenAI and Anthropic SDKs against the real CLIs, with stub models that answer
with ``<tool_call>`` blocks as a model following the contract would.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest

from cliwrap.testing import LiveServer, StubThread

from ..unit.test_tools import (
    ANTHROPIC_TOOLS,
    ARGUMENTS,
    OPENAI_TOOLS,
    RESPONSES_TOOLS,
    WEATHER,
)
from .conftest import SdkFactory
from .test_cli_matrix import CLIS, Cli, each_cli, marker, model_requests, system_text, tools

# Unicode, nesting, numbers of both kinds: what must come back exactly.


# Against the real CLIs.


def ask(content: str, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": content}], "tools": OPENAI_TOOLS, **extra}


def call_directive(name: str, arguments: dict[str, Any]) -> str:
    return f"[[call:{name} {json.dumps(arguments, ensure_ascii=False)}]]"


@each_cli
def test_a_tool_call_comes_back_exactly_and_the_cli_got_no_tools(
    cli: Cli, server: LiveServer, sdk: SdkFactory, stub: StubThread
) -> None:
    tag = marker()
    reply = sdk(server).chat.completions.create(
        model=cli.model, **ask(f"weather {tag} {call_directive('get_weather', ARGUMENTS)}")
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls or []
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == ARGUMENTS
    assert call.id.startswith("call_")
    (sent,) = model_requests(stub, cli, tag)
    assert tools(sent.body) == []  # the CLI was offered no tool of its own or the client's
    assert "get_weather" in system_text(cli, sent.body)
    assert "The forecast for a city." in system_text(cli, sent.body)


@pytest.mark.parametrize("cli", [CLIS[0], CLIS[3]], ids=str)
def test_streamed_tool_call_deltas_accumulate(
    cli: Cli, server: LiveServer, sdk: SdkFactory
) -> None:
    prompt = f"two {call_directive('get_weather', ARGUMENTS)} {call_directive('ping', {})}"
    stream = sdk(server).chat.completions.create(model=cli.model, stream=True, **ask(prompt))
    found: dict[int, dict[str, str]] = {}
    pieces: dict[int, int] = {}
    finish = None
    for chunk in stream:
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or []:
                pieces[delta.index] = pieces.get(delta.index, 0) + 1
                entry = found.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                entry["id"] += delta.id or ""
                entry["name"] += (delta.function and delta.function.name) or ""
                entry["arguments"] += (delta.function and delta.function.arguments) or ""
            finish = choice.finish_reason or finish
    assert finish == "tool_calls"
    assert [found[i]["name"] for i in sorted(found)] == ["get_weather", "ping"]
    assert json.loads(found[0]["arguments"]) == ARGUMENTS
    assert all(entry["id"].startswith("call_") for entry in found.values())
    assert pieces[0] > 3  # the arguments came as the model wrote them, not in one piece


def test_progress_marks_never_precede_a_tool_call_or_a_json_answer(
    server: LiveServer, sdk: SdkFactory
) -> None:
    """With tools or an answer format the marks are keepalives: the content is exactly the
    answer a program will parse or store (plain answers keep them: test_claude_live)."""
    client = sdk(server)
    stream = client.chat.completions.create(
        model="sonnet-progress", stream=True, **ask(f"[[hold:1.2]] {call_directive('ping', {})}")
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ""
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    stream = client.chat.completions.create(
        model="sonnet-progress",
        stream=True,
        messages=[{"role": "user", "content": '[[hold:1.2]] [[reply:{"a": 1}]]'}],
        response_format={"type": "json_object"},
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == '{"a": 1}'


@pytest.mark.parametrize("cli", [CLIS[1], CLIS[2]], ids=str)
def test_results_go_back_and_the_model_answers(
    cli: Cli, server: LiveServer, sdk: SdkFactory, stub: StubThread
) -> None:
    tag = marker()
    reply = sdk(server).chat.completions.create(
        model=cli.model,
        messages=[
            {"role": "user", "content": f"weather in Zürich? {tag}"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_abc",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Zürich"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_abc", "content": "sunny, 21 °C"},
            {"role": "user", "content": "[[reply:It is sunny.]]"},
        ],
        tools=OPENAI_TOOLS,  # type: ignore[arg-type]
    )
    assert reply.choices[0].message.content == "It is sunny."
    assert reply.choices[0].finish_reason == "stop"
    (sent,) = model_requests(stub, cli, tag)
    prompt = json.dumps(sent.body, ensure_ascii=False)
    assert '<tool_result id=\\"call_abc\\">\\nsunny, 21 °C' in prompt
    assert '\\"name\\": \\"get_weather\\", \\"arguments\\": {\\"city\\": \\"Zürich\\"}' in prompt


def test_legacy_functions_get_a_function_call(server: LiveServer, sdk: SdkFactory) -> None:
    reply = sdk(server).chat.completions.create(
        model="gpt-5.5",
        messages=[{"role": "user", "content": call_directive("get_weather", {"city": "Oslo"})}],
        functions=[{"name": "get_weather", "parameters": WEATHER}],
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "function_call"
    assert choice.message.function_call is not None
    assert choice.message.function_call.name == "get_weather"
    assert json.loads(choice.message.function_call.arguments) == {"city": "Oslo"}
    assert not choice.message.tool_calls


@pytest.mark.parametrize("model", ["sonnet", "qwen3-coder-plus"])
def test_anthropic_tool_use_round_trip(model: str, server: LiveServer) -> None:
    with anthropic.Anthropic(base_url=server.url, api_key="unused", max_retries=0) as client:
        message = client.messages.create(
            model=model,
            max_tokens=256,
            tools=ANTHROPIC_TOOLS,  # type: ignore[arg-type]
            messages=[
                {"role": "user", "content": f"weather {call_directive('get_weather', ARGUMENTS)}"}
            ],
        )
        assert message.stop_reason == "tool_use"
        (use,) = [b for b in message.content if b.type == "tool_use"]
        assert use.name == "get_weather"
        assert use.input == ARGUMENTS
        assert use.id.startswith("toolu_")
        with client.messages.stream(
            model=model,
            max_tokens=256,
            tools=ANTHROPIC_TOOLS,  # type: ignore[arg-type]
            messages=[{"role": "user", "content": call_directive("get_weather", ARGUMENTS)}],
        ) as stream:
            final = stream.get_final_message()
        assert final.stop_reason == "tool_use"
        assert [b.input for b in final.content if b.type == "tool_use"] == [ARGUMENTS]
        answer = client.messages.create(
            model=model,
            max_tokens=256,
            tools=ANTHROPIC_TOOLS,  # type: ignore[arg-type]
            messages=[
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": [use.model_dump()]},  # type: ignore[list-item,misc]
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": use.id, "content": "sunny"},
                        {"type": "text", "text": "[[reply:Sunny.]]"},
                    ],
                },
            ],
        )
    assert answer.stop_reason == "end_turn"
    assert answer.content[-1].type == "text"
    assert answer.content[-1].text == "Sunny."


@pytest.mark.parametrize("model", ["gpt-5.5", "gemini-2.5-flash"])
def test_responses_function_call_round_trip(
    model: str, server: LiveServer, sdk: SdkFactory
) -> None:
    client = sdk(server)
    response = client.responses.create(
        model=model,
        input=f"weather {call_directive('get_weather', ARGUMENTS)}",
        tools=RESPONSES_TOOLS,  # type: ignore[arg-type]
    )
    (item,) = [i for i in response.output if i.type == "function_call"]
    assert item.name == "get_weather"
    assert json.loads(item.arguments) == ARGUMENTS
    with client.responses.stream(
        model=model,
        input=call_directive("get_weather", ARGUMENTS),
        tools=RESPONSES_TOOLS,  # type: ignore[arg-type]
    ) as stream:
        final = stream.get_final_response()
    assert [json.loads(i.arguments) for i in final.output if i.type == "function_call"] == [
        ARGUMENTS
    ]
    answer = client.responses.create(
        model=model,
        tools=RESPONSES_TOOLS,  # type: ignore[arg-type]
        input=[
            {"role": "user", "content": "weather?"},
            {
                "type": "function_call",
                "call_id": item.call_id,
                "name": "get_weather",
                "arguments": item.arguments,
            },
            {"type": "function_call_output", "call_id": item.call_id, "output": "sunny"},
            {"role": "user", "content": "[[reply:Sunny.]]"},
        ],
    )
    assert answer.output_text == "Sunny."
