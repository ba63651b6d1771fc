"""OpenAI's error responses, as the Chat Completions and Responses stubs both send them.

``{"error": {"message", "type", "param", "code"}}`` with the type and code OpenAI uses for
each status, OpenAI's own wording for the common ones, and ``retry-after`` when a directive
gives one.
"""

from __future__ import annotations

from .http import Response

__all__ = ["openai_error", "openai_failure"]

_ERRORS = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", None),
}
_MESSAGES = {
    401: "Incorrect API key provided: sk-...test. You can find your API key at "
    "https://platform.openai.com/account/api-keys.",
    429: "Rate limit reached for requests.",
    500: "The server had an error while processing your request. Sorry about that!",
    503: "The engine is currently overloaded, please try again later.",
}


def openai_failure(status: int, retry_after: int | None) -> Response:
    """The error a ``[[fail:STATUS retry-after=N]]`` directive asks for."""
    message = _MESSAGES.get(status, f"stub failure ({status})")
    headers: tuple[tuple[str, str], ...] = ()
    if retry_after:
        headers = (("retry-after", str(retry_after)),)
        if status == 429:
            message += f" Please try again in {retry_after}s."
    return openai_error(status, message, headers=headers)


def openai_error(
    status: int,
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> Response:
    kind, default_code = _ERRORS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    error = {"message": message, "type": kind, "param": param, "code": code or default_code}
    return Response.json(status, {"error": error}, headers)
