"""Function calling: the prompt contract, the scanner on the answer, and every surface.

Unit tests of the sans-IO parts (the contract, history rendering, the scanner fed at every
split), then the OpenAI and Anthropic SDKs against the real CLIs, with stub models that answer
with ``<tool_call>`` blocks as a model following the contract would.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from cliwrap.core.errors import ApiError
from cliwrap.core.events import (
    Event,
    Finished,
    FinishReason,
    TextDelta,
    ToolArgumentsDelta,
    ToolCalled,
    ToolCallStarted,
)
from cliwrap.core.request import ChatRequest, Message, Tool, ToolCall, ToolChoice
from cliwrap.semantics.tools import ToolCallScanner, with_contract
from cliwrap.surfaces.openai_chat import parse_chat_request

WEATHER: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city"],
}
OPENAI_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The forecast for a city.",
            "parameters": WEATHER,
        },
    },
    {"type": "function", "function": {"name": "ping", "parameters": {"type": "object"}}},
]
# Unicode, nesting, numbers of both kinds: what must come back exactly.
ARGUMENTS = {"city": "Zürich ☀", "days": 3, "ratio": 0.5, "opts": {"units": ["metric"]}}


AUTO = ToolChoice()


def request_with_tools(choice: ToolChoice = AUTO) -> ChatRequest:
    return ChatRequest(
        model="m",
        messages=(Message("user", "weather?"),),
        tools=(Tool("get_weather", "The forecast.", WEATHER), Tool("ping")),
        tool_choice=choice,
    )


def scan(pieces: list[str]) -> list[Event]:
    scanner = ToolCallScanner(request_with_tools())
    events: list[Event] = []
    for piece in pieces:
        events += scanner.feed(TextDelta(piece))
    return events + scanner.feed(Finished())


def merged(events: list[Event]) -> list[Event]:
    """Adjacent text (or argument) deltas as one, so that streams split differently compare
    equal."""
    out: list[Event] = []
    for event in events:
        if isinstance(event, TextDelta) and out and isinstance(out[-1], TextDelta):
            out[-1] = TextDelta(out[-1].text + event.text)
        elif isinstance(event, ToolArgumentsDelta) and out and isinstance(out[-1], type(event)):
            out[-1] = ToolArgumentsDelta(out[-1].text + event.text)
        else:
            out.append(event)
    return out


def calls(events: list[Event]) -> list[tuple[str, Any]]:
    return [
        (e.call.name, json.loads(e.call.arguments)) for e in events if isinstance(e, ToolCalled)
    ]


ANSWER = (
    "Let me look.\n<tool_call>\n"
    + json.dumps({"name": "get_weather", "arguments": ARGUMENTS}, ensure_ascii=False)
    + '\n</tool_call>\n<tool_call>\n{"name": "ping", "arguments": "{}"}\n</tool_call>\n'
)


def test_the_scanner_finds_calls_however_the_answer_is_split() -> None:
    whole = merged(scan([ANSWER]))
    assert whole[0] == TextDelta("Let me look.\n")
    assert calls(whole) == [("get_weather", ARGUMENTS), ("ping", {})]
    assert whole[-1] == Finished(FinishReason.TOOL_CALLS)
    for cut in range(1, len(ANSWER)):
        split = merged(scan([ANSWER[:cut], ANSWER[cut:]]))
        assert [type(e) for e in split] == [type(e) for e in whole], cut
        assert calls(split) == calls(whole), cut
    one_by_one = merged(scan(list(ANSWER)))
    assert calls(one_by_one) == calls(whole)


@pytest.mark.parametrize(
    "text",
    [
        "Compare a < b and <tools> with <tool_calls>.",
        '<tool_call>{"name": "rm_rf", "arguments": {}}</tool_call>',  # not an offered tool
        "<tool_call>not json</tool_call>",
        '<tool_call>{"name": "ping", "arguments": [1]}</tool_call>',
        '<tool_call>{"arguments": {}, "name": "ping"',  # never closed
    ],
)
def test_anything_but_a_valid_call_stays_text_exactly(text: str) -> None:
    events = merged(scan([text[: len(text) // 2], text[len(text) // 2 :]]))
    assert events == [TextDelta(text), Finished(FinishReason.STOP)]


def test_arguments_stream_as_the_model_writes_them() -> None:
    """A block written as the contract shows it is a call from its name on: its arguments go
    out piece by piece (partial-JSON clients show them growing), and they add up to the
    call's arguments exactly as written."""
    events = scan(list(ANSWER))
    started = [e for e in events if isinstance(e, ToolCallStarted)]
    assert [e.name for e in started] == ["get_weather"]  # "ping" wrote its arguments as a string
    pieces = [e.text for e in events if isinstance(e, ToolArgumentsDelta)]
    assert len(pieces) > 10
    called = [e.call for e in events if isinstance(e, ToolCalled)]
    assert called[0].id == started[0].id
    assert called[0].arguments == "".join(pieces)
    assert json.loads(called[0].arguments) == ARGUMENTS
    order = [type(e) for e in merged(events)]
    assert order == [
        TextDelta,
        ToolCallStarted,
        ToolArgumentsDelta,
        ToolCalled,
        ToolCalled,
        Finished,
    ]


def test_strings_with_braces_quotes_and_escapes_do_not_end_the_arguments_early() -> None:
    tricky = {"code": 'if (a) { b("}\\"); }', "q": '"{[', "end": "]}"}
    block = "<tool_call>" + json.dumps({"name": "ping", "arguments": tricky}) + "</tool_call>"
    for cut in range(1, len(block)):
        events = scan([block[:cut], block[cut:]])
        assert calls(events) == [("ping", tricky)], cut
        assert events[-1] == Finished(FinishReason.TOOL_CALLS)


@pytest.mark.parametrize("reason", [FinishReason.LENGTH, FinishReason.STOP])
def test_a_call_whose_arguments_never_became_json_is_closed_but_not_a_tool_call_answer(
    reason: FinishReason,
) -> None:
    """Cut by the output limit (or by a stop sequence) inside the arguments: the call the
    client saw open is closed as it is, and the answer ends with the CLI's own reason."""
    scanner = ToolCallScanner(request_with_tools())
    events = scanner.feed(TextDelta('<tool_call>{"name": "ping", "arguments": {"a": "unfini'))
    events += scanner.feed(Finished(reason))
    assert [type(e) for e in events] == [
        ToolCallStarted,
        ToolArgumentsDelta,
        ToolCalled,
        Finished,
    ]
    assert events[-1] == Finished(reason)


def test_a_block_left_open_ends_where_the_next_one_begins() -> None:
    text = (
        '<tool_call>{"name": "ping", "arguments": {"a": 1}} '
        '<tool_call>{"name": "ping", "arguments": {"b": 2}}</tool_call>'
    )
    for cut in range(1, len(text)):
        events = scan([text[:cut], text[cut:]])
        assert calls(events) == [("ping", {"a": 1}), ("ping", {"b": 2})], cut
        assert events[-1] == Finished(FinishReason.TOOL_CALLS)


def test_a_complete_call_whose_block_is_never_closed_is_still_a_call() -> None:
    assert calls(scan(['<tool_call>{"name": "ping", "arguments": {"x": 1}}'])) == [
        ("ping", {"x": 1})
    ]


def test_a_fenced_block_is_still_a_call() -> None:
    fenced = '<tool_call>\n```json\n{"name": "ping", "arguments": {}}\n```\n</tool_call>'
    assert calls(scan([fenced])) == [("ping", {})]


def test_the_contract_names_the_tools_and_the_choice() -> None:
    for choice, phrase in [
        (ToolChoice(), "Call a tool when it helps"),
        (ToolChoice("required"), "You must call at least one"),
        (ToolChoice("function", "ping"), 'You must call the tool "ping"'),
    ]:
        system = with_contract(request_with_tools(choice)).system_prompt
        assert system is not None
        assert '"name": "get_weather"' in system
        assert json.dumps(WEATHER) in system
        assert phrase in system
    assert with_contract(request_with_tools(ToolChoice("none"))).system_prompt is None


def test_history_goes_to_the_cli_in_the_contracts_words() -> None:
    call = ToolCall("call_1", "get_weather", json.dumps(ARGUMENTS, ensure_ascii=False))
    request = ChatRequest(
        model="m",
        messages=(
            Message("system", "Be brief."),
            Message("user", "weather?"),
            Message("assistant", "", tool_calls=(call,)),
            Message("tool", "sunny", tool_call_id="call_1", name="get_weather"),
        ),
    )
    plain = with_contract(request)
    assert plain.system_prompt == "Be brief."  # no tools offered now: no contract
    assistant, result = plain.conversation[1:]
    assert assistant.role == "assistant"
    assert json.loads(assistant.content.split("\n")[1]) == {
        "name": "get_weather",
        "arguments": ARGUMENTS,
    }
    assert result == Message(
        "user", '<tool_result name="get_weather" id="call_1">\nsunny\n</tool_result>'
    )
    untouched = ChatRequest(model="m", messages=(Message("user", "hi"),))
    assert with_contract(untouched) is untouched


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"tools": [{"type": "function", "function": {"name": "bad name!"}}]}, "name"),
        (
            {"tools": OPENAI_TOOLS, "tool_choice": {"type": "function", "function": {"name": "x"}}},
            "tool_choice",
        ),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"functions": [{"name": "f"}], "function_call": "required"}, "function_call"),
    ],
)
def test_bad_tool_fields_are_400_naming_the_param(extra: dict[str, Any], param: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_chat_request({"model": "m", "messages": [{"role": "user", "content": "x"}], **extra})
    assert caught.value.status == 400
    assert caught.value.param is not None
    assert param in caught.value.param


# Against the real CLIs.


ANTHROPIC_TOOLS = [
    {"name": "get_weather", "description": "The forecast for a city.", "input_schema": WEATHER}
]


RESPONSES_TOOLS = [{"type": "function", "name": "get_weather", "parameters": WEATHER}]


def test_a_freeform_tools_text_is_its_input_even_when_it_reads_as_json() -> None:
    patch = Tool("apply_patch", "Edit files.", {"type": "object"}, freeform=True)
    chat = ChatRequest(model="m", messages=(Message("user", "edit"),), tools=(patch,))
    scanner = ToolCallScanner(chat)
    block = '<tool_call>{"name": "apply_patch", "arguments": "{\\"a\\": 1}"}</tool_call>'
    (called, finished) = scanner.feed(TextDelta(block)) + scanner.feed(Finished())
    assert isinstance(called, ToolCalled)
    assert json.loads(called.call.arguments) == {"input": '{"a": 1}'}
    assert called.call.freeform
    assert finished == Finished(FinishReason.TOOL_CALLS)
