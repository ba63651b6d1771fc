"""Server-sent events framing, shared by the streaming surfaces."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["KEEPALIVE", "comment", "data", "event"]

KEEPALIVE = b": keepalive\n\n"
"""A comment line: every SSE client ignores it, every proxy sees traffic."""


def data(payload: Any) -> bytes:
    """A ``data:`` event with ``payload`` as compact JSON (or as is, for a string)."""
    text = (
        payload
        if isinstance(payload, str)
        else json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    )
    return f"data: {text}\n\n".encode()


def event(name: str, payload: Any) -> bytes:
    """A named event, as the Anthropic stream uses them."""
    return f"event: {name}\n".encode() + data(payload)


def comment(text: str) -> bytes:
    return f": {text}\n\n".encode()
