"""Lines decoded elsewhere (:class:`DecodedLine`): every parser takes their value as is."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from cliwrap.core.events import Event
from cliwrap.providers.base import DecodedLine, LineParser, line_json
from cliwrap.providers.claude import ClaudeParser
from cliwrap.providers.codex import CodexParser
from cliwrap.providers.gemini import GeminiParser
from cliwrap.providers.qwen import QwenParser

RECORDINGS = Path(__file__).parents[1] / "recordings"
PARSERS: dict[str, Callable[[], LineParser]] = {
    "claude": ClaudeParser,
    "codex": lambda: CodexParser("the prompt"),
    "gemini": GeminiParser,
    "qwen": QwenParser,
}


def test_a_decoded_line_is_its_bytes_and_carries_its_value() -> None:
    line = DecodedLine(b'{"a": [1]}', {"a": [1]})
    assert line == b'{"a": [1]}'
    assert isinstance(line, bytes)
    assert line.value == {"a": [1]}


def test_line_json_takes_a_decoded_line_s_value_without_decoding_it() -> None:
    assert line_json(DecodedLine(b"not JSON at all", ["decoded", "elsewhere"])) == [
        "decoded",
        "elsewhere",
    ]
    assert line_json(DecodedLine(b"null", None)) is None


def test_line_json_decodes_a_plain_line_and_refuses_what_is_not_json() -> None:
    assert line_json(b'{"type": "result"}') == {"type": "result"}
    with pytest.raises(json.JSONDecodeError):
        line_json(b"Loaded cached credentials.")


def replay(provider: str, name: str, decoded: bool) -> tuple[list[Event], list[bytes]]:
    """The events (and what a dialogue parser wrote back) for one recording: each JSON line
    fed as it is, or (``decoded``) as a :class:`DecodedLine` whose bytes are not the JSON,
    so that only its value can give the same answer."""
    parser = PARSERS[provider]()
    events: list[Event] = []
    sent: list[bytes] = []
    folder = RECORDINGS / provider
    for line in (folder / f"{name}.jsonl").read_bytes().splitlines():
        if decoded:
            with contextlib.suppress(ValueError):  # not JSON: the job feeds it as it is
                line = DecodedLine(b"{}", json.loads(line))
        events.extend(parser.feed(line))
        out = getattr(parser, "to_send", lambda: None)()
        if out:
            sent.append(out)
    status = json.loads((folder / f"{name}.status").read_text())["returncode"]
    events.extend(parser.finish(status, ""))
    return events, sent


@pytest.mark.parametrize(
    ("provider", "name"),
    [
        (path.parent.name, path.stem)
        for provider in PARSERS
        for path in sorted((RECORDINGS / provider).glob("*.jsonl"))
    ],
)
def test_every_parser_gives_the_same_answer_from_decoded_lines(provider: str, name: str) -> None:
    # repr: an ApiError (an exception) equals only itself
    assert repr(replay(provider, name, decoded=True)) == repr(replay(provider, name, decoded=False))
