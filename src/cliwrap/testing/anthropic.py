"""A stub of the Anthropic Messages API (``POST /v1/messages``), streaming and not.

It answers as the real API does, event by event, and fails as the real API fails: error
bodies with the real types, ``retry-after`` on 429, 529 for overload, a reset connection.
What it does is read from directives in the prompt (:mod:`cliwrap.testing.directives`).
Given a :class:`~cliwrap.testing.prompt_cache.PromptCache`, it reads and writes the prompt
cache at the request's ``cache_control`` breakpoints, and reports the cache's tokens in usage
as the API does.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from .directives import Plan, read_plan, split
from .http import DROP, Recorded, Response, Step
from .prompt_cache import MAX_BREAKPOINTS, Prompt, PromptCache

__all__ = ["cache_prompt", "handle_messages", "prompt_text"]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_ids = itertools.count(1)


def prompt_text(body: Any, role: str = "user") -> str:
    """All text of ``role``'s turns in a Messages request, in order."""
    texts: list[str] = []
    for message in body.get("messages", []) if isinstance(body, dict) else []:
        if message.get("role") != role:
            continue
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        else:
            texts.extend(b.get("text", "") for b in content or [] if b.get("type") == "text")
    return "\n".join(texts)


def cache_prompt(body: Any) -> Prompt:
    """The prompt as Anthropic's cache reads it: tools, then system, then each message's
    content blocks (with the message's role)."""
    body = body if isinstance(body, dict) else {}
    parts: list[Any] = list(body.get("tools") or [])
    system = body.get("system")
    parts += [{"type": "text", "text": system}] if isinstance(system, str) else system or []
    for message in body.get("messages") or []:
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        parts += [{"role": message.get("role"), **block} for block in blocks or []]
    return Prompt.of(parts)


def handle_messages(request: Recorded, cache: PromptCache | None = None) -> Response:
    if request.method != "POST" or not request.path.startswith("/v1/messages"):
        return Response.json(404, _error(404, f"no route {request.method} {request.path}"))
    body = request.body if isinstance(request.body, dict) else {}
    prompt = cache_prompt(body)
    if len(prompt.breakpoints) > MAX_BREAKPOINTS:
        limit = f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided."
        return Response.json(400, _error(400, f"{limit} Found {len(prompt.breakpoints)}."))
    plan = read_plan(prompt_text(body), prompt_text(body, "assistant"))
    hold: list[Step] = [plan.hold] if plan.hold else []
    if plan.overflow:
        return Response.json(400, _error(400, "prompt is too long: 250000 tokens > 200000 maximum"))
    if plan.fail_status is not None:
        headers = (("retry-after", str(plan.retry_after)),) if plan.retry_after else ()
        error = Response.json(plan.fail_status, _error(plan.fail_status, "stub failure"), headers)
        return Response(error.status, error.headers, [*hold, *error.steps])
    model = str(body.get("model", "claude-stub"))
    cached = cache.breakpoints("messages", [model], prompt) if cache else prompt.uncached()
    usage = {
        "input_tokens": cached.uncached_tokens,
        "cache_creation_input_tokens": cached.written_tokens,
        "cache_read_input_tokens": cached.cached_tokens,
        "output_tokens": 0,
    }
    output_tokens = max(1, (len(plan.reply) + len(plan.thinking)) // 4)
    message_id = f"msg_stub{next(_ids):06d}"
    if not body.get("stream"):
        # The CLI retries a broken stream without streaming: [[drop]] breaks that too.
        if plan.drop and not plan.drop_stream_only:
            return Response(200, (("content-type", "application/json"),), [*hold, DROP])
        content: list[dict[str, Any]] = []
        if plan.thinking:
            content.append({"type": "thinking", "thinking": plan.thinking, "signature": "c3R1Yg=="})
        content.append({"type": "text", "text": plan.reply})
        message = _message(message_id, model, content, plan.stop_reason, usage)
        message["usage"]["output_tokens"] = output_tokens
        return Response(
            200, Response.json(200, message).headers, [*hold, json.dumps(message).encode()]
        )
    return Response(
        200,
        (("content-type", "text/event-stream"), ("cache-control", "no-cache")),
        [*hold, *_stream(plan, message_id, model, usage, output_tokens)],
    )


def _stream(
    plan: Plan, message_id: str, model: str, usage: dict[str, int], output_tokens: int
) -> list[Step]:
    steps: list[Step] = [
        _sse(
            "message_start",
            {"type": "message_start", "message": _message(message_id, model, [], None, usage)},
        ),
    ]
    deltas = 0
    blocks: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    if plan.thinking:
        blocks.append(
            (
                {"type": "thinking", "thinking": "", "signature": ""},
                [
                    {"type": "thinking_delta", "thinking": piece}
                    for piece in split(plan.thinking, plan.chunk)
                ]
                + [{"type": "signature_delta", "signature": "c3R1Yg=="}],
            )
        )
    blocks.append(
        (
            {"type": "text", "text": ""},
            [{"type": "text_delta", "text": piece} for piece in split(plan.reply, plan.chunk)],
        )
    )
    for index, (start, block_deltas) in enumerate(blocks):
        steps.append(
            _sse(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": start},
            )
        )
        for delta in block_deltas:
            if plan.delay:
                steps.append(plan.delay)
            steps.append(
                _sse(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                )
            )
            deltas += 1
            if plan.drop and deltas == 2:
                return [*steps, DROP]
        steps.append(_sse("content_block_stop", {"type": "content_block_stop", "index": index}))
    steps.append(
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": plan.stop_reason, "stop_sequence": None},
                "usage": {**usage, "output_tokens": output_tokens},
            },
        )
    )
    steps.append(_sse("message_stop", {"type": "message_stop"}))
    return steps


def _message(
    message_id: str,
    model: str,
    content: list[dict[str, Any]],
    stop: str | None,
    usage: dict[str, int],
) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": dict(usage),
    }


def _error(status: int, message: str) -> dict[str, Any]:
    kind = _ERROR_TYPES.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": f"{message} ({status})"}}


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()
