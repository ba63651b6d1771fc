"""Benchmark: does a big request or a big line block the event loop? (``--health``)

A live server (started as in :mod:`bench.__main__`) is asked for ``/health`` every few
milliseconds from a thread while, in turn:

* a client sends a 30 MiB request body (parsed, rendered into a prompt, written to the CLI);
* the CLI prints one 30 MiB line before a short answer (a fake ``claude``: a small Python
  script set as ``[providers.claude] command``).

The slowest ``/health`` answer during each is how long the server stopped serving others.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from cliwrap.testing import LiveServer, config_text

from .report import DOC, cpu, write_section

LINE = 30 * 1024 * 1024
INTERVAL = 0.005

FAKE_CLAUDE = """\
#!{python}
# A stand-in for `claude -p --output-format stream-json`: one {size}-byte line of noise,
# then a short answer.
import json, sys

if "--version" in sys.argv:  # the inventory's probe
    print("2.1.328 (Claude Code)")
    sys.exit(0)
sys.stdin.buffer.read()
out = sys.stdout.buffer
head, tail = b'{{"type": "user", "pad": "', b'"}}\\n'
out.write(head + b"x" * ({size} - len(head) - len(tail) + 1) + tail)
for line in [
    {{"type": "stream_event", "event": {{"type": "message_start",
        "message": {{"id": "m", "usage": {{"input_tokens": 1}}}}}}}},
    {{"type": "stream_event", "event": {{"type": "content_block_delta",
        "delta": {{"type": "text_delta", "text": "ok"}}}}}},
    {{"type": "result", "subtype": "success", "is_error": False,
        "usage": {{"input_tokens": 1, "output_tokens": 1}}}},
]:
    out.write(json.dumps(line).encode() + b"\\n")
out.flush()
"""


class Poller(threading.Thread):
    """Asks for ``/health`` every :data:`INTERVAL` seconds; keeps each answer's latency."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.latencies: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=120) as http:
            http.get(self.url + "/health").raise_for_status()  # connected, not counted
            while not self.stop.is_set():
                start = time.perf_counter()
                http.get(self.url + "/health").raise_for_status()
                self.latencies.append(time.perf_counter() - start)
                time.sleep(INTERVAL)


def during(server: LiveServer, load: Callable[[], None]) -> tuple[list[float], float]:
    """``/health`` latencies while ``load`` runs, and the seconds ``load`` took."""
    poller = Poller(server.url)
    poller.start()
    time.sleep(0.2)  # a few answers before the load starts
    start = time.perf_counter()
    load()
    took = time.perf_counter() - start
    time.sleep(0.2)
    poller.stop.set()
    poller.join()
    return poller.latencies, took


def chat(server: LiveServer, content: str) -> Callable[[], None]:
    def load() -> None:
        body = {"model": "sonnet", "messages": [{"role": "user", "content": content}]}
        with httpx.Client(timeout=300) as http:
            response = http.post(server.base_url + "/chat/completions", json=body)
        response.raise_for_status()
        assert response.json()["choices"][0]["message"]["content"] == "ok"

    return load


def p99(values: list[float]) -> float:
    """The 99th percentile: the slowest but for one answer in a hundred."""
    return (
        statistics.quantiles(values, n=100, method="inclusive")[98]
        if len(values) > 1
        else values[0]
    )


def health_under_load() -> list[str]:
    """Markdown lines: ``/health`` latency, idle and under each load."""
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "fake-claude"
        script.write_text(FAKE_CLAUDE.format(python=sys.executable, size=LINE))
        script.chmod(0o755)
        config = Path(folder) / "config.toml"
        tables: dict[str, dict[str, Any]] = {
            "server": {"state_dir": f"{folder}/state"},
            "providers.claude": {"command": str(script)},
            # Only the fake CLI: the real ones' startup probes would load the machine.
            **{f"providers.{name}": {"enabled": False} for name in ("gemini", "qwen", "codex")},
            # A 30 MiB message is far beyond the default input limit (a 400); measure it.
            "limits": {"max_input_chars": 2 * LINE, "max_body_bytes": 2 * LINE},
            # It polls /health 200 times a second: measure the server, not its limits.
            "rate_limits": {"enabled": False},
        }
        config.write_text(config_text(tables))
        with LiveServer(config, Path(folder) / "state") as server:
            print("/health idle ...", file=sys.stderr)
            idle, _ = during(server, lambda: time.sleep(1))
            print("/health during a 30 MiB request body ...", file=sys.stderr)
            body = during(server, chat(server, "y" * (LINE - 200)))
            print("/health while the CLI prints a 30 MiB line ...", file=sys.stderr)
            line = during(server, chat(server, "hello"))
    rows = {
        "idle": (idle, ""),
        "during a 30 MiB request body": (body[0], f"{body[1]:.1f} s"),
        "while the CLI prints a 30 MiB line": (line[0], f"{line[1]:.1f} s"),
    }
    return [
        "## `/health` under load",
        "",
        f"Measured {date.today().isoformat()} with `python -m bench.health` (or "
        "`python -m bench.linear --health`) on a live server, a fake `claude` as the CLI.",
        "",
        f"Machine: {cpu()}.",
        "",
        "`/health` answer time, asked every 5 ms from another thread: the slow answers are "
        "how long the event loop served no one else. The slowest single answer also holds "
        "this shared two-core machine's own hiccups (see the idle row), so p99 is the figure "
        "to compare. The last column is the request's own time, from sending it to the whole "
        "answer.",
        "",
        "| `/health` | answers | median | p99 | slowest | the request |",
        "|---|---|---|---|---|---|",
        *(
            f"| {name} | {len(v)} | {statistics.median(v) * 1000:.1f} ms "
            f"| {p99(v) * 1000:.0f} ms | {max(v) * 1000:,.0f} ms | {took} |"
            for name, (v, took) in rows.items()
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.health")
    parser.add_argument("--out", type=Path, default=DOC)
    text = "\n".join(health_under_load())
    write_section(parser.parse_args().out, "health", text)
    print(text)


if __name__ == "__main__":
    main()
