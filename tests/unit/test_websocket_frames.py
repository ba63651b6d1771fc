"""The WebSocket protocol's frames, sans I/O: what a client frame means, what an event sends."""

from __future__ import annotations

import json

import pytest

from cliwrap.core.errors import ApiError, ErrorKind
from cliwrap.core.events import (
    Failed,
    Finished,
    FinishReason,
    Keepalive,
    Progress,
    TextDelta,
    ThinkingDelta,
    Usage,
)
from cliwrap.surfaces.websocket_frames import (
    AuthFrame,
    CancelFrame,
    FrameError,
    RequestFrame,
    event_frames,
    parse_frame,
)


def test_the_three_client_frames() -> None:
    body = {"model": "sonnet", "messages": []}
    assert parse_frame(json.dumps({"type": "request", "id": "r", "body": body})) == RequestFrame(
        "r", body
    )
    assert parse_frame(b'{"type": "cancel", "id": "r"}') == CancelFrame("r")
    assert parse_frame('{"type": "auth", "api_key": "k"}') == AuthFrame("k")


@pytest.mark.parametrize(
    ("frame", "says", "id_"),
    [
        ("{", "JSON object", None),
        ("[1]", "JSON object", None),
        ('{"type": "auth"}', "api_key", None),
        ('{"type": "request", "body": {}}', "'id'", None),
        ('{"type": "request", "id": "", "body": {}}', "'id'", None),
        (json.dumps({"type": "cancel", "id": "x" * 201}), "at most 200", None),
        ('{"type": "request", "id": "r", "body": []}', "'body'", "r"),
        ('{"type": "hello", "id": "r"}', "Unknown frame type 'hello'", "r"),
    ],
)
def test_frames_that_cannot_be_acted_on(frame: str, says: str, id_: str | None) -> None:
    with pytest.raises(FrameError) as bad:
        parse_frame(frame)
    assert says in bad.value.error.message
    assert bad.value.error.status == 400
    assert bad.value.id == id_


def test_each_event_has_its_own_frame_type() -> None:
    frames = [
        frame
        for event in (
            Progress("⏳ "),
            Keepalive(),
            ThinkingDelta("hm"),
            TextDelta("hi"),
            Usage(input_tokens=3, output_tokens=2),
            Finished(FinishReason.LENGTH),
        )
        for frame in event_frames("r", event)
    ]
    assert [f["type"] for f in frames] == [
        "progress",
        "keepalive",
        "reasoning",
        "delta",
        "usage",
        "done",
    ]
    assert all(f["id"] == "r" for f in frames)
    assert frames[0]["mark"] == "⏳ "
    assert "content" not in frames[0]
    assert frames[3]["content"] == "hi"
    assert frames[4]["usage"]["total_tokens"] == 5
    assert frames[5]["finish_reason"] == "length"


def test_a_failure_is_an_error_frame_with_the_status() -> None:
    (frame,) = event_frames("r", Failed(ApiError(ErrorKind.TIMEOUT, "too slow")))
    assert frame["type"] == "error"
    assert frame["id"] == "r"
    assert frame["status"] == 504
    assert frame["error"]["message"] == "too slow"
    assert frame["error"]["code"] == "deadline_exceeded"
