"""Reading a client's JSON values whatever their type, sans I/O.

A decoded body is ``Any``: where a parser expects a string, a client may send an object, an
array, a number or ``null``. Two things go wrong with such values unless they are read with
care: a lookup in a dict or set hashes its key (an object or array raises ``TypeError``), and
an error message that quotes the value can be as large as the body. These helpers read any
JSON value safely; the parsers use them wherever a value's type is not yet checked.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import TypeVar

__all__ = ["is_one_of", "named", "shown"]

T = TypeVar("T")

_SHOWN_CHARACTERS = 40


def named(table: Mapping[str, T], value: object) -> T | None:
    """``table[value]`` if ``value`` is one of its (string) keys; None for any other value,
    of any JSON type."""
    return table.get(value) if isinstance(value, str) else None


def is_one_of(value: object, names: Collection[str]) -> bool:
    """Whether ``value`` is a string among ``names`` (never hashes a value of another type)."""
    return isinstance(value, str) and value in names


def shown(value: object) -> str:
    """``value`` as an error message may quote it: a short string or scalar as JSON, a long
    string cut, an object or array by its type only."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str) and len(value) > _SHOWN_CHARACTERS:
        value = value[:_SHOWN_CHARACTERS] + "…"
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return type(value).__name__
    # A lone surrogate cannot be encoded as UTF-8: shown escaped, it cannot break the reply.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
