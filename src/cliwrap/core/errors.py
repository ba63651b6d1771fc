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

__all__ = ["ApiError", "ErrorKind", "error_leaves", "redact", "sanitize"]


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
    CLI_LOGGED_OUT = (401, "authentication_error", "cli_not_logged_in", "authentication_error")
    """The CLI on the server has no valid login (its backend refused its credentials)."""
    PERMISSION = (403, "permission_error", "permission_denied", "permission_error")
    NOT_FOUND = (404, "not_found_error", "not_found", "not_found_error")
    MODEL_NOT_FOUND = (404, "invalid_request_error", "model_not_found", "not_found_error")
    METHOD_NOT_ALLOWED = (
        405,
        "invalid_request_error",
        "method_not_allowed",
        "invalid_request_error",
    )
    SUPERSEDED = (
        409,
        "invalid_request_error",
        "conversation_superseded",
        "invalid_request_error",
    )
    CANCELLED = (409, "request_cancelled", "request_cancelled", "request_cancelled")
    """The run was cancelled through ``DELETE /v1/requests/{id}`` (409: not a 499, which no
    SDK knows, nor a 5xx, which SDKs retry)."""
    REQUEST_TOO_LARGE = (413, "invalid_request_error", "request_too_large", "request_too_large")
    CLI_MISCONFIGURED = (424, "api_error", "cli_misconfigured", "api_error")
    """The CLI cannot run as configured (a variable its config names is not set, …): a 4xx,
    so that no SDK retries what only the server's operator can fix."""
    RATE_LIMIT = (429, "rate_limit_error", "rate_limit_exceeded", "rate_limit_error")
    QUEUE_FULL = (429, "rate_limit_error", "queue_full", "rate_limit_error")
    BUDGET_EXCEEDED = (429, "rate_limit_error", "budget_exceeded", "rate_limit_error")
    """The API key has spent its budget (tokens or dollars) for the current period."""
    CONCURRENCY_LIMIT = (
        429,
        "rate_limit_error",
        "concurrency_limit_exceeded",
        "rate_limit_error",
    )
    """An API key has as many runs going as its ``concurrent`` limit allows."""
    QUOTA_EXCEEDED = (429, "rate_limit_error", "quota_exceeded", "rate_limit_error")
    """The CLI's plan or quota is used up until a reset (its ``retry_after``), or a
    ``plan_only`` provider refused to spill into paid usage."""
    CLI_FAILED = (502, "api_error", "cli_failed", "api_error")
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
    "|".join(
        (
            r"sk-[A-Za-z0-9_\-]{8,}",  # OpenAI, Anthropic
            r"AIza[0-9A-Za-z_\-]{20,}",  # Google API keys
            r"ya29\.[0-9A-Za-z_\-.]{10,}",  # Google OAuth access tokens
            r"\b(?:gh[opsu]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})",  # GitHub
            r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",  # AWS access key ids
            r"(?i:\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/\-]{8,}=*",  # Authorization values
            # key = value, key: "value" (aws_secret_access_key, api_key, x-api-key, token…)
            r"(?i:[\w\-]*(?:secret_access_key|api[_-]?key|token|secret|password|passwd)"
            r"[\"']?\s*[:=]\s*)[\"']?[^\s\"',}]{6,}",
        )
    )
)
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s\"'<>()\[\]{}]*[^\s\"'<>()\[\]{}.,;:!?]")
"""Any URL, credentials in it or not (a proxy's ``http://user:pass@host``)."""
_PATH = re.compile(r"(?<![\w.:/~\]])~?(?:/[\w.@+\-]*[\w@+\-]){2,}/?")
"""An absolute path of two or more parts (``/home/me/.claude``, ``~/.gemini/settings.json``)."""
_ADDRESS = re.compile(
    r"(?<![\w.\-])(?:localhost|\[[0-9A-Fa-f:.]+\]|\d{1,3}(?:\.\d{1,3}){3}"
    r"|(?:[A-Za-z0-9\-]+\.)+[A-Za-z]{2,})(?::\d{1,5})\b"
)
"""A host and port (``127.0.0.1:8080``, ``api.example.com:443``, ``[::1]:9000``)."""


def redact(text: str) -> str:
    """``text`` with every credential sanitize knows replaced by ``[redacted]``: for the
    server's own log, which may name paths and addresses but never a secret."""
    return _SECRETS.sub("[redacted]", text)


def sanitize(text: str, limit: int = 600) -> str:
    """Make a CLI's message fit to show a client: no colour codes, no secrets, no server
    paths or backend addresses, bounded length.

    CLIs echo request headers, keys and proxy settings in some failure messages, and name
    the files and the backend they tried; a message we forward must never carry a
    credential nor tell a client where the server keeps its files or which backend it uses.
    Secrets become ``[redacted]``, URLs ``[url]``, paths ``[path]`` and host:port pairs
    ``[address]``, so what is left still reads as the CLI's message.
    """
    text = redact(_ANSI.sub("", text))
    text = _URL.sub("[url]", text)
    text = _PATH.sub("[path]", text)
    text = _ADDRESS.sub("[address]", text)
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
