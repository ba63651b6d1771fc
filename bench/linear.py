"""Benchmarks: a long answer and a long line cost time linear in their length.

Sans-IO, no processes, each old code path against the new one in the same run:

* deltas per second through the Claude Code parser, from 10k to 200k deltas in one answer
  (synthetic ``stream-json`` lines shaped as the CLI prints them);
* framing one 30 MiB stdout line read in 64 KiB chunks into lines: CPU time and bytes
  searched for a newline.

With ``--health``, also ``/health`` under load on a live server (see :mod:`bench.health`).
Results go to their own section of docs/benchmarks.md. ``python -m bench.linear``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from cliwrap.core.events import Event, Finished, TextDelta
from cliwrap.providers.claude import ClaudeParser
from cliwrap.runtime.lines import LineSplitter

from .health import health_under_load
from .report import DOC, cpu, write_section

SIZES = (10_000, 25_000, 50_000, 100_000, 200_000)
LINE = 30 * 1024 * 1024
CHUNK = 65536  # what the job asks a pipe for
REPEAT = 5


class ConcatenatingParser(ClaudeParser):
    """The parser as it was: every text delta also added to one string per message.

    ``self._streamed[id] += text`` on a dict's string copies the text so far each time
    (the string has two references, so CPython cannot grow it in place).
    """

    def __init__(self) -> None:
        super().__init__()
        self._text: dict[str, str] = {}

    def _stream_event(self, event: dict[str, Any]) -> list[Event]:
        events = super()._stream_event(event)
        if event.get("type") == "message_start":
            self._text[self._current or ""] = ""
        for e in events:
            if isinstance(e, TextDelta) and self._current is not None:
                self._text[self._current] += e.text
        return events


def stream_json(deltas: int) -> list[bytes]:
    """One answer of ``deltas`` text deltas, as Claude Code prints it with partial messages."""

    def event(e: dict[str, Any]) -> bytes:
        return json.dumps({"type": "stream_event", "event": e}).encode()

    pieces = [f" word{i % 100}" for i in range(deltas)]
    usage = {"input_tokens": 12, "output_tokens": deltas}
    start = {"id": "msg_1", "type": "message", "role": "assistant", "usage": usage}
    block = {"type": "text", "text": ""}
    return [
        json.dumps({"type": "system", "subtype": "init", "session_id": "s"}).encode(),
        event({"type": "message_start", "message": start}),
        event({"type": "content_block_start", "index": 0, "content_block": block}),
        *(
            event(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": p},
                }
            )
            for p in pieces
        ),
        event({"type": "content_block_stop", "index": 0}),
        # The whole message again, as the CLI repeats it (skipped: its deltas were streamed).
        json.dumps(
            {
                "type": "assistant",
                "message": {**start, "content": [{"type": "text", "text": "".join(pieces)}]},
            }
        ).encode(),
        event({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": usage}),
        event({"type": "message_stop"}),
        json.dumps(
            {"type": "result", "subtype": "success", "is_error": False, "usage": usage}
        ).encode(),
    ]


def parse(parser: ClaudeParser, lines: list[bytes]) -> float:
    """CPU seconds the parser takes over ``lines`` (it must see every delta and the finish).

    CPU time, not wall time: the machine is shared, and another process's turn on the core
    is not the parser's cost.
    """
    last: list[Event] = []
    start = time.process_time()
    for line in lines:
        last = parser.feed(line) or last  # events pass on, as the job emits them
    seconds = time.process_time() - start
    assert isinstance(last[-1], Finished)
    return seconds


def deltas_per_second(sizes: tuple[int, ...]) -> list[tuple[int, float, float]]:
    """(deltas, deltas/s as it was, deltas/s now) for each size: the best of a few runs
    (the machine is shared), one for the old path's slow sizes."""
    rows = []
    parse(ClaudeParser(), stream_json(1000))  # warm-up
    for size in sizes:
        lines = stream_json(size)
        now = size / min(parse(ClaudeParser(), lines) for _ in range(REPEAT))
        print(f"{size} deltas, now: {now:,.0f}/s; as it was ...", file=sys.stderr)
        repeat = REPEAT if size <= 50_000 else 1
        before = size / min(parse(ConcatenatingParser(), lines) for _ in range(repeat))
        rows.append((size, before, now))
    return rows


def split_all_again(chunks: Iterator[bytes], counter: list[int]) -> Iterator[bytes]:
    """The job's framing as it was: the whole pending buffer split for every chunk.

    ``counter[0]`` adds up the bytes each split searched.
    """
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        counter[0] += len(buffer)
        *lines, rest = buffer.split(b"\n")
        buffer = bytearray(rest)
        for line in lines:
            if line.strip():
                yield bytes(line)
    if buffer.strip():
        yield bytes(buffer)


def splitter(chunks: Iterator[bytes], counter: list[int]) -> Iterator[bytes]:
    lines = LineSplitter()
    for chunk in chunks:
        yield from lines.feed(chunk)
    last = lines.finish()
    if last is not None:
        yield last
    counter[0] = lines.scanned


def one_long_line() -> Iterator[bytes]:
    """A 30 MiB JSON line and a short one, in the chunks a pipe gives."""
    head, tail = b'{"type": "user", "pad": "', b'"}'
    line = head + b"x" * (LINE - len(head) - len(tail)) + tail + b"\n{}\n"
    view = memoryview(line)
    for at in range(0, len(line), CHUNK):
        yield bytes(view[at : at + CHUNK])


def framing() -> dict[str, tuple[float, float, int]]:
    """CPU seconds, wall seconds and bytes searched to frame the long line, each way."""
    results = {}
    for name, frame in (("as it was", split_all_again), ("now", splitter)):
        print(f"framing a 30 MiB line, {name} ...", file=sys.stderr)
        counter = [0]
        chunks = list(one_long_line())
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        lines = list(frame(iter(chunks), counter))
        cpu_time = time.process_time() - cpu_start
        wall = time.perf_counter() - wall_start
        assert [len(line) for line in lines] == [LINE, 2]
        results[name] = (cpu_time, wall, counter[0])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.linear")
    parser.add_argument("--out", type=Path, default=DOC)
    parser.add_argument(
        "--health",
        action="store_true",
        help="also measure /health latency on a live server during a 30 MiB body and "
        "a CLI printing a 30 MiB line (starts cliwrap; about a minute)",
    )
    args = parser.parse_args()
    rates = deltas_per_second(SIZES)
    frames = framing()
    old, new = frames["as it was"], frames["now"]
    lines = [
        "## A long answer, a long line",
        "",
        f"Measured {date.today().isoformat()} with `python -m bench.linear` (sans-IO, one "
        "process, each old code path against the new one in the same run).",
        "",
        f"Machine: {cpu()}.",
        "",
        "Deltas per second through the Claude Code parser, by the length of one answer "
        "(synthetic `stream-json` lines as the CLI prints them, `json.loads` included). "
        "The parser added every delta to one string per message, copying the answer so far "
        "each time; it now keeps the deltas in a list, joined only if a fallback message "
        "needs them. The best of 5 runs (of 1 for the old path past 50k deltas), in CPU "
        "time: the machine's 2 cores are shared, and the figures still vary by ~30 % from "
        "run to run; the shape does not.",
        "",
        "| deltas in the answer | as it was, deltas per CPU second | now, deltas per CPU second |",
        "|---|---|---|",
        *(f"| {size:,} | {before:,.0f}/s | {now:,.0f}/s |" for size, before, now in rates),
        "",
        "Framing one 30 MiB stdout line (read in 64 KiB chunks, as the job reads a pipe) "
        "into lines. The job split the whole pending buffer for every chunk, searching the "
        "line's start again 480 times while the event loop waited; "
        "`cliwrap.runtime.lines.LineSplitter` searches each byte once.",
        "",
        "| framing a 30 MiB line | CPU time | bytes searched for a newline |",
        "|---|---|---|",
        f"| as it was (split the buffer per chunk) | {old[0] * 1000:,.0f} ms | "
        f"{old[2] / 2**20:,.0f} MiB |",
        f"| now (`LineSplitter`) | {new[0] * 1000:,.0f} ms | {new[2] / 2**20:,.0f} MiB |",
    ]
    text = "\n".join(lines)
    write_section(args.out, "linear", text)
    print(text)
    if args.health:
        health = "\n".join(health_under_load())
        write_section(args.out, "health", health)
        print(health)


if __name__ == "__main__":
    main()
