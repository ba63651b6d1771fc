"""Structured output (JSON mode and JSON Schema), sans I/O.

No CLI has a JSON mode to switch on, so the format goes into the system prompt and the
answer is read against it as it streams: whatever the model puts before the value (a code
fence, a sentence; the value begins at the start of a line) is held back and dropped, the
value goes out as it is written (partial JSON parsers in the clients show it growing), and
whatever follows it is dropped. At the
end it is parsed and validated against the schema with ``jsonschema``.

An answer that does not validate still goes out as the model wrote it, with the finish
reason saying whether it was cut by the output limit: the clients that ask for structured
output validate it themselves, and their repair loops (instructor's re-ask, pydantic-ai's
output retries) can only run on an answer they see. An error instead would be a 5xx the
SDKs retry with the same prompt. What was wrong goes to the server's log
(:attr:`Finished.note`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs
import jsonschema

from ..core.errors import ApiError, ErrorKind
from ..core.events import Event, Finished, FinishReason, TextDelta
from ..core.fields import shown
from ..core.request import ResponseFormat
from .json_values import ValueEnd, ValueStart

__all__ = ["JsonAnswer", "instruction", "parse_format"]


def parse_format(kind: Any, schema: Any, name: Any, param: str) -> ResponseFormat | None:
    """The format a surface's fields ask for (None for plain text), or a 400 naming ``param``."""
    if kind in (None, "text"):
        return None
    if kind == "json_object":
        return ResponseFormat("json_object")
    if kind != "json_schema":
        raise ApiError(
            ErrorKind.INVALID_REQUEST,
            f"'{param}.type' must be 'text', 'json_object' or 'json_schema' (got {shown(kind)}).",
            param=f"{param}.type",
        )
    checked = _check_schema(schema, f"{param}.schema")
    return ResponseFormat("json_schema", checked, name if isinstance(name, str) else None)


def _check_schema(schema: Any, param: str) -> Mapping[str, Any]:
    """``schema`` if it is a usable JSON Schema, else a 400 naming ``param``."""
    if not isinstance(schema, dict):
        raise ApiError(ErrorKind.INVALID_REQUEST, f"'{param}' must be an object.", param=param)
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except RecursionError:
        raise ApiError(
            ErrorKind.INVALID_REQUEST, f"'{param}' is nested too deeply.", param=param
        ) from None
    except jsonschema.SchemaError as error:
        raise ApiError(
            ErrorKind.INVALID_REQUEST,
            f"'{param}' is not a valid JSON Schema: {error.message}",
            param=param,
        ) from None
    return schema


def instruction(fmt: ResponseFormat) -> str:
    """The system prompt's part that asks for the format."""
    if fmt.kind == "json_object":
        return (
            "# Answer format\n\nAnswer with one JSON object and nothing else: no prose before "
            "or after it, no code fence."
        )
    schema = json.dumps(dict(fmt.schema or {}), ensure_ascii=False)
    return (
        "# Answer format\n\nAnswer with one JSON value that validates against this JSON "
        f"Schema, and nothing else: no prose before or after it, no code fence.\n{schema}"
    )


@attrs.define
class JsonAnswer:
    """A filter on the events: lets out the JSON value of the answer as it is written."""

    fmt: ResponseFormat
    _start: ValueStart = attrs.field(init=False)
    _before: str = ""
    """What came before the value, held back while the value has not begun."""
    _value: list[str] = attrs.field(factory=list)
    _end: ValueEnd | None = None

    def __attrs_post_init__(self) -> None:
        self._start = ValueStart(_openers(self.fmt))

    def feed(self, event: Event) -> list[Event]:
        if isinstance(event, TextDelta):
            return self._text(event.text)
        if not isinstance(event, Finished) or event.reason is FinishReason.TOOL_CALLS:
            return [event]  # a tool call is not an answer: nothing to check
        if self._end is None:  # no object or array began: a scalar, or not JSON at all
            text = self._before
            found = _json_text(text)
            answer = text if found is None else found
            return [*([TextDelta(answer)] if answer else []), self._checked(answer, event)]
        return [self._checked("".join(self._value), event)]

    def _text(self, text: str) -> list[Event]:
        if self._end is None:
            self._before += text
            start = self._start.find(self._before)
            if start is None:
                return []
            text, self._before = self._before[start:], ""
            self._end = ValueEnd()
        taken = self._end.take(text)
        if not taken:
            return []  # after the value: a closing fence or words, not the answer
        self._value.append(text[:taken])
        return [TextDelta(text[:taken])]

    def _checked(self, text: str, finished: Finished) -> Finished:
        """``finished``, with a note for the log if ``text`` is not the answer asked for."""
        problem = self._problem(text)
        if problem is None:
            return finished
        cut = " (cut by the output limit)" if finished.reason is FinishReason.LENGTH else ""
        return attrs.evolve(finished, note=f"The answer went out as written{cut}: {problem}")

    def _problem(self, text: str) -> str | None:
        try:
            value = json.loads(text)
        except ValueError:
            return f"it is not valid JSON: {_preview(text)}"
        if self.fmt.kind == "json_object" and not isinstance(value, dict):
            return f"it is JSON but not an object: {_preview(text)}"
        if self.fmt.schema is not None:
            validator = jsonschema.validators.validator_for(self.fmt.schema)(self.fmt.schema)
            error = jsonschema.exceptions.best_match(validator.iter_errors(value))
            if error is not None:
                where = "/".join(str(p) for p in error.absolute_path) or "(the top level)"
                return f"it does not match the schema at {where}: {error.message}"
        return None


def _openers(fmt: ResponseFormat) -> str:
    """The characters the answer's value may begin with, if it is an object or array."""
    if fmt.kind == "json_object" or fmt.schema is None:
        return "{"
    kinds = fmt.schema.get("type")
    if kinds is None:
        return "{" if "properties" in fmt.schema else "{["
    kinds = [kinds] if isinstance(kinds, str) else kinds
    return ("{" if "object" in kinds else "") + ("[" if "array" in kinds else "")


def _json_text(text: str) -> str | None:
    """The JSON in ``text``: all of it, or the one value inside a fence or a preamble."""
    candidates = [text.strip()]
    if "```" in text:
        inside = text.split("```")[1]
        candidates.append(inside.removeprefix("json").strip())
    for opener, closer in ("{}", "[]"):
        start, end = text.find(opener), text.rfind(closer)
        if 0 <= start < end:
            candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            json.loads(candidate)
        except ValueError:
            continue
        return candidate
    return None


def _preview(text: str, limit: int = 200) -> str:
    text = text.strip()
    return repr(text if len(text) <= limit else text[:limit] + "…")
