"""The Anthropic Messages surface: the Anthropic Python SDK and raw bytes against a live server.

Each behaviour runs against two different CLIs (Claude Code and Codex: one that speaks the
Anthropic API itself and one that does not), since a surface must not care which CLI answers.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx
import pydantic
import pytest

from cliwrap.core.errors import ApiError, ErrorKind
from cliwrap.core.events import Failed, Finished, FinishReason, TextDelta, ThinkingDelta, Usage
from cliwrap.surfaces.anthropic_messages import MessageEncoder, parse_messages_request
from cliwrap.testing import LiveServer, StubThread

from .conftest import ServerFactory
from .sse import sse_events

MODELS = pytest.mark.parametrize("model", ["sonnet", "gpt-5.5"])

Client = Callable[..., anthropic.Anthropic]


@pytest.fixture
def client() -> Iterator[Client]:
    with contextlib.ExitStack() as stack:

        def make(server: LiveServer, api_key: str = "unused") -> anthropic.Anthropic:
            sdk = anthropic.Anthropic(
                base_url=server.url, api_key=api_key, max_retries=0, timeout=60
            )
            return stack.enter_context(sdk)

        yield make


def marker() -> str:
    return uuid.uuid4().hex[:12]


@MODELS
def test_create_with_system_blocks_thinking_and_usage(
    model: str, server: LiveServer, client: Client
) -> None:
    tag = marker()
    message = client(server).messages.create(
        model=model,
        max_tokens=256,
        system=[{"type": "text", "text": "Be brief."}],
        messages=[{"role": "user", "content": f"hello {tag} [[think:hmm]]"}],
        metadata={"user_id": "someone"},
        stop_sequences=["never-said"],
    )
    assert message.id.startswith("msg_")
    assert message.role == "assistant"
    assert message.model == model
    assert message.stop_reason == "end_turn"
    kinds = [block.type for block in message.content]
    assert kinds == ["thinking", "text"]
    thinking, text = message.content
    assert isinstance(thinking, anthropic.types.ThinkingBlock)
    assert thinking.thinking == "hmm"
    assert isinstance(text, anthropic.types.TextBlock)
    assert text.text == f"echo: hello {tag}"
    assert message.usage.input_tokens > 0
    assert message.usage.output_tokens > 0


@MODELS
def test_stream_gives_text_and_thinking_deltas_and_the_final_message(
    model: str, server: LiveServer, client: Client
) -> None:
    with client(server).messages.stream(
        model=model,
        max_tokens=256,
        messages=[
            {"role": "user", "content": "[[reply:one two three four]] [[think:so]] [[chunk:4]]"}
        ],
    ) as stream:
        texts = list(stream.text_stream)
        final = stream.get_final_message()
    assert "".join(texts) == "one two three four"
    assert len(texts) >= 4, "token by token"
    assert final.stop_reason == "end_turn"
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.usage.output_tokens > 0


@MODELS
def test_event_order_on_the_wire(model: str, server: LiveServer) -> None:
    body = {
        "model": model,
        "max_tokens": 64,
        "stream": True,
        "messages": [{"role": "user", "content": "[[think:a]] [[reply:bc]]"}],
    }
    with httpx.stream("POST", server.url + "/v1/messages", json=body, timeout=60) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
    names = [name for name, _ in events]
    assert all(data["type"] == name for name, data in events)
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    starts = [
        data["content_block"]["type"] for name, data in events if name == "content_block_start"
    ]
    assert starts == ["thinking", "text"]
    deltas = [data["delta"]["type"] for name, data in events if name == "content_block_delta"]
    assert "thinking_delta" in deltas
    assert "text_delta" in deltas
    message_delta = events[-2][1]
    assert message_delta["delta"]["stop_reason"] == "end_turn"
    assert message_delta["usage"]["output_tokens"] > 0


@MODELS
def test_backend_errors_are_anthropic_errors(
    model: str, server: LiveServer, client: Client
) -> None:
    with pytest.raises(anthropic.AuthenticationError) as caught:
        client(server).messages.create(
            model=model, max_tokens=16, messages=[{"role": "user", "content": "x [[fail:401]]"}]
        )
    assert caught.value.status_code == 401
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["type"] == "error"
    assert body["error"]["type"] == "authentication_error"
    with pytest.raises(anthropic.RateLimitError):
        client(server).messages.create(
            model=model,
            max_tokens=16,
            messages=[{"role": "user", "content": "x [[fail:429 retry-after=3]]"}],
        )


@MODELS
def test_a_failure_after_the_stream_began_is_an_error_event(
    model: str, start_server: ServerFactory
) -> None:
    """The first keepalive commits the stream (a ping after half a second); the backend's
    500 comes later, so it can only be an error event."""
    server = start_server(server={"keepalive_interval": 0.5})
    body = {
        "model": model,
        "max_tokens": 64,
        "stream": True,
        "messages": [{"role": "user", "content": "x [[hold:2]] [[fail:500]]"}],
    }
    with httpx.stream("POST", server.url + "/v1/messages", json=body, timeout=60) as response:
        assert response.status_code == 200
        events = sse_events(response)
    assert events[0][0] == "message_start"
    assert ("ping", {"type": "ping"}) in events
    name, data = events[-1]
    assert name == "error"
    assert data["error"]["type"] == "api_error"


@MODELS
def test_a_failure_before_any_output_is_its_own_status(model: str, server: LiveServer) -> None:
    body = {
        "model": model,
        "max_tokens": 64,
        "stream": True,
        "messages": [{"role": "user", "content": "x [[fail:500]]"}],
    }
    response = httpx.post(server.url + "/v1/messages", json=body, timeout=60)
    assert response.status_code == 502
    assert response.json()["type"] == "error"
    assert response.json()["error"]["type"] == "api_error"


@pytest.mark.parametrize(
    ("body", "wording"),
    [
        ({"model": "sonnet", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
        ({"model": "sonnet", "max_tokens": 5, "messages": []}, "messages"),
        (
            {"model": "sonnet", "max_tokens": 5, "messages": [{"role": "tool", "content": "x"}]},
            "role",
        ),
        (
            {
                "model": "sonnet",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "x"}],
                "stop_sequences": "STOP",
            },
            "stop_sequences",
        ),
        (
            {
                "model": "sonnet",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "x"}],
                "metadata": {"user_id": 5},
            },
            "metadata.user_id",
        ),
    ],
)
def test_bad_requests_are_400_in_anthropics_shape(
    body: dict[str, Any], wording: str, server: LiveServer
) -> None:
    response = httpx.post(server.url + "/v1/messages", json=body, timeout=30)
    assert response.status_code == 400
    error = response.json()
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert wording in error["error"]["message"]


def test_unknown_model_is_404_not_found_error(server: LiveServer, client: Client) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        client(server).messages.create(
            model="llama-3", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


def test_count_tokens_is_an_estimate(server: LiveServer, client: Client) -> None:
    counted = client(server).messages.count_tokens(
        model="sonnet",
        system="You are terse.",
        messages=[{"role": "user", "content": "word " * 400}],
    )
    assert 400 <= counted.input_tokens <= 700
    turns: Any = [
        {"role": "user", "content": "word " * 400},
        {"role": "system", "content": [{"type": "text", "text": "# Environment"}]},
    ]
    tools: Any = [{"name": "Write", "input_schema": {"type": "object"}}]
    more = client(server).messages.count_tokens(
        model="sonnet", system="You are terse.", messages=turns, tools=tools
    )
    assert more.input_tokens > counted.input_tokens


class Person(pydantic.BaseModel):
    name: str
    age: int


def test_sdk_parse_sends_output_config_and_the_format_reaches_the_cli(
    server: LiveServer, client: Client, stub: StubThread
) -> None:
    tag = marker()
    ada = {"name": "Ada", "age": 36}
    message = client(server).messages.parse(
        model="sonnet",
        max_tokens=256,
        messages=[{"role": "user", "content": f"who? {tag} [[reply:{json.dumps(ada)}]]"}],
        output_format=Person,
    )
    assert message.parsed_output == Person(name="Ada", age=36)
    (sent,) = [r for r in stub.find(tag) if r.path.startswith("/v1/messages")]
    assert '\\"age\\"' in json.dumps(sent.body["system"])  # the schema reached the model


def test_api_keys_by_x_api_key_or_bearer(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(server={"api_keys": ["sekrit-key"]})
    body = {"model": "sonnet", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    url = server.url + "/v1/messages"
    refused = httpx.post(url, json=body, timeout=30)
    assert refused.status_code == 401
    assert refused.json()["error"]["type"] == "authentication_error"
    for headers in ({"x-api-key": "sekrit-key"}, {"Authorization": "Bearer sekrit-key"}):
        assert httpx.post(url, json=body, headers=headers, timeout=60).status_code == 200


# The parser and encoder, on their own


def test_system_as_string_or_blocks_and_thinking_blocks_left_out() -> None:
    request = parse_messages_request(
        {
            "model": "m",
            "max_tokens": 1,
            "system": "Rule.",
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "a"}]},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "secret", "signature": "x"},
                        {"type": "text", "text": "b"},
                    ],
                },
                {"role": "user", "content": "c"},
            ],
        }
    )
    assert request.system_prompt == "Rule."
    assert [m.content for m in request.conversation] == ["a", "b", "c"]


def test_document_blocks_are_refused_clearly() -> None:
    with pytest.raises(ApiError) as caught:
        parse_messages_request(
            {
                "model": "m",
                "max_tokens": 1,
                "messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}],
            }
        )
    assert caught.value.kind is ErrorKind.INVALID_REQUEST
    assert "document" in caught.value.message


def test_encoder_opens_a_text_block_for_an_empty_answer_and_maps_length() -> None:
    encoder = MessageEncoder("m")
    wire = encoder.start() + encoder.encode(Usage(input_tokens=3, output_tokens=0))
    wire += encoder.encode(Finished(FinishReason.LENGTH))
    text = wire.decode()
    assert text.count("event: content_block_start") == 1
    assert '"stop_reason":"max_tokens"' in text
    assert encoder.encode(TextDelta("late")) == b""


def test_encoder_switches_blocks_and_signs_thinking() -> None:
    encoder = MessageEncoder("m")
    wire = b"".join(
        [
            encoder.start(),
            encoder.encode(ThinkingDelta("t")),
            encoder.encode(TextDelta("a")),
            encoder.encode(Failed(ApiError(ErrorKind.OVERLOADED, "busy"))),
        ]
    ).decode()
    assert wire.index("signature_delta") < wire.index('"index":1')
    assert wire.rstrip().endswith('"message":"busy"}}')
    assert "event: error" in wire
