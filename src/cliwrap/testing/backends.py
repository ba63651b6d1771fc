"""One stub server for every model API the CLIs call, dispatched by path.

The APIs have disjoint paths, so a single server (one port, one thread) serves every CLI at
once, and one record of requests shows what each CLI sent.
"""

from __future__ import annotations

from .anthropic import handle_messages
from .gemini import handle_gemini
from .http import Handler, Recorded, Response
from .openai_chat import handle_chat_completions
from .openai_responses import handle_responses

__all__ = ["handle_backends"]

_ROUTES: tuple[tuple[str, Handler], ...] = (
    ("/v1/messages", handle_messages),
    ("/v1beta/models/", handle_gemini),
    ("/v1/chat/completions", handle_chat_completions),
    ("/v1/responses", handle_responses),
)


def handle_backends(request: Recorded) -> Response:
    for prefix, handler in _ROUTES:
        if request.path.startswith(prefix):
            return handler(request)
    return Response.json(404, {"error": {"message": f"no route {request.method} {request.path}"}})
