"""``GET /openapi.json`` is kept true: valid OpenAPI, exactly the app's routes, and what the
live server really sends (bodies, SSE events, WebSocket frames) matches what it documents.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import pytest
import referencing
import trio
from openapi_spec_validator import validate
from referencing.jsonschema import DRAFT202012
from trio_websocket import open_websocket_url

from cliwrap import __version__
from cliwrap.config import Config
from cliwrap.server.app import create_app
from cliwrap.server.openapi import document
from cliwrap.surfaces.params import HEADER_ALIASES, HEADERS
from cliwrap.testing import LiveServer

from .conftest import ServerFactory
from .sse import sse_events

DOC = document(__version__)
SCHEMAS = DOC["components"]["schemas"]
_REGISTRY = referencing.Registry().with_resource("urn:cliwrap", DRAFT202012.create_resource(DOC))


def mismatches(name: str, instance: Any) -> list[str]:
    """How ``instance`` differs from the documented schema ``name`` (empty: it matches)."""
    schema = {"$ref": f"urn:cliwrap#/components/schemas/{name}"}
    validator = jsonschema.Draft202012Validator(schema, registry=_REGISTRY)
    return [error.message for error in validator.iter_errors(instance)]


def check(name: str, instance: Any) -> None:
    """Fail unless ``instance`` matches the documented schema ``name``."""
    errors = mismatches(name, instance)
    assert not errors, f"{name}: {errors}\n{json.dumps(instance)[:2000]}"


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value.rsplit("/", 1)[-1]
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def test_the_document_is_valid_openapi() -> None:
    validate(DOC)


def test_it_names_exactly_the_routes_the_app_serves() -> None:
    app = create_app(Config())
    served = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, item in DOC["paths"].items() for method in item}
    assert served == documented


def test_every_path_documents_405_with_allow() -> None:
    for path, item in DOC["paths"].items():
        for method, operation in item.items():
            answer = operation["responses"]["405"]
            assert "Allow" in answer["headers"], (path, method)


def test_the_documented_headers_are_the_ones_the_server_reads() -> None:
    for path in ("/v1/chat/completions", "/v1/responses", "/v1/messages"):
        documented = {p["name"] for p in DOC["paths"][path]["post"]["parameters"]}
        assert documented == set(HEADERS) | set(HEADER_ALIASES)


def test_every_schema_is_used_and_every_reference_exists() -> None:
    used = set(refs(DOC["paths"]))
    while True:
        more = used | {name for u in used for name in refs(SCHEMAS[u])}
        if more == used:
            break
        used = more
    assert used == set(SCHEMAS)


def test_the_server_serves_it_without_a_key(start_server: Any) -> None:
    locked: LiveServer = start_server(server={"api_keys": ["k"]})
    response = httpx.get(locked.url + "/openapi.json", timeout=30)
    assert response.status_code == 200
    assert response.json() == DOC


# What the server sends, checked against the document. Each run route's examples pass through
# the request schema on their way out, so the examples and the schema agree too.

RUNS = {
    "/v1/chat/completions": ("ChatCompletionRequest", "ChatCompletion", "ChatStreamData"),
    "/v1/responses": ("ResponsesRequest", "Response", "ResponseStreamEvent"),
    "/v1/messages": ("MessagesRequest", "Message", "MessageStreamEvent"),
}
ERRORS = {"/v1/messages": "AnthropicError"}


def body(path: str, model: str, prompt: str, **extra: Any) -> dict[str, Any]:
    if path == "/v1/responses":
        return {"model": model, "instructions": "Be brief.", "input": prompt, **extra}
    request: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        **extra,
    }
    if path == "/v1/messages":
        request = {"max_tokens": 64, "system": [{"type": "text", "text": "Be brief."}], **request}
    return request


def post(server: LiveServer, path: str, request: dict[str, Any]) -> httpx.Response:
    check(RUNS[path][0], request)
    return httpx.post(server.url + path, json=request, timeout=60)


def stream(server: LiveServer, path: str, request: dict[str, Any]) -> list[tuple[str, Any]]:
    check(RUNS[path][0], request)
    with httpx.stream("POST", server.url + path, json=request, timeout=60) as response:
        assert response.status_code == 200
        return sse_events(response)


# A reply with thinking, a reply cut by the output limit, and a backend failing.
PROMPTS = ["[[think:hmm]] [[reply:one two three]]", "[[reply:cut short]] [[stop:max_tokens]]"]
CASES = pytest.mark.parametrize(
    ("path", "model"),
    [
        ("/v1/chat/completions", "sonnet"),
        ("/v1/chat/completions", "gpt-5.5-progress"),
        ("/v1/responses", "gpt-5.5"),
        ("/v1/responses", "sonnet"),
        ("/v1/messages", "sonnet"),
        ("/v1/messages", "gpt-5.5"),
    ],
)


EVERY_CLI = ["sonnet", "gemini-2.5-flash", "qwen3-coder-plus", "gpt-5.5"]


@pytest.mark.parametrize("path", list(RUNS))
@pytest.mark.parametrize("model", EVERY_CLI)
def test_every_cli_answers_on_every_surface_as_documented(
    path: str, model: str, server: LiveServer
) -> None:
    for prompt, text in zip(PROMPTS, ["one two three", "cut short"], strict=True):
        response = post(server, path, body(path, model, prompt))
        assert response.status_code == 200, response.text
        answer = response.json()
        check(RUNS[path][1], answer)
        # Claude Code answers a reply cut by the output limit with up to three "resume"
        # requests of its own, so its cut answer is the stub's reply four times over.
        assert text_of(path, answer).startswith(text)


def text_of(path: str, answer: dict[str, Any]) -> str:
    if path == "/v1/chat/completions":
        return str(answer["choices"][0]["message"]["content"])
    if path == "/v1/responses":
        return str(answer["output"][-1]["content"][0]["text"])
    return str(answer["content"][-1]["text"])


@pytest.fixture(scope="module")
def eager_server(start_server: ServerFactory) -> LiveServer:
    """Keepalives every 0.3 s: a stream has begun before a held model call fails."""
    return start_server(server={"keepalive_interval": 0.3})


@CASES
def test_stream_events_match_the_document(
    path: str, model: str, eager_server: LiveServer, server: LiveServer
) -> None:
    extra = {"stream_options": {"include_usage": True}} if "chat" in path else {}
    for prompt in [*PROMPTS, "x [[hold:1]] [[fail:500]]"]:
        events = stream(eager_server, path, body(path, model, prompt, stream=True, **extra))
        assert len(events) >= 2  # a start, then at least an error
        for name, data in events:
            check(RUNS[path][2], data)
            if name:
                assert data["type"] == name
    # A stream that fails before it began (before a keepalive is due: 15 s on ``server``) is a
    # whole error response, as documented.
    # (A progress model's first mark comes at once, and begins its stream.)
    if not model.endswith("-progress"):
        failed = post(server, path, body(path, model, "x [[fail:500]]", stream=True, **extra))
        assert failed.status_code == 502
        check(ERRORS.get(path, "OpenAIError"), failed.json())


TOOL = {"name": "get_weather", "parameters": {"type": "object"}}
TOOLS = {
    "/v1/chat/completions": {"tools": [{"type": "function", "function": TOOL}]},
    "/v1/responses": {"tools": [{"type": "function", **TOOL}]},
    "/v1/messages": {"tools": [{"name": "get_weather", "input_schema": {"type": "object"}}]},
}
CALL = '[[reply:Let me see.]] [[call:get_weather {"city": "Oslo"}]]'


@CASES
def test_tool_calls_match_the_document(path: str, model: str, server: LiveServer) -> None:
    answer = post(server, path, body(path, model, CALL, **TOOLS[path]))
    assert answer.status_code == 200, answer.text
    check(RUNS[path][1], answer.json())
    assert "get_weather" in answer.text
    events = stream(server, path, body(path, model, CALL, stream=True, **TOOLS[path]))
    for _, data in events:
        check(RUNS[path][2], data)
    assert "get_weather" in json.dumps(events)


def test_legacy_function_calls_match_the_document(server: LiveServer) -> None:
    path = "/v1/chat/completions"
    legacy = {"functions": [TOOL]}
    check("ChatCompletion", post(server, path, body(path, "gpt-5.5", CALL, **legacy)).json())
    for _, data in stream(server, path, body(path, "gpt-5.5", CALL, stream=True, **legacy)):
        check("ChatStreamData", data)


@CASES
def test_errors_match_the_document(path: str, model: str, server: LiveServer) -> None:
    schema = ERRORS.get(path, "OpenAIError")
    failed = post(server, path, body(path, model, "x [[fail:429 retry-after=2]]"))
    assert failed.status_code == 429
    check(schema, failed.json())
    unknown = post(server, path, body(path, "llama-3", "hi"))
    assert unknown.status_code == 404
    check(schema, unknown.json())
    malformed = httpx.post(server.url + path, content=b"{", timeout=30)
    assert malformed.status_code == 400
    check(schema, malformed.json())


@pytest.mark.parametrize("path", list(RUNS))
def test_each_required_request_field_is_required_by_the_server(
    path: str, server: LiveServer
) -> None:
    """A body the schema accepts is served; without any one required field it is a 400."""
    request_schema = SCHEMAS[RUNS[path][0]]
    example = body(path, "sonnet", "[[reply:ok]]")
    assert post(server, path, example).status_code == 200
    for field in request_schema["required"]:
        lacking = {k: v for k, v in example.items() if k != field}
        assert f"'{field}' is a required property" in mismatches(RUNS[path][0], lacking)
        response = httpx.post(server.url + path, json=lacking, timeout=30)
        assert response.status_code == 400, (field, response.text)
        check(ERRORS.get(path, "OpenAIError"), response.json())


def test_count_tokens_models_and_health_match_the_document(server: LiveServer) -> None:
    request = body("/v1/messages", "sonnet", "How many tokens is this?")
    del request["max_tokens"]
    check("CountTokensRequest", request)
    counted = httpx.post(server.url + "/v1/messages/count_tokens", json=request, timeout=30)
    check("CountTokensResponse", counted.json())
    check("ModelList", httpx.get(server.url + "/v1/models", timeout=30).json())
    check("Model", httpx.get(server.url + "/v1/models/claude/sonnet", timeout=30).json())
    anthropic = {"anthropic-version": "2023-06-01"}
    listed = httpx.get(server.url + "/v1/models", headers=anthropic, timeout=30)
    check("AnthropicModelList", listed.json())
    one = httpx.get(server.url + "/v1/models/gpt-4o", headers=anthropic, timeout=30)
    check("AnthropicModel", one.json())
    missing = httpx.get(server.url + "/v1/models/llama-3", headers=anthropic, timeout=30)
    assert missing.status_code == 404
    check("AnthropicError", missing.json())
    compatibility = httpx.post(
        server.url + "/v1/compatibility", json={"model": "sonnet", "top_p": 0.5}, timeout=30
    )
    check("CompatibilityReport", compatibility.json())
    check("Health", httpx.get(server.url + "/health", timeout=30).json())


async def test_websocket_frames_match_the_document(server: LiveServer) -> None:
    url = server.url.replace("http://", "ws://") + "/v1/ws"
    chat = "/v1/chat/completions"
    sent = [
        {"type": "auth", "api_key": "unused"},
        {"type": "request", "id": "a", "body": body(chat, "sonnet", "[[think:h]]")},
        {"type": "request", "id": "b", "body": body(chat, "gpt-5.5", "[[hold:9]]")},
        {"type": "request", "id": "c", "body": body(chat, "llama-3", "hi")},
        {"type": "request", "id": "d", "body": body(chat, "gpt-5.5", CALL, **TOOLS[chat])},
    ]
    frames = []
    async with open_websocket_url(url) as ws:
        for frame in sent:
            check("WebSocketClientFrame", frame)
            await ws.send_message(json.dumps(frame))
        open_ids = {"a", "b", "c", "d"}
        with trio.fail_after(60):
            while open_ids:
                frame = json.loads(await ws.get_message())
                frames.append(frame)
                if frame["type"] == "start" and frame["id"] == "b":
                    cancel = {"type": "cancel", "id": "b"}
                    check("WebSocketClientFrame", cancel)
                    await ws.send_message(json.dumps(cancel))
                if frame["type"] in ("done", "error"):
                    open_ids.discard(frame["id"])
        await ws.send_message("not json")
        frames.append(json.loads(await ws.get_message()))
    for frame in frames:
        check("WebSocketServerFrame", frame)
    kinds = {frame["type"] for frame in frames}
    assert {
        "authenticated",
        "start",
        "delta",
        "reasoning",
        "tool_call",
        "usage",
        "done",
        "error",
    } <= kinds
    assert {"type": "done", "id": "b", "finish_reason": "cancelled"} in frames
