"""The OpenAI Responses surface: the OpenAI SDK's ``responses.create`` and raw bytes, live.

Each behaviour runs against two different CLIs (Qwen Code and Codex), since a surface must not
care which CLI answers.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import openai
import pytest

from cliwrap.core.errors import ApiError, ErrorKind
from cliwrap.core.events import Finished, FinishReason, TextDelta, ThinkingDelta, Usage
from cliwrap.surfaces.openai_responses import ResponseEncoder, parse_responses_request
from cliwrap.testing import LiveServer

from .conftest import SdkFactory, ServerFactory

MODELS = pytest.mark.parametrize("model", ["gpt-5.5", "qwen3-coder-plus"])


def marker() -> str:
    return uuid.uuid4().hex[:12]


@MODELS
def test_create_with_instructions_reasoning_and_usage(
    model: str, server: LiveServer, sdk: SdkFactory
) -> None:
    tag = marker()
    response = sdk(server).responses.create(
        model=model,
        instructions="Be brief.",
        input=f"hello {tag} [[think:hmm]]",
    )
    assert response.id.startswith("resp_")
    assert response.status == "completed"
    assert response.model == model
    assert response.output_text == f"echo: hello {tag}"
    kinds = [item.type for item in response.output]
    assert kinds == ["reasoning", "message"]
    reasoning = response.output[0]
    assert isinstance(reasoning, openai.types.responses.ResponseReasoningItem)
    assert reasoning.summary[0].text == "hmm"
    assert response.usage is not None
    assert response.usage.input_tokens > 0
    assert response.usage.output_tokens > 0


@MODELS
def test_input_items_carry_the_history(model: str, server: LiveServer, sdk: SdkFactory) -> None:
    tag = marker()
    response = sdk(server).responses.create(
        model=model,
        input=[
            {"role": "developer", "content": "Answer plainly."},
            {"role": "user", "content": [{"type": "input_text", "text": "first"}]},
            {"type": "message", "role": "assistant", "content": "an answer"},
            {"role": "user", "content": f"second {tag}"},
        ],
    )
    assert response.output_text == f"echo: second {tag}"


@MODELS
def test_streaming_events_in_order_token_by_token(
    model: str, server: LiveServer, sdk: SdkFactory
) -> None:
    stream = sdk(server).responses.create(
        model=model,
        input="[[reply:one two three four]] [[think:so]] [[chunk:4]]",
        stream=True,
    )
    events = list(stream)
    names = [e.type for e in events]
    assert names[:2] == ["response.created", "response.in_progress"]
    assert names[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "one two three four"
    assert len(deltas) >= 4
    thinking = [e.delta for e in events if e.type == "response.reasoning_summary_text.delta"]
    assert "".join(thinking) == "so"
    order = [
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
    ]
    message_events = [n for n in names if n in order]
    assert message_events.index("response.content_part.added") > message_events.index(
        "response.output_item.added"
    )
    assert names.index("response.output_text.done") < names.index("response.completed")
    final = events[-1].response  # type: ignore[union-attr]
    assert final.output_text == "one two three four"
    assert final.usage is not None
    assert final.usage.output_tokens > 0


@MODELS
def test_errors_before_the_stream_are_the_openai_envelope(
    model: str, server: LiveServer, sdk: SdkFactory
) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        sdk(server).responses.create(model=model, input="x [[fail:401]]")
    assert caught.value.status_code == 401
    with pytest.raises(openai.RateLimitError):
        sdk(server).responses.create(model=model, input="x [[fail:429 retry-after=3]]")


@MODELS
def test_a_failure_after_the_start_is_response_failed(
    model: str, start_server: ServerFactory
) -> None:
    # Keepalives every 0.3 s begin the stream before the held model call fails; a failure
    # before anything began would be its own status (502) instead.
    server = start_server(server={"keepalive_interval": 0.3})
    body = {"model": model, "input": "x [[hold:1.5]] [[fail:500]]", "stream": True}
    with httpx.stream("POST", server.base_url + "/responses", json=body, timeout=60) as response:
        assert response.status_code == 200
        events = [
            json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")
        ]
    assert events[0]["type"] == "response.created"
    failed = events[-1]
    assert failed["type"] == "response.failed"
    assert failed["response"]["status"] == "failed"
    assert failed["response"]["error"]["code"] == "cli_failed"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "x"}, "model"),
        ({"model": "gpt-5.5"}, "input"),
        (
            {"model": "gpt-5.5", "input": "x", "previous_response_id": "resp_1"},
            "previous_response_id",
        ),
        ({"model": "gpt-5.5", "input": [{"role": "tool", "content": "x"}]}, "input[0].role"),
        ({"model": "gpt-5.5", "input": "x", "instructions": 5}, "instructions"),
    ],
)
def test_bad_requests_are_400_naming_the_param(
    body: dict[str, Any], param: str, server: LiveServer
) -> None:
    response = httpx.post(server.base_url + "/responses", json=body, timeout=30)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


# The parser and encoder, on their own


def test_earlier_reasoning_items_are_left_out_of_the_prompt() -> None:
    request = parse_responses_request(
        {
            "model": "m",
            "input": [
                {"role": "user", "content": "a"},
                {"type": "reasoning", "summary": []},
                {"role": "assistant", "content": [{"type": "output_text", "text": "b"}]},
                {"role": "user", "content": "c"},
            ],
        }
    )
    assert [m.content for m in request.conversation] == ["a", "b", "c"]


def test_a_function_call_output_without_its_output_is_400() -> None:
    with pytest.raises(ApiError) as caught:
        parse_responses_request(
            {"model": "m", "input": [{"type": "function_call_output", "call_id": "c"}]}
        )
    assert caught.value.kind is ErrorKind.INVALID_REQUEST
    assert "function_call_output" in caught.value.message


def test_a_cut_answer_is_incomplete_and_an_empty_one_still_has_a_message() -> None:
    encoder = ResponseEncoder("m")
    wire = encoder.start() + encoder.encode(ThinkingDelta("t")) + encoder.encode(Usage())
    wire += encoder.encode(Finished(FinishReason.LENGTH))
    events = [
        json.loads(line[6:]) for line in wire.decode().splitlines() if line.startswith("data: ")
    ]
    last = events[-1]
    assert last["type"] == "response.incomplete"
    assert last["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert [item["type"] for item in last["response"]["output"]] == ["reasoning", "message"]
    assert encoder.encode(TextDelta("late")) == b""


def test_the_sdks_stream_helper_accumulates_the_response(
    server: LiveServer, sdk: SdkFactory
) -> None:
    with sdk(server).responses.stream(
        model="gpt-5.5", input="[[reply:all of it]] [[think:why]]"
    ) as stream:
        texts = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(texts) == "all of it"
    assert final.output_text == "all of it"
    assert final.status == "completed"
