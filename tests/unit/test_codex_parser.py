"""Codex CLI: the app-server dialogue on recorded real output, the invocation, the catalog.

The recordings (tests/recordings/codex, made by record_codex.py) are the pinned
``codex app-server``'s stdout for each scenario, talked to exactly as cliwrap talks to it.
"""

from __future__ import annotations

import json
import signal
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
from cliwrap.providers.base import WORK_DIR, Invocation
from cliwrap.providers.codex import (
    AUTO_MODEL,
    CATALOG_FILE,
    CodexParser,
    CodexProvider,
    without_apply_patch,
)

RECORDINGS = Path(__file__).parents[1] / "recordings" / "codex"
WORKDIR = Path("/tmp/cliwrap-run-test")
PROVIDER = CodexProvider()


def replay(name: str) -> tuple[list[Event], list[dict[str, Any]]]:
    """The events, and what the parser wrote back, for one recording."""
    parser = CodexParser("the prompt")
    events: list[Event] = []
    sent: list[dict[str, Any]] = []
    for line in (RECORDINGS / f"{name}.jsonl").read_bytes().splitlines():
        events.extend(parser.feed(line))
        out = parser.to_send()
        if out:
            sent.extend(json.loads(part) for part in out.splitlines())
    status = json.loads((RECORDINGS / f"{name}.status").read_text())["returncode"]
    events.extend(parser.finish(status, ""))
    return events, sent


def text_of(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


# The parser, on recordings


def test_reasoning_summary_then_text_as_deltas_then_usage() -> None:
    events, sent = replay("thinking_and_text")
    thinking = "".join(e.text for e in events if isinstance(e, ThinkingDelta))
    assert thinking == "Let me think."
    assert text_of(events) == "Hi! How can I help?"
    assert sum(isinstance(e, TextDelta) for e in events) > 1, "deltas, not one block"
    usage, finished = events[-2:]
    assert isinstance(usage, Usage)
    assert usage.prompt_tokens > 0
    assert usage.output_tokens > 0
    assert finished == Finished(FinishReason.STOP)
    (turn,) = sent
    assert turn["method"] == "turn/start"
    assert turn["params"]["input"] == [{"type": "text", "text": "the prompt"}]
    assert turn["params"]["threadId"]


@pytest.mark.parametrize(
    ("name", "kind", "wording"),
    [
        ("auth_error", ErrorKind.CLI_LOGGED_OUT, "Incorrect API key"),
        ("rate_limit", ErrorKind.RATE_LIMIT, "429"),
        ("server_error", ErrorKind.CLI_FAILED, "high demand"),
        ("overloaded", ErrorKind.OVERLOADED, "overloaded"),
        ("bad_request", ErrorKind.INVALID_REQUEST, "stub failure (400)"),
        ("context_overflow", ErrorKind.CONTEXT_TOO_LONG, "context window"),
        ("connection_dropped", ErrorKind.CLI_FAILED, "stream disconnected"),
    ],
)
def test_failures_are_classified_at_the_first_notice(
    name: str, kind: ErrorKind, wording: str
) -> None:
    events, _ = replay(name)
    failed = events[-1]
    assert isinstance(failed, Failed)
    assert sum(isinstance(e, Failed) for e in events) == 1
    assert failed.error.kind is kind
    assert wording in failed.error.message
    assert "Reconnecting" not in failed.error.message


def test_a_dropped_stream_keeps_what_was_said_and_is_not_said_twice() -> None:
    events, _ = replay("connection_dropped")
    assert text_of(events) == "one two "


def test_an_answer_cut_by_the_output_limit_finishes_with_length() -> None:
    events, _ = replay("max_tokens")
    assert text_of(events) == "cut short"
    assert isinstance(events[-2], Usage)
    assert events[-1] == Finished(FinishReason.LENGTH)


# The dialogue, on lines of its own


def line(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


def test_a_server_request_is_declined_not_left_waiting() -> None:
    parser = CodexParser("p")
    approval = line(id=7, method="item/commandExecution/requestApproval", params={})
    assert parser.feed(approval) == []
    (answer,) = [json.loads(x) for x in (parser.to_send() or b"").splitlines()]
    assert answer["id"] == 7
    assert answer["error"]["code"] == -32601


def test_stdin_closes_once_the_turn_is_over() -> None:
    parser = CodexParser("p")
    assert parser.to_send() == b"", "nothing yet; stdin stays open"
    completed = line(method="turn/completed", params={"turn": {"status": "completed"}})
    assert parser.feed(completed)[-1] == Finished(FinishReason.STOP)
    assert parser.to_send() is None


def test_a_json_rpc_error_fails_the_run() -> None:
    parser = CodexParser("p")
    (failed,) = parser.feed(line(id=2, error={"code": -32600, "message": "unknown model"}))
    assert isinstance(failed, Failed)
    assert "unknown model" in failed.error.message
    assert parser.to_send() is None


def test_summary_parts_are_separated() -> None:
    parser = CodexParser("p")
    first = line(method="item/reasoning/summaryTextDelta", params={"itemId": "r", "delta": "a"})
    second = line(
        method="item/reasoning/summaryTextDelta",
        params={"itemId": "r", "summaryIndex": 1, "delta": "b"},
    )
    assert parser.feed(first) == [ThinkingDelta("a")]
    assert parser.feed(second) == [ThinkingDelta("\n\nb")]


def test_usage_counts_cached_tokens_apart() -> None:
    parser = CodexParser("p")
    last = {"inputTokens": 100, "cachedInputTokens": 60, "outputTokens": 5}
    parser.feed(line(method="thread/tokenUsage/updated", params={"tokenUsage": {"last": last}}))
    events = parser.feed(line(method="turn/completed", params={"turn": {"status": "completed"}}))
    assert events[0] == Usage(input_tokens=40, output_tokens=5, cache_read_tokens=60)


def test_an_exit_before_the_turn_is_a_cli_failure_with_its_stderr() -> None:
    (failed,) = CodexParser("p").finish(1, "Error: model_providers contains reserved IDs")
    assert isinstance(failed, Failed)
    assert failed.error.kind is ErrorKind.CLI_FAILED
    assert "reserved IDs" in failed.error.message


# The invocation


def invocation(
    request: ChatRequest, model: str = "gpt-5.5", listing: str | None = None, **settings: Any
) -> Invocation:
    config = ProviderConfig(command="codex", **settings)
    return PROVIDER.invocation(
        request, model, WORKDIR, config, {"PATH": "/bin", "HOME": "/u"}, listing
    )


def ask(text: str, system: str | None = None) -> ChatRequest:
    messages = ([Message("system", system)] if system else []) + [Message("user", text)]
    return ChatRequest("gpt-5.5", tuple(messages))


def opening(run: Invocation) -> list[dict[str, Any]]:
    return [json.loads(part) for part in run.stdin.splitlines()]


def test_app_server_with_tools_and_side_traffic_off() -> None:
    run = invocation(ask("hi"))
    assert run.argv[:2] == ("codex", "app-server")
    overrides = {run.argv[i + 1] for i, arg in enumerate(run.argv) if arg == "-c"}
    assert {
        "analytics.enabled=false",
        "features.plugins=false",
        "features.shell_tool=false",
        "features.unified_exec=false",
        'web_search="disabled"',
        "check_for_update_on_startup=false",
    } <= overrides
    assert run.dialogue
    assert run.stop_signal == signal.SIGINT


def test_the_thread_is_ephemeral_read_only_and_carries_the_system_prompt() -> None:
    initialize, initialized, thread = opening(invocation(ask("hi", system="Be terse.")))
    assert initialize["method"] == "initialize"
    assert initialized == {"method": "initialized"}
    assert thread["method"] == "thread/start"
    params = thread["params"]
    assert params["ephemeral"] is True
    assert params["sandbox"] == "read-only"
    assert params["approvalPolicy"] == "never"
    assert params["model"] == "gpt-5.5"
    assert params["baseInstructions"] == "Be terse."
    assert params["cwd"] == str(WORKDIR / WORK_DIR)


def test_codex_auto_lets_the_cli_choose() -> None:
    *_, thread = opening(invocation(ask("hi"), model=AUTO_MODEL))
    assert "model" not in thread["params"]
    assert thread["params"]["baseInstructions"] == ""  # not the catalog's Codex persona


def test_private_home_gets_its_own_codex_home() -> None:
    run = invocation(ask("hi"), home="private")
    assert run.env["CODEX_HOME"] == str(WORKDIR / "home" / ".codex")
    assert "home/.codex/config.toml" in run.files
    assert "CODEX_HOME" not in invocation(ask("hi")).env


CATALOG = json.dumps(
    {
        "models": [
            {
                "slug": "gpt-5.5",
                "visibility": "list",
                "priority": 13,
                "apply_patch_tool_type": "freeform",
            },
            {"slug": "gpt-6.1-sol", "visibility": "list", "priority": 1, "context_window": 9},
            {"slug": "codex-auto-review", "visibility": "hide", "priority": 43},
        ]
    }
)


def test_the_catalog_goes_along_without_apply_patch() -> None:
    run = invocation(ask("hi"), listing=CATALOG)
    catalog = json.loads(run.files[CATALOG_FILE])
    assert [m["apply_patch_tool_type"] for m in catalog["models"]] == [None, None, None]
    assert catalog["models"][1]["context_window"] == 9, "everything else is kept"
    path = json.dumps(str(WORKDIR / CATALOG_FILE))
    assert f"model_catalog_json={path}" in run.argv
    assert CATALOG_FILE not in invocation(ask("hi")).files


def test_without_apply_patch_refuses_what_is_not_a_catalog() -> None:
    assert without_apply_patch(None) is None
    assert without_apply_patch("not json") is None
    assert without_apply_patch('{"data": []}') is None


def test_listed_models_best_first_and_hidden_ones_left_out() -> None:
    assert PROVIDER.parse_models(CATALOG) == ["gpt-6.1-sol", "gpt-5.5"]
    assert PROVIDER.parse_models("garbage") == []


def test_the_model_gets_no_notes_of_the_clis_own() -> None:
    run = invocation(ask("hi"))
    overrides = {run.argv[i + 1] for i, arg in enumerate(run.argv) if arg == "-c"}
    assert {
        "include_permissions_instructions=false",
        "include_apps_instructions=false",
        "include_collaboration_mode_instructions=false",
        "include_environment_context=false",
    } <= overrides
