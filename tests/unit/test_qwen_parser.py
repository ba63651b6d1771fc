"""Qwen Code: the line parser on recorded real output, the invocation builder, the stub.

The recordings (tests/recordings/qwen, made by record_qwen.py) are the pinned CLI's stdout,
the tap's lines included, for each scenario, run exactly as cliwrap runs it. Scenarios in
which the CLI retries were stopped after eight seconds, as cliwrap would have stopped them
much sooner.
"""

from __future__ import annotations

import email.utils
import json
import time
from pathlib import Path
from typing import Any

import pytest

from cliwrap.config import ProviderConfig
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
from cliwrap.core.request import ChatRequest, Message
from cliwrap.providers.qwen import (
    AUTO_MODEL,
    SYSTEM_PROMPT_FILE,
    TAP_FILE,
    TAP_LINE,
    TOOL_NAMES,
    QwenParser,
    QwenProvider,
)
from cliwrap.testing import Recorded
from cliwrap.testing.openai_chat import handle_chat_completions

RECORDINGS = Path(__file__).parents[1] / "recordings" / "qwen"
WORKDIR = Path("/tmp/cliwrap-run-test")
PROVIDER = QwenProvider()


def replay(name: str) -> list[Event]:
    parser = QwenParser()
    events: list[Event] = []
    for line in (RECORDINGS / f"{name}.jsonl").read_bytes().splitlines():
        events.extend(parser.feed(line))
    status = json.loads((RECORDINGS / f"{name}.status").read_text())["returncode"]
    events.extend(parser.finish(status, ""))
    return events


def text_of(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def failure(events: list[Event]) -> Failed:
    failed = events[-1]
    assert isinstance(failed, Failed)
    assert sum(isinstance(e, Failed) for e in events) == 1
    return failed


# The parser, on recordings


def test_thinking_then_text_as_deltas_each_once() -> None:
    events = replay("thinking_and_text")
    thinking = "".join(e.text for e in events if isinstance(e, ThinkingDelta))
    assert thinking == "Let me think."
    # The CLI repeats each block as a whole `assistant` message: it must not be said twice.
    assert text_of(events) == "Hi! How can I help?"
    assert sum(isinstance(e, TextDelta) for e in events) > 1, "deltas, not one block"
    usage, finished = events[-2:]
    assert isinstance(usage, Usage)
    assert usage.output_tokens > 0
    assert finished == Finished(FinishReason.STOP)


@pytest.mark.parametrize(
    ("name", "kind", "wording"),
    [
        ("auth_error", ErrorKind.CLI_LOGGED_OUT, "Incorrect API key provided"),
        ("rate_limit", ErrorKind.RATE_LIMIT, "429"),
        ("server_error", ErrorKind.CLI_FAILED, "500"),
        ("overloaded", ErrorKind.OVERLOADED, "503"),
        ("bad_request", ErrorKind.INVALID_REQUEST, "400"),
        ("context_overflow", ErrorKind.CONTEXT_TOO_LONG, "maximum context length"),
        ("connection_dropped", ErrorKind.CLI_FAILED, "other side closed"),
    ],
)
def test_failures_are_classified_at_the_first_failed_call(
    name: str, kind: ErrorKind, wording: str
) -> None:
    failed = failure(replay(name))
    assert failed.error.kind is kind
    assert wording in failed.error.message
    assert "[API Error" not in failed.error.message, "the CLI's own wrapping is dropped"


def test_the_clis_error_text_never_becomes_answer() -> None:
    assert text_of(replay("auth_error")) == ""


def test_rate_limit_carries_the_retry_delay() -> None:
    assert failure(replay("rate_limit")).error.retry_after == 7


def test_a_dropped_connection_keeps_what_was_said_then_fails() -> None:
    events = replay("connection_dropped")
    assert text_of(events) == "one two "
    assert isinstance(events[-1], Failed)


def test_an_answer_cut_by_the_output_limit_finishes_with_length_not_a_continuation() -> None:
    events = replay("max_tokens")
    assert text_of(events) == "cut short", "the CLI's re-requests are not answer"
    assert events[-1] == Finished(FinishReason.LENGTH)


# The parser, on lines of its own


def line(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


def test_a_retry_notice_ends_the_run_even_without_a_tap_line() -> None:
    parser = QwenParser()
    (failed,) = parser.feed(line(type="system", subtype="retry", data={"reason": "retry"}))
    assert isinstance(failed, Failed)
    assert failed.error.kind is ErrorKind.CLI_FAILED
    assert parser.feed(line(type="result", subtype="success", usage={})) == []
    assert parser.finish(0, "") == []


def test_a_retry_after_date_becomes_the_delay_until_then() -> None:
    # The delay is counted from when the line is read; a minute out leaves a wide margin.
    date = email.utils.formatdate(time.time() + 60, usegmt=True)
    tap = line(type=TAP_LINE, status=429, retry_after=date, body="")
    (failed,) = QwenParser().feed(tap)
    assert isinstance(failed, Failed)
    assert failed.error.kind is ErrorKind.RATE_LIMIT
    assert failed.error.retry_after is not None
    assert 30 < failed.error.retry_after <= 60


def test_a_retry_after_on_an_error_no_client_retries_is_not_passed_on() -> None:
    tap = line(type=TAP_LINE, status=401, retry_after="7", body="")
    (failed,) = QwenParser().feed(tap)
    assert isinstance(failed, Failed)
    assert failed.error.kind is ErrorKind.CLI_LOGGED_OUT
    assert failed.error.retry_after is None


def test_a_result_without_a_tap_line_is_still_classified() -> None:
    parser = QwenParser()
    result = line(
        type="result",
        subtype="error_during_execution",
        is_error=True,
        error={"message": "[API Error: 401 invalid key]"},
    )
    (failed,) = parser.feed(result)
    assert isinstance(failed, Failed)
    assert failed.error.kind is ErrorKind.CLI_LOGGED_OUT


def test_sub_agent_lines_and_noise_are_ignored() -> None:
    parser = QwenParser()
    delta = {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "x"}}
    assert parser.feed(line(type="stream_event", parent_tool_use_id="t1", event=delta)) == []
    assert parser.feed(b"ripgrep: spawn EACCES") == []
    assert parser.feed(line(type="stream_event", event=delta)) == [TextDelta("x")]


def test_an_exit_without_a_result_is_a_cli_failure_with_its_stderr() -> None:
    (failed,) = QwenParser().finish(1, "Missing API key")
    assert isinstance(failed, Failed)
    assert failed.error.kind is ErrorKind.CLI_FAILED
    assert "status 1" in failed.error.message
    assert "Missing API key" in failed.error.message


def test_usage_counts_cached_tokens_apart() -> None:
    parser = QwenParser()
    usage = {"input_tokens": 100, "output_tokens": 5, "cache_read_input_tokens": 60}
    events = parser.feed(line(type="result", subtype="success", usage=usage))
    assert events == [
        Usage(input_tokens=40, output_tokens=5, cache_read_tokens=60),
        Finished(FinishReason.STOP),
    ]


# The invocation


def invocation(request: ChatRequest, model: str = "qwen3-coder-plus", **settings: Any) -> Any:
    config = ProviderConfig(command="qwen", home="private", **settings)
    return PROVIDER.invocation(request, model, WORKDIR, config, {"PATH": "/bin", "HOME": "/u"})


def ask(text: str, system: str | None = None) -> ChatRequest:
    messages = ([Message("system", system)] if system else []) + [Message("user", text)]
    return ChatRequest("qwen3-coder-plus", tuple(messages))


def test_bare_stream_json_with_every_tool_excluded() -> None:
    argv = invocation(ask("hi")).argv
    assert argv[:6] == (
        "qwen",
        "--bare",
        "--output-format",
        "stream-json",
        "--include-partial-messages",
        "--auth-type",
    )
    excluded = next(a for a in argv if a.startswith("--exclude-tools="))
    assert set(excluded.split("=", 1)[1].split(",")) == set(TOOL_NAMES)
    assert {"run_shell_command", "write_file", "web_fetch", "save_memory"} <= set(TOOL_NAMES)
    assert argv[argv.index("--model") + 1] == "qwen3-coder-plus"


def test_qwen_auto_lets_the_cli_choose() -> None:
    assert "--model" not in invocation(ask("hi"), model=AUTO_MODEL).argv


def test_the_prompt_goes_on_stdin_and_never_as_a_slash_command() -> None:
    assert invocation(ask("hello")).stdin == b"hello"
    assert invocation(ask("/init")).stdin == b" /init"
    assert invocation(ask("// a comment")).stdin == b"// a comment"


def test_system_prompt_is_a_file_named_by_qwen_system_md() -> None:
    run = invocation(ask("hi", system="Be terse."))
    assert run.files[SYSTEM_PROMPT_FILE] == "Be terse."
    assert run.env["QWEN_SYSTEM_MD"] == str(WORKDIR / SYSTEM_PROMPT_FILE)
    plain = invocation(ask("hi"))  # no system prompt: an empty one, not the CLI's own
    assert plain.files[SYSTEM_PROMPT_FILE] == ""
    assert plain.env["QWEN_SYSTEM_MD"] == str(WORKDIR / SYSTEM_PROMPT_FILE)


def test_state_and_home_stay_in_the_run_and_telemetry_is_off() -> None:
    env = invocation(ask("hi")).env
    assert env["HOME"] == str(WORKDIR / "home")
    assert env["QWEN_HOME"].startswith(str(WORKDIR))
    assert env["QWEN_USAGE_STATISTICS_ENABLED"] == "false"
    assert env["QWEN_TELEMETRY_ENABLED"] == "false"


def test_the_tap_is_preloaded_and_configured_node_options_kept() -> None:
    run = invocation(ask("hi"), env={"NODE_OPTIONS": "--max-old-space-size=512"})
    assert TAP_LINE in run.files[TAP_FILE]
    assert run.env["NODE_OPTIONS"] == (f'--require "{WORKDIR / TAP_FILE}" --max-old-space-size=512')


# The stub


def test_stub_streams_reasoning_then_content_then_usage() -> None:
    body = {
        "model": "m",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "x [[think:hmm]] [[reply:ok then]] [[chunk:3]]"}],
    }
    request = Recorded("POST", "/v1/chat/completions", {}, body)
    steps = list(handle_chat_completions(request).steps)
    events = [json.loads(s[6:]) for s in steps if isinstance(s, bytes) and s != b"data: [DONE]\n\n"]
    deltas = [e["choices"][0]["delta"] for e in events if e["choices"]]
    assert [d.get("reasoning_content") for d in deltas if "reasoning_content" in d] == ["hmm"]
    assert "".join(d.get("content") or "" for d in deltas) == "ok then"
    assert events[-1]["choices"] == []
    assert events[-1]["usage"]["total_tokens"] > 0
    assert steps[-1] == b"data: [DONE]\n\n"


def test_stub_fails_in_openais_shape_with_retry_after() -> None:
    body = {"messages": [{"role": "user", "content": "x [[fail:429 retry-after=7]]"}]}
    response = handle_chat_completions(Recorded("POST", "/v1/chat/completions", {}, body))
    assert response.status == 429
    assert ("retry-after", "7") in response.headers
    (payload,) = [json.loads(s) for s in response.steps if isinstance(s, bytes)]
    assert payload["error"]["code"] == "rate_limit_exceeded"
