"""The per-request nursery, with a stand-in CLI (tests/fake_cli.py) and real processes."""

from __future__ import annotations

import sys
from pathlib import Path

import trio

from cliwrap.config import Deadlines
from cliwrap.core.errors import ApiError, ErrorKind
from cliwrap.core.events import Event, Failed, Finished, TextDelta
from cliwrap.providers import Invocation
from cliwrap.runtime.admission import Gate
from cliwrap.runtime.job import JobPlan, Runtime, open_job
from cliwrap.runtime.ledger import Ledger
from cliwrap.testing import group_alive

FAKE = str(Path(__file__).with_name("fake_cli.py"))


class FakeParser:
    """``text`` lines are answer text; ``done`` finishes; the rest is noise."""

    def feed(self, line: bytes) -> list[Event]:
        text = line.decode()
        if text == "done":
            return [Finished()]
        if text.startswith("noise"):
            return []
        return [TextDelta(text)]

    def finish(self, returncode: int, stderr_tail: str) -> list[Event]:
        return [Failed(ApiError(ErrorKind.CLI_FAILED, f"exit {returncode}"))]


def runtime(tmp_path: Path, **deadlines: float) -> Runtime:
    return Runtime(
        gate=Gate(max_concurrent=1, max_queue=0),
        ledger=Ledger(tmp_path / "ledger"),
        deadlines=Deadlines(
            **{"first_output": 5, "idle": 5, "total": 10, "kill_grace": 0.5, **deadlines}
        ),
        keepalive_interval=60,
        shutdown_grace=0,
    )


def plan(*steps: str, progress: bool = False) -> JobPlan:
    def build(workdir: Path) -> Invocation:
        return Invocation(
            argv=(sys.executable, FAKE, *steps),
            env={"PATH": "/usr/bin:/bin"},
            stdin=b"the prompt",
            files={"note.txt": "hi"},
        )

    return JobPlan(build=build, parser=FakeParser(), progress=progress)


async def collect(rt: Runtime, job: JobPlan) -> list[Event]:
    """The run's updates, then its outcome."""
    async with open_job(rt, job) as run:
        updates = [update async for update in run.updates]
    return [*updates, run.outcome]


async def test_events_flow_and_the_channel_closes_after_the_cli_is_reaped(tmp_path: Path) -> None:
    rt = runtime(tmp_path)
    events = await collect(rt, plan("stdin", "say:hello", "noise", "say:done"))
    assert events == [TextDelta("stdin:the prompt"), TextDelta("hello"), Finished()]
    assert list(rt.ledger.folder.iterdir()) == []
    assert rt.gate.running == 0


async def test_exit_without_an_outcome_is_the_parser_s_failure(tmp_path: Path) -> None:
    (failed,) = await collect(runtime(tmp_path), plan("exit:3"))
    assert isinstance(failed, Failed)
    assert (failed.error.kind, failed.error.message) == (ErrorKind.CLI_FAILED, "exit 3")


async def test_leaving_early_kills_the_whole_group_children_included(tmp_path: Path) -> None:
    rt = runtime(tmp_path)
    async with open_job(rt, plan("child", "say:ready", "sleep:30")) as run:
        async for event in run.updates:
            if event == TextDelta("ready"):
                (pgid,) = [int(p.name) for p in rt.ledger.folder.iterdir() if p.name.isdigit()]
                assert group_alive(pgid)
                break
    assert not group_alive(pgid)
    assert list(rt.ledger.folder.iterdir()) == []


async def test_a_cli_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    rt = runtime(tmp_path, kill_grace=0.3)
    with trio.fail_after(5):
        async with open_job(rt, plan("ignore-term", "say:ready", "sleep:30")) as run:
            async for event in run.updates:
                if event == TextDelta("ready"):
                    (pgid,) = [int(p.name) for p in rt.ledger.folder.iterdir() if p.name.isdigit()]
                    start = trio.current_time()
                    break
    assert not group_alive(pgid)
    assert trio.current_time() - start >= 0.3


async def test_a_cli_that_cannot_start_is_a_cli_failure(tmp_path: Path) -> None:
    not_executable = tmp_path / "claude"
    not_executable.write_text("#!/bin/sh\n")
    job = JobPlan(
        build=lambda workdir: Invocation((str(not_executable),), {}, b""), parser=FakeParser()
    )
    (failed,) = await collect(runtime(tmp_path), job)
    assert isinstance(failed, Failed)
    assert failed.error.kind is ErrorKind.CLI_FAILED
    assert "Could not start" in failed.error.message


class EchoDialogue(FakeParser):
    """Answers every ``echo:`` line with the next question; says ``None`` (close) after three."""

    def __init__(self) -> None:
        self.asked = 1
        self._reply = b""

    def feed(self, line: bytes) -> list[Event]:
        if line.startswith(b"echo:") and self.asked < 3:
            self.asked += 1
            self._reply = f"question {self.asked}\n".encode()
        elif line.startswith(b"echo:"):
            self._reply = b""
            self.asked += 1
        if line == b"closed":
            return [Finished()]
        return [TextDelta(line.decode())]

    def to_send(self) -> bytes | None:
        if self.asked > 3:
            return None
        reply, self._reply = self._reply, b""
        return reply


async def test_a_dialogue_parser_talks_to_the_cli_until_it_closes_stdin(tmp_path: Path) -> None:
    def build(workdir: Path) -> Invocation:
        return Invocation(
            argv=(sys.executable, FAKE, "echo"),
            env={"PATH": "/usr/bin:/bin"},
            stdin=b"question 1\n",
            dialogue=True,
        )

    events = await collect(runtime(tmp_path), JobPlan(build=build, parser=EchoDialogue()))
    assert events == [
        TextDelta("echo:question 1"),
        TextDelta("echo:question 2"),
        TextDelta("echo:question 3"),
        Finished(),  # "closed": stdin was closed when the parser said so, and the CLI ended
    ]
