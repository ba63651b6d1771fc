"""Structured output (JSON mode and JSON Schema), sans I/O.

No CLI has a JSON mode to switch on, so the format goes into the system prompt and the
answer is checked before the client sees it: gathered whole (a half-streamed object that
then fails is worth nothing to a client that parses it), taken out of any code fence or
preamble the model added anyway, parsed, and validated against the schema with
``jsonschema``. A valid answer goes out as the JSON text, streamed or not; anything else is
a clear error naming what was wrong, never broken JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs
import jsonschema

from ..core.errors import ApiError, ErrorKind
from ..core.events import Event, Failed, Finished, FinishReason, TextDelta
from ..core.fields import shown
from ..core.request import ResponseFormat

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
    """A filter on the events: holds the answer back, lets it out only as valid JSON."""

    fmt: ResponseFormat
    _text: list[str] = attrs.field(factory=list)

    def feed(self, event: Event) -> list[Event]:
        if isinstance(event, TextDelta):
            self._text.append(event.text)
            return []
        if not isinstance(event, Finished):
            return [event]
        if event.reason is FinishReason.TOOL_CALLS:
            return [event]  # a tool call, not an answer: nothing to check yet
        text = "".join(self._text)
        try:
            return [TextDelta(self._checked(text)), event]
        except ApiError as error:
            return [Failed(error)]

    def _checked(self, text: str) -> str:
        found = _json_text(text)
        if found is None:
            cut = " (it was cut by the output limit)" if not text.strip().endswith("}") else ""
            raise _bad(f"The model's answer is not valid JSON{cut}: {_preview(text)}")
        value = json.loads(found)
        if self.fmt.kind == "json_object" and not isinstance(value, dict):
            raise _bad(f"The model's answer is JSON but not an object: {_preview(found)}")
        if self.fmt.schema is not None:
            validator = jsonschema.validators.validator_for(self.fmt.schema)(self.fmt.schema)
            error = jsonschema.exceptions.best_match(validator.iter_errors(value))
            if error is not None:
                where = "/".join(str(p) for p in error.absolute_path) or "(the top level)"
                raise _bad(
                    f"The model's answer does not match the schema at {where}: {error.message}"
                )
        return found


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


def _bad(message: str) -> ApiError:
    return ApiError(ErrorKind.BAD_OUTPUT, message)


def _preview(text: str, limit: int = 200) -> str:
    text = text.strip()
    return repr(text if len(text) <= limit else text[:limit] + "…")
