"""Conversations through the real CLIs: a turn reaches the CLI's own session, not a transcript.

Each check looks at what the stub model received: the earlier turns as turns of their own,
the whole history for a client that sent only the new turn with its ``session_id``, and how
many CLI processes the server started for a conversation.
"""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from cliwrap.testing import LiveServer, StubThread

from .conftest import SdkFactory, ServerFactory

pytestmark = pytest.mark.real_cli


@pytest.fixture(scope="module")
def server(start_server: ServerFactory) -> LiveServer:
    return start_server()


def _requests_since(stub: StubThread, count: int, path: str) -> list[dict[str, Any]]:
    return [r.body for r in stub.records[count:] if r.path.startswith(path)]


def _turns(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, text) of each message a Messages request carried."""
    turns = []
    for message in body["messages"]:
        content = message["content"]
        if isinstance(content, str):
            text = content
        else:
            text = "".join(b.get("text", "") for b in content if b.get("type") == "text")
        if message["role"] in ("user", "assistant") and text:
            turns.append((message["role"], text))
    return turns


def test_session_id_alone_carries_the_history(
    server: LiveServer, stub: StubThread, sdk: SdkFactory
) -> None:
    """The predecessors' own check: only the session_id links the second request to the
    first, and the model receives the first turn."""
    client = sdk(server)
    before = len(stub.records)
    first = client.chat.completions.create(
        model="claude-sonnet",
        messages=[{"role": "user", "content": "My name is Bob."}],
        extra_body={"session_id": "bob-session"},
    )
    assert first.choices[0].message.content == "echo: My name is Bob."
    second = client.chat.completions.with_raw_response.create(
        model="claude-sonnet",
        messages=[{"role": "user", "content": "What's my name?"}],
        extra_body={"session_id": "bob-session"},
    )
    assert second.headers["x-session-id"] == "bob-session"
    (_, last) = _requests_since(stub, before, "/v1/messages")
    assert _turns(last) == [
        ("user", "My name is Bob."),
        ("assistant", "echo: My name is Bob."),
        ("user", "What's my name?"),
    ]


def test_stateless_history_continues_one_process(
    server: LiveServer, stub: StubThread, sdk: SdkFactory
) -> None:
    """A client that sends the whole history each time: one CLI process for all turns, and
    each model call carries the earlier turns as turns (not one transcript string)."""
    client = sdk(server)
    messages: list[Any] = [{"role": "system", "content": "Be brief (stateless)."}]
    before = len(stub.records)
    pids = set()
    for n in range(4):
        messages.append({"role": "user", "content": f"turn {n}"})
        reply = client.chat.completions.with_raw_response.create(
            model="claude-sonnet", messages=messages
        )
        answer = reply.parse().choices[0].message.content
        assert answer == f"echo: turn {n}"
        messages.append({"role": "assistant", "content": answer})
        pids.add(reply.headers["x-session-id"])
    assert len(pids) == 1, "every turn continued the same conversation"
    calls = _requests_since(stub, before, "/v1/messages")
    assert len(calls) == 4
    assert _turns(calls[-1]) == [(m["role"], m["content"]) for m in messages[1:-1]], (
        "the last call carried every earlier turn as a turn of its own"
    )


def test_anthropic_sdk_conversation(server: LiveServer, stub: StubThread) -> None:
    """The same through the Anthropic SDK (Messages): history matched by fingerprint."""
    client = anthropic.Anthropic(
        base_url=server.base_url.removesuffix("/v1"), api_key="k-anthropic", max_retries=0
    )
    history: list[Any] = []
    before = len(stub.records)
    with client:
        for n in range(3):
            history.append({"role": "user", "content": f"anthropic turn {n}"})
            reply = client.messages.create(model="claude-sonnet", max_tokens=100, messages=history)
            text = reply.content[0].text  # type: ignore[union-attr]
            history.append({"role": "assistant", "content": text})
    calls = _requests_since(stub, before, "/v1/messages")
    assert _turns(calls[-1])[:-1] == [(m["role"], m["content"]) for m in history[:-2]]


def test_a_key_cannot_continue_another_keys_conversation(
    server: LiveServer, stub: StubThread, sdk: SdkFactory
) -> None:
    mine = sdk(server, api_key="key-a")
    theirs = sdk(server, api_key="key-b")
    mine.chat.completions.create(
        model="claude-sonnet",
        messages=[{"role": "user", "content": "The secret is 42."}],
        extra_body={"session_id": "shared-name"},
    )
    before = len(stub.records)
    theirs.chat.completions.create(
        model="claude-sonnet",
        messages=[{"role": "user", "content": "What is the secret?"}],
        extra_body={"session_id": "shared-name"},
    )
    (call,) = _requests_since(stub, before, "/v1/messages")
    assert _turns(call) == [("user", "What is the secret?")]
