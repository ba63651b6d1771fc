"""A stub of the Gemini API: ``POST /v1beta/models/<model>:streamGenerateContent?alt=sse``.

Answers and fails as the real API does, steered by directives in the prompt
(:mod:`cliwrap.testing.directives`). Not written yet.
"""

from __future__ import annotations

from .http import Recorded, Response

__all__ = ["handle_gemini"]


def handle_gemini(request: Recorded) -> Response:
    return Response.json(501, {"error": {"message": "stub not written yet"}})
