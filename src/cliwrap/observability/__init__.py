"""What an operator watches: Prometheus metrics and the structured server log.

:mod:`.metrics` keeps cliwrap's counters on a registry of each service's own (never
prometheus-client's global one: one process may build many apps, the tests do);
:mod:`.logs` renders every log record, the access log's included, through structlog as
logfmt or JSON lines, with the request's id wherever a request is known.
"""

from __future__ import annotations

from .logs import bind_request, configure_logging, format_line, formatter
from .metrics import Metrics

__all__ = ["Metrics", "bind_request", "configure_logging", "format_line", "formatter"]
