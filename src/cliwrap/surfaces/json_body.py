"""A request body as a JSON value the surface parsers can take, or a 400: sans I/O.

``json.loads`` alone lets through what breaks later, as a 500: nesting deep enough to exhaust
the stack (while decoding, or later in whatever walks the value: a JSON Schema check, a
``repr``), ``NaN`` and ``Infinity`` (not JSON; they cannot be sent back as JSON), a NUL
character (no CLI can take it in an argument or a file name) and an unpaired UTF-16
surrogate such as ``"\\ud800"`` (it cannot be encoded as UTF-8, so it can reach neither a
CLI nor a reply). :func:`decode` refuses each with a 400 that names where it is.
"""

from __future__ import annotations

import json
import re
from typing import Any, NoReturn

from ..core.errors import ApiError, ErrorKind

__all__ = ["MAX_DEPTH", "decode"]

MAX_DEPTH = 64
"""The deepest nesting of arrays and objects taken. Far more than any request needs (a tool's
JSON Schema rarely passes 10), and shallow enough for everything that walks a value."""

_SURROGATE = re.compile("[\ud800-\udfff]")


_Where = tuple[Any, "str | int"] | None
"""A place in the body: (the place it is in, its key or index), cheap to build for every
container and spelled out (:func:`_param`) only for an error."""


def _param(where: _Where) -> str | None:
    parts: list[str] = []
    while where is not None:
        where, key = where
        if isinstance(key, int):
            parts.append(f"[{key}]")
        else:
            key = key if len(key) <= 40 else key[:40] + "…"
            parts.append("." + key.encode("utf-8", "backslashreplace").decode("utf-8"))
    return "".join(reversed(parts)).removeprefix(".") or None


def decode(data: bytes | str) -> Any:
    """The JSON value of ``data``, checked (see the module's docstring); else a 400."""
    try:
        value = json.loads(data, parse_constant=_not_json)
    except RecursionError:
        _too_deep(None)
    except ValueError as exc:  # UnicodeDecodeError included: bytes that are not UTF-8
        raise ApiError(
            ErrorKind.INVALID_REQUEST, f"The request body is not valid JSON: {exc}."
        ) from None
    _check(value)
    return value


def _not_json(constant: str) -> NoReturn:
    raise ValueError(f"{constant} is not a JSON value")


def _check(value: Any) -> None:
    """Walk ``value`` without recursion: bounded depth, and strings (keys too) that are
    valid Unicode without NUL. Only containers go on the stack: a body of a million short
    strings is a million cheap checks."""
    if type(value) is str:
        _check_string(value, None)
    if type(value) is not list and type(value) is not dict:
        return
    stack: list[tuple[Any, int, _Where]] = [(value, 1, None)]
    while stack:
        node, depth, where = stack.pop()
        if depth > MAX_DEPTH:
            _too_deep(where)
        items = node.items() if type(node) is dict else enumerate(node)
        for key, item in items:
            kind = type(item)
            if type(key) is str and not (key.isascii() and "\x00" not in key):
                _check_string(key, (where, key))
            if kind is str:
                if not (item.isascii() and "\x00" not in item):
                    _check_string(item, (where, key))
            elif kind is list or kind is dict:
                stack.append((item, depth + 1, (where, key)))


def _check_string(text: str, where: _Where) -> None:
    if "\x00" in text:
        _refuse(where, "contains a NUL character (\\u0000), which no CLI can take")
    if not text.isascii() and _SURROGATE.search(text):
        _refuse(where, "contains an unpaired UTF-16 surrogate (such as \\ud800): not Unicode text")


def _refuse(where: _Where, problem: str) -> NoReturn:
    param = _param(where)
    place = f"'{param}'" if param else "The request body"
    raise ApiError(ErrorKind.INVALID_REQUEST, f"{place} {problem}.", param=param)


def _too_deep(where: _Where) -> NoReturn:
    param = _param(where)
    raise ApiError(
        ErrorKind.INVALID_REQUEST,
        f"The request body nests arrays and objects more than {MAX_DEPTH} deep"
        + (f" (at '{param}')." if param else "."),
        param=param,
    )
