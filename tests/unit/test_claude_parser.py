"""The Claude Code line parser, on output recorded from the real CLI (tests/recordings)."""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
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
from cliwrap.providers.base import PRIVATE_HOME, TAP_FILE, TAP_LINE, Invocation
from cliwrap.providers.claude import ClaudeParser, ClaudeProvider

RECORDINGS = Path(__file__).parents[1] / "recordings" / "claude"


def replay(name: str) -> list[Event]:
    parser = ClaudeParser()
    events: list[Event] = []
    for line in (RECORDINGS / f"{name}.jsonl").read_bytes().splitlines():
        events.extend(parser.feed(line))
    status = json.loads((RECORDINGS / f"{name}.status").read_text())["returncode"]
    events.extend(parser.finish(status, ""))
    return events


def test_text_and_thinking_arrive_as_deltas_then_usage_and_finish() -> None:
    events = replay("thinking_and_text")
    thinking = [e.text for e in events if isinstance(e, ThinkingDelta)]
    text = [e.text for e in events if isinstance(e, TextDelta)]
    assert "".join(thinking) == "Let me think."
    assert "".join(text) == "Hi! How can I help?"
    assert len(text) > 1, "token-level deltas, not one block"
    usage, finished = events[-2:]
    assert isinstance(usage, Usage)
    assert usage.output_tokens > 0
    assert usage.cost_usd
    assert finished == Finished(FinishReason.STOP)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("auth_error", ErrorKind.CLI_LOGGED_OUT),
        ("rate_limit", ErrorKind.RATE_LIMIT),
        ("overloaded", ErrorKind.OVERLOADED),
        ("server_error", ErrorKind.CLI_FAILED),
        ("bad_request", ErrorKind.INVALID_REQUEST),
        ("connection_dropped", ErrorKind.CLI_FAILED),
    ],
)
def test_failures_are_classified(name: str, kind: ErrorKind) -> None:
    events = replay(name)
    assert len(events) == 1
    (failed,) = events
    assert isinstance(failed, Failed)
    assert failed.error.kind is kind
    assert "API Error" in failed.error.message


def test_a_whole_message_without_deltas_is_still_delivered() -> None:
    events = replay("stream_dropped_then_fallback")
    assert (
        "".join(e.text for e in events if isinstance(e, TextDelta)) == "one two three four five six"
    )
    assert events[-1] == Finished()


def test_output_token_limit_finishes_with_length() -> None:
    assert replay("max_tokens")[-1] == Finished(FinishReason.LENGTH)


def test_whole_messages_do_not_repeat_streamed_text() -> None:
    events = replay("thinking_and_text")
    assert sum(isinstance(e, TextDelta) for e in events) == len(
        [e for e in events if isinstance(e, TextDelta)]
    )
    assert "".join(e.text for e in events if isinstance(e, TextDelta)).count("Hi!") == 1


def test_fallback_after_a_broken_stream_adds_only_the_unsaid_part() -> None:
    parser = ClaudeParser()

    def line(obj: object) -> bytes:
        return json.dumps(obj).encode()

    parser.feed(
        line({"type": "stream_event", "event": {"type": "message_start", "message": {"id": "m1"}}})
    )
    said = parser.feed(
        line(
            {
                "type": "stream_event",
                "event": {
                    "type": "content_block_delta",
                    "delta": {"type": "text_delta", "text": "one two "},
                },
            }
        )
    )
    rest = parser.feed(
        line(
            {
                "type": "assistant",
                "message": {"id": "m2", "content": [{"type": "text", "text": "one two three"}]},
            }
        )
    )
    assert said == [TextDelta("one two ")]
    assert rest == [TextDelta("three")]


def test_exit_without_a_result_is_a_cli_failure_with_stderr() -> None:
    parser = ClaudeParser()
    assert parser.feed(b"not json") == []
    (failed,) = parser.finish(1, "Error: something broke\n")
    assert isinstance(failed, Failed)
    assert failed.error.kind is ErrorKind.CLI_FAILED
    assert "something broke" in failed.error.message


def test_sub_agent_lines_are_ignored() -> None:
    parser = ClaudeParser()
    line = {
        "type": "stream_event",
        "parent_tool_use_id": "toolu_1",
        "event": {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "inner"}},
    }
    assert parser.feed(json.dumps(line).encode()) == []


# The invocation's HOME

WORKDIR = Path("/tmp/cliwrap-run-x")
SERVER_ENV = {
    "PATH": "/bin",
    "HOME": "/home/me",
    "CLAUDE_CONFIG_DIR": "/home/me/.config/claude",
    "XDG_CONFIG_HOME": "/home/me/.config",
}


def claude_env(**settings: Any) -> Mapping[str, str]:
    request = ChatRequest("sonnet", (Message("user", "hi"),))
    config = ProviderConfig(command="claude", **settings)
    return ClaudeProvider().invocation(request, "sonnet", WORKDIR, config, SERVER_ENV).env


def test_a_private_home_keeps_claude_code_out_of_your_configuration() -> None:
    env = claude_env(home="private")
    assert env["HOME"] == str(WORKDIR / PRIVATE_HOME)
    assert env["CLAUDE_CONFIG_DIR"] == str(WORKDIR / PRIVATE_HOME / ".claude")
    assert "XDG_CONFIG_HOME" not in env


def test_your_home_is_claude_codes_by_default() -> None:
    env = claude_env()
    assert env["HOME"] == "/home/me"
    assert env["CLAUDE_CONFIG_DIR"] == "/home/me/.config/claude"


def test_a_configured_config_dir_wins_over_the_private_one() -> None:
    env = claude_env(home="private", env={"CLAUDE_CONFIG_DIR": "/srv/claude"})
    assert env["HOME"] == str(WORKDIR / PRIVATE_HOME)
    assert env["CLAUDE_CONFIG_DIR"] == "/srv/claude"


# The backend's Retry-After, from the tap's lines


def tapped(name: str, **call: object) -> list[Event]:
    """Replay ``name`` with its tap lines replaced by one with ``call``'s fields."""
    parser = ClaudeParser()
    events: list[Event] = []
    for line in (RECORDINGS / f"{name}.jsonl").read_bytes().splitlines():
        if json.loads(line)["type"] == TAP_LINE:
            line = json.dumps({"type": TAP_LINE, **call}).encode()
        events.extend(parser.feed(line))
    return [*events, *parser.finish(1, "")]


def test_the_backends_retry_after_goes_with_a_rate_limit_and_an_overload() -> None:
    (limited,) = replay("rate_limit")
    assert isinstance(limited, Failed)
    assert limited.error.kind is ErrorKind.RATE_LIMIT
    assert limited.error.retry_after == 7
    (overloaded,) = replay("overloaded_with_retry_after")
    assert isinstance(overloaded, Failed)
    assert overloaded.error.kind is ErrorKind.OVERLOADED
    assert overloaded.error.retry_after == 5
    (without,) = replay("overloaded")
    assert isinstance(without, Failed)
    assert without.error.retry_after is None


def test_retry_after_ms_is_preferred_and_a_date_counts_from_now() -> None:
    (failed,) = tapped("rate_limit", status=429, retry_after="7", retry_after_ms="1500")
    assert isinstance(failed, Failed)
    assert failed.error.retry_after == 1.5
    date = email.utils.formatdate(time.time() + 60, usegmt=True)
    (failed,) = tapped("rate_limit", status=429, retry_after=date, retry_after_ms=None)
    assert isinstance(failed, Failed)
    assert failed.error.retry_after is not None
    assert 30 < failed.error.retry_after <= 60
    (failed,) = tapped("rate_limit", status=429, retry_after="soon", retry_after_ms=None)
    assert isinstance(failed, Failed)
    assert failed.error.retry_after is None


def test_a_retry_after_with_an_error_no_client_retries_is_dropped() -> None:
    (failed,) = tapped("auth_error", status=401, retry_after="7", retry_after_ms=None)
    assert isinstance(failed, Failed)
    assert failed.error.kind is ErrorKind.CLI_LOGGED_OUT
    assert failed.error.retry_after is None


def test_the_last_model_calls_retry_after_counts() -> None:
    parser = ClaudeParser()
    first = {"type": TAP_LINE, "status": 429, "retry_after": "30", "retry_after_ms": None}
    last = {"type": TAP_LINE, "status": 429, "retry_after": None, "retry_after_ms": None}
    result = {
        "type": "result",
        "subtype": "success",
        "is_error": True,
        "api_error_status": 429,
        "result": "API Error: Request rejected (429)",
    }
    for line in (first, last):
        assert parser.feed(json.dumps(line).encode()) == []
    (failed,) = parser.feed(json.dumps(result).encode())
    assert isinstance(failed, Failed)
    assert failed.error.retry_after is None


# The invocation

WORKDIR = Path("/tmp/cliwrap run-test")  # a space: BUN_OPTIONS has no quoting


def invoke(environ: dict[str, str] | None = None, **settings: object) -> Invocation:
    request = ChatRequest("sonnet", (Message("user", "hello"),))
    config = ProviderConfig(**{**ClaudeProvider.defaults, **settings})
    return ClaudeProvider().invocation(request, "sonnet", WORKDIR, config, environ or {})


def test_the_tap_is_preloaded_from_the_runs_directory() -> None:
    run = invoke()
    tap = run.files[TAP_FILE]
    assert isinstance(tap, str)
    assert f'type: "{TAP_LINE}"' in tap
    assert "Bun.FetchSession" in tap
    assert run.env["BUN_OPTIONS"] == f"--preload=../{TAP_FILE}"  # from the work folder


def test_the_users_bun_options_are_kept_after_the_tap() -> None:
    run = invoke(env={"BUN_OPTIONS": "--smol --inspect"})
    assert run.env["BUN_OPTIONS"] == f"--preload=../{TAP_FILE} --smol --inspect"


def test_no_system_prompt_means_none_not_the_agent_prompt() -> None:
    argv = invoke().argv
    assert argv[argv.index("--system-prompt") + 1] == ""
    assert "--system-prompt-file" not in argv


def test_no_billing_line_in_the_system_prompt_unless_the_user_wants_it() -> None:
    assert invoke().env["CLAUDE_CODE_ATTRIBUTION_HEADER"] == "0"
    kept = invoke(environ={"CLAUDE_CODE_ATTRIBUTION_HEADER": "1"})
    assert kept.env["CLAUDE_CODE_ATTRIBUTION_HEADER"] == "1"


def test_bare_mode_only_with_an_api_key() -> None:
    # Bare mode drops the "# Environment" turn but reads no `claude login`.
    assert "--bare" in invoke(environ={"ANTHROPIC_API_KEY": "sk-ant-x"}).argv
    assert "--bare" in invoke(env={"ANTHROPIC_API_KEY": "sk-ant-x"}).argv
    assert "--bare" not in invoke().argv
    assert "--bare" not in invoke(environ={"ANTHROPIC_AUTH_TOKEN": "token"}).argv
    assert "--bare" not in invoke(environ={"ANTHROPIC_API_KEY": ""}).argv
