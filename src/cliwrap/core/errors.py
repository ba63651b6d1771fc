"""One error vocabulary for every CLI and every surface.

Providers classify what went wrong into an :class:`ErrorKind`; each surface renders the same
:class:`ApiError` in its own wire shape. The status and type live here, once, so that a rate
limit looks the same whether Claude Code or Gemini CLI hit it, and whether the client speaks
OpenAI or Anthropic.
"""

from __future__ import annotations

import enum
import re
import sys

import attrs

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["ApiError", "ErrorKind", "error_leaves", "sanitize"]


class ErrorKind(enum.Enum):
    """What went wrong, with the HTTP status, OpenAI type and code, and Anthropic type."""

    INVALID_REQUEST = (400, "invalid_request_error", None, "invalid_request_error")
    CONTEXT_TOO_LONG = (
        400,
        "invalid_request_error",
        "context_length_exceeded",
        "invalid_request_error",
    )
    AUTHENTICATION = (401, "authentication_error", "invalid_api_key", "authentication_error")
    PERMISSION = (403, "permission_error", "permission_denied", "permission_error")
    NOT_FOUND = (404, "not_found_error", "not_found", "not_found_error")
    MODEL_NOT_FOUND = (404, "invalid_request_error", "model_not_found", "not_found_error")
    METHOD_NOT_ALLOWED = (
        405,
        "invalid_request_error",
        "method_not_allowed",
        "invalid_request_error",
    )
    REQUEST_TOO_LARGE = (413, "invalid_request_error", "request_too_large", "request_too_large")
    RATE_LIMIT = (429, "rate_limit_error", "rate_limit_exceeded", "rate_limit_error")
    QUEUE_FULL = (429, "rate_limit_error", "queue_full", "rate_limit_error")
    CLI_FAILED = (502, "api_error", "cli_failed", "api_error")
    BAD_OUTPUT = (502, "api_error", "invalid_model_output", "api_error")
    """The model's answer is not in the format the request asked for (JSON, a schema)."""
    OVERLOADED = (503, "overloaded_error", "overloaded", "overloaded_error")
    CLI_MISSING = (503, "service_unavailable", "cli_not_installed", "api_error")
    SHUTTING_DOWN = (503, "service_unavailable", "server_shutting_down", "overloaded_error")
    TIMEOUT = (504, "timeout_error", "deadline_exceeded", "timeout_error")
    INTERNAL = (500, "server_error", "internal_error", "api_error")

    def __init__(
        self, status: int, openai_type: str, openai_code: str | None, anthropic_type: str
    ) -> None:
        self.status = status
        self.openai_type = openai_type
        self.openai_code = openai_code
        self.anthropic_type = anthropic_type


@attrs.frozen(auto_exc=True)
class ApiError(Exception):
    """A failure the client should see, in whatever shape its surface uses."""

    kind: ErrorKind
    message: str
    param: str | None = None
    retry_after: float | None = None

    @property
    def status(self) -> int:
        return self.kind.status

    def __str__(self) -> str:
        return self.message


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_SECRETS = re.compile(
    r"(sk-[A-Za-z0-9_\-]{8,}|AIza[0-9A-Za-z_\-]{20,}|(?i:bearer)\s+[A-Za-z0-9._\-]{8,}"
    r"|(?i:(?:api[_-]?key|token|secret|password)[\"']?\s*[:=]\s*)[\"']?[^\s\"',}]{6,})"
)


def sanitize(text: str, limit: int = 600) -> str:
    """Make a CLI's message fit to show a client: no colour codes, no secrets, bounded length.

    CLIs echo request headers and keys in some failure messages; a message we forward must
    never carry one.
    """
    text = _ANSI.sub("", text)
    text = _SECRETS.sub("[redacted]", text)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def error_leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    """The exceptions in ``group`` and the groups inside it, flat: a nursery's failures, for
    handlers that should see one error, as trio-websocket does it."""
    leaves: list[BaseException] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            leaves.extend(error_leaves(exc))
        else:
            leaves.append(exc)
    return leaves
