"""The Anthropic Messages surface (``POST /v1/messages``): parsing and encoding, sans I/O.

One more adapter around the canonical request and event stream: a Messages request becomes a
:class:`~cliwrap.request.ChatRequest`, and the job's events become a ``message`` object or
Anthropic's stream of named SSE events, in the order its SDKs expect: ``message_start``,
then per content block ``content_block_start`` / ``content_block_delta``\\* /
``content_block_stop`` (a ``ping`` after the first block starts), then ``message_delta`` with
the stop reason and usage, and ``message_stop``. Validation follows the API's rules and its
``invalid_request_error`` wording.
"""

from __future__ import annotations

import secrets
from typing import Any

import attrs

from ..errors import ApiError, ErrorKind
from ..events import FinishReason, Usage
from ..request import ChatRequest, Message, Role
from . import sse
from .answer import EventEncoder, Gathered

__all__ = [
    "STOP_REASONS",
    "MessageCollector",
    "MessageEncoder",
    "count_tokens",
    "error_body",
    "parse_messages_request",
]

_ROLES: dict[str, Role] = {"user": "user", "assistant": "assistant"}
STOP_REASONS = {
    FinishReason.STOP: "end_turn",
    FinishReason.LENGTH: "max_tokens",
    FinishReason.TOOL_CALLS: "tool_use",
    FinishReason.CONTENT_FILTER: "refusal",
}


def _invalid(message: str) -> ApiError:
    return ApiError(ErrorKind.INVALID_REQUEST, message)


def error_body(error: ApiError) -> dict[str, Any]:
    """Anthropic's error envelope."""
    return {"type": "error", "error": {"type": error.kind.anthropic_type, "message": error.message}}


def parse_messages_request(body: Any) -> ChatRequest:
    """A :class:`ChatRequest` from a Messages request body, or a 400 saying what is wrong."""
    if not isinstance(body, dict):
        raise _invalid("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _invalid("model: Field required")
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        raise _invalid("max_tokens: Field required")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise _invalid("max_tokens: Input should be a valid integer greater than or equal to 1")
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise _invalid("messages: at least one message is required")
    messages = [_message(m, f"messages.{i}") for i, m in enumerate(raw)]
    if not any(m.role == "user" for m in messages):
        raise _invalid("messages: at least one user message is required")
    system = _system(body.get("system"))
    stop = body.get("stop_sequences")
    if stop is not None and (
        not isinstance(stop, list) or not all(isinstance(s, str) for s in stop)
    ):
        raise _invalid("stop_sequences: Input should be a valid list of strings")
    metadata = body.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise _invalid("metadata: Input should be a valid dictionary")
        user_id = metadata.get("user_id")
        if user_id is not None and not isinstance(user_id, str):
            raise _invalid("metadata.user_id: Input should be a valid string")
        if set(metadata) - {"user_id"}:
            extra = sorted(set(metadata) - {"user_id"})[0]
            raise _invalid(f"metadata.{extra}: Extra inputs are not permitted")
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise _invalid("stream: Input should be a valid boolean")
    head = (Message("system", system),) if system else ()
    return ChatRequest(model=model, messages=(*head, *messages), stream=bool(stream))


def _message(raw: Any, where: str) -> Message:
    if not isinstance(raw, dict):
        raise _invalid(f"{where}: Input should be a valid dictionary")
    role = _ROLES.get(raw.get("role", ""))
    if role is None:
        raise _invalid(f"{where}.role: Input should be 'user' or 'assistant'")
    if "content" not in raw:
        raise _invalid(f"{where}.content: Field required")
    return Message(role, _text(raw["content"], f"{where}.content"))


def _system(system: Any) -> str:
    if system is None:
        return ""
    if isinstance(system, list) and not all(
        isinstance(b, dict) and b.get("type") == "text" for b in system
    ):
        raise _invalid("system: blocks must be text blocks")
    return _text(system, "system")


def _text(content: Any, where: str) -> str:
    """The text of a string or a list of content blocks (text only, until issue 5's work)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _invalid(f"{where}: Input should be a valid string or list of content blocks")
    texts = []
    for i, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind in ("thinking", "redacted_thinking"):
            continue  # earlier turns' thinking, which clients send back; not for the prompt
        elif kind is None:
            raise _invalid(f"{where}.{i}: Input should be a valid content block")
        else:
            raise _invalid(f"{where}.{i}: content blocks of type '{kind}' are not supported yet")
    return "\n".join(texts)


def count_tokens(request: ChatRequest) -> int:
    """An estimate of the prompt's tokens (~4 characters each): the CLIs count nothing ahead."""
    characters = sum(len(m.content) + 8 for m in request.messages)
    return max(1, round(characters / 4))


def _new_id() -> str:
    return "msg_" + secrets.token_hex(12)


def _usage(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
    }


@attrs.define
class MessageCollector(Gathered):
    """Gathers events into one ``message`` object (the non-streaming answer)."""

    def body(self) -> dict[str, Any]:
        reason = self.outcome()
        content: list[dict[str, Any]] = []
        if self.thinking:
            content.append({"type": "thinking", "thinking": self.thinking, "signature": ""})
        content.append({"type": "text", "text": self.text})
        return {
            "id": _new_id(),
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": STOP_REASONS[reason],
            "stop_sequence": None,
            "usage": _usage(self.usage),
        }


@attrs.define
class MessageEncoder(EventEncoder):
    """Turns events into Anthropic's named SSE events (see the module's docstring).

    Thinking and text go in blocks of their own, a new block whenever the kind changes;
    progress marks (``-progress`` models) are text before the answer; keepalives are
    ``ping`` events; a failure after the start is an ``error`` event, as the API sends it.
    """

    model: str
    _id: str = attrs.field(init=False, factory=_new_id)
    _block: str | None = attrs.field(init=False, default=None)
    """The open block's type."""
    _index: int = attrs.field(init=False, default=-1)
    _pinged: bool = attrs.field(init=False, default=False)

    def start(self) -> bytes:
        message: dict[str, Any] = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": _usage(Usage()),
        }
        return self._event("message_start", message=message)

    def _keepalive(self) -> bytes:
        return self._event("ping")

    def _content(self, text: str) -> bytes:
        return self._delta("text", text)

    def _thinking(self, text: str) -> bytes:
        return self._delta("thinking", text)

    def _failed(self, error: ApiError) -> bytes:
        return sse.event("error", error_body(error))

    def _delta(self, kind: str, text: str) -> bytes:
        out = b""
        if self._block != kind:
            out += self._close() + self._open(kind)
        field, delta = (
            ("thinking", "thinking_delta") if kind == "thinking" else ("text", "text_delta")
        )
        return out + self._event(
            "content_block_delta", index=self._index, delta={"type": delta, field: text}
        )

    def _open(self, kind: str) -> bytes:
        self._block = kind
        self._index += 1
        block = (
            {"type": "thinking", "thinking": "", "signature": ""}
            if kind == "thinking"
            else {"type": "text", "text": ""}
        )
        out = self._event("content_block_start", index=self._index, content_block=block)
        if not self._pinged:
            self._pinged = True
            out += self._event("ping")
        return out

    def _close(self) -> bytes:
        if self._block is None:
            return b""
        out = b""
        if self._block == "thinking":
            signature = {"type": "signature_delta", "signature": ""}
            out = self._event("content_block_delta", index=self._index, delta=signature)
        self._block = None
        return out + self._event("content_block_stop", index=self._index)

    def _finish(self, reason: FinishReason) -> bytes:
        out = b"" if self._index >= 0 else self._open("text")  # an answer has a text block
        out += self._close()
        delta = {"stop_reason": STOP_REASONS[reason], "stop_sequence": None}
        out += self._event("message_delta", delta=delta, usage=_usage(self.usage))
        return out + self._event("message_stop")

    @staticmethod
    def _event(name: str, **fields: Any) -> bytes:
        return sse.event(name, {"type": name, **fields})
