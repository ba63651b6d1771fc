"""``GET /v1/models`` in the two shapes clients read, sans I/O.

OpenAI's model object (``id``, ``object``, ``created``, ``owned_by``) has no field for a
context window, so every name agents look for is given, with the same two numbers:
``context_length`` and ``top_provider.max_completion_tokens`` (OpenRouter's, read by Cline,
Roo Code, Kilo and OpenCode's OpenRouter-style loaders), ``max_model_len`` (vLLM's),
``max_input_tokens`` / ``max_output_tokens`` / ``max_tokens`` (LiteLLM's model info, which
aider's and LiteLLM's own lookups read) and ``context_window`` (Codex's catalog field).

Anthropic's ``GET /v1/models`` is a page (``data``, ``has_more``, ``first_id``, ``last_id``)
of ``{"type": "model", "id", "display_name", "created_at"}`` with ``max_input_tokens`` and
``max_tokens``; the Anthropic SDK and Claude Code's gateway model discovery read it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from ..core.errors import ApiError, ErrorKind
from ..providers.limits import TokenLimits

__all__ = ["ModelEntry", "anthropic_model", "anthropic_page", "openai_list", "openai_model"]

_EPOCH = "1970-01-01T00:00:00Z"
"""``created_at`` for every model: no CLI says when its models were released."""


@attrs.frozen
class ModelEntry:
    """One advertised model: its name, the CLI that serves it, and what is known of both."""

    id: str
    provider: str
    limits: TokenLimits
    installed: bool
    cli_version: str | None


def openai_model(entry: ModelEntry) -> dict[str, Any]:
    context, output = entry.limits.context_window, entry.limits.max_output_tokens
    return {
        "id": entry.id,
        "object": "model",
        "created": 0,
        "owned_by": entry.provider,
        "provider": entry.provider,
        "installed": entry.installed,
        "cli_version": entry.cli_version,
        "context_length": context,
        "context_window": context,
        "max_model_len": context,
        "max_input_tokens": context,
        "max_output_tokens": output,
        "max_tokens": output,
        "top_provider": {
            "context_length": context,
            "max_completion_tokens": output,
            "is_moderated": False,
        },
    }


def openai_list(entries: Sequence[ModelEntry]) -> dict[str, Any]:
    return {"object": "list", "data": [openai_model(entry) for entry in entries]}


def anthropic_model(entry: ModelEntry) -> dict[str, Any]:
    return {
        "type": "model",
        "id": entry.id,
        "display_name": entry.id,
        "created_at": _EPOCH,
        "max_input_tokens": entry.limits.context_window,
        "max_tokens": entry.limits.max_output_tokens,
    }


def anthropic_page(entries: Sequence[ModelEntry], query: Mapping[str, str]) -> dict[str, Any]:
    """One page of the list, as Anthropic's ``limit``, ``after_id`` and ``before_id`` ask.

    An unknown ``after_id`` / ``before_id`` gives an empty page, as a cursor past the end.
    """
    ids = [entry.id for entry in entries]
    start, end = 0, len(entries)
    if query.get("after_id"):
        start = ids.index(query["after_id"]) + 1 if query["after_id"] in ids else end
    if query.get("before_id"):
        end = ids.index(query["before_id"]) if query["before_id"] in ids else 0
    limit = _limit(query.get("limit"))
    if query.get("before_id") and not query.get("after_id"):
        chosen = entries[max(start, end - limit) : end]
        more = max(start, end - limit) > start
    else:
        chosen = entries[start : min(end, start + limit)]
        more = start + limit < end
    return {
        "data": [anthropic_model(entry) for entry in chosen],
        "has_more": more,
        "first_id": chosen[0].id if chosen else None,
        "last_id": chosen[-1].id if chosen else None,
    }


def _limit(raw: str | None) -> int:
    """Anthropic's ``limit``: 1 to 1000, 20 if not given."""
    if raw is None:
        return 20
    value = int(raw) if raw.strip().isascii() and raw.strip().isdecimal() else 0
    if not 1 <= value <= 1000:
        raise ApiError(
            ErrorKind.INVALID_REQUEST,
            "'limit' must be a whole number from 1 to 1000.",
            param="limit",
        )
    return value
