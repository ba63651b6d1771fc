"""The Prometheus metrics: the run observer, the process watch, the gate's gauges, refusals."""

from __future__ import annotations

from typing import Any

import attrs
from prometheus_client.parser import text_string_to_metric_families

from cliwrap.core.events import Usage
from cliwrap.observability.metrics import OTHER_MODEL, Metrics
from cliwrap.runtime.admission import Gate
from cliwrap.runtime.runs import RunReport

REPORT = RunReport(
    request_id="r1",
    surface="chat_completions",
    key_name="ci",
    key_id="abc",
    client="127.0.0.1",
    model="sonnet",
    provider="claude",
    stream=True,
    accepted_at=1000.0,
    first_output_at=1002.5,
    ended_at=1010.0,
    status=200,
    outcome="finished",
    usage=Usage(input_tokens=100, output_tokens=20, cache_read_tokens=5, cost_usd=0.25),
)


def samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape, parsed as Prometheus parses it: (name, labels) -> value."""
    body, content_type = metrics.exposition()
    assert content_type.startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def value(metrics: Metrics, name: str, **labels: Any) -> float | None:
    return samples(metrics).get((name, frozenset((k, str(v)) for k, v in labels.items())))


def test_a_settled_run_counts_its_request_times_tokens_and_cost() -> None:
    metrics = Metrics()
    metrics.observe(REPORT)
    metrics.observe(attrs.evolve(REPORT, status=429, first_output_at=None, usage=None))
    request = {"surface": "chat_completions", "model": "sonnet", "provider": "claude"}
    assert value(metrics, "cliwrap_requests_total", **request, status=200) == 1
    assert value(metrics, "cliwrap_requests_total", **request, status=429) == 1
    by_cli = {"surface": "chat_completions", "provider": "claude"}
    # Only the run that produced output has a time to first token: 2.5 s, in the 3 s bucket.
    assert value(metrics, "cliwrap_time_to_first_token_seconds_count", **by_cli) == 1
    assert value(metrics, "cliwrap_time_to_first_token_seconds_sum", **by_cli) == 2.5
    assert value(metrics, "cliwrap_time_to_first_token_seconds_bucket", **by_cli, le=2.0) == 0
    assert value(metrics, "cliwrap_time_to_first_token_seconds_bucket", **by_cli, le=3.0) == 1
    assert value(metrics, "cliwrap_request_duration_seconds_count", **by_cli) == 2
    assert value(metrics, "cliwrap_request_duration_seconds_sum", **by_cli) == 20.0
    tokens = {"key": "ci", "model": "sonnet"}
    assert value(metrics, "cliwrap_tokens_total", **tokens, kind="input") == 100
    assert value(metrics, "cliwrap_tokens_total", **tokens, kind="output") == 20
    assert value(metrics, "cliwrap_tokens_total", **tokens, kind="cache_read") == 5
    assert value(metrics, "cliwrap_tokens_total", **tokens, kind="cache_write") is None
    assert value(metrics, "cliwrap_cost_usd_total", **tokens) == 0.25


def test_a_clock_step_backwards_is_no_negative_time() -> None:
    metrics = Metrics()
    metrics.observe(attrs.evolve(REPORT, first_output_at=999.0, ended_at=998.0))
    by_cli = {"surface": "chat_completions", "provider": "claude"}
    assert value(metrics, "cliwrap_time_to_first_token_seconds_sum", **by_cli) == 0
    assert value(metrics, "cliwrap_request_duration_seconds_sum", **by_cli) == 0


def test_model_names_from_clients_are_capped() -> None:
    metrics = Metrics(max_models=2)
    for model in ("a", "b", "c", "d", "a"):
        metrics.observe(attrs.evolve(REPORT, model=model, usage=None))
    found = {
        dict(labels)["model"]: count
        for (name, labels), count in samples(metrics).items()
        if name == "cliwrap_requests_total"
    }
    assert found == {"a": 2, "b": 1, OTHER_MODEL: 2}


def test_processes_are_counted_when_started_and_when_ended() -> None:
    metrics = Metrics()
    ended = [metrics.process_started("claude"), metrics.process_started("codex")]
    ended.append(metrics.process_started("claude"))
    assert value(metrics, "cliwrap_cli_processes_started_total", provider="claude") == 2
    assert value(metrics, "cliwrap_cli_processes_live") == 3
    for end in ended:
        end()
    assert value(metrics, "cliwrap_cli_processes_live") == 0
    assert value(metrics, "cliwrap_cli_processes_started_total", provider="codex") == 1


def test_the_gate_is_read_when_scraped() -> None:
    gate = Gate(max_concurrent=1, max_queue=5)
    metrics = Metrics(gate)
    assert value(metrics, "cliwrap_runs_active") == 0
    assert value(metrics, "cliwrap_queue_depth") == 0
    gate.reserve(3)  # admitted, none holds a slot yet: all three wait
    assert value(metrics, "cliwrap_queue_depth") == 3


def test_refusals_by_group_and_scope() -> None:
    metrics = Metrics()
    metrics.refused("chat", "address")
    metrics.refused("chat", "address")
    metrics.refused("debug", "key")
    assert value(metrics, "cliwrap_rate_limit_refusals_total", group="chat", scope="address") == 2
    assert value(metrics, "cliwrap_rate_limit_refusals_total", group="debug", scope="key") == 1


def test_each_service_has_a_registry_of_its_own() -> None:
    one, two = Metrics(), Metrics()
    one.observe(REPORT)
    assert value(one, "cliwrap_requests_total", **_request_labels()) == 1
    assert value(two, "cliwrap_requests_total", **_request_labels()) is None


def test_openmetrics_when_the_scraper_asks_for_it() -> None:
    metrics = Metrics()
    body, content_type = metrics.exposition("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")


def _request_labels() -> dict[str, Any]:
    return {"surface": "chat_completions", "model": "sonnet", "provider": "claude", "status": 200}
