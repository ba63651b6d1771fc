"""Fingerprints: which conversation a request continues, decided from its messages alone.

A conversation's *head* is a hash chained over its turns (role, text, tool calls, tool
results, image digests), oldest first: ``h₀ = ""``, ``hᵢ = sha256(hᵢ₋₁ ‖ turnᵢ)``. After a
turn cliwrap knows the head of the history plus the answer it sent. A stateless client's
next request carries that same history and then its new turns (tool results, a user
message); the head of its messages up to and including the last assistant turn is looked up
among the conversations of the same key, provider and model. A match continues that
conversation; a history that was edited or compacted by the client matches nothing and
starts a new conversation (seeded with the history).

What a fingerprint ignores, on purpose: whitespace around a turn's text (clients trim),
tool call ids (some clients renumber them) and the order of keys in call arguments. The
*shape* (system prompt, tool contract, and the options a CLI takes only when it starts)
is fingerprinted apart: a request whose shape differs cannot be served by the CLI process
that was started for the old one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from ..core.images import Image, RemoteImage
from ..core.request import ChatRequest, Message, ToolCall

__all__ = [
    "Split",
    "advanced",
    "from_record",
    "key_id",
    "message_record",
    "shape_of",
    "split",
]


def key_id(api_key: str | None) -> str:
    """Who owns a conversation: a hash of the API key the client presented ("" for none).

    Hashed so that the store never holds a key; any presented key counts, even on a server
    without keys, so two clients with different keys never see each other's conversations.
    """
    if not api_key:
        return ""
    return hashlib.sha256(b"cliwrap-key\0" + api_key.encode()).hexdigest()[:32]


def shape_of(provider: str, model: str, request: ChatRequest) -> str:
    """What is fixed when a CLI session starts, for ``request`` as the CLI gets it (after
    the tool contract and answer-format words were added to its system prompt)."""
    fixed = {
        "provider": provider,
        "model": model,
        "system": request.system_prompt,
        "effort": request.reasoning_effort,
        "max_tokens": request.max_tokens,
        "thinking": request.thinking_budget,
        "max_turns": request.max_turns,
    }
    return hashlib.sha256(json.dumps(fixed, sort_keys=True).encode()).hexdigest()[:32]


@attrs.frozen
class Split:
    """A request's conversation cut where the client's new turns begin."""

    history: tuple[Message, ...]
    """Every turn up to and including the last assistant turn."""
    new: tuple[Message, ...]
    """The turns after it: tool results, a user message (what the CLI must be told now)."""
    head: str
    """The fingerprint of :attr:`history` ("" when there is none)."""


def split(conversation: Sequence[Message]) -> Split:
    """``conversation`` (the turns after the system prompt) cut after its last assistant turn."""
    last = max((i for i, m in enumerate(conversation) if m.role == "assistant"), default=-1)
    history = tuple(conversation[: last + 1])
    return Split(history, tuple(conversation[last + 1 :]), advanced("", history))


def advanced(head: str, turns: Iterable[Message]) -> str:
    """The fingerprint after ``turns`` follow a history whose fingerprint is ``head``."""
    for message in turns:
        digest = hashlib.sha256(head.encode())
        digest.update(_canonical(message))
        head = digest.hexdigest()[:40]
    return head


def _canonical(message: Message) -> bytes:
    data = {
        "role": message.role,
        "text": message.content.strip(),
        "calls": [_call(c) for c in message.tool_calls],
        "images": [_image(i) for i in message.images],
    }
    return json.dumps(data, sort_keys=True, ensure_ascii=False).encode()


def _call(call: ToolCall) -> list[Any]:
    try:
        arguments: Any = json.loads(call.arguments or "{}")
    except ValueError:
        arguments = call.arguments
    return [call.namespace, call.name, arguments]


def _image(image: Image | RemoteImage) -> str:
    if isinstance(image, Image):
        return hashlib.sha256(image.data).hexdigest()
    return image.url


def message_record(message: Message) -> dict[str, Any]:
    """``message`` as a JSON-able record, for the conversation's stored transcript (images
    become their labels' place only: a seeded history shows them as the text mentions them)."""
    record: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        record["tool_calls"] = [attrs.asdict(call) for call in message.tool_calls]
    if message.tool_call_id is not None:
        record["tool_call_id"] = message.tool_call_id
    if message.name is not None:
        record["name"] = message.name
    if message.in_conversation:
        record["in_conversation"] = True
    return record


def from_record(record: Mapping[str, Any]) -> Message:
    """The message :func:`message_record` made."""
    return Message(
        record["role"],
        record.get("content", ""),
        tool_calls=tuple(ToolCall(**call) for call in record.get("tool_calls", ())),
        tool_call_id=record.get("tool_call_id"),
        name=record.get("name"),
        in_conversation=bool(record.get("in_conversation")),
    )
