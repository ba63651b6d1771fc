"""The OpenAI Chat Completions surface: request parsing and response encoding, sans I/O.

Parsing follows the OpenAI API's rules and wording for what it rejects; parameters cliwrap
does not use are accepted and ignored, as OpenAI clients expect of compatible servers.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import attrs

from ..errors import ApiError, ErrorKind
from ..events import FinishReason, Usage
from ..request import ChatRequest, Message, Role
from . import sse
from .answer import EventEncoder, Gathered

__all__ = [
    "ROLES",
    "ChunkEncoder",
    "Collector",
    "error_body",
    "parse_chat_request",
    "usage_body",
]

ROLES: dict[str, Role] = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
}
"""OpenAI's roles as the canonical request knows them: a developer message is a system one."""


def _invalid(message: str, param: str | None = None) -> ApiError:
    return ApiError(ErrorKind.INVALID_REQUEST, message, param=param)


def parse_chat_request(body: Any) -> ChatRequest:
    """A :class:`ChatRequest` from a decoded JSON body, or a 400 saying what is wrong."""
    if not isinstance(body, dict):
        raise _invalid("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _invalid("you must provide a model parameter", "model")
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise _invalid("'messages' must be a non-empty array of messages.", "messages")
    messages = tuple(_message(m, f"messages[{i}]") for i, m in enumerate(raw_messages))
    if not any(m.role == "user" for m in messages):
        raise _invalid("'messages' must contain at least one user message.", "messages")
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise _invalid("'stream' must be a boolean.", "stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise _invalid("'stream_options' must be an object.", "stream_options")
    n = body.get("n", 1)
    if n not in (None, 1):
        raise _invalid("Only n = 1 is supported.", "n")
    return ChatRequest(
        model=model,
        messages=messages,
        stream=bool(stream),
        include_usage=bool(options.get("include_usage", False)),
    )


def _message(raw: Any, where: str) -> Message:
    if not isinstance(raw, dict):
        raise _invalid(f"{where} must be an object.", where)
    role = ROLES.get(raw.get("role", ""))
    if role is None:
        raise _invalid(
            f"{where}.role must be one of system, developer, user or assistant "
            f"(got {raw.get('role')!r}).",
            f"{where}.role",
        )
    return Message(role, _content(raw.get("content"), f"{where}.content", role))


def _content(content: Any, where: str, role: Role) -> str:
    if isinstance(content, str):
        return content
    if content is None and role == "assistant":
        return ""
    if not isinstance(content, list):
        raise _invalid(f"{where} must be a string or an array of content parts.", where)
    texts = []
    for i, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind in ("image_url", "input_image"):
            raise _invalid("Image input is not supported yet.", f"{where}[{i}]")
        else:
            raise _invalid(f"{where}[{i}] must be a text part.", f"{where}[{i}]")
    return "\n".join(texts)


def error_body(error: ApiError) -> dict[str, Any]:
    """The OpenAI error envelope."""
    return {
        "error": {
            "message": error.message,
            "type": error.kind.openai_type,
            "param": error.param,
            "code": error.kind.openai_code,
        }
    }


def usage_body(usage: Usage) -> dict[str, Any]:
    body: dict[str, Any] = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.prompt_tokens + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens},
    }
    if usage.cost_usd is not None:
        body["cost_usd"] = usage.cost_usd
    return body


@attrs.define
class _Identity:
    model: str
    id: str = attrs.field(factory=lambda: "chatcmpl-" + secrets.token_hex(12))
    created: int = attrs.field(factory=lambda: int(time.time()))


@attrs.define
class Collector(Gathered):
    """Gathers events into one ``chat.completion`` body (the non-streaming answer)."""

    def body(self) -> dict[str, Any]:
        reason = self.outcome()
        ident = _Identity(self.model)
        message: dict[str, Any] = {"role": "assistant", "content": self.text}
        if self.thinking:
            message["reasoning_content"] = self.thinking
        return {
            "id": ident.id,
            "object": "chat.completion",
            "created": ident.created,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": reason.value,
                    "logprobs": None,
                }
            ],
            "usage": usage_body(self.usage),
            "system_fingerprint": None,
        }


@attrs.define
class ChunkEncoder(EventEncoder):
    """Turns events into ``chat.completion.chunk`` SSE bytes, ending with ``data: [DONE]``.

    The role comes first (:meth:`start`); answer and reasoning deltas as they arrive;
    progress marks as content; keepalives as SSE comments; a failure as an ``error`` event.
    Without ``include_usage`` the usage rides on the finishing chunk; with it, a last chunk
    with empty ``choices`` carries it, as OpenAI does.
    """

    model: str
    include_usage: bool = False
    _ident: _Identity = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._ident = _Identity(self.model)

    def start(self) -> bytes:
        return self._chunk({"role": "assistant", "content": ""})

    def _keepalive(self) -> bytes:
        return sse.KEEPALIVE

    def _content(self, text: str) -> bytes:
        return self._chunk({"content": text})

    def _thinking(self, text: str) -> bytes:
        return self._chunk({"reasoning_content": text})

    def _failed(self, error: ApiError) -> bytes:
        """An error event then ``[DONE]``: OpenAI SDKs raise the error as they read it."""
        return sse.data(error_body(error)) + sse.data("[DONE]")

    def _finish(self, reason: FinishReason) -> bytes:
        final = self._base(
            [{"index": 0, "delta": {}, "finish_reason": reason.value, "logprobs": None}]
        )
        usage = usage_body(self.usage)
        if not self.include_usage:
            final["usage"] = usage
            return sse.data(final) + sse.data("[DONE]")
        usage_chunk = self._base([])
        usage_chunk["usage"] = usage
        return sse.data(final) + sse.data(usage_chunk) + sse.data("[DONE]")

    def _chunk(self, delta: dict[str, Any]) -> bytes:
        return sse.data(
            self._base([{"index": 0, "delta": delta, "finish_reason": None, "logprobs": None}])
        )

    def _base(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self._ident.id,
            "object": "chat.completion.chunk",
            "created": self._ident.created,
            "model": self.model,
            "choices": choices,
            "system_fingerprint": None,
        }
        if self.include_usage:
            chunk["usage"] = None
        return chunk
