"""Small pure pieces: progress marks, prompt rendering, failure classification, sanitizing."""

from __future__ import annotations

import itertools

from cliwrap.core.errors import ErrorKind, sanitize
from cliwrap.core.progress import marks
from cliwrap.core.request import Message
from cliwrap.providers.failures import classify
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
    assert classify(401, None, "x").kind is ErrorKind.AUTHENTICATION
    assert classify(None, "overloaded_error", "x").kind is ErrorKind.OVERLOADED
    assert (
        classify(400, None, "prompt is too long: 300000 tokens").kind is ErrorKind.CONTEXT_TOO_LONG
    )
    limited = classify(429, None, "Too many requests, retry after 12 seconds")
    assert limited.kind is ErrorKind.RATE_LIMIT
    assert limited.retry_after == 12
    assert classify(None, None, "socket hang up").kind is ErrorKind.CLI_FAILED


def test_sanitize_removes_secrets_and_colour() -> None:
    text = sanitize(
        "\x1b[31mfailed\x1b[0m with key sk-ant-api03-abcdefghijk and Bearer abc.def.ghi123"
    )
    assert text == "failed with key [redacted] and [redacted]"
    assert len(sanitize("x" * 5000)) == 600
