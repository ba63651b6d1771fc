"""Mapping a CLI's report of a failed model call onto the one error vocabulary.

CLIs report backend failures as an HTTP status (when they kept it), an error type and a
message. Every provider funnels those through :func:`classify`, so a 429 from any CLI is the
same 429 to every client.
"""

from __future__ import annotations

import json
import re

from ..core.errors import ApiError, ErrorKind, sanitize

__all__ = ["classify", "openai_error_fields"]

_BY_STATUS = {
    400: ErrorKind.INVALID_REQUEST,
    401: ErrorKind.AUTHENTICATION,
    403: ErrorKind.PERMISSION,
    404: ErrorKind.MODEL_NOT_FOUND,
    408: ErrorKind.TIMEOUT,
    413: ErrorKind.REQUEST_TOO_LARGE,
    429: ErrorKind.RATE_LIMIT,
    503: ErrorKind.OVERLOADED,
    504: ErrorKind.TIMEOUT,
    529: ErrorKind.OVERLOADED,
}
_BY_TYPE = {
    "authentication_error": ErrorKind.AUTHENTICATION,
    "authentication_failed": ErrorKind.AUTHENTICATION,
    "permission_error": ErrorKind.PERMISSION,
    "not_found_error": ErrorKind.MODEL_NOT_FOUND,
    "rate_limit_error": ErrorKind.RATE_LIMIT,
    "overloaded_error": ErrorKind.OVERLOADED,
    "invalid_request_error": ErrorKind.INVALID_REQUEST,
    "request_too_large": ErrorKind.REQUEST_TOO_LARGE,
}
_CONTEXT = re.compile(
    r"prompt is too long|context (length|window)|too many tokens|maximum context"
    r"|exceeds the maximum number of tokens",
    re.I,
)
_RETRY = re.compile(r"(?:retry|try again)[^0-9]{0,20}(\d+(?:\.\d+)?)\s*(ms|s|sec|seconds?)?", re.I)


def openai_error_fields(body: str) -> tuple[str, str | None, str | None]:
    """Message, type and code of an OpenAI-style error body (the body itself if not one).

    Qwen Code and Codex both talk to OpenAI-compatible APIs and hand such bodies on.
    """
    try:
        parsed = json.loads(body)
    except ValueError:
        return body.strip(), None, None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict):
        return body.strip(), None, None
    kind, code = error.get("type"), error.get("code")
    return (
        str(error.get("message") or body.strip()),
        str(kind) if kind else None,
        str(code) if code else None,
    )


def classify(status: int | None, error_type: str | None, message: str) -> ApiError:
    """The typed error for a failed model call; unknown failures are a 502 with the message."""
    kind = _BY_STATUS.get(status or 0) or _BY_TYPE.get(error_type or "")
    if kind is None:
        kind = ErrorKind.CLI_FAILED
    if kind is ErrorKind.INVALID_REQUEST and _CONTEXT.search(message):
        kind = ErrorKind.CONTEXT_TOO_LONG
    retry_after = None
    if kind in (ErrorKind.RATE_LIMIT, ErrorKind.OVERLOADED):
        match = _RETRY.search(message)
        if match:
            value = float(match.group(1))
            retry_after = value / 1000 if match.group(2) == "ms" else value
    return ApiError(
        kind, sanitize(message) or "the CLI reported a failure", retry_after=retry_after
    )
