"""The OpenAI Chat Completions surface: request parsing and response encoding, sans I/O.

Parsing follows the OpenAI API's rules and wording for what it rejects; parameters cliwrap
does not use are accepted and ignored, as OpenAI clients expect of compatible servers.
"""

from __future__ import annotations

import math
import secrets
import time
from typing import Any

import attrs

from ..core.errors import ApiError, ErrorKind
from ..core.events import Failed, FinishReason, Indexed, Keepalive, Usage
from ..core.fields import is_one_of, named, shown
from ..core.images import Album, from_url
from ..core.request import (
    ChatRequest,
    Message,
    ResponseFormat,
    Role,
    Tool,
    ToolCall,
    ToolChoice,
    placed,
)
from ..semantics.structured import parse_format
from ..semantics.tools import checked_arguments, checked_tool, new_call_id
from . import params, sse
from .rendering import EventEncoder, Gathered

__all__ = [
    "ROLES",
    "ChoicesCollector",
    "ChoicesEncoder",
    "ChunkEncoder",
    "CompletionCollector",
    "error_body",
    "parse_chat_request",
    "usage_body",
]

MAX_CHOICES = 8
"""The most choices (``n``) one request may ask for: each is a CLI run of its own."""

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
    album = Album()
    messages = placed([_message(m, f"messages[{i}]", album) for i, m in enumerate(raw_messages)])
    if not any(m.role == "user" for m in messages):
        raise _invalid("'messages' must contain at least one user message.", "messages")
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise _invalid("'stream' must be a boolean.", "stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise _invalid("'stream_options' must be an object.", "stream_options")
    n = 1 if body.get("n") is None else body["n"]
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_CHOICES:
        raise _invalid(f"'n' must be a whole number from 1 to {MAX_CHOICES}.", "n")
    legacy = body.get("tools") is None and body.get("functions") is not None
    offered = _functions(body) if legacy else _tools(body)
    return ChatRequest(
        model=model,
        session=params.session_name(body.get("session_id"), "session_id"),
        messages=messages,
        stream=bool(stream),
        include_usage=bool(options.get("include_usage", False)),
        n=n,
        tools=offered,
        tool_choice=_choice(body, offered, legacy),
        legacy_functions=legacy,
        response_format=_format(body.get("response_format")),
        stop=_stop(body.get("stop")),
        max_tokens=params.positive_int(
            body.get("max_completion_tokens", body.get("max_tokens")),
            "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens",
        ),
        reasoning_effort=params.effort(body.get("reasoning_effort"), "reasoning_effort"),
        temperature=params.number(body.get("temperature"), 0, 2, "temperature"),
        top_p=params.number(body.get("top_p"), 0, 1, "top_p"),
    )


def _stop(raw: Any) -> tuple[str, ...]:
    stops = [raw] if isinstance(raw, str) else raw
    if stops is None:
        return ()
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
        raise _invalid("'stop' must be a string or an array of non-empty strings.", "stop")
    if len(stops) > 4:
        raise _invalid("'stop' takes at most 4 sequences.", "stop")
    return tuple(stops)


def _format(raw: Any) -> ResponseFormat | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _invalid("'response_format' must be an object.", "response_format")
    spec: Any = raw.get("json_schema") if isinstance(raw.get("json_schema"), dict) else {}
    return parse_format(raw.get("type"), spec.get("schema"), spec.get("name"), "response_format")


def _tools(body: dict[str, Any]) -> tuple[Tool, ...]:
    raw = body.get("tools")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _invalid("'tools' must be an array of tools.", "tools")
    offered = []
    for i, tool in enumerate(raw):
        where = f"tools[{i}]"
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            raise _invalid(f"{where} must be a tool of type 'function'.", where)
        function = tool.get("function")
        if not isinstance(function, dict):
            raise _invalid(f"{where}.function must be an object.", f"{where}.function")
        offered.append(
            checked_tool(
                function.get("name"),
                function.get("description"),
                function.get("parameters"),
                f"{where}.function",
            )
        )
    return tuple(offered)


def _functions(body: dict[str, Any]) -> tuple[Tool, ...]:
    raw = body["functions"]
    if not isinstance(raw, list):
        raise _invalid("'functions' must be an array of functions.", "functions")
    return tuple(
        checked_tool(
            f.get("name") if isinstance(f, dict) else None,
            f.get("description") if isinstance(f, dict) else None,
            f.get("parameters") if isinstance(f, dict) else None,
            f"functions[{i}]",
        )
        for i, f in enumerate(raw)
    )


def _choice(body: dict[str, Any], offered: tuple[Tool, ...], legacy: bool) -> ToolChoice:
    param = "function_call" if legacy else "tool_choice"
    raw = body.get(param)
    if raw is None:
        return ToolChoice()
    if raw in ("auto", "none") or (raw == "required" and not legacy):
        if raw != "none" and not offered:
            raise _invalid(f"'{param}' is only allowed when tools are specified.", param)
        return ToolChoice(raw)
    chosen = raw.get("name") if legacy and isinstance(raw, dict) else None
    if not legacy and isinstance(raw, dict) and isinstance(raw.get("function"), dict):
        chosen = raw["function"].get("name")
    if not isinstance(chosen, str):
        raise _invalid(f"'{param}' must be 'none', 'auto', 'required' or a named function.", param)
    if not is_one_of(chosen, {t.name for t in offered}):
        raise _invalid(f"'{param}' names {shown(chosen)}, which is not among the tools.", param)
    return ToolChoice("function", chosen)


def _message(raw: Any, where: str, album: Album) -> Message:
    if not isinstance(raw, dict):
        raise _invalid(f"{where} must be an object.", where)
    kind = raw.get("role", "")
    if kind in ("tool", "function"):
        return _result(raw, where)
    role = named(ROLES, kind)
    if role is None:
        raise _invalid(
            f"{where}.role must be one of system, developer, user, assistant or tool "
            f"(got {shown(kind)}).",
            f"{where}.role",
        )
    before = len(album.images)
    content = _content(raw.get("content"), f"{where}.content", role, album)
    if role == "user" and not content.strip():  # no CLI takes an empty prompt
        raise _invalid(f"{where}.content must not be empty.", f"{where}.content")
    if role != "assistant":
        return Message(role, content, images=album.since(before))
    return Message(role, content, tool_calls=_calls(raw, where))


def _result(raw: dict[str, Any], where: str) -> Message:
    """A tool's (or a legacy function's) result, sent back by the client."""
    ident = raw.get("tool_call_id")
    if raw["role"] == "tool" and not isinstance(ident, str):
        raise _invalid(f"{where}.tool_call_id must be a string.", f"{where}.tool_call_id")
    name = raw.get("name")
    content = _content(raw.get("content") or "", f"{where}.content", "tool", None)
    return Message(
        "tool", content, tool_call_id=ident, name=name if isinstance(name, str) else None
    )


def _calls(raw: dict[str, Any], where: str) -> tuple[ToolCall, ...]:
    """An assistant turn's earlier calls (``tool_calls``, or the legacy ``function_call``)."""
    listed = raw.get("tool_calls")
    if listed is None and isinstance(raw.get("function_call"), dict):
        listed = [{"id": None, "function": raw["function_call"]}]
    if listed is None:
        return ()
    if not isinstance(listed, list):
        raise _invalid(f"{where}.tool_calls must be an array.", f"{where}.tool_calls")
    calls = []
    for i, call in enumerate(listed):
        at = f"{where}.tool_calls[{i}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise _invalid(f"{at}.function must have a name.", f"{at}.function")
        arguments = checked_arguments(function.get("arguments") or "{}", f"{at}.function.arguments")
        ident = call.get("id")
        calls.append(
            ToolCall(
                ident if isinstance(ident, str) else new_call_id(), function["name"], arguments
            )
        )
    return tuple(calls)


def _content(content: Any, where: str, role: Role, album: Album | None) -> str:
    if isinstance(content, str):
        return content
    if content is None and role in ("assistant", "tool"):
        return ""
    if not isinstance(content, list):
        raise _invalid(f"{where} must be a string or an array of content parts.", where)
    texts = []
    for i, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "image_url" and album is not None and role == "user":
            spec = part.get("image_url")
            url = spec.get("url") if isinstance(spec, dict) else spec
            texts.append(album.add(from_url(url, f"{where}[{i}].image_url.url")))
        elif kind == "image_url":
            raise _invalid("Images are taken in user messages only.", f"{where}[{i}]")
        else:
            raise _invalid(f"{where}[{i}] must be a text part.", f"{where}[{i}]")
    return "\n".join(texts)


def error_body(error: ApiError) -> dict[str, Any]:
    """The OpenAI error envelope; ``retry_after`` (whole seconds, as in ``Retry-After``)
    when the client is told to wait, as the predecessors put it there."""
    body: dict[str, Any] = {
        "message": error.message,
        "type": error.kind.openai_type,
        "param": error.param,
        "code": error.kind.openai_code,
    }
    if error.retry_after is not None:
        body["retry_after"] = retry_after_seconds(error.retry_after)
    return {"error": body}


def retry_after_seconds(seconds: float) -> int:
    """A delay as ``Retry-After`` says it: whole seconds, rounded up, at least 1."""
    return max(1, math.ceil(seconds))


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


def _call_body(call: ToolCall) -> dict[str, Any]:
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }


def _finish_reason(reason: FinishReason, legacy_functions: bool) -> str:
    if legacy_functions and reason is FinishReason.TOOL_CALLS:
        return "function_call"
    return reason.value


@attrs.define
class _Identity:
    model: str
    id: str = attrs.field(factory=lambda: "chatcmpl-" + secrets.token_hex(12))
    created: int = attrs.field(factory=lambda: int(time.time()))


@attrs.define
class CompletionCollector(Gathered):
    """Gathers events into one ``chat.completion`` body (the non-streaming answer)."""

    legacy_functions: bool = False

    def body(self) -> dict[str, Any]:
        reason = self.outcome()
        ident = _Identity(self.model)
        message: dict[str, Any] = {"role": "assistant", "content": self.text}
        if self.thinking:
            message["reasoning_content"] = self.thinking
        if self.calls and self.legacy_functions:
            message["content"] = self.text or None
            message["function_call"] = _call_body(self.calls[0])["function"]
        elif self.calls:
            message["content"] = self.text or None
            message["tool_calls"] = [_call_body(call) for call in self.calls]
        return {
            "id": ident.id,
            "object": "chat.completion",
            "created": ident.created,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": _finish_reason(reason, self.legacy_functions),
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
    legacy_functions: bool = False
    index: int = 0
    """The choice this encoder writes (``n`` > 1: one encoder per choice)."""
    closing: bool = True
    """Whether it ends the stream itself (usage and ``[DONE]``), as it does when alone."""
    ident: _Identity = attrs.field(
        default=attrs.Factory(lambda self: _Identity(self.model), takes_self=True)
    )

    def start(self) -> bytes:
        return self._chunk({"role": "assistant", "content": ""})

    def _keepalive(self) -> bytes:
        return sse.KEEPALIVE

    def _content(self, text: str) -> bytes:
        return self._chunk({"content": text})

    def _thinking(self, text: str) -> bytes:
        return self._chunk({"reasoning_content": text})

    def _tool_start(self, call_id: str, name: str, index: int) -> bytes:
        if self.legacy_functions:  # the old API knew one call per answer
            return (
                self._chunk({"function_call": {"name": name, "arguments": ""}})
                if not index
                else b""
            )
        opened = {"index": index, "id": call_id, "type": "function"}
        return self._chunk(
            {"tool_calls": [{**opened, "function": {"name": name, "arguments": ""}}]}
        )

    def _tool_arguments(self, text: str, index: int) -> bytes:
        if self.legacy_functions:
            return self._chunk({"function_call": {"arguments": text}}) if not index else b""
        return self._chunk({"tool_calls": [{"index": index, "function": {"arguments": text}}]})

    def _tool_end(self, call: ToolCall, index: int) -> bytes:
        return b""  # the next chunk (another call, or the finish) says it is complete

    def _failed(self, error: ApiError) -> bytes:
        """An error event then ``[DONE]``: OpenAI SDKs raise the error as they read it."""
        return sse.data(error_body(error)) + sse.data("[DONE]")

    def _finish(self, reason: FinishReason) -> bytes:
        finish = _finish_reason(reason, self.legacy_functions)
        choice = {"index": self.index, "delta": {}, "finish_reason": finish, "logprobs": None}
        final = self._base([choice])
        if not self.closing:
            return sse.data(final)
        if not self.include_usage:
            final["usage"] = usage_body(self.usage)  # cliwrap's habit; OpenAI sends none
        return sse.data(final) + self.close(self.usage)

    def close(self, usage: Usage) -> bytes:
        """What ends the stream: with ``include_usage`` a usage chunk, then ``[DONE]``."""
        if not self.include_usage:
            return sse.data("[DONE]")
        usage_chunk = self._base([])
        usage_chunk["usage"] = usage_body(usage)
        return sse.data(usage_chunk) + sse.data("[DONE]")

    def _chunk(self, delta: dict[str, Any]) -> bytes:
        choice = {"index": self.index, "delta": delta, "finish_reason": None, "logprobs": None}
        return sse.data(self._base([choice]))

    def _base(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self.ident.id,
            "object": "chat.completion.chunk",
            "created": self.ident.created,
            "model": self.model,
            "choices": choices,
            "system_fingerprint": None,
        }
        if self.include_usage:
            chunk["usage"] = None
        return chunk


@attrs.define
class ChoicesEncoder:
    """``n`` answers as one chunk stream: each choice's chunks carry its index, interleaved
    as the runs produce them; the usage of all of them and one ``[DONE]`` end it.

    A failure of any run ends the whole stream with the error, as one failed request would.
    """

    model: str
    n: int
    include_usage: bool = False
    legacy_functions: bool = False
    done: bool = False
    _choices: list[ChunkEncoder] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        ident = _Identity(self.model)
        self._choices = [
            ChunkEncoder(
                self.model,
                include_usage=self.include_usage,
                legacy_functions=self.legacy_functions,
                index=index,
                closing=False,
                ident=ident,
            )
            for index in range(self.n)
        ]

    def start(self) -> bytes:
        return b"".join(choice.start() for choice in self._choices)

    def encode(self, event: Indexed) -> bytes:
        index, inner = event
        if self.done:
            return b""
        if isinstance(inner, Failed):
            return self.fail(inner.error)
        if isinstance(inner, Keepalive) and index:
            return b""  # one keepalive is enough for all of them
        out = self._choices[index].encode(inner)
        if all(choice.done for choice in self._choices):
            self.done = True
            usage = sum((choice.usage for choice in self._choices), Usage())
            out += self._choices[0].close(usage)
        return out

    def fail(self, error: ApiError) -> bytes:
        self.done = True
        return sse.data(error_body(error)) + sse.data("[DONE]")


@attrs.define
class ChoicesCollector:
    """``n`` answers gathered into one ``chat.completion`` with ``n`` choices."""

    model: str
    n: int
    legacy_functions: bool = False
    _choices: list[CompletionCollector] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._choices = [
            CompletionCollector(self.model, self.legacy_functions) for _ in range(self.n)
        ]

    def add(self, event: Indexed) -> None:
        index, inner = event
        self._choices[index].add(inner)

    def body(self) -> dict[str, Any]:
        bodies = [choice.body() for choice in self._choices]  # raises the first failure
        merged = bodies[0]
        merged["choices"] = [
            {**body["choices"][0], "index": index} for index, body in enumerate(bodies)
        ]
        usage = sum((choice.usage for choice in self._choices), Usage())
        merged["usage"] = usage_body(usage)
        return merged
