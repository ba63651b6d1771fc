"""Reading an SSE response as the events it carries (comments, such as keepalives, skipped)."""

from __future__ import annotations

import json
from typing import Any

import httpx


def sse_events(response: httpx.Response) -> list[tuple[str, Any]]:
    """``(event name or "", decoded data)`` for each ``data:`` line; ``[DONE]`` stays a string."""
    events = []
    name = ""
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
            events.append((name, data if data == "[DONE]" else json.loads(data)))
            name = ""
    return events
