"""What the store keeps, as frozen values: a conversation and a stored response.

Plain data with no I/O, so the session pool, the surfaces and the tests make and compare them
freely. Ids and fingerprints are made by the caller; the store only keeps them. Times are
wall-clock seconds (``time.time()``) given by the caller too, so tests choose them.
"""

from __future__ import annotations

import attrs

__all__ = ["ConversationRecord", "StorageError", "StoredResponse", "UnknownConversationError"]


@attrs.frozen
class ConversationRecord:
    """One conversation: whose it is, which CLI session carries it, where its history stands."""

    id: str
    """The public id, e.g. ``"conv_"`` and 24 hex digits."""
    key_id: str
    """Who may see it: a hash of the API key; ``""`` on an open server."""
    provider: str
    """``"claude"``, ``"codex"``, ``"gemini"`` or ``"qwen"``."""
    model: str
    """The CLI model it runs."""
    shape: str
    """Fingerprint of what is fixed when its CLI starts (system prompt, tools)."""
    head: str
    """Fingerprint of its history so far, after its last turn."""
    cli_session_id: str | None = None
    """The CLI's own session or thread id, to resume it."""
    directory: str | None = None
    """A folder cliwrap made for its CLI session files."""
    turns: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    created_at: float = 0.0
    updated_at: float = 0.0
    name: str | None = None
    """The name the client gave it (``session_id``, ``X-Session-Id``), if it named it."""


@attrs.frozen
class StoredResponse:
    """A Responses API response, kept so ``previous_response_id`` can name it later."""

    id: str
    """The Responses API id, ``"resp_..."``."""
    key_id: str
    conversation_id: str
    head: str
    """The conversation's head right after this response."""
    created_at: float
    body: str = ""
    """The response object as JSON text, for ``GET /v1/responses/{id}``."""


class StorageError(Exception):
    """The store cannot be used or cannot do what was asked; the message names the file."""


class UnknownConversationError(StorageError, LookupError):
    """Turns or a response were given for a conversation the store does not have (never put,
    deleted meanwhile, or another key's)."""
