"""The OpenAI chat surface's parsing and encoding, sans I/O."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cliwrap.core.errors import ApiError, ErrorKind
from cliwrap.core.events import (
    Failed,
    Finished,
    FinishReason,
    Keepalive,
    Progress,
    TextDelta,
    ThinkingDelta,
    Usage,
)
from cliwrap.core.request import Message
from cliwrap.surfaces.openai_chat import (
    ChunkEncoder,
    CompletionCollector,
    error_body,
    parse_chat_request,
)


def test_parse_joins_text_parts_and_maps_developer_to_system() -> None:
    chat = parse_chat_request(
        {
            "model": "sonnet",
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": 0.2,  # accepted, ignored
            "messages": [
                {"role": "developer", "content": "rules"},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                },
                {"role": "assistant", "content": None},
                {"role": "user", "content": "c"},
            ],
        }
    )
    assert chat.stream
    assert chat.include_usage
    assert chat.system_prompt == "rules"
    assert chat.conversation == (
        Message("user", "a\nb"),
        Message("assistant", ""),
        Message("user", "c"),
    )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ([], None),
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "m"}, "messages"),
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": ["x"]}, "messages[0]"),
        ({"model": "m", "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        (
            {
                "model": "m",
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "data:"}}],
                    }
                ],
            },
            "messages[0].content[0].image_url.url",
        ),
        ({"model": "m", "messages": [{"role": "system", "content": "x"}]}, "messages"),
        ({"model": "m", "stream": "yes", "messages": [{"role": "user", "content": "x"}]}, "stream"),
        ({"model": "m", "n": 9, "messages": [{"role": "user", "content": "x"}]}, "n"),
    ],
)
def test_parse_rejects_with_the_offending_param(body: Any, param: str | None) -> None:
    with pytest.raises(ApiError) as caught:
        parse_chat_request(body)
    assert caught.value.kind is ErrorKind.INVALID_REQUEST
    assert caught.value.param == param


def decode(data: bytes) -> list[Any]:
    out: list[Any] = []
    for frame in data.decode().split("\n\n"):
        if frame.startswith("data: "):
            payload = frame.removeprefix("data: ")
            out.append(payload if payload == "[DONE]" else json.loads(payload))
        elif frame.startswith(":"):
            out.append(frame)
    return out


def test_stream_encoding_order_and_shapes() -> None:
    encoder = ChunkEncoder("sonnet")
    frames = decode(encoder.start())
    for event in (Keepalive(), ThinkingDelta("hm"), TextDelta("Hi"), Usage(3, 2), Finished()):
        frames += decode(encoder.encode(event))
    role, keepalive, thinking, text, final, done = frames
    assert role["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert keepalive == ": keepalive"
    assert thinking["choices"][0]["delta"] == {"reasoning_content": "hm"}
    assert text["choices"][0]["delta"] == {"content": "Hi"}
    assert final["choices"][0]["finish_reason"] == "stop"
    assert final["usage"]["total_tokens"] == 5
    assert done == "[DONE]"
    assert len({f["id"] for f in (role, text, final)}) == 1
    assert encoder.encode(Keepalive()) == b"", "nothing after [DONE]"


def test_include_usage_sends_a_final_usage_chunk() -> None:
    encoder = ChunkEncoder("m", include_usage=True)
    frames = decode(encoder.start() + encoder.encode(Usage(1, 1, cache_read_tokens=4)))
    frames += decode(encoder.encode(Finished(FinishReason.LENGTH)))
    assert all("usage" in f for f in frames if isinstance(f, dict))
    final, usage, done = frames[-3:]
    assert final["choices"][0]["finish_reason"] == "length"
    assert final["usage"] is None
    assert usage["choices"] == []
    assert usage["usage"]["prompt_tokens"] == 5
    assert usage["usage"]["prompt_tokens_details"] == {"cached_tokens": 4}
    assert done == "[DONE]"


def test_progress_marks_come_before_the_answer_only() -> None:
    encoder = ChunkEncoder("m-progress")
    encoder.start()
    frames = decode(encoder.encode(Progress("⏳ ")) + encoder.encode(TextDelta("A")))
    frames += decode(encoder.encode(Progress("◐ ")))
    contents = [f["choices"][0]["delta"]["content"] for f in frames]
    assert contents == ["⏳ ", "\n\nA"]


def test_failure_mid_stream_is_an_error_event_then_done() -> None:
    encoder = ChunkEncoder("m")
    encoder.start()
    error = ApiError(ErrorKind.TIMEOUT, "too slow")
    frames = decode(encoder.encode(Failed(error)))
    assert frames == [error_body(error), "[DONE]"]
    assert frames[0]["error"]["code"] == "deadline_exceeded"


def test_collector_builds_a_completion_or_raises_the_failure() -> None:
    collector = CompletionCollector("opus")
    for event in (ThinkingDelta("t"), TextDelta("a"), TextDelta("b"), Usage(1, 2), Finished()):
        collector.add(event)
    body = collector.body()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "ab",
        "reasoning_content": "t",
    }
    assert body["usage"]["completion_tokens"] == 2
    failing = CompletionCollector("opus")
    failing.add(Failed(ApiError(ErrorKind.RATE_LIMIT, "slow down", retry_after=3)))
    with pytest.raises(ApiError, match="slow down"):
        failing.body()


def test_a_system_message_later_in_the_conversation_stays_in_its_place() -> None:
    """Leading system (and developer) messages are the system prompt; one after the user's
    turn is an update that applies from there on, and reaches the model there."""
    chat = parse_chat_request(
        {
            "model": "m",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": "Use metric units."},
                {"role": "user", "content": "How far is it?"},
                {"role": "system", "content": "The user is in Oslo."},
            ],
        }
    )
    assert chat.system_prompt == "Be brief.\n\nUse metric units."
    assert [(m.role, m.content) for m in chat.conversation] == [
        ("user", "How far is it?"),
        ("system", "The user is in Oslo."),
    ]
