"""Structured output: ``response_format`` (and the other surfaces' spellings of it).

The filter's decisions as unit tests, then the SDKs against real CLIs whose stub models answer
with JSON (clean, fenced, or not matching) as a model would.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from cliwrap.core.errors import ApiError, ErrorKind
from cliwrap.core.events import Event, Failed, Finished, FinishReason, TextDelta
from cliwrap.core.request import ChatRequest, Message, ResponseFormat
from cliwrap.semantics.chain import semantics_for
from cliwrap.semantics.structured import JsonAnswer, parse_format

PERSON: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
ADA = {"name": "Ada", "age": 36}


def run(
    fmt: ResponseFormat, pieces: list[str], reason: FinishReason = FinishReason.STOP
) -> list[Event]:
    answer = JsonAnswer(fmt)
    events: list[Event] = []
    for piece in pieces:
        events += answer.feed(TextDelta(piece))
    return events + answer.feed(Finished(reason))


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(ADA),
        f"```json\n{json.dumps(ADA)}\n```",
        f"Here is the person:\n{json.dumps(ADA, indent=2)}\nHope that helps.",
    ],
)
def test_valid_json_goes_out_whole_and_clean(text: str) -> None:
    events = run(ResponseFormat("json_schema", PERSON), [text[:5], text[5:]])
    assert len(events) == 2
    assert isinstance(events[0], TextDelta)
    assert json.loads(events[0].text) == ADA
    assert events[0].text.strip().startswith("{")
    assert events[1] == Finished()


@pytest.mark.parametrize(
    ("fmt", "text", "says"),
    [
        (ResponseFormat("json_object"), "I cannot do that.", "not valid JSON"),
        (ResponseFormat("json_object"), '{"name": "Ada", "age"', "cut by the output limit"),
        (ResponseFormat("json_object"), "[1, 2]", "not an object"),
        (ResponseFormat("json_schema", PERSON), '{"name": "Ada"}', "'age' is a required"),
        (ResponseFormat("json_schema", PERSON), '{"name": "Ada", "age": "x"}', "at age"),
    ],
)
def test_anything_else_is_a_clear_error_not_broken_json(
    fmt: ResponseFormat, text: str, says: str
) -> None:
    (event,) = run(fmt, [text])
    assert isinstance(event, Failed)
    assert event.error.kind is ErrorKind.BAD_OUTPUT
    assert event.error.status == 502
    assert says in event.error.message


def test_a_tool_call_is_not_checked_as_an_answer() -> None:
    assert run(ResponseFormat("json_object"), [], FinishReason.TOOL_CALLS) == [
        Finished(FinishReason.TOOL_CALLS)
    ]


def test_the_format_reaches_the_system_prompt() -> None:
    chat = ChatRequest(
        model="m",
        messages=(Message("system", "Be brief."), Message("user", "who?")),
        response_format=ResponseFormat("json_schema", PERSON),
    )
    planned = semantics_for(chat)
    request, filters = planned.request, planned.filters
    assert request.system_prompt is not None
    assert request.system_prompt.startswith("Be brief.")
    assert json.dumps(PERSON) in request.system_prompt
    assert len(filters) == 1


def test_bad_formats_are_400() -> None:
    with pytest.raises(ApiError) as caught:
        parse_format("json_schema", {"type": "nonsense"}, "x", "response_format")
    assert caught.value.param == "response_format.schema"
    with pytest.raises(ApiError) as caught:
        parse_format("yaml", None, None, "response_format")
    assert caught.value.status == 400
    assert parse_format("text", None, None, "response_format") is None


# Against the real CLIs.

SCHEMA_FORMAT: Any = {
    "type": "json_schema",
    "json_schema": {"name": "person", "schema": PERSON, "strict": True},
}


def reply(value: Any) -> str:
    return f"[[reply:{json.dumps(value)}]]"
