"""cliwrap's Prometheus metrics: one :class:`Metrics` per service, on a registry of its own.

Three kinds of source feed it, none of which knows about Prometheus:

- :meth:`Metrics.observe`, a :data:`~cliwrap.runtime.runs.RunObserver`: every settled chat
  request (its status, its time to first token and in total, its tokens and cost);
- :meth:`Metrics.process_started`, the runtime's process watch: every CLI process, a
  run's or a conversation's, counted when it starts and when it is reaped;
- the admission gate, read when scraped (runs holding a CLI slot, requests queued for one),
  and :meth:`Metrics.refused`, the rate limiter's refusals.

Label values that come from clients (the model name) are capped, so that a client sending
random model names cannot grow the scrape without bound.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

from ..runtime.admission import Gate
from ..runtime.runs import RunReport

__all__ = ["DURATION_BUCKETS", "FIRST_TOKEN_BUCKETS", "MAX_MODELS", "OTHER_MODEL", "Metrics"]

FIRST_TOKEN_BUCKETS = (0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0, 60.0, 120.0)
"""Seconds. A CLI takes one to several seconds to start and reach its model."""
DURATION_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
"""Seconds. An agent's turn with tools may take many minutes."""
MAX_MODELS = 200
"""Distinct model names kept as label values; later ones are counted as :data:`OTHER_MODEL`."""
OTHER_MODEL = "other"

_TOKEN_KINDS = ("input", "output", "cache_read", "cache_write")


class Metrics:
    """The counters, histograms and gauges of one service, and their text exposition."""

    def __init__(self, gate: Gate | None = None, *, max_models: int = MAX_MODELS) -> None:
        self.registry = CollectorRegistry()
        self._max_models = max_models
        self._models: set[str] = set()
        registry = self.registry
        self._requests = Counter(
            "cliwrap_requests",
            "Chat requests answered, by surface, model, CLI and HTTP status.",
            ["surface", "model", "provider", "status"],
            registry=registry,
        )
        self._first_token = Histogram(
            "cliwrap_time_to_first_token_seconds",
            "From a request's arrival to the first bytes of its answer.",
            ["surface", "provider"],
            buckets=FIRST_TOKEN_BUCKETS,
            registry=registry,
        )
        self._duration = Histogram(
            "cliwrap_request_duration_seconds",
            "From a request's arrival to its end (a stream's last event).",
            ["surface", "provider"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self._started = Counter(
            "cliwrap_cli_processes_started",
            "CLI processes started (runs and conversations' live processes).",
            ["provider"],
            registry=registry,
        )
        self._live = Gauge(
            "cliwrap_cli_processes_live",
            "CLI processes started and not yet reaped.",
            registry=registry,
        )
        running = Gauge("cliwrap_runs_active", "Runs holding a CLI slot.", registry=registry)
        queued = Gauge(
            "cliwrap_queue_depth", "Admitted requests waiting for a CLI slot.", registry=registry
        )
        if gate is not None:
            running.set_function(lambda: gate.running)
            queued.set_function(lambda: gate.waiting)
        self._refusals = Counter(
            "cliwrap_rate_limit_refusals",
            "Requests refused by a rate limit, by endpoint group and scope (address, key).",
            ["group", "scope"],
            registry=registry,
        )
        self._tokens = Counter(
            "cliwrap_tokens",
            "Tokens the CLIs reported, by API key, model and kind "
            "(input, output, cache_read, cache_write).",
            ["key", "model", "kind"],
            registry=registry,
        )
        self._cost = Counter(
            "cliwrap_cost_usd",
            "Cost in US dollars, where the CLI reports one, by API key and model.",
            ["key", "model"],
            registry=registry,
        )

    def observe(self, report: RunReport) -> None:
        """Count a settled chat request (a :data:`~cliwrap.runtime.runs.RunObserver`)."""
        model = self._model(report.model)
        surface, provider = report.surface, report.provider
        self._requests.labels(surface, model, provider, str(report.status)).inc()
        if report.first_output_at is not None:
            waited = max(0.0, report.first_output_at - report.accepted_at)
            self._first_token.labels(surface, provider).observe(waited)
        self._duration.labels(surface, provider).observe(
            max(0.0, report.ended_at - report.accepted_at)
        )
        usage = report.usage
        if usage is None:
            return
        counts = (
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_read_tokens,
            usage.cache_write_tokens,
        )
        for kind, count in zip(_TOKEN_KINDS, counts, strict=True):
            if count > 0:
                self._tokens.labels(report.key_name, model, kind).inc(count)
        if usage.cost_usd:
            self._cost.labels(report.key_name, model).inc(usage.cost_usd)

    def process_started(self, provider: str) -> Callable[[], None]:
        """Count a CLI process of ``provider`` that started; call what is returned once it
        has ended (the runtime's :data:`~cliwrap.runtime.processes.ProcessWatch`)."""
        self._started.labels(provider).inc()
        self._live.inc()
        return self._live.dec

    def refused(self, group: str, scope: str) -> None:
        """Count a request the rate limiter refused (``group``: the endpoint group;
        ``scope``: what the limit applied to, ``address`` or ``key``)."""
        self._refusals.labels(group, scope).inc()

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The scrape's body and content type: Prometheus' text format, or OpenMetrics when
        the scraper's ``Accept`` header asks for it."""
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type

    def _model(self, model: str) -> str:
        if model in self._models:
            return model
        if len(self._models) >= self._max_models:
            return OTHER_MODEL
        self._models.add(model)
        return model
