"""Mapping a CLI's report of a failed model call onto the one error vocabulary.

CLIs report backend failures as an HTTP status (when they kept it), an error type and a
message. Every provider funnels those through :func:`classify`, so a 429 from any CLI is the
same 429 to every client. The backend's own ``Retry-After``, where a tap observed it, is
attached by :func:`with_retry_after`.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import attrs

from ..core.errors import ApiError, ErrorKind, sanitize
from ..core.events import Event, Failed

__all__ = [
    "LoginHint",
    "classify",
    "openai_error_fields",
    "retry_after_seconds",
    "tap_call_error",
    "with_retry_after",
]

_BY_STATUS = {
    400: ErrorKind.INVALID_REQUEST,
    401: ErrorKind.CLI_LOGGED_OUT,
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
    "authentication_error": ErrorKind.CLI_LOGGED_OUT,
    "authentication_failed": ErrorKind.CLI_LOGGED_OUT,
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
_LOGGED_OUT = re.compile(
    r"not logged in|please run /login|invalid api key|api key not valid|invalid x-api-key"
    r"|oauth token (?:has )?expired|invalid bearer token|missing api key|api key is missing"
    r"|authentication required",
    re.I,
)
"""What the CLIs say when they have no valid credentials, without a status to go by."""
_MISSING_VARIABLE = re.compile(r"missing environment variable:?\s*`?([A-Za-z_][A-Za-z0-9_]*)", re.I)
"""Codex, when a model provider's ``env_key`` variable is not set."""
_RETRYABLE = (ErrorKind.RATE_LIMIT, ErrorKind.OVERLOADED)
"""The kinds a client retries, and so the only ones a retry delay is given with."""
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
        missing = _MISSING_VARIABLE.search(message)
        if missing is not None:
            return ApiError(
                ErrorKind.CLI_MISCONFIGURED,
                f"The CLI's configuration reads its key from the environment variable "
                f"{missing.group(1)}, which is not set where cliwrap runs: set it there, or in "
                "the provider's `env` table of cliwrap's config.",
            )
        kind = ErrorKind.CLI_LOGGED_OUT if _LOGGED_OUT.search(message) else ErrorKind.CLI_FAILED
    if kind is ErrorKind.INVALID_REQUEST and _CONTEXT.search(message):
        kind = ErrorKind.CONTEXT_TOO_LONG
    retry_after = None
    if kind in _RETRYABLE:
        match = _RETRY.search(message)
        if match:
            value = float(match.group(1))
            retry_after = value / 1000 if match.group(2) == "ms" else value
    return ApiError(
        kind, sanitize(message) or "the CLI reported a failure", retry_after=retry_after
    )


def retry_after_seconds(
    value: Any, milliseconds: Any = None, *, now: float | None = None
) -> float | None:
    """Seconds to wait, from a ``Retry-After`` header (and a ``retry-after-ms``, preferred).

    ``Retry-After`` is either delay-seconds or an HTTP-date (RFC 9110 §10.2.3); a date is
    turned into the delay from ``now`` (the current time unless given), never below zero.
    Anything else, missing or malformed, is None: the header is advice, not a requirement.
    """
    for number, scale in ((milliseconds, 1000.0), (value, 1.0)):
        try:
            seconds = float(number) / scale
        except (TypeError, ValueError):
            continue
        if math.isfinite(seconds):
            return max(0.0, seconds)
    if not isinstance(value, str):
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP-date is always GMT, whatever its zone says
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def with_retry_after(error: ApiError, seconds: float | None) -> ApiError:
    """``error`` with the backend's own delay, if it has one and the error is worth a retry.

    The backend's header beats a delay read from the message (:func:`classify`): it is what
    the backend asked of every client, and the message may be the CLI's words, not its.
    """
    if seconds is None or error.kind not in _RETRYABLE:
        return error
    return attrs.evolve(error, retry_after=seconds)


def tap_call_error(data: Mapping[str, Any]) -> ApiError:
    """The error for a model call a CLI's tap saw fail (its ``cliwrap_model_call`` line): an
    HTTP error with the backend's body and ``Retry-After``, or a broken connection.

    The body is read as an OpenAI-style ``{"error": {...}}`` (Qwen Code's backends; Google's
    bodies have the same outer shape).
    """
    status = data.get("status") if isinstance(data.get("status"), int) else None
    if data.get("error") and (status is None or status < 400):
        return classify(None, None, f"The connection to the model API failed: {data['error']}")
    assert status is not None
    message, error_type, code = openai_error_fields(str(data.get("body") or ""))
    # The CLI's HTTP client may drop the body of a response it is about to retry.
    error = classify(status, error_type, f"Model API error {status}: {message}".rstrip(": "))
    if error.kind is ErrorKind.INVALID_REQUEST and code == "context_length_exceeded":
        error = attrs.evolve(error, kind=ErrorKind.CONTEXT_TOO_LONG)
    return with_retry_after(error, retry_after_seconds(data.get("retry_after")))


@attrs.define
class LoginHint:
    """A filter on a run's events: a "not logged in" says what to run on the server.

    The parsers know the CLI's backend refused its credentials (``cli_not_logged_in``);
    what to do about it is the provider's to say.
    """

    cli: str
    hint: str

    def feed(self, event: Event) -> list[Event]:
        if isinstance(event, Failed) and event.error.kind is ErrorKind.CLI_LOGGED_OUT:
            message = (
                f"The {self.cli} CLI on the server is not logged in ({event.error.message}): "
                f"{self.hint}."
            )
            return [Failed(attrs.evolve(event.error, message=message))]
        return [event]
