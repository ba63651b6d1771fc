"""The server's JSON decoder process: owned like a CLI, answers in order, falls back cleanly."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import attrs
import trio

from cliwrap.core.errors import ErrorKind
from cliwrap.core.events import Event, Finished, TextDelta
from cliwrap.providers import Invocation
from cliwrap.providers.base import DecodedLine, line_json
from cliwrap.runtime.backend import PosixBackend
from cliwrap.runtime.decoder import Decoders
from cliwrap.runtime.job import JobPlan, open_job
from cliwrap.runtime.ledger import Ledger
from cliwrap.testing import group_alive

from .test_job import FAKE
from .test_job import runtime as job_runtime

HANG_GUARD = 60  # seconds; only so that a regression fails instead of hanging the suite


def workers(ledger: Ledger) -> list[int]:
    folder = ledger.folder
    return [int(p.name) for p in folder.iterdir() if p.name.isdigit()] if folder.exists() else []


async def test_the_worker_decodes_in_its_own_group_and_ends_with_its_owner(
    tmp_path: Path,
) -> None:
    ledger = Ledger(tmp_path / "workers")
    decoders = Decoders(PosixBackend(), ledger, kill_grace=2)
    with trio.fail_after(HANG_GUARD):
        async with trio.open_nursery() as nursery:
            await nursery.start(decoders.run)
            assert workers(ledger) == []  # nothing starts before it is needed
            assert await decoders.reply("line", b'{"a": [1, 2]}') == ("ok", {"a": [1, 2]})
            assert await decoders.reply("line", b"not json") == ("not-json",)
            refused = await decoders.reply("body", b'{"model": "m\\u0000"}')
            assert refused is not None
            assert refused[:2] == ("error", ErrorKind.INVALID_REQUEST.name)
            (pgid,) = workers(ledger)
            assert group_alive(pgid)
            nursery.cancel_scope.cancel()
    assert not group_alive(pgid)
    assert workers(ledger) == []


async def test_without_a_running_owner_there_is_no_decoder(tmp_path: Path) -> None:
    decoders = Decoders(PosixBackend(), Ledger(tmp_path / "workers"), kill_grace=2)
    assert await decoders.reply("line", b"{}") is None


async def test_a_worker_that_died_means_falling_back(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "workers")
    decoders = Decoders(PosixBackend(), ledger, kill_grace=2)
    with trio.fail_after(HANG_GUARD):
        async with trio.open_nursery() as nursery:
            await nursery.start(decoders.run)
            assert await decoders.reply("line", b"[]") == ("ok", [])
            (pgid,) = workers(ledger)
            os.killpg(pgid, signal.SIGKILL)  # from outside: the OOM killer, say
            assert await decoders.reply("line", b"[]") is None  # decode in a thread instead
            assert await decoders.reply("line", b"[]") is None
            nursery.cancel_scope.cancel()
    assert workers(ledger) == []


class DecodedParser:
    """Says, for each JSON line, whether the job handed it over decoded already."""

    def feed(self, line: bytes) -> list[Event]:
        if line == b"done":
            return [Finished()]
        return [TextDelta(f"{isinstance(line, DecodedLine)} {len(line_json(line)['pad'])}")]

    def finish(self, returncode: int, stderr_tail: str) -> list[Event]:
        return []


async def test_a_huge_cli_line_reaches_the_parser_decoded(tmp_path: Path) -> None:
    size = 2 * 1024 * 1024

    def build(workdir: Path) -> Invocation:
        steps = (f"big:{size}", "big:10", "say:done")
        return Invocation((sys.executable, FAKE, *steps), {"PATH": "/usr/bin:/bin"}, b"")

    decoders = Decoders(PosixBackend(), Ledger(tmp_path / "workers"), kill_grace=2)
    runtime = attrs.evolve(job_runtime(tmp_path), decoders=decoders)
    with trio.fail_after(HANG_GUARD):
        async with trio.open_nursery() as nursery:
            await nursery.start(decoders.run)
            async with open_job(runtime, JobPlan(build=build, parser=DecodedParser())) as run:
                texts = [u.text async for u in run.updates if isinstance(u, TextDelta)]
            nursery.cancel_scope.cancel()
    assert texts == [f"True {size}", "False 10"]
    assert run.outcome == Finished()
