"""Structured output: ``response_format`` (and the other surfaces' spellings of it).

The filter's decisions as unit tests, then the SDKs against real CLIs whose stub models answer
with JSON (clean, fenced, or not matching) as a model would.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from cliwrap.core.errors import ApiError
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


def text_of(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(ADA),
        f"```json\n{json.dumps(ADA)}\n```",
        f"Here is the person {{as asked}}:\n{json.dumps(ADA, indent=2)}\nHope that helps.",
    ],
)
def test_valid_json_streams_as_it_is_written_and_clean(text: str) -> None:
    """Fence, preamble (braces in it too) and closing words are dropped; the value goes out
    in as many pieces as it came in."""
    for pieces in ([text[:5], text[5:]], list(text)):
        events = run(ResponseFormat("json_schema", PERSON), pieces)
        assert events[-1] == Finished()
        assert json.loads(text_of(events)) == ADA
        assert text_of(events).startswith("{")
        assert text_of(events).endswith("}")
    assert len(events) > 20  # one character at a time in, one at a time out


@pytest.mark.parametrize(
    ("fmt", "text", "reason", "says"),
    [
        (ResponseFormat("json_object"), "I cannot do that.", FinishReason.STOP, "not valid JSON"),
        (
            ResponseFormat("json_object"),
            '{"name": "Ada", "age"',
            FinishReason.LENGTH,
            "(cut by the output limit): it is not valid JSON",
        ),
        (ResponseFormat("json_object"), "[1, 2]", FinishReason.STOP, "not an object"),
        (ResponseFormat("json_schema", PERSON), '{"name": "Ada"}', FinishReason.STOP, "'age'"),
        (
            ResponseFormat("json_schema", PERSON),
            '{"name": "Ada", "age": "x"}',
            FinishReason.STOP,
            "at age",
        ),
    ],
)
def test_an_answer_that_does_not_validate_goes_out_as_written(
    fmt: ResponseFormat, text: str, reason: FinishReason, says: str
) -> None:
    """The client's own validation and repair loop see it; the finish reason is the CLI's
    (``length`` only when it was cut); what was wrong is noted for the server's log."""
    events = run(fmt, [text], reason)
    assert text_of(events) == text
    finished = events[-1]
    assert isinstance(finished, Finished)
    assert finished.reason is reason
    assert finished.note is not None
    assert says in finished.note
    assert not any(isinstance(e, Failed) for e in events)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Braces in a sentence are not the answer; the value at a line's start is.
        ('Use {} for none, [1] for one:\n{"a": 1}', '{"a": 1}'),
        # Code, not JSON: nothing streams, and the answer goes out as written.
        ("function f(a) { return a + 1; }\nif (x) { y(); }\n", None),
        # A value inside a line is found at the end, whole.
        ('Here: {"a": 1} as asked.', '{"a": 1}'),
    ],
)
def test_a_value_begins_at_the_start_of_a_line(text: str, expected: str | None) -> None:
    events = run(ResponseFormat("json_object"), list(text))
    assert text_of(events) == (text if expected is None else expected)


def test_an_escape_split_across_pieces_holds_even_through_an_empty_piece() -> None:
    value = json.dumps({"q": 'say "}" now'})
    cut = value.index("\\") + 1
    events = run(ResponseFormat("json_object"), [value[:cut], "", value[cut:]])
    assert json.loads(text_of(events)) == {"q": 'say "}" now'}
    assert events[-1] == Finished()


def test_a_scalar_schema_is_taken_out_of_a_fence_at_the_end() -> None:
    events = run(ResponseFormat("json_schema", {"type": "integer"}), ["```json\n4", "2\n```"])
    assert events == [TextDelta("42"), Finished()]


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
