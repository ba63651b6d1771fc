"""Benchmark: a coding agent's conversation, with and without live CLI sessions.

A stateless client (the history re-sent every turn, as coding agents do) holds a 20-turn
conversation with an agent-sized system prompt through cliwrap, once with sessions off
(every turn a fresh CLI fed the history as one transcript: the figure before conversations
existed) and once with them on, in the same run, against the stub backends on 127.0.0.1
(which answer at once and simulate prompt caching). Per CLI it reports:

* CLI processes started for the conversation;
* median time to first token over turns 2-20 (the stub answers in about a millisecond, so
  this is the time cliwrap and the CLI add);
* the share of input tokens the simulated cache served on turns 2-20;
* a new conversation's first token on a ready (warm) process vs a cold start;
* resident memory of one live process, and of the pool.

``python -m bench.conversations [--turns 20] [--clis claude,codex]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from cliwrap.testing import LiveServer, StubBackends, StubThread, config_text, provider_tables

from .__main__ import MODELS
from .report import DOC, cpu, write_section

SYSTEM = (
    "You are a coding agent. Follow the repository's conventions, keep edits small, explain "
    "nothing unless asked. " * 80
)
"""About 8 kB, the order of a coding agent's system prompt."""


def first_token(
    client: httpx.Client, model: str, messages: list[dict[str, Any]]
) -> tuple[float, str, str]:
    """Seconds to the first content chunk, the whole answer and the conversation id."""
    started = time.perf_counter()
    first = None
    text = []
    body = {"model": model, "messages": messages, "stream": True}
    with client.stream("POST", "/chat/completions", json=body) as response:
        response.raise_for_status()
        session = response.headers.get("x-session-id", "")
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            delta = json.loads(line[6:])["choices"][0]["delta"].get("content")
            if delta:
                first = first or time.perf_counter() - started
                text.append(delta)
    assert first is not None, "no content"
    return first, "".join(text), session


def converse(
    server: LiveServer, backends: StubBackends, model: str, turns: int, tag: str
) -> dict[str, float]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM + tag}]
    times = []
    with httpx.Client(base_url=server.base_url, timeout=120) as client:
        pool_before = client.get("/sessions/stats").json()["processes"]
        before_started = _cold_turns(client)
        cache_before = backends.stats()
        for n in range(turns):
            if n == 1:
                cache_before = backends.stats()
            messages.append({"role": "user", "content": f"Step {n}: edit file_{n}.py. " * 20})
            seconds, answer, _ = first_token(client, model, messages)
            messages.append({"role": "assistant", "content": answer})
            times.append(seconds)
        cache = backends.stats() - cache_before
        started = _cold_turns(client) - before_started
        stats = client.get("/sessions/stats").json()
    pool = stats["processes"]
    added = pool["live"] - pool_before["live"]
    return {
        "processes": started if stats["turns_served"] else turns,
        "median_ms": statistics.median(times[1:]) * 1000,
        "cached_share": cache.cached_share,
        # The processes this conversation added (its own, and a ready one of its shape).
        "rss_mb": (pool["rss_bytes"] - pool_before["rss_bytes"]) / max(added, 1) / 2**20,
        "pool_mb": pool["rss_bytes"] / 2**20,
    }


def _cold_turns(client: httpx.Client) -> int:
    """Turns so far that started a CLI process (the others continued a live one)."""
    stats = client.get("/sessions/stats").json()
    return int(stats["turns_served"]) - int(stats["turns_on_a_live_process"])


def warm_vs_cold(server: LiveServer, model: str, tag: str) -> float:
    """First token of a new conversation on a ready process (the shape was seen before)."""
    with httpx.Client(base_url=server.base_url, timeout=120) as client:
        system = {"role": "system", "content": SYSTEM + tag}
        first_token(client, model, [system, {"role": "user", "content": "prime the shape"}])
        time.sleep(3)  # the ready process starts in the background
        seconds, _, _ = first_token(
            client, model, [system, {"role": "user", "content": "new task"}]
        )
    return seconds


def start(stub: StubThread, folder: Path, **sections: dict[str, Any]) -> LiveServer:
    home = folder / "home"
    home.mkdir(parents=True, exist_ok=True)
    tables: dict[str, dict[str, Any]] = {
        "server": {"state_dir": str(folder / "state"), "access_log": False},
        **provider_tables(stub.url, home),
    }
    for name, table in sections.items():
        tables.setdefault(name, {}).update(table)
    path = folder / "config.toml"
    path.write_text(config_text(tables))
    server = LiveServer(path, folder / "state")
    server.start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--clis", default="claude,codex,gemini,qwen")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    backends = StubBackends()
    rows = []
    with StubThread(backends) as stub, tempfile.TemporaryDirectory() as folder:
        before = start(stub, Path(folder) / "before", sessions={"enabled": False})
        after = start(stub, Path(folder) / "after", warmup={"strategy": "persistent"})
        cold = start(stub, Path(folder) / "cold", warmup={"strategy": "none"})
        try:
            for cli in args.clis.split(","):
                model = MODELS[cli]
                old = converse(before, backends, model, args.turns, f"{cli} before")
                new = converse(after, backends, model, args.turns, f"{cli} after")
                warm = warm_vs_cold(after, model, f"{cli} warm")
                cold_first = warm_vs_cold(cold, model, f"{cli} cold")
                rows.append((cli, old, new, warm, cold_first))
                print(cli, old, new, f"warm {warm:.3f}s cold {cold_first:.3f}s", flush=True)
        finally:
            for server in (before, after, cold):
                server.stop()
    lines = [
        f"A stateless client's {args.turns}-turn conversation (8 kB system prompt, the history "
        "re-sent every turn) through cliwrap, sessions off (before) and on (after), in one run "
        f"on {date.today()}, {cpu()}. Stub backends on 127.0.0.1 with simulated prompt "
        "caching. `python -m bench.conversations --write`.",
        "",
        "| CLI | processes started (before → after) | median first token, turns 2–20 | "
        "input served from cache, turns 2–20 | new conversation's first token: warm / cold | "
        "RSS per live process |",
        "|---|---|---|---|---|---|",
    ]
    for cli, old, new, warm, cold_first in rows:
        lines.append(
            f"| {cli} | {old['processes']:.0f} → {new['processes']:.0f} | "
            f"{old['median_ms']:.0f} ms → {new['median_ms']:.0f} ms | "
            f"{old['cached_share']:.0%} → {new['cached_share']:.0%} | "
            f"{warm * 1000:.0f} ms / {cold_first * 1000:.0f} ms ({warm / cold_first:.2f}×) | "
            f"{new['rss_mb']:.0f} MB |"
        )
    pool = rows[-1][2]["pool_mb"] if rows else 0.0
    lines += [
        "",
        f"The live processes' resident memory together at the end (every CLI's conversation "
        f"and ready processes, one server): {pool:.0f} MB. Goals (the conversations issue): "
        "one process per conversation; at most 50 ms added per turn; at least 90 % of the "
        "input from the cache; a warm first token at most 0.3× a cold one. Gemini CLI's "
        "ACP answers carry no cached count, so its clients see 0 cached tokens although the "
        "backend served them (README, Conversations).",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(DOC, "conversations", "## Conversations\n\n" + text)


if __name__ == "__main__":
    main()
