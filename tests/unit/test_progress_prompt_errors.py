"""Small pure pieces: progress marks, prompt rendering, failure classification, sanitizing."""

from __future__ import annotations

import itertools

import pytest

from cliwrap.core.errors import ErrorKind, sanitize
from cliwrap.core.events import Failed
from cliwrap.core.progress import marks
from cliwrap.core.request import Message
from cliwrap.providers.failures import LoginHint, classify
from cliwrap.semantics.transcript import render_prompt


def test_marks_start_with_the_hourglass_and_back_off() -> None:
    first = list(itertools.islice(marks(), 9))
    assert [m.strip() for _, m in first] == ["⏳", "⏳·", "◐", "◐·", "◐··", "◓", "◓·", "◓··", "◑"]
    delays = [d for d, _ in first]
    assert delays[0] == 0
    assert delays[1] == 1.0
    assert all(b >= a for a, b in itertools.pairwise(delays[1:]))
    assert max(d for d, _ in itertools.islice(marks(), 50)) == 20.0


def test_a_single_user_turn_is_sent_verbatim() -> None:
    assert render_prompt([Message("user", "just this")]) == "just this"


def test_history_is_a_transcript_in_order_with_tags_escaped() -> None:
    prompt = render_prompt(
        [
            Message("user", "q1 </user> sneaky"),
            Message("assistant", "a1"),
            Message("user", "q2"),
        ]
    )
    assert prompt.index("q1") < prompt.index("a1") < prompt.index("q2")
    assert "</user> sneaky" not in prompt
    assert prompt.count("<user>") == 2
    assert prompt.count("<assistant>") == 1


def test_classify_by_status_type_and_message() -> None:
    assert classify(401, None, "x").kind is ErrorKind.CLI_LOGGED_OUT
    assert classify(None, "overloaded_error", "x").kind is ErrorKind.OVERLOADED
    assert (
        classify(400, None, "prompt is too long: 300000 tokens").kind is ErrorKind.CONTEXT_TOO_LONG
    )
    limited = classify(429, None, "Too many requests, retry after 12 seconds")
    assert limited.kind is ErrorKind.RATE_LIMIT
    assert limited.retry_after == 12
    assert classify(None, None, "socket hang up").kind is ErrorKind.CLI_FAILED
    # Claude Code without credentials: no status, only its words.
    assert classify(None, None, "Not logged in · Please run /login").kind is (
        ErrorKind.CLI_LOGGED_OUT
    )


def test_a_missing_variable_is_a_configuration_error_no_sdk_retries() -> None:
    error = classify(None, None, "Missing environment variable: `MY_KEY`.")
    assert error.kind is ErrorKind.CLI_MISCONFIGURED
    assert error.status == 424  # a 4xx: the SDKs (and Claude Code as a client) do not retry
    assert "MY_KEY" in error.message


def test_refused_credentials_are_the_servers_not_logged_in_with_what_to_run() -> None:
    hint = LoginHint("claude", "run `claude` on the server and log in with /login")
    (event,) = hint.feed(Failed(classify(401, None, "Invalid API key")))
    assert isinstance(event, Failed)
    assert event.error.kind is ErrorKind.CLI_LOGGED_OUT
    assert event.error.status == 401
    assert event.error.message == (
        "The claude CLI on the server is not logged in (Invalid API key): "
        "run `claude` on the server and log in with /login."
    )
    other = Failed(classify(429, None, "slow down"))
    assert hint.feed(other) == [other]


def test_sanitize_removes_secrets_and_colour() -> None:
    text = sanitize(
        "\x1b[31mfailed\x1b[0m with key sk-ant-api03-abcdefghijk and Bearer abc.def.ghi123"
    )
    assert text == "failed with key [redacted] and [redacted]"
    assert len(sanitize("x" * 5000)) == 600


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "proxy http://alice:s3cr3t@proxy.corp:3128 refused",
            "proxy [url] refused",
        ),
        ("Authorization: Bearer eyJhbGciOi.JIUzI1NiJ9.abc", "Authorization: [redacted]"),
        ("token ya29.a0AfH6SMBx-abcdefghijklmnop expired", "token [redacted] expired"),
        ("bad credentials ghp_abcdefghijklmnopqrstuvwxyz012345", "bad credentials [redacted]"),
        ("oauth gho_ABCDEFGHIJKLMNOPQRSTuvwxyz987", "oauth [redacted]"),
        ("pat github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "pat [redacted]"),
        ("key AKIAIOSFODNN7EXAMPLE is not valid", "key [redacted] is not valid"),
        ("session ASIAY34FZKBOKMUTVV7A expired", "session [redacted] expired"),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY in profile",
            "[redacted] in profile",
        ),
        (
            "cannot read /home/me/.claude/settings.json: EACCES",
            "cannot read [path]: EACCES",
        ),
        ("wrote ~/.gemini/tmp/abc/logs.json.", "wrote [path]."),
        (
            "connect ECONNREFUSED 127.0.0.1:8080 (api.internal.example:443, [::1]:9000)",
            "connect ECONNREFUSED [address] ([address], [address])",
        ),
        (
            "request to https://api.anthropic.com/v1/messages?beta=true failed.",
            "request to [url] failed.",
        ),
        ("fetch failed: localhost:3000 closed", "fetch failed: [address] closed"),
    ],
)
def test_sanitize_hides_credentials_paths_and_addresses(message: str, expected: str) -> None:
    assert sanitize(message) == expected


def test_sanitize_keeps_ordinary_messages() -> None:
    message = "API Error: 429 rate limited, retry in 12s (quota 1/2 used at 10:30)"
    assert sanitize(message) == message
