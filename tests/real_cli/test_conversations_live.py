"""Conversations through the real CLIs: a turn reaches the CLI's own session, not a transcript.

Each check looks at what the stub model received: the earlier turns as turns of their own,
the whole history for a client that sent only the new turn with its ``session_id``, and how
many CLI processes the server started for a conversation.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from cliwrap.testing import LiveServer, StubThread

from .conftest import SdkFactory, ServerFactory

pytestmark = pytest.mark.real_cli


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


def test_previous_response_id_continues_the_conversation(
    server: LiveServer, stub: StubThread, sdk: SdkFactory
) -> None:
    client = sdk(server)
    first = client.responses.create(model="claude-sonnet", input="My name is Ada.")
    before = len(stub.records)
    second = client.responses.create(
        model="claude-sonnet", input="What's my name, Ada's friend?", previous_response_id=first.id
    )
    assert second.output_text == "echo: What's my name, Ada's friend?"
    (call,) = _requests_since(stub, before, "/v1/messages")
    assert _turns(call) == [
        ("user", "My name is Ada."),
        ("assistant", "echo: My name is Ada."),
        ("user", "What's my name, Ada's friend?"),
    ]


def test_an_unknown_previous_response_id_is_a_400(server: LiveServer, sdk: SdkFactory) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        sdk(server).responses.create(
            model="claude-sonnet", input="hi", previous_response_id="resp_nope"
        )
    assert raised.value.body["param"] == "previous_response_id"  # type: ignore[index]


def test_agents_sdk_with_previous_response_id(server: LiveServer, stub: StubThread) -> None:
    from agents import Agent, OpenAIResponsesModel, Runner, set_tracing_disabled

    set_tracing_disabled(True)

    async def run() -> str:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="agents", max_retries=0)
        async with client:
            model = OpenAIResponsesModel(model="claude-sonnet", openai_client=client)
            agent = Agent(name="Memory", instructions="Remember names.", model=model)
            first = await Runner.run(agent, "My name is Grace.")
            second = await Runner.run(
                agent, "Who am I?", previous_response_id=first.last_response_id
            )
            return str(second.final_output)

    before = len(stub.records)
    assert asyncio.run(run()) == "echo: Who am I?"
    *_, call = _requests_since(stub, before, "/v1/messages")
    assert ("user", "My name is Grace.") in _turns(call)


def test_a_cancelled_turn_leaves_the_conversation_usable(
    server: LiveServer, stub: StubThread, sdk: SdkFactory
) -> None:
    client = sdk(server)
    history: list[Any] = [{"role": "user", "content": "cancel test: hello"}]
    answer = client.chat.completions.create(model="claude-sonnet", messages=history)
    history.append({"role": "assistant", "content": answer.choices[0].message.content})
    slow = [*history, {"role": "user", "content": "[[delay:0.5]] [[reply:a b c d e f g h]]"}]
    with client.chat.completions.create(model="claude-sonnet", messages=slow, stream=True) as s:
        next(iter(s))  # the turn has begun; leaving closes the connection
    history.append({"role": "user", "content": "after the cancel"})
    before = len(stub.records)
    reply = client.chat.completions.create(model="claude-sonnet", messages=history)
    assert reply.choices[0].message.content == "echo: after the cancel"
    *_, call = _requests_since(stub, before, "/v1/messages")
    assert _turns(call) == [(m["role"], m["content"]) for m in history]


def test_a_restarted_server_continues_the_conversation(
    start_server: ServerFactory, stub: StubThread, sdk: SdkFactory, tmp_path: Path
) -> None:
    """The transcript is in the store: after a restart the CLI's session is seeded from it."""
    state = tmp_path / "state"
    first = start_server(state_dir=state)
    sdk(first).chat.completions.create(
        model="claude-sonnet",
        messages=[{"role": "user", "content": "Remember: the door code is 1234."}],
        extra_body={"session_id": "restart"},
    )
    assert first.stop() == 0
    second = start_server(state_dir=state)
    before = len(stub.records)
    sdk(second).chat.completions.create(
        model="claude-sonnet",
        messages=[{"role": "user", "content": "What is the door code?"}],
        extra_body={"session_id": "restart"},
    )
    (call,) = _requests_since(stub, before, "/v1/messages")
    assert _turns(call) == [
        ("user", "Remember: the door code is 1234."),
        ("assistant", "echo: Remember: the door code is 1234."),
        ("user", "What is the door code?"),
    ]


def test_sessions_endpoints(server: LiveServer, sdk: SdkFactory) -> None:
    client = sdk(server, api_key="endpoints-key")
    client.chat.completions.create(
        model="claude-sonnet",
        messages=[{"role": "user", "content": "listed"}],
        extra_body={"session_id": "listed-one"},
    )
    headers = {"Authorization": "Bearer endpoints-key"}
    with httpx.Client(base_url=server.base_url, headers=headers) as http:
        listed = http.get("/sessions").json()
        assert [s["id"] for s in listed["data"]] == ["listed-one"]
        one = http.get("/sessions/listed-one").json()
        assert one["turns"] == 1
        assert one["live"] is True
        stats = http.get("/sessions/stats").json()
        assert stats["conversations"] == 1
        assert http.get("/warmup/stats").json()["strategy"] == "none"  # as the tests set it
        assert http.delete("/sessions/listed-one").json()["deleted"] is True
        assert http.get("/sessions/listed-one").status_code == 404
        other = http.get("/sessions", headers={"Authorization": "Bearer another"}).json()
        assert other["data"] == []
