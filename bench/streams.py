"""Many streams held at once: ``python -m bench.streams [--streams 1000]``.

A live server with a small fake ``claude`` (a shell script: it reads its prompt, waits, then
prints a short stream-json answer) takes N streaming requests sent at once. Most of them
wait in the queue, getting keepalives, while ``max_concurrent`` CLIs run; every one must end
with its answer. Measured: errors, the server's peak memory, ``/health`` while the streams
are open, and the time until the last answer. Loopback only, bounded in count and time.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import trio

from cliwrap.testing import LiveServer, config_text

from .health import Poller
from .report import DOC, cpu, write_section

ANSWER = [
    {"type": "stream_event", "event": {"type": "message_start", "message": {"id": "m"}}},
    {
        "type": "stream_event",
        "event": {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "ok"}},
    },
    {"type": "result", "subtype": "success", "is_error": False, "usage": {"output_tokens": 1}},
]


def fake_claude(pause: float) -> str:
    """A stand-in for `claude -p --output-format stream-json` as a shell script (cheap to
    start a thousand times): it reads its prompt, waits, then prints a short answer."""
    lines = " ".join(shlex.quote(json.dumps(line)) for line in ANSWER)
    version = 'case "$*" in *--version*) echo "2.1.328 (Claude Code)"; exit 0;; esac\n'
    return f"#!/bin/sh\n{version}cat >/dev/null\nsleep {pause}\nprintf '%s\\n' {lines}\n"


PAUSE = 0.5
CONCURRENT = 32
BOUND = 600.0  # seconds: the whole run, so it always stops by itself


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def hold(url: str, streams: int) -> tuple[int, list[str]]:
    """Send ``streams`` streaming requests at once; the answers that came whole, and errors."""
    body = {
        "model": "sonnet",
        "stream": True,
        "messages": [{"role": "user", "content": "hello"}],
    }
    limits = httpx.Limits(max_connections=streams + 10, max_keepalive_connections=0)
    whole = 0
    errors: list[str] = []
    async with httpx.AsyncClient(base_url=url, timeout=BOUND, limits=limits) as http:

        async def one() -> None:
            nonlocal whole
            try:
                async with http.stream("POST", "/v1/chat/completions", json=body) as response:
                    text = "".join([chunk async for chunk in response.aiter_text()])
                if response.status_code == 200 and text.rstrip().endswith("data: [DONE]"):
                    whole += 1
                else:
                    errors.append(f"{response.status_code}: {text[:80]}")
            except httpx.HTTPError as error:
                errors.append(repr(error))

        with trio.move_on_after(BOUND):
            async with trio.open_nursery() as nursery:
                for _ in range(streams):
                    nursery.start_soon(one)
    return whole, errors


def held_streams(streams: int) -> list[str]:
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "fake-claude"
        script.write_text(fake_claude(PAUSE))
        script.chmod(0o755)
        config = Path(folder) / "config.toml"
        tables: dict[str, dict[str, Any]] = {
            "server": {"state_dir": f"{folder}/state", "keepalive_interval": 1.0},
            "limits": {"max_concurrent": CONCURRENT, "max_queue": streams},
            # Hundreds of streams opened at once: measure the server, not its rate limits.
            "rate_limits": {"enabled": False},
            "providers.claude": {"command": str(script)},
            # Only the fake CLI: the real ones' startup probes would load the machine.
            **{f"providers.{name}": {"enabled": False} for name in ("gemini", "qwen", "codex")},
        }
        config.write_text(config_text(tables))
        with LiveServer(config, Path(folder) / "state") as server:
            assert server.process is not None
            idle_rss = peak_rss_mb(server.process.pid)
            poller = Poller(server.url)
            poller.start()
            time.sleep(0.2)
            print(f"{streams} streams ...", file=sys.stderr)
            started = time.perf_counter()
            whole, errors = trio.run(hold, server.base_url.removesuffix("/v1"), streams)
            took = time.perf_counter() - started
            poller.stop.set()
            poller.join()
            peak = peak_rss_mb(server.process.pid)
    latencies = sorted(poller.latencies)
    p99 = latencies[int(len(latencies) * 0.99) - 1] if latencies else float("nan")
    return [
        "## Streams held at once",
        "",
        f"Measured {date.today().isoformat()} with `python -m bench.streams --streams "
        f"{streams}` on a live server, a fake `claude` (a shell script that answers after "
        f"{PAUSE:g} s) as the CLI, `max_concurrent = {CONCURRENT}`, the rest queued with "
        "keepalives every second.",
        "",
        f"Machine: {cpu()}.",
        "",
        "| streams | whole answers | errors | until the last answer | server memory "
        "(idle → peak) | `/health` median | `/health` p99 |",
        "|---|---|---|---|---|---|---|",
        f"| {streams} | {whole} | {len(errors)} | {took:.1f} s | {idle_rss:.0f} → {peak:.0f} MB "
        f"| {statistics.median(latencies) * 1000:.1f} ms | {p99 * 1000:.1f} ms |",
        *(["", f"First errors: {'; '.join(errors[:3])}"] if errors else []),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.streams")
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=DOC)
    args = parser.parse_args()
    text = "\n".join(held_streams(args.streams))
    write_section(args.out, "streams", text)
    print(text)


if __name__ == "__main__":
    main()
