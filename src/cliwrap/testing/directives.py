"""What a stub model backend should do, read from the prompt it receives.

Tests steer the stubs by writing directives such as ``[[fail:429 retry-after=7]]`` or
``[[think:let me see]]`` into the prompt. The request itself carries the script, so one stub
serves any number of tests and concurrent requests without shared state, and the behaviour
travels through the real CLI untouched. Pure: no I/O.
"""

from __future__ import annotations

import re

import attrs

__all__ = ["Plan", "read_plan"]

_DIRECTIVE = re.compile(r"\[\[(\w[\w-]*)(?::((?:(?!\[\[).)*?))?\]\]", re.DOTALL)
"""``[[name]]`` or ``[[name:argument]]``; an argument may span lines but holds no ``[[``, so
that a stray ``[[`` in a CLI's own instructions cannot swallow the directives after it."""


@attrs.frozen
class Plan:
    """How to answer one request."""

    reply: str
    thinking: str = ""
    fail_status: int | None = None
    retry_after: int | None = None
    drop: bool = False
    """Reset the connection mid-stream (and at once for a non-streaming call)..."""
    drop_stream_only: bool = False
    """...or only mid-stream (``[[drop:stream]]``), so the CLI's non-streaming retry works."""
    hold: float = 0.0  # seconds before the response starts
    delay: float = 0.0  # seconds between streamed deltas
    chunk: int = 4  # characters per text delta
    stop_reason: str = "end_turn"
    """Anthropic's names (``end_turn``, ``max_tokens``); other stubs map them to their API's."""
    overflow: bool = False
    """Fail with the API's own context-window error (``[[overflow]]``)."""


_RESULT = "<tool_result"
"""How cliwrap's tool contract shows a tool's result to the model (semantics/tools.py)."""


def read_plan(prompt: str, answers: str = "") -> Plan:
    """Read the directives in ``prompt``; the default reply echoes its last line.

    ``answers``: the text of the conversation's earlier answers, where the request carries
    them as turns of their own (a CLI's session), not inside the prompt (a transcript).

    ``[[done:TEXT]]`` ends an agent's loop: once the prompt holds a tool result, the answer
    is TEXT and the ``[[call:...]]`` directives are not made again.
    """
    fields: dict[str, object] = {}
    calls: list[str] = []
    repaired: str | None = None
    for name, arg in _DIRECTIVE.findall(prompt):
        arg = arg.strip()
        if name == "reply":
            fields["reply"] = arg
        elif name == "repaired":
            repaired = arg
        elif name == "think":
            fields["thinking"] = arg
        elif name == "fail":
            status, _, rest = arg.partition(" ")
            fields["fail_status"] = int(status)
            match = re.search(r"retry-after=(\d+)", rest)
            if match:
                fields["retry_after"] = int(match.group(1))
        elif name == "drop":
            fields["drop"] = True
            fields["drop_stream_only"] = arg == "stream"
        elif name in ("hold", "delay"):
            fields[name] = float(arg)
        elif name == "chunk":
            fields["chunk"] = int(arg)
        elif name == "stop":
            fields["stop_reason"] = arg
        elif name == "overflow":
            fields["overflow"] = True
        elif name == "call":
            # A call to a client tool, written as cliwrap's tool contract asks a model to;
            # with ``[[done:TEXT]]``, only until the prompt holds a tool's result, and TEXT
            # is the answer after it (a model that acts, reads what happened, and reports).
            tool, _, arguments = arg.partition(" ")
            block = (
                f'<tool_call>\n{{"name": "{tool}", "arguments": {arguments or "{}"}}}\n</tool_call>'
            )
            calls.append(block)
        elif name == "done":
            fields["done"] = arg
    done = fields.pop("done", None)
    if done is not None and _RESULT in prompt:
        # An agent's loop: the calls were made and their results are back, so answer.
        return Plan(**{**fields, "reply": done})  # type: ignore[arg-type]
    if calls:
        before = [str(fields["reply"])] if "reply" in fields else []
        fields["reply"] = "\n".join([*before, *calls])
    if "reply" not in fields:
        fields["reply"] = "echo: " + _last_line(_DIRECTIVE.sub("", prompt))
    elif repaired is not None and str(fields["reply"]) in _DIRECTIVE.sub("", prompt) + answers:
        # ``[[repaired:Y]]``: once the first reply is back in the conversation (a client's
        # repair loop sent it with what was wrong), answer Y instead.
        fields["reply"] = repaired
    return Plan(**fields)  # type: ignore[arg-type]


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    plain = [line for line in lines if not line.startswith("<")]
    return (plain or lines or [""])[-1][:200]


def split(text: str, size: int) -> list[str]:
    """``text`` in deltas of ``size`` characters, as a model streams it."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]
