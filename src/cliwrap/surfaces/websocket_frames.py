"""The WebSocket protocol (``/v1/ws``): its frames, sans I/O.

JSON text frames. The client sends ``{"type": "request", "id": ..., "body": {<a chat
completions request>}}`` to start a run, ``{"type": "cancel", "id": ...}`` to stop one, and
``{"type": "auth", "api_key": ...}`` first when it could not send a header. The server answers
with frames carrying the request's ``id``: ``start``, then ``delta`` (answer text),
``reasoning`` (thinking), ``tool_call`` (a call to one of the client's tools), ``progress``
(a mark for ``-progress`` models), ``keepalive``, ``usage``, and last ``done`` (with
``finish_reason``) or ``error``. Progress and keepalives have frames of their own, so content
frames carry nothing but the answer.
"""

from __future__ import annotations

from typing import Any

import attrs

from ..core.errors import ApiError, ErrorKind
from ..core.events import (
    Event,
    Failed,
    Finished,
    Keepalive,
    Progress,
    TextDelta,
    ThinkingDelta,
    ToolArgumentsDelta,
    ToolCalled,
    ToolCallStarted,
    Usage,
)
from . import json_body
from .openai_chat import error_body, usage_body

__all__ = [
    "AuthFrame",
    "CancelFrame",
    "FrameError",
    "RequestFrame",
    "error_frame",
    "event_frames",
    "parse_frame",
]

MAX_ID_LENGTH = 200


@attrs.frozen
class RequestFrame:
    id: str
    body: Any


@attrs.frozen
class CancelFrame:
    id: str


@attrs.frozen
class AuthFrame:
    api_key: str


@attrs.frozen(auto_exc=True)
class FrameError(Exception):
    """A frame the server cannot act on; ``id`` is the request's when the frame named one."""

    error: ApiError
    id: str | None = None


def _bad(message: str, id_: str | None = None) -> FrameError:
    return FrameError(ApiError(ErrorKind.INVALID_REQUEST, message), id_)


def parse_frame(data: str | bytes) -> RequestFrame | CancelFrame | AuthFrame:
    """What a client frame asks for, or a :class:`FrameError` saying what is wrong with it."""
    try:
        frame = json_body.decode(data)
    except ApiError as error:  # not JSON, too deep, a NUL or a lone surrogate
        raise _bad(f"A frame must be a JSON object. {error.message}") from None
    if not isinstance(frame, dict):
        raise _bad("A frame must be a JSON object.")
    kind = frame.get("type")
    if kind == "auth":
        key = frame.get("api_key")
        if not isinstance(key, str):
            raise _bad("An auth frame needs 'api_key', a string.")
        return AuthFrame(key)
    id_ = frame.get("id")
    if not isinstance(id_, str) or not id_ or len(id_) > MAX_ID_LENGTH:
        raise _bad(f"A {kind!r} frame needs 'id', a non-empty string of at most 200 characters.")
    if kind == "request":
        if not isinstance(frame.get("body"), dict):
            raise _bad("A request frame needs 'body', a chat completions request.", id_)
        return RequestFrame(id_, frame["body"])
    if kind == "cancel":
        return CancelFrame(id_)
    raise _bad(f"Unknown frame type {kind!r}: expected request, cancel or auth.", id_)


def error_frame(id_: str | None, error: ApiError) -> dict[str, Any]:
    """An ``error`` frame: the OpenAI error object, plus its HTTP status."""
    return {"type": "error", "id": id_, "status": error.status, **error_body(error)}


def event_frames(id_: str, event: Event) -> list[dict[str, Any]]:
    """The frames for one event of request ``id_``'s run."""
    if isinstance(event, TextDelta):
        return [{"type": "delta", "id": id_, "content": event.text}]
    if isinstance(event, ThinkingDelta):
        return [{"type": "reasoning", "id": id_, "content": event.text}]
    if isinstance(event, Progress):
        return [{"type": "progress", "id": id_, "mark": event.mark}]
    if isinstance(event, Keepalive):
        return [{"type": "keepalive", "id": id_}]
    if isinstance(event, (ToolCallStarted, ToolArgumentsDelta)):
        return []  # a tool call goes out whole, in one frame, when it is complete
    if isinstance(event, ToolCalled):
        call = {"id": event.call.id, "name": event.call.name, "arguments": event.call.arguments}
        return [{"type": "tool_call", "id": id_, "call": call}]
    if isinstance(event, Usage):
        return [{"type": "usage", "id": id_, "usage": usage_body(event)}]
    if isinstance(event, Finished):
        return [{"type": "done", "id": id_, "finish_reason": event.reason.value}]
    assert isinstance(event, Failed)
    return [error_frame(id_, event.error)]
