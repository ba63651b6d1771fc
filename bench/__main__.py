"""Benchmarks: what cliwrap adds on top of running the CLI directly, and how fast it reaps.

Runs against the stub model backends on 127.0.0.1 with the pinned CLIs:

* time to first token and total time, running ``claude`` directly (the same argv, env and
  stdin cliwrap builds) vs streaming through cliwrap;
* client disconnect ─► CLI process group gone;
* for every CLI, time to first token, total time and disconnect ─► gone through cliwrap,
  and a WebSocket ``cancel`` frame ─► gone.

Medians and p99 over ``--runs`` runs (default 20) go to their section of docs/benchmarks.md
with the machine described. ``just bench`` runs it; ``python -m bench.linear`` measures what a
long answer and a long line cost.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import trio
from trio_websocket import open_websocket_url

from cliwrap.config import ProviderConfig
from cliwrap.core.request import ChatRequest, Message
from cliwrap.providers.base import find_command
from cliwrap.providers.claude import ClaudeProvider
from cliwrap.testing import (
    LiveServer,
    StubThread,
    config_text,
    eventually,
    group_alive,
    handle_backends,
    provider_tables,
)

from .report import DOC, cpu, write_section

PROMPT = "[[reply:The quick brown fox jumps over the lazy dog, again and again.]] [[chunk:6]]"
MODELS = {
    "claude": "sonnet",
    "gemini": "gemini-2.5-flash",
    "qwen": "qwen3-coder-plus",
    "codex": "gpt-5.5",
}


def spawn_claude(env: dict[str, str], prompt: str, workdir: str) -> subprocess.Popen[bytes]:
    """Start ``claude`` with the argv, environment and stdin cliwrap would give it."""
    claude = find_command("claude")
    assert claude is not None, "run `just clis` first"
    settings = ProviderConfig(command=str(claude), env=env)
    chat = ChatRequest("sonnet", (Message("user", prompt),), stream=True)
    invocation = ClaudeProvider().invocation(chat, "sonnet", Path(workdir), settings, os.environ)
    process = subprocess.Popen(
        invocation.argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=dict(invocation.env),
        cwd=workdir,
        start_new_session=True,
    )
    assert process.stdin is not None
    process.stdin.write(invocation.stdin)
    process.stdin.close()
    return process


def direct(env: dict[str, str]) -> tuple[float, float]:
    """Run ``claude`` directly; seconds to the first text delta and to its exit."""
    with tempfile.TemporaryDirectory() as workdir:
        start = time.perf_counter()
        process = spawn_claude(env, PROMPT, workdir)
        assert process.stdout is not None
        first = 0.0
        for line in process.stdout:
            if not first and b'"text_delta"' in line:
                first = time.perf_counter() - start
        process.wait()
        return first, time.perf_counter() - start


def through(
    server: LiveServer, http: httpx.Client, model: str = "sonnet"
) -> tuple[float, float, float]:
    """Stream through cliwrap: seconds to the first content chunk, to the end, and cliwrap's
    own share of the first (the time to first token less the CLI's own spawn-to-first-delta
    time, which the server logs at debug level)."""
    seen = len(server.log.splitlines())
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": PROMPT}]}
    start = time.perf_counter()
    first = 0.0
    with http.stream("POST", server.base_url + "/chat/completions", json=body) as r:
        for line in r.iter_lines():
            if not first and '"content":"' in line and '"content":""' not in line:
                first = time.perf_counter() - start
    total = time.perf_counter() - start
    logged = {
        match.group(1): float(match.group(2)) / 1000
        for line in server.log.splitlines()[seen:]
        if (match := re.search(r"(started|first output) ([0-9.]+) ms after", line))
    }
    cli_own = logged["first output"] - logged["started"]
    return first, total, first - cli_own


def disconnect_to_reaped(
    server: LiveServer, http: httpx.Client, model: str = "sonnet"
) -> tuple[float, float]:
    """Seconds from closing a stream mid-answer until the CLI's group is gone, and until
    cliwrap signalled the group (from the server's debug log, to the millisecond)."""
    body = {
        "model": model,
        "stream": True,
        "messages": [{"role": "user", "content": "[[hold:30]]"}],
    }
    before = set(server.pgids())
    with http.stream("POST", server.base_url + "/chat/completions", json=body) as r:
        lines = r.iter_lines()
        next(lines)
        while not (new := [g for g in server.pgids() if g not in before]):
            time.sleep(0.002)
        (pgid,) = new
        time.sleep(0.3)  # let the CLI get going
        r.close()
        closed_wall, closed = time.time(), time.perf_counter()
    while group_alive(pgid):
        time.sleep(0.0005)
    gone = time.perf_counter() - closed
    time.sleep(0.05)  # let the log line arrive
    (stamp,) = re.findall(rf"^(\S+ \S+) DEBUG \S+: pid {pgid}: stopping", server.log, re.M)
    signalled = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp() - closed_wall
    return gone, max(signalled, 0.0)


def cancel_to_reaped(server: LiveServer, model: str) -> float:
    """Seconds from a WebSocket ``cancel`` frame until the run's CLI group is gone."""

    async def run() -> float:
        before = set(server.pgids())
        async with open_websocket_url(server.url.replace("http", "ws", 1) + "/v1/ws") as ws:
            body = {"model": model, "messages": [{"role": "user", "content": "[[hold:30]]"}]}
            await ws.send_message(json.dumps({"type": "request", "id": "b", "body": body}))
            await eventually(lambda: set(server.pgids()) - before)
            (pgid,) = set(server.pgids()) - before
            await trio.sleep(0.3)  # let the CLI get going
            start = time.perf_counter()
            await ws.send_message(json.dumps({"type": "cancel", "id": "b"}))
            await eventually(lambda: not group_alive(pgid), 0.0005)
            gone = time.perf_counter() - start
            while json.loads(await ws.get_message())["type"] != "done":
                pass
        return gone

    return trio.run(run)


def sigterm_to_exit(env: dict[str, str]) -> float:
    """The floor under the disconnect figure: Claude Code's own exit after SIGTERM."""
    with tempfile.TemporaryDirectory() as workdir:
        process = spawn_claude(env, "[[hold:30]]", workdir)
        assert process.stdout is not None
        for line in process.stdout:
            if b'"requesting"' in line:
                break
        time.sleep(0.3)
        start = time.perf_counter()
        os.killpg(process.pid, signal.SIGTERM)
        process.wait()
        return time.perf_counter() - start


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"median": statistics.median(ordered), "p99": p99}


def measure(fn: Callable[[], Any], runs: int) -> list[Any]:
    fn()  # warm-up, not counted
    return [fn() for _ in range(runs)]


def machine() -> str:
    claude = subprocess.run(
        [str(find_command("claude")), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return f"{cpu()}, Claude Code {claude}"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=DOC)
    args = parser.parse_args()
    with StubThread(handle_backends) as stub, tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / "home"
        home.mkdir()
        tables = provider_tables(stub.url, home)
        env = tables["providers.claude"]["env"]
        config = Path(folder) / "config.toml"
        # Keepalives every 0.2 s: a held stream's headers come with the first one, so the
        # disconnect benchmark can close it mid-run (streams commit on their first event).
        server_table = {
            "state_dir": f"{folder}/state",
            "log_level": "debug",
            "keepalive_interval": 0.2,
        }
        config.write_text(config_text({"server": server_table, **tables}))
        # One client for all runs, as real clients keep theirs: a new httpx client costs tens
        # of milliseconds (its TLS context) before it sends anything.
        with LiveServer(config, Path(folder) / "state") as server, httpx.Client(timeout=60) as http:
            # Alternate direct and wrapped runs, so drift in the machine's load hits both.
            print(f"direct and through cliwrap × {args.runs} ...", file=sys.stderr)
            pairs = measure(lambda: (direct(env), through(server, http)), args.runs)
            straight = [p[0] for p in pairs]
            wrapped = [p[1] for p in pairs]
            print(f"disconnect × {args.runs} ...", file=sys.stderr)
            reaped = measure(lambda: disconnect_to_reaped(server, http), args.runs)
            print(f"claude's own exit after SIGTERM × {args.runs} ...", file=sys.stderr)
            own_exit = measure(lambda: sigterm_to_exit(env), args.runs)
            per_cli = {}
            for cli, model in MODELS.items():
                print(f"{cli} through cliwrap × {args.runs} ...", file=sys.stderr)
                runs = measure(partial(through, server, http, model), args.runs)
                gone = measure(partial(disconnect_to_reaped, server, http, model), args.runs)
                cancelled = measure(partial(cancel_to_reaped, server, model), args.runs)
                per_cli[cli] = (runs, gone, cancelled)
    rows = {
        "time to first token, claude directly": summary([s[0] for s in straight]),
        "time to first token, through cliwrap": summary([w[0] for w in wrapped]),
        "cliwrap's own share of time to first token": summary([w[2] for w in wrapped]),
        "total time, claude directly": summary([s[1] for s in straight]),
        "total time, through cliwrap": summary([w[1] for w in wrapped]),
        "client disconnect ─► process group gone": summary([r[0] for r in reaped]),
        "client disconnect ─► cliwrap signals the group": summary([r[1] for r in reaped]),
        "for comparison: SIGTERM ─► claude exited (no cliwrap)": summary(own_exit),
    }
    added = rows["cliwrap's own share of time to first token"]["median"]
    difference = (
        rows["time to first token, through cliwrap"]["median"]
        - rows["time to first token, claude directly"]["median"]
    )
    lines = [
        f"Measured {date.today().isoformat()} with `just bench` ({args.runs} runs each after one "
        "warm-up, stub model backends on 127.0.0.1, streaming requests through httpx).",
        "",
        f"Machine: {machine()}.",
        "",
        "| figure | median | p99 |",
        "|---|---|---|",
        *(
            f"| {name} | {v['median'] * 1000:.1f} ms | {v['p99'] * 1000:.1f} ms |"
            for name, v in rows.items()
        ),
        "",
        f"cliwrap adds **{added * 1000:.1f} ms** to the median time to first token "
        "(target: ≤ 10 ms): the HTTP request, the job's set-up (a private working directory, "
        "the ledger entry, the spawn) and the first SSE chunk's way out. The difference of the "
        f"two medians above ({difference * 1000:.1f} ms) measures the same thing less exactly: "
        "it also holds the run-to-run variation of the CLI's own start-up (~0.4 s, mostly "
        "CPU, on a shared 2-core machine). The process group is gone "
        f"**{rows['client disconnect ─► process group gone']['p99'] * 1000:.1f} ms** (p99) after "
        "the client disconnects (target: ≤ 50 ms).",
        "",
        "The disconnect figure is mostly Claude Code's own exit: after SIGTERM it runs its "
        "signal handler, then the kernel tears down a ~370 MB process (even SIGKILL takes "
        "~25 ms here); the last row measures that floor without cliwrap. cliwrap's part is "
        "noticing the disconnect and signalling the group (the row before it, read from the "
        "server's debug log to the millisecond). SIGTERM comes first on purpose: "
        "in those ~45 ms Claude Code removes its per-process files (`~/.claude/sessions/"
        "<pid>.json` and `.key`, its control socket), which SIGKILL (~25 ms) would leave "
        "behind in the user's home on every disconnect (seen with strace).",
        "",
        "## Every CLI through cliwrap",
        "",
        "The same streaming request, disconnect and WebSocket cancel for each CLI (its own "
        "stub API). Most of "
        "each figure is the CLI itself: Node start-up for Claude Code, Gemini CLI and Qwen "
        "Code, a native binary for Codex; cliwrap's own share of the time to first token is "
        "the fourth column. A cancel ends the run the same way a disconnect does.",
        "",
        "| CLI (model) | first token, median | total, median | cliwrap's share, median "
        "| disconnect ─► gone, median / p99 | WebSocket cancel ─► gone, median / p99 |",
        "|---|---|---|---|---|---|",
        *(
            f"| {cli} ({MODELS[cli]}) "
            f"| {statistics.median(r[0] for r in runs) * 1000:.0f} ms "
            f"| {statistics.median(r[1] for r in runs) * 1000:.0f} ms "
            f"| {statistics.median(r[2] for r in runs) * 1000:.1f} ms "
            f"| {summary([g[0] for g in gone])['median'] * 1000:.1f} ms / "
            f"{summary([g[0] for g in gone])['p99'] * 1000:.1f} ms "
            f"| {summary(cancelled)['median'] * 1000:.1f} ms / "
            f"{summary(cancelled)['p99'] * 1000:.1f} ms |"
            for cli, (runs, gone, cancelled) in per_cli.items()
        ),
        "",
    ]
    write_section(args.out, "end-to-end", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
