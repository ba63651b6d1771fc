"""One stub server for every model API the CLIs call, dispatched by path.

The APIs have disjoint paths, so a single server (one port, one thread) serves every CLI at
once, and one record of requests shows what each CLI sent.
"""

from __future__ import annotations

from .anthropic import handle_messages
from .gemini import handle_gemini
from .http import Handler, Recorded, Response

__all__ = ["handle_backends"]

_ROUTES: tuple[tuple[str, Handler], ...] = (
    ("/v1/messages", handle_messages),
    ("/v1beta/models/", handle_gemini),
)


def handle_backends(request: Recorded) -> Response:
    for prefix, handler in _ROUTES:
        if request.path.startswith(prefix):
            return handler(request)
    return Response.json(404, {"error": {"message": f"no route {request.method} {request.path}"}})
