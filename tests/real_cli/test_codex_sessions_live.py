"""Codex conversations through the real CLI: a turn is the next turn of one app-server thread.

Each check looks at what the stub Responses API received: the earlier turns as ``input``
messages of their own (seeded into a new thread, then kept by it), and one thread for the
whole conversation (Codex sends its thread id as ``prompt_cache_key``: one id, one process).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from cliwrap.testing import LiveServer, StubThread

from .conftest import SdkFactory, ServerFactory

pytestmark = pytest.mark.real_cli

MODEL = "gpt-5.5"


@pytest.fixture(scope="module")
def server(start_server: ServerFactory) -> LiveServer:
    return start_server()


def _calls_since(stub: StubThread, count: int) -> list[dict[str, Any]]:
    return [r.body for r in stub.records[count:] if r.path == "/v1/responses"]


def _turns(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, text) of each user and assistant message a Responses request carried."""
    turns = []
    for item in body["input"]:
        if item.get("type") == "message" and item.get("role") in ("user", "assistant"):
            text = "".join(part.get("text", "") for part in item["content"])
            turns.append((item["role"], text))
    return turns


def test_stateless_history_is_seeded_then_continues_one_thread(
    server: LiveServer, stub: StubThread, sdk: SdkFactory
) -> None:
    """A client's first call already carries earlier turns: the new thread gets each as a
    message of its own; the next calls continue that thread, in the same process."""
    client = sdk(server)
    tag = uuid.uuid4().hex[:8]
    messages: list[Any] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": f"earlier {tag}"},
        {"role": "assistant", "content": "an answer from elsewhere"},
    ]
    before = len(stub.records)
    sessions = set()
    for n in range(3):
        messages.append({"role": "user", "content": f"turn {n} {tag}"})
        reply = client.chat.completions.with_raw_response.create(model=MODEL, messages=messages)
        answer = reply.parse().choices[0].message.content
        assert answer == f"echo: turn {n} {tag}"
        messages.append({"role": "assistant", "content": answer})
        sessions.add(reply.headers["x-session-id"])
    assert len(sessions) == 1, "every turn continued the same conversation"
    calls = _calls_since(stub, before)
    assert len(calls) == 3
    assert len({call["prompt_cache_key"] for call in calls}) == 1, "one thread, one process"
    expected = [(m["role"], m["content"]) for m in messages[1:-1]]
    assert _turns(calls[0]) == expected[:3], "the seed arrived as turns of their own"
    assert _turns(calls[-1]) == expected, "and the thread kept every turn since"


def test_session_id_alone_carries_the_history(
    server: LiveServer, stub: StubThread, sdk: SdkFactory
) -> None:
    """The predecessors' own check: only the session_id links the second request to the
    first, and the model receives the first turn."""
    client = sdk(server)
    name = f"bob-{uuid.uuid4().hex[:8]}"
    before = len(stub.records)
    first = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "My name is Bob."}],
        extra_body={"session_id": name},
    )
    assert first.choices[0].message.content == "echo: My name is Bob."
    second = client.chat.completions.with_raw_response.create(
        model=MODEL,
        messages=[{"role": "user", "content": "What's my name?"}],
        extra_body={"session_id": name},
    )
    assert second.headers["x-session-id"] == name
    (_, last) = _calls_since(stub, before)
    assert _turns(last) == [
        ("user", "My name is Bob."),
        ("assistant", "echo: My name is Bob."),
        ("user", "What's my name?"),
    ]
