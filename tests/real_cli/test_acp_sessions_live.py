"""Gemini CLI and Qwen Code as Agent Client Protocol agents (``--acp``): a conversation's
turns go to one live process, and the model sees the earlier turns as turns of their own."""

from __future__ import annotations

from typing import Any

import pytest

from cliwrap.testing import LiveServer, StubThread

from .conftest import SdkFactory

pytestmark = pytest.mark.real_cli

CLIS = [
    pytest.param("gemini-2.5-flash", "/v1beta/models/", id="gemini"),
    pytest.param("qwen3-coder-plus", "/v1/chat/completions", id="qwen"),
]


def _turns(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, text) of the user and assistant turns a Gemini or Chat Completions request
    carried, without the CLI's own context parts (its ``<session_context>``, reminders)."""
    if "contents" in body:
        items = [
            (
                "assistant" if c["role"] == "model" else c["role"],
                [p.get("text", "") for p in c["parts"]],
            )
            for c in body["contents"]
        ]
    else:
        items = []
        for m in body["messages"]:
            content = m["content"]
            parts = [content] if isinstance(content, str) else [p.get("text", "") for p in content]
            items.append((m["role"], parts))
    turns = []
    for role, parts in items:
        text = "".join(
            p for p in parts if not p.startswith(("<session_context>", "<system-reminder>"))
        )
        if role in ("user", "assistant") and text:
            turns.append((role, text))
    return turns


def _calls(stub: StubThread, since: int, path: str) -> list[dict[str, Any]]:
    return [r.body for r in stub.records[since:] if r.path.startswith(path)]


@pytest.mark.parametrize(("model", "path"), CLIS)
def test_a_stateless_conversation_is_one_acp_session(
    server: LiveServer, stub: StubThread, sdk: SdkFactory, model: str, path: str
) -> None:
    client = sdk(server)
    messages: list[Any] = [{"role": "system", "content": "Be brief."}]
    before = len(stub.records)
    sessions = set()
    for n in range(3):
        messages.append({"role": "user", "content": f"acp turn {n}"})
        reply = client.chat.completions.with_raw_response.create(model=model, messages=messages)
        answer = reply.parse().choices[0].message.content
        assert answer == f"echo: acp turn {n}"
        sessions.add(reply.headers["x-session-id"])
        messages.append({"role": "assistant", "content": answer})
    assert len(sessions) == 1
    calls = _calls(stub, before, path)
    assert len(calls) == 3, "one model call per turn, nothing else"
    assert _turns(calls[-1]) == [(m["role"], m["content"]) for m in messages[1:-1]]


@pytest.mark.parametrize(("model", "path"), CLIS)
def test_session_id_alone_carries_the_history(
    server: LiveServer, stub: StubThread, sdk: SdkFactory, model: str, path: str
) -> None:
    client = sdk(server)
    name = f"bob-{path.strip('/').replace('/', '-')}"
    client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "My name is Bob."}],
        extra_body={"session_id": name},
    )
    before = len(stub.records)
    client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "What's my name?"}],
        extra_body={"session_id": name},
    )
    (call,) = _calls(stub, before, path)
    assert _turns(call) == [
        ("user", "My name is Bob."),
        ("assistant", "echo: My name is Bob."),
        ("user", "What's my name?"),
    ]


@pytest.mark.parametrize(("model", "path"), CLIS)
def test_a_seeded_conversation_and_a_cancel(
    server: LiveServer, stub: StubThread, sdk: SdkFactory, model: str, path: str
) -> None:
    """A history cliwrap has not seen starts a seeded session; a turn the client gives up
    is cancelled (the process is replaced) and the next turn still has the history."""
    client = sdk(server)
    history: list[Any] = [
        {"role": "user", "content": f"seeded {model}"},
        {"role": "assistant", "content": "an answer from elsewhere"},
        {"role": "user", "content": "go on"},
    ]
    answer = client.chat.completions.create(model=model, messages=history)
    history.append({"role": "assistant", "content": answer.choices[0].message.content})
    slow = [*history, {"role": "user", "content": "[[delay:0.5]] [[reply:a b c d e f g h]]"}]
    with client.chat.completions.create(model=model, messages=slow, stream=True) as stream:
        next(iter(stream))
    history.append({"role": "user", "content": "after the cancel"})
    reply = client.chat.completions.create(model=model, messages=history)
    assert reply.choices[0].message.content == "echo: after the cancel"
