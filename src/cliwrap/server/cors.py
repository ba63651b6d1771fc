"""CORS for browser-based clients (ASGI middleware), off unless ``server.cors_origins`` is set.

A browser calls another origin's API only if the answers say it may: a preflight
``OPTIONS`` (sent before any POST with a JSON body or an ``Authorization`` header) must be
answered with the ``Access-Control-Allow-*`` headers, and every real answer must carry
``Access-Control-Allow-Origin``, error replies included (else the page sees a network error
instead of the 401 or 429 it could act on).

Preflights are answered here, before authentication: a browser never sends credentials
with one. Origins that are not allowed get no CORS headers at all, which is how a browser
is told no. The allowed origin is echoed (never ``*``) with ``Vary: Origin``, so caches keep
answers for different origins apart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

import attrs
from hypercorn.typing import (
    ASGIReceiveCallable,
    ASGISendCallable,
    ASGISendEvent,
    HTTPResponseStartEvent,
    Scope,
)

__all__ = ["ALLOWED_METHODS", "EXPOSED_HEADERS", "MAX_AGE", "Cors"]

App = Callable[[Scope, ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]

ALLOWED_METHODS = "GET, POST, OPTIONS"
EXPOSED_HEADERS = "Retry-After, X-Request-Id"
"""Response headers a page may read: when to retry, and which request the log line is."""
MAX_AGE = "600"
"""Seconds a browser may keep a preflight's answer."""


@attrs.frozen
class Cors:
    """ASGI middleware: see the module's docstring. ``origins`` empty: it does nothing."""

    app: App
    origins: frozenset[str]

    @classmethod
    def wrapping(cls, app: App, origins: Iterable[str]) -> App:
        """``app`` with CORS for ``origins``; ``app`` itself when there are none."""
        allowed = frozenset(origins)
        return cls(app, allowed) if allowed else app

    def allows(self, origin: str) -> bool:
        return "*" in self.origins or origin in self.origins

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope["headers"]}
        origin = headers.get(b"origin", b"").decode("latin-1")
        if not origin or not self.allows(origin):
            await self.app(scope, receive, send)
            return
        allow = [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"vary", b"Origin"),
        ]
        if scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
            asked = headers.get(b"access-control-request-headers")
            preflight = [
                *allow,
                (b"access-control-allow-methods", ALLOWED_METHODS.encode()),
                (b"access-control-allow-headers", asked or b"Authorization, Content-Type"),
                (b"access-control-max-age", MAX_AGE.encode()),
                (b"content-length", b"0"),
            ]
            await send({"type": "http.response.start", "status": 204, "headers": preflight})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        exposed = (b"access-control-expose-headers", EXPOSED_HEADERS.encode())

        async def with_cors(message: ASGISendEvent) -> None:
            if message["type"] == "http.response.start":
                start: HTTPResponseStartEvent = message
                message = {**start, "headers": [*start.get("headers", []), *allow, exposed]}
            await send(message)

        await self.app(scope, receive, with_cors)
