"""A stub of the OpenAI Chat Completions API (`POST /v1/chat/completions`), streaming and not.

Answers and fails as the real API does, steered by directives in the prompt
(:mod:`cliwrap.testing.directives`). Not written yet.
"""

from __future__ import annotations

from .http import Recorded, Response

__all__ = ["handle_chat_completions"]


def handle_chat_completions(request: Recorded) -> Response:
    return Response.json(501, {"error": {"message": "stub not written yet"}})
