"""Checks for the generation parameters every surface takes under its own names, sans I/O.

Each returns the value (None when absent) or raises a 400 naming the parameter, so that
``max_tokens``, ``max_output_tokens`` and ``max_completion_tokens`` are checked one way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ..core.errors import ApiError, ErrorKind
from ..core.request import EFFORTS, Effort

__all__ = [
    "HEADERS",
    "HEADER_ALIASES",
    "THINKING_MODES",
    "effort",
    "from_headers",
    "number",
    "positive_int",
    "session_name",
    "tool_types",
]

HEADERS = {
    "X-Reasoning-Effort": "reasoning_effort",
    "X-Thinking-Budget": "thinking_budget",
    "X-Max-Turns": "max_turns",
}
"""Per-request headers for what some clients cannot put in the body; they win over it."""

HEADER_ALIASES = {
    "X-Claude-Effort": "X-Reasoning-Effort",
    "X-Claude-Max-Thinking-Tokens": "X-Thinking-Budget",
    "X-Claude-Max-Turns": "X-Max-Turns",
    "X-Claude-Thinking": "X-Thinking-Budget",
}
"""An earlier Claude wrapper's headers, each read as the header of cliwrap's it names (that
one wins when both are sent). ``X-Claude-Thinking`` takes :data:`THINKING_MODES`."""

THINKING_MODES = {"disabled": 0, "enabled": None, "adaptive": None}
"""``X-Claude-Thinking``: ``disabled`` is a thinking budget of 0; ``enabled`` and
``adaptive`` leave the budget to the CLI (Claude Code thinks adaptively by default) unless a
budget header gives one."""


def _invalid(message: str, param: str) -> ApiError:
    return ApiError(ErrorKind.INVALID_REQUEST, message, param=param)


_SESSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/-]{0,255}")


def session_name(value: Any, param: str) -> str | None:
    """A conversation name a client chose (``session_id``, ``X-Session-Id``), or a 400."""
    if value is None:
        return None
    if not isinstance(value, str) or not _SESSION_NAME.fullmatch(value):
        raise _invalid(
            f"'{param}' must be 1 to 256 letters, digits or '._:@/-', starting with a letter "
            "or digit.",
            param,
        )
    return value


def positive_int(value: Any, param: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _invalid(f"'{param}' must be a whole number of at least 1.", param)
    return value


def number(value: Any, low: float, high: float, param: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise _invalid(f"'{param}' must be a number from {low:g} to {high:g}.", param)
    return float(value)


def effort(value: Any, param: str) -> Effort | None:
    if value is None:
        return None
    for known in EFFORTS:
        if value == known:
            return known
    raise _invalid(f"'{param}' must be one of {', '.join(EFFORTS)}.", param)


def from_headers(headers: Mapping[str, str]) -> dict[str, Any]:
    """The request fields the :data:`HEADERS` (or their :data:`HEADER_ALIASES`) present set,
    checked (names in any case)."""
    present = {name.lower(): value for name, value in headers.items()}
    fields: dict[str, Any] = {}
    # The aliases first: cliwrap's own headers come after them and win.
    for header, own in [*HEADER_ALIASES.items(), *((own, own) for own in HEADERS)]:
        value = present.get(header.lower())
        if value is None:
            continue
        field = HEADERS[own]
        if header == "X-Claude-Thinking":
            mode = value.strip().lower()
            if mode not in THINKING_MODES:
                raise _invalid(f"'{header}' must be one of {', '.join(THINKING_MODES)}.", header)
            if THINKING_MODES[mode] is not None:
                fields[field] = THINKING_MODES[mode]
            continue
        if field == "reasoning_effort":
            fields[field] = effort(value.strip().lower(), header)
            continue
        try:
            whole = int(value)
        except ValueError:
            raise _invalid(f"'{header}' must be a whole number.", header) from None
        if field == "thinking_budget" and whole == 0:
            fields[field] = 0  # no thinking
        else:
            fields[field] = positive_int(whole, header)
    return fields


def tool_types(body: Any, picked: Callable[[str], object]) -> list[str]:
    """The ``type`` of each tool in a (valid) request's ``tools`` that ``picked`` accepts:
    the vendor's own tools, which are left out (the vendor runs those on its side, and
    cliwrap runs every CLI with its own tools off), for the server's log."""
    raw = body.get("tools") if isinstance(body, dict) else None
    tools = raw if isinstance(raw, list) else []
    return [
        tool["type"]
        for tool in tools
        if isinstance(tool, dict) and isinstance(tool.get("type"), str) and picked(tool["type"])
    ]
