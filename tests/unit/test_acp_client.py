"""The Agent Client Protocol client: recorded real sessions of Gemini CLI and Qwen Code, and
the dialogue on lines of its own.

The recordings (tests/recordings/acp, made by record_acp.py) are each CLI's stdout in
``--acp`` mode, talked to by :class:`AcpClient` itself following the recorder's script (its
turns, a cancel after the first text); :func:`replay` follows the same script.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest

from cliwrap.core.errors import ErrorKind
from cliwrap.core.events import (
    Event,
    Failed,
    Finished,
    FinishReason,
    TextDelta,
    ThinkingDelta,
    Usage,
)
from cliwrap.providers.acp import (
    CANCELLED,
    AcpClient,
    LoadSession,
    NewSession,
    ResumeSession,
    image_block,
    text_block,
)
from cliwrap.providers.base import Dialogue

from ..recordings.record_acp import QWEN_ONLY, SCENARIOS, SEEDED_SESSION

RECORDINGS = Path(__file__).parents[1] / "recordings" / "acp"
CWD = "/run/work"


@attrs.frozen
class Replay:
    turns: list[list[Event]]
    """Each turn's events, in order."""
    sent: list[tuple[int, dict[str, Any]]]
    """What the client wrote, each with the index of the line it was written after (-1:
    before the first)."""
    lines: list[dict[str, Any]]

    def methods(self) -> list[str]:
        return [message.get("method", "<answer>") for _, message in self.sent]

    def sent_after(self, method: str) -> int:
        """The index of the line after which ``method`` went out."""
        return next(index for index, message in self.sent if message.get("method") == method)


def replay(name: str) -> Replay:
    """The recorder's script for ``name`` (``<cli>_<scenario>``), against its recording."""
    cli, _, scenario_name = name.partition("_")
    scenario = {**SCENARIOS, **QWEN_ONLY}[scenario_name]
    raw = (RECORDINGS / f"{name}.jsonl").read_bytes().splitlines()
    client = AcpClient(CWD, scenario.start, agent=cli)
    turns = list(scenario.turns)
    events: list[list[Event]] = [[]]
    sent: list[tuple[int, dict[str, Any]]] = []

    def collect(index: int) -> None:
        out = client.to_send()
        assert out is not None
        sent.extend((index, json.loads(part)) for part in out.splitlines())

    cancel_pending = turns[0].cancel_after_first_text
    events[-1] += client.prompt([text_block(turns.pop(0).text)])
    collect(-1)
    for index, line in enumerate(raw):
        new = client.feed(line)
        for event in list(new):
            if isinstance(event, TextDelta) and cancel_pending:
                cancel_pending = False
                new += client.cancel()
        events[-1] += new
        if any(isinstance(e, Finished | Failed) for e in new) and turns:
            events.append([])
            cancel_pending = turns[0].cancel_after_first_text
            events[-1] += client.prompt([text_block(turns.pop(0).text)])
        collect(index)
    assert not turns, "the recording ended before the script did"
    return Replay(events, sent, [json.loads(line) for line in raw])


def text(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def thinking(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, ThinkingDelta))


def cancelled_outcome(event: Event) -> bool:
    return (
        isinstance(event, Failed)
        and event.error.kind is ErrorKind.CLI_FAILED
        and event.error.message == CANCELLED
    )


def outcomes(events: list[Event]) -> list[Event]:
    return [e for e in events if isinstance(e, Finished | Failed)]


CLIS = ["gemini", "qwen"]


# Recorded sessions


@pytest.mark.parametrize("cli", CLIS)
def test_one_session_many_turns(cli: str) -> None:
    run = replay(f"{cli}_two_turns")
    first, second = run.turns
    assert text(first) == "echo: My name is Bob."
    assert text(second) == "echo: What's my name?"
    for turn in run.turns:
        assert sum(isinstance(e, TextDelta) for e in turn) > 1, "deltas, not one block"
        usage, finished = turn[-2:]
        assert isinstance(usage, Usage)
        assert usage.prompt_tokens > 0
        assert usage.output_tokens > 0
        assert finished == Finished(FinishReason.STOP)
    assert run.methods() == [
        "initialize",
        "session/new",
        "session/prompt",
        "session/prompt",
    ]
    session = run.lines[1]["result"]["sessionId"]
    new, first_prompt, second_prompt = (message for _, message in run.sent[1:])
    assert new["params"] == {"cwd": CWD, "mcpServers": []}
    assert first_prompt["params"] == {
        "sessionId": session,
        "prompt": [{"type": "text", "text": "My name is Bob."}],
    }
    assert second_prompt["params"]["sessionId"] == session
    assert all(message["jsonrpc"] == "2.0" for _, message in run.sent)


def test_a_turn_starts_only_after_the_one_before_is_answered() -> None:
    run = replay("gemini_two_turns")
    prompts = [index for index, message in run.sent if message.get("method") == "session/prompt"]
    first_answer = next(i for i, line in enumerate(run.lines) if line.get("id") == 3)
    assert prompts[0] == 1, "the first prompt goes out as soon as the session is open"
    assert prompts[1] == first_answer


@pytest.mark.parametrize(
    ("cli", "thought"),
    [
        ("qwen", "Let me think."),
        # Gemini CLI parses every thought chunk into a bold subject and a trimmed text:
        # "****\n" (no subject) goes, the space the model put at a chunk's end is lost.
        ("gemini", "Letme think."),
    ],
)
def test_thinking_comes_apart_from_the_answer(cli: str, thought: str) -> None:
    (turn,) = replay(f"{cli}_thinking").turns
    assert thinking(turn) == thought
    assert text(turn) == "Hi! How can I help?"
    assert turn[-1] == Finished(FinishReason.STOP)


@pytest.mark.parametrize("cli", CLIS)
def test_a_cancelled_turn_is_over_at_once_and_the_next_waits_for_its_answer(cli: str) -> None:
    run = replay(f"{cli}_cancel")
    cancelled, after = run.turns
    assert [cancelled_outcome(e) for e in outcomes(cancelled)] == [True]
    assert text(cancelled) == "abcd", "nothing of the cancelled turn after the cancel"
    assert text(after) == "Fine."
    assert after[-1] == Finished(FinishReason.STOP)
    assert run.methods() == [
        "initialize",
        "session/new",
        "session/prompt",
        "session/cancel",
        "session/prompt",
    ]
    answered = next(
        i for i, line in enumerate(run.lines) if line.get("result", {}).get("stopReason")
    )
    assert run.lines[answered]["result"]["stopReason"] == "cancelled"
    cancel_at = run.sent_after("session/cancel")
    second_prompt_at = [i for i, m in run.sent if m.get("method") == "session/prompt"][1]
    assert cancel_at < answered == second_prompt_at


@pytest.mark.parametrize("cli", CLIS)
def test_a_loaded_sessions_replay_is_no_part_of_the_turn(cli: str) -> None:
    run = replay(f"{cli}_load")
    (turn,) = run.turns
    replayed = [
        line["params"]["update"]["content"]["text"]
        for line in run.lines
        if line.get("params", {}).get("update", {}).get("sessionUpdate", "").endswith("_chunk")
    ]
    assert replayed[:2] == ["My name is Bob.", "Hello Bob."]
    assert text(turn) == "echo: What's my name?"
    assert turn[-1] == Finished(FinishReason.STOP)
    assert run.methods() == ["initialize", "session/load", "session/prompt"]
    load = run.sent[1][1]
    assert load["params"] == {"sessionId": SEEDED_SESSION, "cwd": CWD, "mcpServers": []}
    assert run.sent[2][1]["params"]["sessionId"] == SEEDED_SESSION


def test_gemini_cli_replays_after_answering_a_load_so_the_prompt_waits_for_its_end() -> None:
    run = replay("gemini_load")
    loaded = next(i for i, line in enumerate(run.lines) if line.get("id") == 2)
    hello = next(i for i, line in enumerate(run.lines) if "Hello Bob." in json.dumps(line))
    commands = next(
        i for i, line in enumerate(run.lines) if "available_commands_update" in json.dumps(line)
    )
    assert loaded < hello < commands, "the recording shows the replay after the answer"
    assert run.sent_after("session/prompt") == commands


def test_qwen_code_resumes_without_a_replay() -> None:
    run = replay("qwen_resume")
    (turn,) = run.turns
    assert text(turn) == "echo: What's my name?"
    assert run.methods() == ["initialize", "session/resume", "session/prompt"]
    assert run.sent[1][1]["params"]["sessionId"] == SEEDED_SESSION


@pytest.mark.parametrize(
    ("name", "kind", "wording", "retry_after"),
    [
        ("gemini_auth_error", ErrorKind.CLI_LOGGED_OUT, "invalid authentication", None),
        ("gemini_rate_limit", ErrorKind.RATE_LIMIT, "exceeded your current quota", 7.0),
        ("gemini_server_error", ErrorKind.CLI_FAILED, "internal error", None),
        ("gemini_connection_dropped", ErrorKind.CLI_FAILED, "terminated", None),
        ("qwen_auth_error", ErrorKind.CLI_LOGGED_OUT, "Incorrect API key", None),
        ("qwen_rate_limit", ErrorKind.RATE_LIMIT, "Rate limit reached", 7.0),
        ("qwen_server_error", ErrorKind.CLI_FAILED, "had an error", None),
        ("qwen_connection_dropped", ErrorKind.CLI_FAILED, "other side closed", None),
    ],
)
def test_a_failed_model_call_fails_the_turn_once(
    name: str, kind: ErrorKind, wording: str, retry_after: float | None
) -> None:
    run = replay(name)
    (turn,) = run.turns
    (failed,) = outcomes(turn)
    assert isinstance(failed, Failed)
    assert failed is turn[-1]
    assert failed.error.kind is kind
    assert wording.lower() in failed.error.message.lower()
    assert failed.error.retry_after == retry_after


@pytest.mark.parametrize("name", ["qwen_auth_error", "qwen_rate_limit", "qwen_server_error"])
def test_qwen_codes_retries_are_cut_short_at_the_first_failed_call(name: str) -> None:
    """The tap's line fails the turn and cancels it: Qwen Code would retry for minutes."""
    run = replay(name)
    tap = next(i for i, line in enumerate(run.lines) if line.get("type") == "cliwrap_model_call")
    assert run.sent_after("session/cancel") == tap
    (turn,) = run.turns
    assert len(turn) == 1, "no text from the retries"


@pytest.mark.parametrize("cli", CLIS)
def test_a_dropped_stream_keeps_what_was_said(cli: str) -> None:
    (turn,) = replay(f"{cli}_connection_dropped").turns
    assert text(turn) == "one two "


def test_qwen_codes_answer_cut_by_the_output_limit_ends_with_length_not_a_continuation() -> None:
    run = replay("qwen_max_tokens")
    (turn,) = run.turns
    assert text(turn) == "cut short"
    assert turn[-1] == Finished(FinishReason.LENGTH)
    assert "session/cancel" in run.methods()


def test_gemini_clis_cut_answer_ends_with_stop_as_the_cli_does_not_say() -> None:
    (turn,) = replay("gemini_max_tokens").turns
    assert text(turn) == "cut short"
    assert turn[-1] == Finished(FinishReason.STOP)


# The dialogue, on lines of its own


SESSION = "s-1"


def line(**fields: Any) -> bytes:
    return json.dumps({"jsonrpc": "2.0", **fields}).encode()


def update(kind: str, session: str = SESSION, **fields: Any) -> bytes:
    params = {"sessionId": session, "update": {"sessionUpdate": kind, **fields}}
    return line(method="session/update", params=params)


def chunk(text: str, **fields: Any) -> bytes:
    return update("agent_message_chunk", content={"type": "text", "text": text}, **fields)


def sent(client: AcpClient) -> list[dict[str, Any]]:
    out = client.to_send()
    assert out is not None
    return [json.loads(part) for part in out.splitlines()]


def opened(start: NewSession | LoadSession | ResumeSession | None = None) -> AcpClient:
    """A client whose session is open (ids 1 and 2 answered), with its opening read."""
    client = AcpClient(CWD, start)
    sent(client)
    assert client.feed(line(id=1, result={"protocolVersion": 1, "agentInfo": {"name": "x"}})) == []
    sent(client)
    assert not client.feed(line(id=2, result={"sessionId": SESSION}))
    sent(client)
    return client


def test_the_client_is_a_dialogue_for_the_job() -> None:
    assert isinstance(AcpClient(CWD), Dialogue)


def test_the_opening() -> None:
    client = AcpClient(CWD, NewSession({"qwen-code/sessionId": "chosen"}))
    (initialize,) = sent(client)
    assert initialize == {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": 1,
            "clientCapabilities": {
                "fs": {"readTextFile": False, "writeTextFile": False},
                "terminal": False,
            },
        },
    }
    assert client.feed(line(id=1, result={"protocolVersion": 1})) == []
    (new,) = sent(client)
    assert new["method"] == "session/new"
    assert new["params"] == {
        "cwd": CWD,
        "mcpServers": [],
        "_meta": {"qwen-code/sessionId": "chosen"},
    }
    assert not client.idle
    client.feed(line(id=2, result={"sessionId": "chosen"}))
    assert client.session_id == "chosen"
    assert client.idle


@pytest.mark.parametrize(
    ("start", "method"),
    [(LoadSession("old"), "session/load"), (ResumeSession("old"), "session/resume")],
)
def test_a_stored_session_is_continued_under_its_own_id(
    start: LoadSession | ResumeSession, method: str
) -> None:
    client = AcpClient(CWD, start)
    sent(client)
    client.feed(line(id=1, result={"protocolVersion": 1}))
    (request,) = sent(client)
    assert request["method"] == method
    assert request["params"] == {"sessionId": "old", "cwd": CWD, "mcpServers": []}
    client.feed(line(id=2, result={"modes": {}}))
    assert client.session_id == "old"


def test_a_prompt_before_the_session_is_open_goes_out_when_it_is() -> None:
    client = AcpClient(CWD)
    assert client.prompt([text_block("hi")]) == []
    assert [m["method"] for m in sent(client)] == ["initialize"]
    client.feed(line(id=1, result={}))
    assert [m["method"] for m in sent(client)] == ["session/new"]
    client.feed(line(id=2, result={"sessionId": SESSION}))
    (prompt,) = sent(client)
    assert prompt["method"] == "session/prompt"
    assert prompt["params"] == {"sessionId": SESSION, "prompt": [{"type": "text", "text": "hi"}]}


@pytest.mark.parametrize(
    "message",
    # Gemini CLI's own words (session/new, session/load) when it has no usable key.
    ["Gemini API key is missing or not configured.", "Authentication required"],
)
def test_a_session_that_cannot_open_fails_its_turns(message: str) -> None:
    client = AcpClient(CWD)
    client.prompt([text_block("hi")])
    client.feed(line(id=1, result={}))
    error = {"code": -32000, "message": message}
    (failed,) = client.feed(line(id=2, error=error))
    assert isinstance(failed, Failed)
    assert failed.error.kind is ErrorKind.CLI_LOGGED_OUT
    assert "could not open its session" in failed.error.message
    assert not client.busy
    assert client.prompt([text_block("again")]) == [failed]
    assert sent(client)[-1]["method"] == "session/new", "no prompt went out"


def test_updates_become_events_and_usage_ends_the_turn() -> None:
    client = opened()
    client.prompt([text_block("hi")])
    sent(client)
    thought = {"type": "text", "text": "**Planning**\nFirst"}
    assert client.feed(update("agent_thought_chunk", content=thought)) == [
        ThinkingDelta("**Planning**\nFirst")
    ]
    assert client.feed(chunk("Hel")) == [TextDelta("Hel")]
    assert client.feed(chunk("lo")) == [TextDelta("lo")]
    usage = {"inputTokens": 100, "outputTokens": 2, "cachedReadTokens": 80}
    assert client.feed(chunk("", _meta={"usage": usage})) == []
    assert client.feed(update("usage_update", used=100, size=1000)) == []
    assert client.feed(update("tool_call", toolCallId="t", title="x")) == []
    assert client.busy
    events = client.feed(line(id=3, result={"stopReason": "end_turn"}))
    assert events == [
        Usage(input_tokens=20, output_tokens=2, cache_read_tokens=80),
        Finished(FinishReason.STOP),
    ]
    assert client.idle


def test_usage_of_every_model_call_of_the_turn_is_summed() -> None:
    client = opened()
    client.prompt([text_block("hi")])
    for _ in range(2):
        client.feed(chunk("", _meta={"usage": {"inputTokens": 10, "outputTokens": 1}}))
    events = client.feed(line(id=3, result={"stopReason": "end_turn"}))
    assert events[0] == Usage(input_tokens=20, output_tokens=2)


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("max_tokens", FinishReason.LENGTH),
        ("refusal", FinishReason.CONTENT_FILTER),
        ("max_turn_requests", FinishReason.STOP),
    ],
)
def test_stop_reasons(reason: str, finish: FinishReason) -> None:
    client = opened()
    client.prompt([text_block("hi")])
    assert client.feed(line(id=3, result={"stopReason": reason})) == [Finished(finish)]


def test_a_turn_the_agent_cancelled_by_itself_failed() -> None:
    client = opened()
    client.prompt([text_block("hi")])
    (failed,) = client.feed(line(id=3, result={"stopReason": "cancelled"}))
    assert isinstance(failed, Failed)
    assert "cancelled the turn by itself" in failed.error.message


def test_lines_not_of_this_turn_give_nothing() -> None:
    client = opened()
    assert client.feed(chunk("between turns")) == []
    client.prompt([text_block("hi")])
    assert client.feed(chunk("other session's", session="s-2")) == []
    assert client.feed(b"not json at all") == []
    assert client.feed(b"[1, 2]") == []
    assert client.feed(line(method="qwen/notify/session/prompt-suggestion", params={})) == []
    assert client.feed(line(id=99, result={})) == []
    assert client.busy


@pytest.mark.parametrize(
    ("options", "outcome"),
    [
        (
            [
                {"optionId": "yes", "name": "Allow", "kind": "allow_once"},
                {"optionId": "no", "name": "Reject", "kind": "reject_once"},
            ],
            {"outcome": "selected", "optionId": "no"},
        ),
        ([{"optionId": "yes", "name": "Allow", "kind": "allow_always"}], {"outcome": "cancelled"}),
        ([], {"outcome": "cancelled"}),
    ],
)
def test_permission_requests_are_denied(
    options: list[dict[str, str]], outcome: dict[str, str]
) -> None:
    client = opened()
    client.prompt([text_block("hi")])
    sent(client)
    params = {"sessionId": SESSION, "toolCall": {"toolCallId": "t"}, "options": options}
    assert client.feed(line(id=7, method="session/request_permission", params=params)) == []
    assert sent(client) == [{"jsonrpc": "2.0", "id": 7, "result": {"outcome": outcome}}]


@pytest.mark.parametrize(
    "method", ["fs/read_text_file", "fs/write_text_file", "terminal/create", "x/unknown"]
)
def test_other_requests_of_the_agent_are_refused(method: str) -> None:
    client = opened()
    assert client.feed(line(id="r1", method=method, params={"path": "/etc/passwd"})) == []
    (answer,) = sent(client)
    assert answer["id"] == "r1"
    assert answer["error"]["code"] == -32601
    assert method in answer["error"]["message"]


def test_one_turn_at_a_time() -> None:
    client = opened()
    client.prompt([text_block("one")])
    with pytest.raises(RuntimeError, match="while a turn is running"):
        client.prompt([text_block("two")])


def test_cancel_then_prompt_the_next_turn_at_once() -> None:
    client = opened()
    client.prompt([text_block("one")])
    sent(client)
    client.feed(chunk("par"))
    (failed,) = client.cancel()
    assert cancelled_outcome(failed)
    assert sent(client) == [
        {"jsonrpc": "2.0", "method": "session/cancel", "params": {"sessionId": SESSION}}
    ]
    assert (client.busy, client.draining) == (False, True)
    assert client.cancel() == [], "a second cancel does nothing"
    assert client.prompt([text_block("two")]) == []
    assert (client.busy, client.draining) == (True, True)
    assert sent(client) == [], "the next prompt waits for the cancelled one's answer"
    assert client.feed(chunk("tial")) == [], "the cancelled turn's text is dropped"
    assert client.feed(line(id=3, result={"stopReason": "cancelled"})) == []
    (prompt,) = sent(client)
    assert prompt["id"] == 4
    assert prompt["params"]["prompt"] == [{"type": "text", "text": "two"}]
    assert client.feed(chunk("fresh")) == [TextDelta("fresh")]


def test_cancelling_a_queued_prompt_sends_nothing() -> None:
    client = AcpClient(CWD)
    client.prompt([text_block("hi")])
    assert [cancelled_outcome(e) for e in client.cancel()] == [True]
    assert not client.busy
    client.feed(line(id=1, result={}))
    client.feed(line(id=2, result={"sessionId": SESSION}))
    assert [m["method"] for m in sent(client)] == ["initialize", "session/new"]
    assert client.idle


def test_cancel_while_idle_does_nothing() -> None:
    client = opened()
    assert client.cancel() == []
    assert sent(client) == []


def test_the_agent_exiting_fails_the_running_turn() -> None:
    client = opened()
    client.prompt([text_block("hi")])
    (failed,) = client.finish(1, "FATAL: out of memory")
    assert isinstance(failed, Failed)
    assert failed.error.kind is ErrorKind.CLI_FAILED
    assert "exited with status 1" in failed.error.message
    assert "out of memory" in failed.error.message
    (later,) = client.prompt([text_block("again")])
    assert isinstance(later, Failed)
    assert not client.idle


def test_the_agent_exiting_between_turns_is_no_event() -> None:
    client = opened()
    assert client.finish(0, "") == []


def test_close_ends_stdin_once_the_queue_is_out() -> None:
    client = opened()
    client.prompt([text_block("hi")])
    client.cancel()
    client.close()
    assert [m["method"] for m in sent(client)] == ["session/prompt", "session/cancel"]
    assert client.to_send() is None
    with pytest.raises(RuntimeError, match="after close"):
        client.prompt([text_block("again")])


@pytest.mark.parametrize(
    ("blocks", "first_text"),
    [
        ([text_block("/about")], "\u200b/about"),
        ([text_block("  $skill")], "\u200b  $skill"),
        ([text_block(""), text_block("/help me")], "\u200b/help me"),
        ([text_block("a path: /tmp/x")], "a path: /tmp/x"),
        ([image_block("image/png", "AAAA"), text_block("/about")], "/about"),
    ],
)
def test_a_prompt_is_never_taken_for_a_cli_command(
    blocks: list[dict[str, Any]], first_text: str
) -> None:
    client = opened()
    client.prompt(blocks)
    (prompt,) = sent(client)
    texts = [b["text"] for b in prompt["params"]["prompt"] if b.get("text")]
    assert texts[0] == first_text


def test_image_blocks() -> None:
    assert image_block("image/png", "AAAA") == {
        "type": "image",
        "mimeType": "image/png",
        "data": "AAAA",
    }


@pytest.mark.parametrize(
    ("error", "kind", "wording"),
    [
        ({"code": 429, "message": "Quota. Please retry in 7s."}, ErrorKind.RATE_LIMIT, "Quota"),
        (
            {"code": 500, "message": '{"error":{"code":500,"message":"Boom","status":"INTERNAL"}}'},
            ErrorKind.CLI_FAILED,
            "Boom",
        ),
        (
            {"code": -32603, "message": "Internal error", "data": {"details": "503 Busy now"}},
            ErrorKind.OVERLOADED,
            "Busy now",
        ),
        ({"code": -32602, "message": "Session not found: s-1"}, ErrorKind.CLI_FAILED, "not found"),
        ("a bare string", ErrorKind.CLI_FAILED, "a bare string"),
    ],
)
def test_error_answers_are_classified(error: Any, kind: ErrorKind, wording: str) -> None:
    client = opened()
    client.prompt([text_block("hi")])
    (failed,) = client.feed(line(id=3, error=error))
    assert isinstance(failed, Failed)
    assert failed.error.kind is kind
    assert wording in failed.error.message
    assert client.idle


def _tries_once() -> AcpClient:
    client = AcpClient(CWD, agent="gemini", retries=False)
    sent(client)
    client.feed(line(id=1, result={"protocolVersion": 1, "agentInfo": {"name": "gemini-cli"}}))
    sent(client)
    client.feed(line(id=2, result={"sessionId": SESSION}))
    client.prompt([text_block("hi")])
    sent(client)
    return client


def test_an_agent_that_tries_once_fails_with_its_answer_and_the_taps_retry_after() -> None:
    """Gemini CLI (one attempt per call): the prompt's error answer says what failed; the
    tap's line before it only says when to come back."""
    client = _tries_once()
    tap = {"type": "cliwrap_model_call", "status": 503, "retry_after": "4"}
    assert client.feed(json.dumps(tap).encode()) == []
    (failed,) = client.feed(line(id=3, error={"code": 503, "message": "The model is overloaded."}))
    assert isinstance(failed, Failed)
    assert failed.error.kind is ErrorKind.OVERLOADED
    assert failed.error.retry_after == 4


def test_an_agent_that_tries_once_says_its_context_overflowed() -> None:
    client = _tries_once()
    tap = {"type": "cliwrap_model_call", "status": 400, "retry_after": None}
    assert client.feed(json.dumps(tap).encode()) == []
    message = "The input token count (9) exceeds the maximum number of tokens allowed (8)."
    (failed,) = client.feed(line(id=3, error={"code": 400, "message": message}))
    assert isinstance(failed, Failed)
    assert failed.error.kind is ErrorKind.CONTEXT_TOO_LONG
