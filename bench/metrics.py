"""Benchmarks: what the Prometheus metrics cost.

* the run observer (:meth:`Metrics.observe`) per settled request, and the process watch per
  CLI process: the per-request overhead the metrics add;
* one scrape of ``/metrics`` (the text exposition) by the number of series it holds: many
  keys and models make many series.

Sans-IO, one process, CPU time (the machine's cores are shared). Results go to their own
section of docs/benchmarks.md. ``python -m bench.metrics`` (well under a minute).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import attrs

from cliwrap.core.events import Usage
from cliwrap.observability.metrics import Metrics
from cliwrap.runtime.admission import Gate
from cliwrap.runtime.runs import RunReport

from .report import DOC, cpu, write_section

REPORT = RunReport(
    request_id="r",
    surface="chat_completions",
    key_name="ci",
    key_id="k",
    client="127.0.0.1",
    model="sonnet",
    provider="claude",
    stream=True,
    accepted_at=1000.0,
    first_output_at=1000.8,
    ended_at=1002.0,
    status=200,
    outcome="finished",
    usage=Usage(input_tokens=1200, output_tokens=300, cache_read_tokens=900, cost_usd=0.01),
)
CALLS = 20_000
REPEAT = 5
SCRAPES = (10, 100, 1000, 5000)
"""Distinct (key, model) pairs observed before the scrape."""


def per_call(function: Callable[[], object], calls: int = CALLS) -> float:
    """Microseconds of CPU per call: the best of :data:`REPEAT` batches of ``calls``."""
    best = float("inf")
    for _ in range(REPEAT):
        started = time.process_time()
        for _ in range(calls):
            function()
        best = min(best, time.process_time() - started)
    return best / calls * 1e6


def filled(pairs: int) -> Metrics:
    """Metrics after requests from ``pairs`` distinct (key, model) pairs."""
    metrics = Metrics(Gate(4, 16), max_models=pairs)
    for i in range(pairs):
        metrics.observe(attrs.evolve(REPORT, key_name=f"key{i % 50}", model=f"model{i}"))
    return metrics


def scrape(metrics: Metrics) -> tuple[float, int, int]:
    """Milliseconds per scrape (median of 5), series and bytes in it."""
    times = []
    for _ in range(REPEAT):
        started = time.process_time()
        body, _ = metrics.exposition()
        times.append(time.process_time() - started)
    series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    return statistics.median(times) * 1000, series, len(body)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.metrics")
    parser.add_argument("--doc", type=Path, default=DOC, help="where the results go")
    args = parser.parse_args()

    metrics = Metrics(Gate(4, 16))
    observe = per_call(lambda: metrics.observe(REPORT))
    watch = per_call(lambda: metrics.process_started("claude")())
    rows = [(pairs, *scrape(filled(pairs))) for pairs in SCRAPES]

    lines = [
        "## Metrics",
        "",
        f"Measured {date.today().isoformat()} with `python -m bench.metrics` (sans-IO, one "
        "process, CPU time).",
        "",
        f"Machine: {cpu()}.",
        "",
        "What `/metrics` adds to each request, and what one scrape costs by the number of "
        "series it holds. Each distinct API key and model adds a series to the request "
        "counter and to each token kind's counter, and the histograms add 15 series per "
        "surface and CLI. Model names are capped (200 by default; the rest count as "
        "`other`), so clients cannot grow a scrape without bound. Each counter also has its "
        "`_created` series, as prometheus-client writes them. The server renders a scrape in a "
        "worker thread, so a large one does not stall the event loop.",
        "",
        "| per request | CPU per call |",
        "|---|---|",
        f"| run observer (a settled request with usage and cost) | {observe:.1f} µs |",
        f"| process watch (a CLI process started and reaped) | {watch:.1f} µs |",
        "",
        "| (key, model) pairs seen | series in the scrape | body | scrape, median |",
        "|---|---|---|---|",
        *(
            f"| {pairs} | {series} | {size / 1024:.0f} KiB | {ms:.2f} ms |"
            for pairs, ms, series, size in rows
        ),
    ]
    text = "\n".join(lines)
    print(text)
    write_section(args.doc, "metrics", text)


if __name__ == "__main__":
    main()
