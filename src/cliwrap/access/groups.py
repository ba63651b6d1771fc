"""Endpoint groups: which rate limit a request counts against.

Limits are set per group rather than per route, so that a client's chat traffic never eats
into what it may spend on, say, health checks, and so that one config table names them all.
Sans-IO: a method and a path in, a group's name out.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["DEFAULT_PER_ADDRESS", "EXPOSED_PER_ADDRESS", "GROUPS", "group_of"]

GROUPS = ("chat", "sessions", "auth", "debug", "health", "other")
"""Every group's name; a WebSocket request frame counts as ``chat`` (its upgrade as ``other``)."""

DEFAULT_PER_ADDRESS: Mapping[str, int] = {
    "chat": 600,
    "sessions": 240,
    "auth": 60,
    "debug": 60,
    "health": 600,
    "other": 600,
}
"""Requests per minute per client address, sized for a coding agent on loopback: an agent
fires tool-call turns back to back (ten a second in bursts is ordinary), while a runaway loop
still meets a limit within a minute."""

EXPOSED_PER_ADDRESS: Mapping[str, int] = {
    "chat": 10,
    "sessions": 15,
    "auth": 10,
    "debug": 2,
    "health": 30,
    "other": 30,
}
"""The predecessors' values: the preset the README gives for a server exposed to a network."""

_CHAT = frozenset({"/v1/chat/completions", "/v1/messages", "/v1/responses"})
_PREFIXES = (
    ("/v1/sessions", "sessions"),
    ("/v1/auth", "auth"),
    ("/v1/compatibility", "debug"),
    ("/v1/debug", "debug"),
    ("/healthz", "health"),
)
_HEALTH = frozenset({"/health", "/version", "/metrics"})


def group_of(method: str, path: str) -> str:
    """The group of a request for ``method`` ``path`` (the path without its query)."""
    if path in _CHAT:
        return "chat" if method.upper() == "POST" else "other"
    if path in _HEALTH:
        return "health"
    for prefix, group in _PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            return group
    return "other"
