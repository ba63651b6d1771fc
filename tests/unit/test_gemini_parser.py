"""Gemini CLI: the line parser on recorded real output, the invocation builder, the stub.

The recordings (tests/recordings/gemini, made by record_gemini.py) are the pinned CLI's
stdout for each scenario, run exactly as cliwrap runs it.
"""

from __future__ import annotations

import email.utils
import json
import signal
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
from cliwrap.providers.base import TAP_FILE, TAP_LINE, Invocation
from cliwrap.providers.gemini import (
    SETTINGS_FILE,
    STDIO_PRELOAD_FILE,
    SYSTEM_PROMPT_FILE,
    GeminiParser,
    GeminiProvider,
)
from cliwrap.semantics.transcript import render_prompt
from cliwrap.surfaces.openai_chat import parse_chat_request
from cliwrap.testing import DROP, Recorded
from cliwrap.testing.gemini import handle_gemini

RECORDINGS = Path(__file__).parents[1] / "recordings" / "gemini"
WORKDIR = Path("/tmp/cliwrap-run-test")
PROVIDER = GeminiProvider()


def replay(name: str, stderr: str = "") -> list[Event]:
    parser = GeminiParser()
    events: list[Event] = []
    for line in (RECORDINGS / f"{name}.jsonl").read_bytes().splitlines():
        events.extend(parser.feed(line))
    status = json.loads((RECORDINGS / f"{name}.status").read_text())["returncode"]
    events.extend(parser.finish(status, stderr))
    return events


def text_of(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


# The parser, on recordings


def test_text_arrives_as_deltas_then_usage_and_finish() -> None:
    events = replay("text")
    assert text_of(events) == "Hi! How can I help?"
    assert sum(isinstance(e, TextDelta) for e in events) > 1, "deltas, not one block"
    usage, finished = events[-2:]
    assert usage == Usage(input_tokens=87, output_tokens=4)
    assert finished == Finished(FinishReason.STOP)


def test_thoughts_are_not_in_stream_json_but_are_counted_as_output() -> None:
    events = replay("thinking")
    assert not any(isinstance(e, ThinkingDelta) for e in events)
    assert text_of(events) == "Hi! How can I help?"
    usage = events[-2]
    assert isinstance(usage, Usage)
    assert usage.output_tokens == 7, "4 answer tokens and 3 of thoughts (total - prompt)"
    assert usage.prompt_tokens == 93


@pytest.mark.parametrize(
    ("name", "kind", "wording"),
    [
        ("auth_error", ErrorKind.CLI_LOGGED_OUT, "(UNAUTHENTICATED)"),
        ("rate_limit", ErrorKind.RATE_LIMIT, "exceeded your current quota"),
        ("rate_limit_without_delay", ErrorKind.RATE_LIMIT, "Resource has been exhausted"),
        ("overloaded", ErrorKind.OVERLOADED, "The model is overloaded"),
        ("server_error", ErrorKind.CLI_FAILED, "(INTERNAL)"),
        ("bad_request", ErrorKind.INVALID_REQUEST, "(INVALID_ARGUMENT)"),
        ("model_not_found", ErrorKind.MODEL_NOT_FOUND, "not found"),
        ("connection_dropped", ErrorKind.CLI_FAILED, "terminated"),
    ],
)
def test_failures_are_classified(name: str, kind: ErrorKind, wording: str) -> None:
    failed = replay(name)[-1]
    assert isinstance(failed, Failed)
    assert failed.error.kind is kind
    assert failed.error.message.startswith("Gemini API error: ")
    assert wording in failed.error.message
    assert "/auth" not in failed.error.message, "the CLI's advice to its own users is dropped"


def test_rate_limit_carries_the_retry_delay() -> None:
    (failed,) = replay("rate_limit")
    assert isinstance(failed, Failed)
    assert failed.error.retry_after == 7
    (without,) = replay("rate_limit_without_delay")
    assert isinstance(without, Failed)
    assert without.error.retry_after is None


def test_the_backends_retry_after_header_beats_the_delay_in_the_body() -> None:
    parser = GeminiParser()
    lines = (RECORDINGS / "rate_limit.jsonl").read_bytes().splitlines()
    tap = [json.loads(x) for x in lines if json.loads(x)["type"] == TAP_LINE]
    assert tap == [{"type": TAP_LINE, "status": 429, "retry_after": "7"}]
    for line in lines:
        if json.loads(line)["type"] == TAP_LINE:
            line = json.dumps({"type": TAP_LINE, "status": 429, "retry_after": "9"}).encode()
        assert parser.feed(line) == []
    (failed,) = parser.finish(173, "")
    assert isinstance(failed, Failed)
    assert failed.error.retry_after == 9


def test_a_retry_after_header_alone_gives_an_overload_its_delay() -> None:
    (failed,) = replay("overloaded_with_retry_after")
    assert isinstance(failed, Failed)
    assert failed.error.kind is ErrorKind.OVERLOADED
    assert failed.error.retry_after == 5
    (without,) = replay("overloaded")
    assert isinstance(without, Failed)
    assert without.error.retry_after is None


def test_a_retry_after_date_is_the_delay_until_then() -> None:
    parser = GeminiParser()
    date = email.utils.formatdate(time.time() + 60, usegmt=True)
    for line in (RECORDINGS / "rate_limit.jsonl").read_bytes().splitlines():
        if json.loads(line)["type"] == TAP_LINE:
            line = json.dumps({"type": TAP_LINE, "status": 429, "retry_after": date}).encode()
        parser.feed(line)
    (failed,) = parser.finish(173, "")
    assert isinstance(failed, Failed)
    assert failed.error.retry_after is not None
    assert 30 < failed.error.retry_after <= 60  # counted from when the line is read


def test_context_overflow_is_context_too_long_with_the_counts() -> None:
    (failed,) = replay("context_overflow")
    assert isinstance(failed, Failed)
    assert failed.error.kind is ErrorKind.CONTEXT_TOO_LONG
    assert "exceeds the maximum number of tokens allowed (1048576)" in failed.error.message


def test_a_dropped_connection_keeps_what_was_said_then_fails() -> None:
    events = replay("connection_dropped")
    assert text_of(events) == "one two "
    assert isinstance(events[-1], Failed)


def test_a_reply_cut_off_before_any_text_finishes_with_length() -> None:
    events = replay("max_tokens_before_any_text")
    assert events[-1] == Finished(FinishReason.LENGTH)
    assert isinstance(events[-2], Usage)


def test_a_reply_cut_off_after_some_text_looks_complete() -> None:
    # stream-json carries no finish reason: the CLI reports success, and so do we.
    events = replay("max_tokens")
    assert text_of(events) == "cut short"
    assert events[-1] == Finished(FinishReason.STOP)


def test_a_prompt_the_cli_would_not_send_is_too_long_not_an_empty_success() -> None:
    (failed,) = replay("prompt_too_large_to_send")
    assert isinstance(failed, Failed)
    assert failed.error.kind is ErrorKind.CONTEXT_TOO_LONG


def test_an_empty_reply_is_a_failure_with_the_clis_words() -> None:
    (failed,) = replay("empty_reply")
    assert isinstance(failed, Failed)
    assert failed.error.kind is ErrorKind.CLI_FAILED
    assert "empty response" in failed.error.message


# The parser, on lines of its own


def line(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


def test_the_echoed_prompt_and_plain_text_lines_are_not_answer() -> None:
    parser = GeminiParser()
    assert parser.feed(line(type="init", session_id="s", model="m")) == []
    assert parser.feed(line(type="message", role="user", content="the prompt")) == []
    assert parser.feed(b"Memory is currently empty.") == []
    assert parser.feed(line(type="error", severity="warning", message="Loop detected")) == []
    assert parser.feed(line(type="message", role="assistant", content="hi", delta=True)) == [
        TextDelta("hi")
    ]


def test_the_status_comes_from_the_exit_when_the_message_has_none() -> None:
    parser = GeminiParser()
    failure = line(type="result", status="error", error={"type": "unknown", "message": "[API"})
    assert parser.feed(failure) == [], "held until the exit status is known"
    (failed,) = parser.finish(429 % 256, "")
    assert isinstance(failed, Failed)
    assert failed.error.kind is ErrorKind.RATE_LIMIT


def test_a_bad_key_is_an_authentication_error_though_google_says_400() -> None:
    body = {"error": {"code": 400, "message": "API key not valid. Please pass a valid API key."}}
    message = f"[API Error: {json.dumps(body)}]"
    parser = GeminiParser()
    parser.feed(line(type="result", status="error", error={"type": "unknown", "message": message}))
    (failed,) = parser.finish(144, "")
    assert isinstance(failed, Failed)
    assert failed.error.kind is ErrorKind.CLI_LOGGED_OUT


@pytest.mark.parametrize(
    ("returncode", "kind"),
    [
        (41, ErrorKind.CLI_LOGGED_OUT),
        (42, ErrorKind.INVALID_REQUEST),
        (52, ErrorKind.CLI_FAILED),
        (0, ErrorKind.CLI_FAILED),
    ],
)
def test_exit_without_a_result(returncode: int, kind: ErrorKind) -> None:
    parser = GeminiParser()
    parser.feed(line(type="message", role="user", content="the prompt"))
    (failed,) = parser.finish(returncode, "When using Gemini API, you must specify GEMINI_API_KEY")
    assert isinstance(failed, Failed)
    assert failed.error.kind is kind
    assert f"status {returncode}" in failed.error.message
    assert "GEMINI_API_KEY" in failed.error.message


def test_usage_counts_cached_tokens_apart() -> None:
    parser = GeminiParser()
    tokens = {"total_tokens": 130, "input_tokens": 100, "output_tokens": 20, "cached": 60}
    stats = {**tokens, "models": {"gemini-2.5-pro": tokens}}
    usage, _ = parser.feed(line(type="result", status="success", stats=stats))
    assert usage == Usage(input_tokens=40, output_tokens=30, cache_read_tokens=60)


# The invocation


def invoke(
    request: ChatRequest | str = "hello",
    environ: dict[str, str] | None = None,
    **settings: Any,
) -> Invocation:
    if isinstance(request, str):
        request = ChatRequest("gemini-2.5-pro", (Message("user", request),))
    config = ProviderConfig(**{**PROVIDER.defaults, "command": "gemini", **settings})
    return PROVIDER.invocation(request, "gemini-2.5-pro", WORKDIR, config, environ or {})


def cli_settings(invocation: Invocation) -> dict[str, Any]:
    settings: dict[str, Any] = json.loads(invocation.files[SETTINGS_FILE])
    return settings


def test_argv_streams_json_and_refuses_extensions_and_mcp_servers() -> None:
    argv = invoke(args=("--debug",)).argv
    assert argv[0] == "gemini"
    assert argv[argv.index("--output-format") + 1] == "stream-json"
    assert argv[argv.index("--model") + 1] == "gemini-2.5-pro"
    assert argv[argv.index("--extensions") + 1] == "none"
    assert argv[argv.index("--allowed-mcp-server-names") + 1] == "__none__"
    assert "--skip-trust" in argv
    assert argv[-1] == "--debug", "configured arguments come last"
    assert "hello" not in argv, "the prompt goes on stdin"


def test_the_prompt_is_stdin_and_history_is_rendered() -> None:
    messages = (
        Message("system", "be brief"),
        Message("user", "first"),
        Message("assistant", "answer"),
        Message("user", "second"),
    )
    invocation = invoke(ChatRequest("gemini-2.5-pro", messages))
    assert invocation.stdin == render_prompt(messages[1:]).encode()
    assert invoke("line one\n\n  line two\n").stdin == b"line one\n\n  line two\n"


def test_a_prompt_that_looks_like_a_slash_command_stays_text() -> None:
    assert invoke("/memory add secret").stdin == b" /memory add secret"
    assert invoke("// a comment").stdin == b"// a comment"
    assert invoke("/* a comment */").stdin == b"/* a comment */"


def test_environment_is_an_allowlist_with_gemini_and_google_variables() -> None:
    environ = {
        "PATH": "/usr/bin",
        "GEMINI_API_KEY": "k1",
        "GOOGLE_CLOUD_PROJECT": "p",
        "OPENAI_API_KEY": "sk-no",
        "CLIWRAP_CONFIG": "/etc/cliwrap.toml",
        "NODE_OPTIONS": "--inspect",
        "HOME": "/home/someone",
    }
    env = invoke(environ=environ).env
    assert env["GEMINI_API_KEY"] == "k1"
    assert env["GOOGLE_CLOUD_PROJECT"] == "p"
    assert "OPENAI_API_KEY" not in env
    assert "CLIWRAP_CONFIG" not in env
    assert env["NODE_OPTIONS"] == (
        f'--require "{WORKDIR / STDIO_PRELOAD_FILE}" --require "{WORKDIR / TAP_FILE}"'
    )
    assert env["GEMINI_CLI_NO_RELAUNCH"] == "true"
    assert env["GEMINI_CLI_TRUST_WORKSPACE"] == "true"
    assert env["TMPDIR"] == str(WORKDIR)


def test_a_private_home_is_gemini_home_too() -> None:
    environ = {"HOME": "/home/someone", "GEMINI_CLI_HOME": "/home/someone"}
    env = invoke(environ=environ).env
    assert env["HOME"] == str(WORKDIR / "home")
    assert env["GEMINI_CLI_HOME"] == "../home"  # from the work folder, where the CLI runs
    user = invoke(environ=environ, home="user").env
    assert user["HOME"] == user["GEMINI_CLI_HOME"] == "/home/someone"


def test_configured_environment_wins_and_node_options_are_combined() -> None:
    environ = {"GEMINI_CLI_TRUST_WORKSPACE": "false", "GEMINI_CLI_NO_RELAUNCH": "false"}
    assert invoke(environ=environ).env["GEMINI_CLI_TRUST_WORKSPACE"] == "true"
    assert invoke(environ=environ).env["GEMINI_CLI_NO_RELAUNCH"] == "false"
    env = invoke(env={"NODE_OPTIONS": "--max-old-space-size=8192", "GEMINI_MODEL": "x"}).env
    assert env["NODE_OPTIONS"].startswith("--require ")
    assert env["NODE_OPTIONS"].endswith(" --max-old-space-size=8192")
    assert env["GEMINI_MODEL"] == "x"


def test_the_preload_makes_stdout_blocking() -> None:
    assert "setBlocking?.(true)" in invoke().files[STDIO_PRELOAD_FILE]


def test_the_tap_observes_model_calls_and_prints_the_parsers_lines() -> None:
    tap = invoke().files[TAP_FILE]
    assert isinstance(tap, str)
    assert f'type: "{TAP_LINE}"' in tap
    assert "undici:request:headers" in tap
    assert "retry-after" in tap


def test_settings_turn_off_tools_hooks_retries_and_telemetry() -> None:
    settings = cli_settings(invoke(environ={"GEMINI_API_KEY": "k"}))
    assert settings["tools"] == {"core": ["__none__"], "discoveryCommand": ""}
    assert settings["hooksConfig"] == {"enabled": False}
    assert settings["skills"] == {"enabled": False}
    assert settings["general"]["maxAttempts"] == 1
    assert settings["general"]["retryFetchErrors"] is False
    assert settings["general"]["enableAutoUpdate"] is False
    assert settings["telemetry"] == {"enabled": False}
    assert settings["privacy"] == {"usageStatisticsEnabled": False}
    assert settings["context"] == {"includeDirectoryTree": False, "fileName": "__none__"}
    assert settings["security"] == {"auth": {"selectedType": "gemini-api-key"}}


@pytest.mark.parametrize(
    ("environ", "home", "auth"),
    [
        ({"GEMINI_API_KEY": "k", "GOOGLE_GEMINI_BASE_URL": "http://x"}, "user", "gemini-api-key"),
        ({"GOOGLE_GENAI_USE_VERTEXAI": "true", "GEMINI_API_KEY": "k"}, "user", "vertex-ai"),
        ({"GOOGLE_GENAI_USE_GCA": "true"}, "user", "oauth-personal"),
        ({}, "private", "gemini-api-key"),
        ({}, "user", None),
    ],
)
def test_auth_type_follows_the_environment(
    environ: dict[str, str], home: str, auth: str | None
) -> None:
    settings = cli_settings(invoke(environ=environ, home=home))
    assert settings.get("security", {}).get("auth", {}).get("selectedType") == auth


def test_system_prompt_goes_to_a_file_named_by_gemini_system_md() -> None:
    system = "Be terse.\n\n" + "x" * 50_000
    request = ChatRequest("gemini-2.5-pro", (Message("system", system), Message("user", "hi")))
    invocation = invoke(request)
    assert invocation.files[SYSTEM_PROMPT_FILE] == system
    assert invocation.env["GEMINI_SYSTEM_MD"] == str(WORKDIR / SYSTEM_PROMPT_FILE)
    plain = invoke("hi")  # no system prompt: an empty one, not the CLI's agent prompt
    assert plain.files[SYSTEM_PROMPT_FILE] == ""
    assert plain.env["GEMINI_SYSTEM_MD"] == str(WORKDIR / SYSTEM_PROMPT_FILE)


def test_stop_signal_depends_on_whose_home_it_is() -> None:
    assert invoke().stop_signal == signal.SIGKILL
    assert invoke(home="user").stop_signal == signal.SIGTERM


def test_version_and_auth_hint(tmp_path: Path) -> None:
    assert PROVIDER.parse_version("0.61.0\n") == "0.61.0"
    assert PROVIDER.models_args is None
    assert PROVIDER.auth_hint({"GEMINI_API_KEY": "k"}, tmp_path) == "$GEMINI_API_KEY"
    (tmp_path / ".gemini").mkdir()
    (tmp_path / ".gemini" / "oauth_creds.json").write_text("{}")
    assert PROVIDER.auth_hint({}, tmp_path) == "~/.gemini/oauth_creds.json"
    assert "GEMINI_API_KEY" in PROVIDER.auth_hint({}, tmp_path / "nowhere")


# The stub


def stub_call(prompt: str, method: str = "streamGenerateContent?alt=sse") -> tuple[int, list[Any]]:
    body = {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
    path = f"/v1beta/models/gemini-2.5-pro:{method}"
    response = handle_gemini(Recorded("POST", path, {}, body))
    return response.status, list(response.steps)


def sse_chunks(steps: list[Any]) -> list[dict[str, Any]]:
    events = b"".join(s for s in steps if isinstance(s, bytes)).split(b"\r\n\r\n")
    return [json.loads(e.removeprefix(b"data: ")) for e in events if e]


def test_stub_streams_thoughts_then_text_with_usage_on_the_last_chunk() -> None:
    status, steps = stub_call("[[think:hmm]] [[reply:hello there]] [[chunk:5]]")
    chunks = sse_chunks(steps)
    parts = [c["candidates"][0]["content"]["parts"][0] for c in chunks]
    assert status == 200
    assert [p["text"] for p in parts if p.get("thought")] == ["hmm"]
    assert "".join(p["text"] for p in parts if not p.get("thought")) == "hello there"
    assert all("usageMetadata" not in c for c in chunks[:-1])
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"]["thoughtsTokenCount"] == 1


def test_stub_fails_as_google_does() -> None:
    status, steps = stub_call("[[fail:429 retry-after=7]]")
    error = json.loads(steps[0])["error"]
    assert (status, error["code"], error["status"]) == (429, 429, "RESOURCE_EXHAUSTED")
    assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"} in error[
        "details"
    ]
    status, steps = stub_call("[[overflow]]")
    error = json.loads(steps[0])["error"]
    assert (status, error["status"]) == (400, "INVALID_ARGUMENT")
    assert "exceeds the maximum number of tokens allowed (1048576)" in error["message"]
    assert stub_call("[[fail:503]]")[0] == 503


def test_stub_sends_retry_after_as_a_header_when_asked() -> None:
    def failure(prompt: str) -> tuple[int, list[str], str]:
        body = {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
        path = "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
        response = handle_gemini(Recorded("POST", path, {}, body))
        headers = [value for name, value in response.headers if name == "retry-after"]
        steps = b"".join(s for s in response.steps if isinstance(s, bytes))
        return response.status, headers, steps.decode()

    assert failure("[[fail:429 retry-after=7]]")[:2] == (429, ["7"])
    status, headers, body = failure("[[fail:503 retry-after=5]]")
    assert (status, headers) == (503, ["5"])
    assert "retry" not in body.lower()  # the header is all there is
    assert failure("[[fail:429]]")[:2] == (429, [])


def test_stub_max_tokens_drop_and_the_non_streaming_method() -> None:
    chunks = sse_chunks(stub_call("[[stop:max_tokens]] [[reply:cut]]")[1])
    assert chunks[-1]["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert stub_call("[[drop]] [[reply:one two three]]")[1][-1] is DROP
    status, steps = stub_call("[[reply:whole]]", "generateContent")
    assert status == 200
    assert json.loads(steps[0])["candidates"][0]["content"]["parts"] == [{"text": "whole"}]
    assert stub_call("[[drop]]", "generateContent")[1] == [DROP]
    assert stub_call("[[drop:stream]] [[reply:ok]]", "generateContent")[0] == 200


def test_images_go_to_the_work_folder_and_cliwraps_files_beside_it() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    request = parse_chat_request(
        {"model": "gemini-2.5-pro", "messages": [{"role": "user", "content": [image]}]}
    )
    files = invoke(request).files
    assert "work/image-1.png" in files
    assert "work/.gemini/settings.json" in files  # the CLI reads it from its working directory
    assert {TAP_FILE, SYSTEM_PROMPT_FILE, "blocking-stdio.cjs"} <= set(files)
