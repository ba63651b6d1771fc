"""The access log and request ids: one structured line per request, an id on every response.

An ASGI wrapper (:class:`AccessLog`) around the Quart app, because only there is a request
seen whole: the status when the response starts, the duration when its last byte (a
stream's ``[DONE]``) is sent or the client goes away. Each request gets a
:class:`RequestRecord` in its ASGI scope; the handler notes the model and the CLI there,
and whoever learns how a run ended notes its outcome, so the line written at the end says
it all. :func:`log_failed_run` puts a failed run's stderr in the server log under the same
request id.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any

import attrs
import trio

from ..core.errors import redact
from ..observability.logs import bind_request, format_line

__all__ = [
    "REQUEST_ID_HEADER",
    "AccessLog",
    "RequestRecord",
    "format_line",
    "log_failed_run",
    "record_of",
    "request_id",
    "sane_id",
]

access_log = logging.getLogger("cliwrap.access")
run_log = logging.getLogger("cliwrap.runs")

REQUEST_ID_HEADER = "x-request-id"
_SCOPE_KEY = "cliwrap.request"
_SANE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[..., Awaitable[None]]


@attrs.define
class RequestRecord:
    """What the access log will say about one request; mutable so each part can add its bit."""

    request_id: str
    method: str
    path: str
    status: int | None = None
    model: str | None = None
    provider: str | None = None
    """The CLI the request was routed to."""
    outcome: str | None = None
    """How it ended (``finished``, ``failed:timeout`` …); unset: judged by the status."""


def record_of(scope: Mapping[str, object]) -> RequestRecord | None:
    """The record of the request whose ASGI scope is ``scope`` (``request.scope`` in Quart)."""
    record = scope.get(_SCOPE_KEY)
    return record if isinstance(record, RequestRecord) else None


def sane_id(token: str) -> bool:
    """Whether ``token`` may serve as a request id as it is (see :func:`request_id`)."""
    return _SANE_ID.fullmatch(token) is not None


def request_id(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The client's ``x-request-id`` if it is a sane token, else a new one.

    Sane: at most 128 letters, digits and ``._:-``, so that it can go into logs and headers
    as it is; anything else is replaced rather than escaped.
    """
    for name, value in headers:
        if name.lower() == REQUEST_ID_HEADER.encode():
            given = value.decode("latin-1")
            if sane_id(given):
                return given
            break
    return uuid.uuid4().hex


@attrs.frozen
class AccessLog:
    """ASGI middleware: a request id on every response, one access-log line per request."""

    app: ASGIApp
    enabled: bool = True

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        record = RequestRecord(
            request_id=request_id(scope.get("headers") or ()),
            method=scope.get("method", "WEBSOCKET"),
            path=scope.get("path", ""),
        )
        scope[_SCOPE_KEY] = record
        header = (REQUEST_ID_HEADER.encode(), record.request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.accept"):
                record.status = message.get("status", 101)
                message = {**message, "headers": [*message.get("headers", ()), header]}
            elif message["type"] == "websocket.close" and record.status is None:
                record.status = 403  # closed before it was accepted
            await send(message)

        started = trio.current_time()
        ended = "error"
        with bind_request(record.request_id):
            try:
                await self.app(scope, receive, send_with_id)
                ended = ""
            except trio.Cancelled:
                ended = "disconnected"  # the client left (quart-trio cancels on disconnect)
                raise
            finally:
                if self.enabled:
                    self._write(record, ended, trio.current_time() - started)

    def _write(self, record: RequestRecord, ended: str, seconds: float) -> None:
        outcome = record.outcome or ended
        if not outcome:
            outcome = "ok" if record.status is not None and record.status < 400 else "error"
        fields = {
            "method": record.method,
            "path": record.path,
            "status": record.status,
            "duration_ms": round(seconds * 1000, 1),
            "request_id": record.request_id,
            "model": record.model,
            "provider": record.provider,
            "outcome": outcome,
        }
        access_log.info("request", extra=fields)


def log_failed_run(request_id: str, error: str, stderr_tail: str) -> None:
    """Log a run that failed, with what its CLI last wrote on stderr, under ``request_id``.

    For operators: the client got a short, sanitised message; the log keeps the CLI's own
    words (paths and addresses included, secrets still redacted), tied to the access line.
    """
    fields = {
        "request_id": request_id,
        "error": error,
        "stderr_tail": redact(stderr_tail).strip(),
    }
    run_log.warning("run failed", extra=fields)
