"""A tool call streamed as it is written, and progress marks for programs, on every surface.

The encoders get the events a run produces (a call that starts, its arguments in pieces, its
end) and must write each API's own incremental shape; a progress mark on a request whose
answer is for a program goes out as that surface's keepalive.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pydantic
import pytest
from openai.types.responses import ResponseStreamEvent

from cliwrap.core.events import (
    Event,
    Finished,
    FinishReason,
    Keepalive,
    Progress,
    TextDelta,
    ThinkingDelta,
    ToolArgumentsDelta,
    ToolCalled,
    ToolCallStarted,
    Usage,
)
from cliwrap.core.request import ChatRequest, Message, ResponseFormat, Tool, ToolCall
from cliwrap.semantics.chain import semantics_for
from cliwrap.surfaces.anthropic_messages import MessageEncoder
from cliwrap.surfaces.openai_chat import ChunkEncoder
from cliwrap.surfaces.openai_responses import ResponseEncoder
from cliwrap.surfaces.rendering import EventEncoder

CLINE = (Path(__file__).parents[1] / "prompts" / "cline.md").read_text()
PIECES = ['{"city": ', '"Zürich"', ', "days": 3}']
CALL = ToolCall("call_1", "get_weather", "".join(PIECES))
VARYING = {"created", "created_at", "sequence_number"}
STREAMED: list[Event] = [
    ToolCallStarted(CALL.id, CALL.name),
    *(ToolArgumentsDelta(p) for p in PIECES),
    ToolCalled(CALL),
    Finished(FinishReason.TOOL_CALLS),
]


def scrub(value: Any) -> Any:
    """Without what differs from one answer to the next (ids, times, counters)."""
    if isinstance(value, dict):
        return {
            k: scrub(v)
            for k, v in value.items()
            if k not in VARYING
            and not (k in ("id", "item_id") and v.startswith(("chatcmpl", "msg", "resp", "rs_")))
        }
    return [scrub(v) for v in value] if isinstance(value, list) else value


def data(encoder: EventEncoder, events: list[Event]) -> list[Any]:
    """Each SSE event's JSON data, in order."""
    wire = encoder.start() + b"".join(encoder.encode(e) for e in events)
    found = []
    for line in wire.decode().splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            found.append(json.loads(line.removeprefix("data: ")))
    return found


def test_chat_completions_stream_the_arguments_in_openai_deltas() -> None:
    calls = [
        d["tool_calls"][0]
        for chunk in data(ChunkEncoder("m"), STREAMED)
        for d in [chunk["choices"][0]["delta"]]
        if chunk["choices"] and "tool_calls" in d
    ]
    assert calls[0] == {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    assert [c["function"]["arguments"] for c in calls[1:]] == PIECES
    assert all(set(c) == {"index", "function"} for c in calls[1:])


def test_messages_stream_the_arguments_as_input_json_deltas() -> None:
    events = data(MessageEncoder("m"), STREAMED)
    kinds = [e["type"] for e in events]
    start = kinds.index("content_block_start")
    assert events[start]["content_block"] == {
        "type": "tool_use",
        "id": "toolu_1",
        "name": "get_weather",
        "input": {},
    }
    deltas = [e["delta"]["partial_json"] for e in events if e["type"] == "content_block_delta"]
    assert deltas == PIECES
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]


def test_responses_stream_the_arguments_as_function_call_deltas() -> None:
    events = data(ResponseEncoder("m"), STREAMED)
    deltas = [e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta"]
    assert deltas == PIECES
    (done,) = [e for e in events if e["type"] == "response.function_call_arguments.done"]
    assert done["arguments"] == CALL.arguments
    assert events[-1]["response"]["output"][0]["arguments"] == CALL.arguments


@pytest.mark.parametrize("make", [ChunkEncoder, MessageEncoder, ResponseEncoder])
def test_a_whole_call_encodes_as_a_streamed_one_does(make: type[EventEncoder]) -> None:
    whole: list[Event] = [ToolCalled(CALL), Finished(FinishReason.TOOL_CALLS)]
    streamed: list[Event] = [
        ToolCallStarted(CALL.id, CALL.name),
        ToolArgumentsDelta(CALL.arguments),
        *whole,
    ]

    def shapes(events: list[Event]) -> Any:
        return scrub(data(make("m"), events))  # type: ignore[call-arg]

    assert shapes(whole) == shapes(streamed)


@pytest.mark.parametrize("make", [ChunkEncoder, MessageEncoder, ResponseEncoder])
def test_a_mark_that_is_not_content_is_a_keepalive(make: type[EventEncoder]) -> None:
    encoder = make("m")  # type: ignore[call-arg]
    keepalive = make("m").encode(Keepalive())  # type: ignore[call-arg]
    assert encoder.encode(Progress("⏳ ", content=False)) == keepalive
    assert b"\xe2\x8f\xb3" in make("m").encode(Progress("⏳ "))  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("extra", "content"),
    [
        ({}, True),
        ({"tools": (Tool("ping"),)}, False),
        ({"response_format": ResponseFormat("json_object")}, False),
        ({"messages": (Message("system", CLINE), Message("user", "fix it"))}, False),
    ],
)
def test_marks_are_content_only_for_an_answer_a_person_reads(
    extra: dict[str, Any], content: bool
) -> None:
    chat = attrs.evolve(ChatRequest(model="m", messages=(Message("user", "hi"),)), **extra)
    assert semantics_for(chat).marks_are_content is content


def test_every_responses_event_validates_against_the_sdks_own_types() -> None:
    """Typed clients validate each event: none may lack a field the SDK requires."""
    events: list[Event] = [
        ThinkingDelta("hmm"),
        TextDelta("Let me look."),
        *STREAMED[:-1],
        Usage(input_tokens=5, output_tokens=7, cache_read_tokens=2),
        Finished(FinishReason.TOOL_CALLS),
    ]
    adapter = pydantic.TypeAdapter(ResponseStreamEvent)
    for each in data(ResponseEncoder("m"), events):
        adapter.validate_python(each)


@pytest.mark.parametrize("make", [ChunkEncoder, MessageEncoder, ResponseEncoder])
def test_thinking_that_comes_inside_a_streamed_call_follows_it(make: type[EventEncoder]) -> None:
    """No wire format has room for thinking inside a call: it goes out after the call."""
    inside: list[Event] = [STREAMED[0], ThinkingDelta("hmm"), *STREAMED[1:]]
    after: list[Event] = [*STREAMED[:-1], ThinkingDelta("hmm"), STREAMED[-1]]
    assert scrub(data(make("m"), inside)) == scrub(data(make("m"), after))  # type: ignore[call-arg]
