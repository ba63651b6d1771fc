"""The server's log, rendered by structlog: one logfmt or JSON line per record.

cliwrap's modules log through the standard library (``logging.getLogger(__name__)``), and
so do hypercorn and the other libraries; :func:`configure_logging` puts a structlog
:class:`~structlog.stdlib.ProcessorFormatter` on the root handler, so every record,
whoever wrote it, becomes one line of the same shape: its time, level, logger and event,
then the fields given as ``extra=`` (the access log's) and the context bound with
:func:`bind_request` (the request's id, for everything logged while a request runs).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

__all__ = ["LOG_FORMATS", "bind_request", "configure_logging", "format_line", "formatter"]

LOG_FORMATS = ("logfmt", "json")

_FIRST = ("timestamp", "level", "logger", "event")
"""The keys every line starts with, in this order; the rest follow as they were given."""


def format_line(fields: Mapping[str, Any], log_format: str) -> str:
    """One log line: a JSON object, or logfmt (``key=value``, quoted where needed)."""
    if log_format == "json":
        return json.dumps(fields, ensure_ascii=False, separators=(",", ":"), default=str)
    return " ".join(f"{key}={_logfmt(value)}" for key, value in fields.items())


def _logfmt(value: Any) -> str:
    if value is None:
        return "-"
    text = str(value)
    if text and not re.search(r'[\s"=\\]', text):
        return text
    return json.dumps(text, ensure_ascii=False)


def formatter(log_format: str) -> structlog.stdlib.ProcessorFormatter:
    """A :class:`logging.Formatter` that renders any record as one ``log_format`` line."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log_format must be one of {', '.join(LOG_FORMATS)}: {log_format!r}")

    def render(_: WrappedLogger, __: str, event: EventDict) -> str:
        return format_line(event, log_format)

    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _first_keys_first,
            render,
        ],
    )


def configure_logging(level: str, log_format: str, stream: TextIO | None = None) -> None:
    """Send every log record (the standard library's and structlog's) to ``stream`` (stderr)
    as ``log_format`` lines, at ``level`` and above. For ``cliwrap serve``: it replaces the
    root logger's handlers."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(log_format))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    structlog.configure(
        processors=[*_shared(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


@contextmanager
def bind_request(request_id: str) -> Iterator[None]:
    """Tag what is logged inside the block, and in tasks started from it, with the request's
    id (context variables: a trio task starts with a copy of its parent's)."""
    with structlog.contextvars.bound_contextvars(request_id=request_id):
        yield


def _shared() -> list[Processor]:
    return [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        _drop_formatted,
        structlog.contextvars.merge_contextvars,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _drop_formatted(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """Drop what another handler's formatter left on the record (``message``, ``asctime``:
    names ``extra`` may not use, so never a field of ours)."""
    event.pop("message", None)
    event.pop("asctime", None)
    return event


def _first_keys_first(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    first = {key: event.pop(key) for key in _FIRST if key in event}
    return {**first, **event}
