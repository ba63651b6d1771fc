"""Codex's live sessions: one app-server kept across a conversation's turns, on recorded output.

The ``session_*`` recordings (tests/recordings/codex, made by record_codex.py) are the pinned
``codex app-server``'s stdout for a seeded thread over two turns, and for a turn stopped
with its own interrupt; the one-off recordings replay through a session's first turn too,
as its ids are the same (thread/start 2, the first turn/start 3).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cliwrap.config import ProviderConfig
from cliwrap.core.errors import ErrorKind
from cliwrap.core.events import Event, Failed, Finished, FinishReason, TextDelta, Usage
from cliwrap.core.images import Image
from cliwrap.core.request import ChatRequest, Message
from cliwrap.providers.base import (
    Dialogue,
    LiveSession,
    SessionProvider,
    SessionStart,
    TurnParser,
)
from cliwrap.providers.codex import CodexProvider, CodexSession, CodexTurn, seed_items

RECORDINGS = Path(__file__).parents[1] / "recordings" / "codex"
WORKDIR = Path("/tmp/cliwrap-run-test")
PROVIDER = CodexProvider()
SEED = (Message("user", "My name is Bob."), Message("assistant", "echo: My name is Bob."))


def recorded(name: str) -> Iterator[bytes]:
    return iter((RECORDINGS / f"{name}.jsonl").read_bytes().splitlines())


def ask(*texts: str) -> tuple[ChatRequest, tuple[Message, ...]]:
    new = tuple(Message("user", text) for text in texts)
    return ChatRequest("gpt-5.5", new), new


def sent(data: bytes | None) -> list[dict[str, Any]]:
    assert data is not None, "a session's stdin is never closed by a turn"
    return [json.loads(part) for part in data.splitlines()]


def play(
    parser: CodexTurn, lines: Iterator[bytes], stop_after_deltas: int | None = None
) -> tuple[list[Event], list[dict[str, Any]]]:
    """Feed ``parser`` until its turn is over (or it has said that many text deltas): the
    events, and what it wrote back."""
    events: list[Event] = []
    wrote: list[dict[str, Any]] = []
    for line in lines:
        events += parser.feed(line)
        wrote += sent(parser.to_send())
        if parser.turn_over:
            break
        deltas = sum(isinstance(e, TextDelta) for e in events)
        if stop_after_deltas is not None and deltas >= stop_after_deltas:
            break
    return events, wrote


def text_of(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def test_codex_is_a_session_provider_with_a_runs_own_app_server() -> None:
    # What the service and the session pool read them as (mypy checks these too).
    provider: SessionProvider = PROVIDER
    live: LiveSession = CodexSession([])
    turn: TurnParser = live.turn(*ask("hi"))[1]
    assert isinstance(provider, SessionProvider)
    assert isinstance(turn, Dialogue)
    request, _ = ask("hi")
    config = ProviderConfig(command="codex")
    environ = {"PATH": "/bin", "HOME": "/u"}
    invocation, session = PROVIDER.session(
        request, "gpt-5.5", WORKDIR, config, environ, SessionStart("s", SEED)
    )
    assert invocation == PROVIDER.invocation(request, "gpt-5.5", WORKDIR, config, environ)
    assert invocation.dialogue
    *_, thread = sent(invocation.stdin)
    assert thread["method"] == "thread/start"
    assert thread["params"]["ephemeral"] is True
    assert session.seed == seed_items(SEED)
    assert PROVIDER.session_files(WORKDIR, environ, SessionStart("s")) is None


def test_a_seeded_thread_then_two_turns_in_one_process() -> None:
    session = CodexSession(seed_items(SEED))
    lines = recorded("session_seeded")

    request, new = ask("What's my name?")
    data, first = session.turn(request, new)
    assert data == b"", "the thread's id is not known yet: its answer starts the turn"
    events, wrote = play(first, lines)
    inject, start = wrote
    assert inject["method"] == "thread/inject_items"
    assert inject["params"]["items"] == [
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": SEED[0].content}],
        },
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": SEED[1].content}],
        },
    ]
    assert start["method"] == "turn/start"
    assert start["params"]["input"] == [{"type": "text", "text": "What's my name?"}]
    assert start["params"]["threadId"] == inject["params"]["threadId"] == session.thread_id
    assert start["id"] != inject["id"]
    assert first.turn_over
    assert text_of(events) == "echo: What's my name?"
    assert isinstance(events[-2], Usage)
    assert events[-1] == Finished(FinishReason.STOP)
    assert first.to_send() == b""

    request, new = ask("And now?")
    data, second = session.turn(request, new)
    (start_again,) = sent(data)
    assert start_again["method"] == "turn/start", "the next turn starts at once"
    assert start_again["params"]["threadId"] == session.thread_id
    assert start_again["id"] not in (inject["id"], start["id"]), "a fresh id per request"
    events, wrote = play(second, lines)
    assert wrote == [], "no seed the second time"
    assert second.turn_over
    assert text_of(events) == "echo: And now?"
    assert events[-1] == Finished(FinishReason.STOP)
    assert list(lines) == []


def test_an_interrupted_turn_is_over_at_its_turn_completed() -> None:
    session = CodexSession([])
    lines = recorded("session_interrupted")
    request, new = ask("go")
    _, parser = session.turn(request, new)
    events, _ = play(parser, lines, stop_after_deltas=2)
    assert text_of(events).startswith("word")
    running = not parser.turn_over
    assert running
    (interrupt,) = sent(session.interrupt())
    assert interrupt["method"] == "turn/interrupt"
    assert interrupt["params"] == {"threadId": session.thread_id, "turnId": session.turn_id}
    assert session.turn_id
    assert session.thread_id
    play(parser, lines)
    assert parser.turn_over, "turn/completed (interrupted) ends it"
    assert list(lines) == []


def test_a_turn_stopped_before_its_thread_is_ready_never_starts() -> None:
    session = CodexSession(seed_items(SEED))
    request, new = ask("go")
    _, parser = session.turn(request, new)
    assert session.interrupt() == b"", "no turn id yet: nothing to interrupt"
    _, wrote = play(parser, recorded("session_seeded"))
    assert wrote == [], "neither the seed nor the turn is sent"
    assert parser.turn_over


def test_a_turn_stopped_before_its_id_is_known_is_interrupted_when_it_is() -> None:
    session = CodexSession([])
    session.thread_id = "t"
    request, new = ask("go")
    _, parser = session.turn(request, new)
    assert session.interrupt() == b""
    started = {"id": 3, "result": {"turn": {"id": "turn-1", "status": "inProgress"}}}
    parser.feed(json.dumps(started).encode())
    (interrupt,) = sent(parser.to_send())
    assert interrupt["method"] == "turn/interrupt"
    assert interrupt["params"] == {"threadId": "t", "turnId": "turn-1"}
    notified = {"method": "turn/started", "params": {"turn": {"id": "turn-1"}}}
    parser.feed(json.dumps(notified).encode())
    assert parser.to_send() == b"", "interrupted once"


def test_an_answer_cut_by_the_output_limit_ends_with_its_turn() -> None:
    """Codex says so twice (an ``error`` notification, then ``turn/completed``): the answer
    ends at the second, so the turn is over when it is, and the process may go on."""
    session = CodexSession([])
    request, new = ask("x")
    _, parser = session.turn(request, new)
    events, _ = play(parser, recorded("max_tokens"))
    assert text_of(events) == "cut short"
    assert events[-1] == Finished(FinishReason.LENGTH)
    assert parser.turn_over


@pytest.mark.parametrize(
    ("name", "kind", "over"),
    [
        ("bad_request", ErrorKind.INVALID_REQUEST, True),
        ("context_overflow", ErrorKind.CONTEXT_TOO_LONG, True),
        # Codex retries these by itself: the answer fails at once, the turn goes on (the
        # pool interrupts it).
        ("rate_limit", ErrorKind.RATE_LIMIT, False),
        ("server_error", ErrorKind.CLI_FAILED, False),
    ],
)
def test_failures_are_classified_as_in_a_run_of_its_own(
    name: str, kind: ErrorKind, over: bool
) -> None:
    session = CodexSession([])
    request, new = ask("x")
    _, parser = session.turn(request, new)
    events: list[Event] = []
    for line in recorded(name):
        events += parser.feed(line)
        assert parser.to_send() is not None
    (failed,) = [e for e in events if isinstance(e, Failed)]
    assert failed.error.kind is kind
    assert parser.turn_over is over


def test_a_refused_thread_fails_the_turn_and_ends_it() -> None:
    session = CodexSession([])
    request, new = ask("x")
    _, parser = session.turn(request, new)
    error = {"id": 2, "error": {"code": -32600, "message": "unknown model"}}
    (failed,) = parser.feed(json.dumps(error).encode())
    assert isinstance(failed, Failed)
    assert "unknown model" in failed.error.message
    assert parser.turn_over
    assert parser.to_send() == b""


def test_a_turns_input_one_text_per_new_turn_after_its_images() -> None:
    session = CodexSession([])
    session.thread_id = "t"
    image = Image("image/png", b"\x89PNG")
    new = (
        Message("system", "Be brief.", in_conversation=True),
        Message("user", "look", images=(image,)),
    )
    request = ChatRequest("gpt-5.5", (Message("user", "earlier"), Message("assistant", "ok"), *new))
    data, _ = session.turn(request, new)
    (start,) = sent(data)
    assert start["params"]["input"] == [
        {"type": "text", "text": "[Image #1]"},
        {"type": "image", "url": image.data_url},
        {"type": "text", "text": "<system>\nBe brief.\n</system>"},
        {"type": "text", "text": "look"},
    ]


def test_seed_items_mark_system_turns_and_fill_empty_ones() -> None:
    items = seed_items(
        (Message("system", "Rules.", in_conversation=True), Message("assistant", ""))
    )
    assert items == [
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "<system>\nRules.\n</system>"}],
        },
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": " "}]},
    ]


def test_a_server_request_is_declined_and_stdin_stays_open() -> None:
    session = CodexSession([])
    request, new = ask("x")
    _, parser = session.turn(request, new)
    completed = {"method": "turn/completed", "params": {"turn": {"status": "completed"}}}
    assert parser.feed(json.dumps(completed).encode())[-1] == Finished(FinishReason.STOP)
    assert parser.to_send() == b"", "not None: the process takes the next turn"
