"""The session endpoints' JSON: conversations as ``/v1/sessions`` shows them (sans-IO).

The shapes follow the predecessors' endpoints (a list, one object per session, a delete
confirmation), in OpenAI's list style.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..storage import ConversationRecord

__all__ = ["deleted", "session_list", "session_object"]


def session_object(record: ConversationRecord, live: bool) -> dict[str, Any]:
    """One conversation: its ids, where it runs, its size and usage, its times."""
    return {
        "id": record.name or record.id,
        "object": "session",
        "name": record.name,
        "conversation_id": record.id,
        "provider": record.provider,
        "model": record.model,
        "turns": record.turns,
        "live": live,
        "cli_session_id": record.cli_session_id,
        "usage": {
            "input_tokens": record.input_tokens,
            "output_tokens": record.output_tokens,
            "cached_tokens": record.cached_tokens,
        },
        "created_at": round(record.created_at, 3),
        "updated_at": round(record.updated_at, 3),
    }


def session_list(
    records: Sequence[ConversationRecord], live: Mapping[str, bool], has_more: bool
) -> dict[str, Any]:
    data = [session_object(r, live.get(r.id, False)) for r in records]
    return {"object": "list", "data": data, "has_more": has_more}


def deleted(id_: str) -> dict[str, Any]:
    return {"id": id_, "object": "session.deleted", "deleted": True}
