"""Bad input gets a clear 4xx in the surface's own error shape: never a 500 or a 502.

The sans-IO pieces (the body decoder, the size check) are tested directly; the defects as a
client meets them go through the app (Quart's test client: no server, no CLI runs).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest

from cliwrap.config import ImagesConfig, Limits, ServerConfig, load_config
from cliwrap.core.errors import ApiError, ErrorKind
from cliwrap.core.images import from_url
from cliwrap.core.request import ChatRequest, Message
from cliwrap.providers import PROVIDERS
from cliwrap.server.app import create_app
from cliwrap.server.service import check_input_size
from cliwrap.surfaces import json_body
from cliwrap.surfaces.anthropic_messages import parse_messages_request
from cliwrap.surfaces.openai_chat import parse_chat_request
from cliwrap.surfaces.openai_responses import parse_responses_request


def rejected(call: Any, *args: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call(*args)
    assert caught.value.status == 400
    return caught.value


# The body decoder


def test_nesting_deep_enough_to_exhaust_the_stack_is_a_400() -> None:
    error = rejected(json_body.decode, b"[" * 100_000 + b"]" * 100_000)
    assert "nests" in error.message


def test_nesting_is_bounded_and_the_place_named() -> None:
    deep: Any = "x"
    for _ in range(json_body.MAX_DEPTH):
        deep = [deep]
    json_body.decode(json.dumps({"a": deep[0]}))  # MAX_DEPTH containers: fine
    error = rejected(json_body.decode, json.dumps({"a": deep}))
    assert error.param is not None
    assert error.param.startswith("a[0][0]")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ('{"model": "claude\\u0000x"}', "model"),
        ('{"messages": [{"content": "\\ud800"}]}', "messages[0].content"),
        ('{"messages": [{"content": "ok \\udfff ok"}]}', "messages[0].content"),
        ('{"a": {"\\ud800": 1}}', "a.\\ud800"),
    ],
)
def test_nul_and_lone_surrogates_are_400s_naming_the_field(body: str, param: str) -> None:
    error = rejected(json_body.decode, body.encode())
    assert error.param == param
    (error.message + (error.param or "")).encode("utf-8")  # can be sent back as it is


def test_a_surrogate_pair_is_one_character_and_fine() -> None:
    assert json_body.decode(b'{"a": "\\ud83d\\ude00"}') == {"a": "\U0001f600"}


@pytest.mark.parametrize("text", [b"[NaN]", b'{"a": Infinity}', b"-Infinity", b"\xff", b""])
def test_what_is_not_json_is_a_400(text: bytes) -> None:
    assert "not valid JSON" in rejected(json_body.decode, text).message


# The parsers


def chat(content: Any) -> dict[str, Any]:
    return {"model": "claude", "messages": [{"role": "user", "content": content}]}


@pytest.mark.parametrize("content", ["", "  \n", []])
def test_an_empty_user_message_is_a_400_on_every_surface(content: Any) -> None:
    assert rejected(parse_chat_request, chat(content)).param == "messages[0].content"
    messages = {**chat(content), "max_tokens": 5}
    assert "must not be empty" in rejected(parse_messages_request, messages).message
    responses = {"model": "claude", "input": [{"role": "user", "content": content}]}
    assert rejected(parse_responses_request, responses).param == "input[0].content"
    if isinstance(content, str):
        bare = {"model": "claude", "input": content}
        assert rejected(parse_responses_request, bare).param == "input"


def test_an_image_alone_is_not_empty() -> None:
    from .test_images import DATA_URL

    parse_chat_request(chat([{"type": "image_url", "image_url": {"url": DATA_URL}}]))


@pytest.mark.parametrize("arguments", ["not json", "[1]", "{", "[" * 5000 + "]" * 5000])
def test_function_call_arguments_must_be_a_json_object_in_responses(arguments: str) -> None:
    body = {
        "model": "claude",
        "input": [
            {"role": "user", "content": "hi"},
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": arguments},
        ],
    }
    assert rejected(parse_responses_request, body).param == "input[1].arguments"


def test_deeply_nested_arguments_text_is_a_400_in_chat() -> None:
    body = chat("hi")
    body["messages"].append(
        {
            "role": "assistant",
            "tool_calls": [{"function": {"name": "f", "arguments": "[" * 5000 + "]" * 5000}}],
        }
    )
    assert (
        rejected(parse_chat_request, body).param == "messages[1].tool_calls[0].function.arguments"
    )


@pytest.mark.parametrize(
    "url", ["http://[::1", "https://exa mple.com/a.png", "http://host:port/", "http:///x.png"]
)
def test_an_image_url_no_client_could_fetch_is_a_400(url: str) -> None:
    assert rejected(from_url, url, "where").param == "where"


# The input limit


def test_input_over_the_limit_is_context_length_exceeded() -> None:
    request = ChatRequest("claude", (Message("user", "x" * 11),))
    check_input_size(request, 11)
    error = rejected(check_input_size, request, 10)
    assert error.kind is ErrorKind.CONTEXT_TOO_LONG
    assert "limits.max_input_chars" in error.message


# Through the app, as clients meet them

BASE = load_config(environ={}, provider_defaults={n: p.defaults for n, p in PROVIDERS.items()})
SURFACES = ["/v1/chat/completions", "/v1/responses", "/v1/messages", "/v1/messages/count_tokens"]


def body_for(path: str, role: Any = "user", content: Any = "hi", model: str = "claude") -> Any:
    if path == "/v1/responses":
        return {"model": model, "input": [{"role": role, "content": content}]}
    return {"model": model, "max_tokens": 5, "messages": [{"role": role, "content": content}]}


async def post(tmp_path: Path, path: str, body: Any, **config: Any) -> tuple[int, Any]:
    settings = attrs.evolve(BASE, server=ServerConfig(state_dir=str(tmp_path)), **config)
    app = create_app(settings, {"PATH": "/nonexistent"})
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = await app.test_client().post(
        path, data=data, headers={"Content-Type": "application/json"}
    )
    return response.status_code, await response.get_json()


def assert_400_in_shape(path: str, status: int, answer: Any) -> None:
    assert status == 400, answer
    if path.startswith("/v1/messages"):
        assert answer["type"] == "error"
        assert answer["error"]["type"] == "invalid_request_error"
    else:
        assert answer["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("path", SURFACES)
async def test_an_object_as_a_role(tmp_path: Path, path: str) -> None:
    status, answer = await post(tmp_path, path, body_for(path, role={}))
    assert_400_in_shape(path, status, answer)


@pytest.mark.parametrize("path", SURFACES)
async def test_json_nested_100000_deep(tmp_path: Path, path: str) -> None:
    status, answer = await post(tmp_path, path, b"[" * 100_000 + b"]" * 100_000)
    assert_400_in_shape(path, status, answer)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (
            b'{"model": "claude/x\\u0000y", "messages": [{"role": "user", "content": "hi"}]}',
            "model",
        ),
        (b'{"model": "claude", "messages": [{"role": "user", "content": "\\ud800"}]}', None),
    ],
)
async def test_nul_and_lone_surrogates(tmp_path: Path, body: bytes, param: str | None) -> None:
    status, answer = await post(tmp_path, "/v1/chat/completions", body)
    assert_400_in_shape("/v1/chat/completions", status, answer)
    assert answer["error"]["param"] == (param or "messages[0].content")


@pytest.mark.parametrize("model", ["gemini/--yolo", "claude/-p", "codex/x y"])
async def test_model_names_that_could_be_options(tmp_path: Path, model: str) -> None:
    status, answer = await post(tmp_path, "/v1/chat/completions", chat("hi") | {"model": model})
    assert_400_in_shape("/v1/chat/completions", status, answer)
    assert answer["error"]["param"] == "model"


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/responses", "/v1/messages"])
@pytest.mark.parametrize("content", ["", []])
async def test_empty_content(tmp_path: Path, path: str, content: Any) -> None:
    status, answer = await post(tmp_path, path, body_for(path, content=content))
    assert_400_in_shape(path, status, answer)


async def test_a_10_mb_message_is_context_length_exceeded(tmp_path: Path) -> None:
    status, answer = await post(tmp_path, "/v1/chat/completions", chat("x" * 10_000_000))
    assert status == 400
    assert answer["error"]["code"] == "context_length_exceeded"


async def test_the_input_limit_is_configurable(tmp_path: Path) -> None:
    path = "/v1/messages"
    status, answer = await post(
        tmp_path, path, body_for(path, content="x" * 101), limits=Limits(max_input_chars=100)
    )
    assert_400_in_shape(path, status, answer)
    assert "max_input_chars" in answer["error"]["message"]


async def test_an_unparsable_image_url(tmp_path: Path) -> None:
    content = [{"type": "image_url", "image_url": {"url": "http://[::1"}}]
    status, answer = await post(
        tmp_path, "/v1/chat/completions", chat(content), images=ImagesConfig(allow_urls=True)
    )
    assert_400_in_shape("/v1/chat/completions", status, answer)


async def test_non_json_function_call_arguments(tmp_path: Path) -> None:
    body = {
        "model": "claude",
        "input": [
            {"role": "user", "content": "hi"},
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": "nope"},
        ],
    }
    status, answer = await post(tmp_path, "/v1/responses", body)
    assert_400_in_shape("/v1/responses", status, answer)


async def test_error_handlers_answer_outside_a_request(tmp_path: Path) -> None:
    """Quart can call an error handler with no request (an app-context task): the error
    still gets a body, in OpenAI's shape."""
    from quart import Response
    from werkzeug.exceptions import MethodNotAllowed

    settings = attrs.evolve(BASE, server=ServerConfig(state_dir=str(tmp_path)))
    app = create_app(settings, {"PATH": "/nonexistent"})
    async with app.app_context():
        response = await app.handle_user_exception(MethodNotAllowed(["GET", "HEAD"]))
    assert isinstance(response, Response)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD"
    assert (await response.get_json())["error"]["code"] == "method_not_allowed"
