"""The per-request nursery on the fake process backend, on trio's MockClock.

Each test drives one phase of a run (output, silence, a slow reader, a CLI that will not
stop) and checks the one outcome and that nothing is left running.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from cliwrap.core.errors import ApiError, ErrorKind
from cliwrap.core.events import Event, Failed, Finished, Keepalive, Progress, TextDelta
from cliwrap.providers.base import WORK_DIR, Invocation
from cliwrap.runtime.job import JobPlan, Runtime, open_job
from cliwrap.runtime.ledger import Ledger
from cliwrap.runtime.processes import KILL_WAIT
from cliwrap.semantics.stops import StopSequences
from cliwrap.testing.fake_processes import FakeCli, open_fake_backend

from .helpers import ledger_empty, make_plan, make_runtime


async def collect(runtime: Runtime, plan: JobPlan) -> list[Event]:
    """The run's updates, then its outcome (read after the updates ended)."""
    async with open_job(runtime, plan) as run:
        updates = [update async for update in run.updates]
    return [*updates, run.outcome]


async def answer(cli: FakeCli) -> int:
    """A CLI that reads its prompt, answers in two pieces and exits cleanly."""
    prompt = await cli.read_stdin()
    await cli.print("say:" + prompt.decode())
    await cli.print("say:!")
    await cli.print("done")
    return 0


async def ready_then_silent(cli: FakeCli) -> int:
    """A CLI that says it is ready, then waits for ever (for the model, say)."""
    await cli.print("say:ready")
    await trio.sleep_forever()


async def test_the_outcome_comes_after_the_process_is_reaped(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_fake_backend(answer) as backend:
        runtime = make_runtime(tmp_path, backend)
        async with open_job(runtime, make_plan()) as run:
            updates = [update async for update in run.updates]
            # The channel ended: the run's process is gone and its outcome is known.
            assert backend.live == []
            assert run.outcome == Finished()
        assert updates == [TextDelta("the prompt"), TextDelta("!")]
        assert ledger_empty(runtime)
        assert runtime.gate.running == runtime.gate.waiting == 0


async def test_a_cli_that_exits_without_an_outcome_fails_with_its_stderr(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async def crash(cli: FakeCli) -> int:
        await cli.eprint("segfault in the model client")
        return 3

    async with open_fake_backend(crash) as backend:
        (failed,) = await collect(make_runtime(tmp_path, backend), make_plan())
    assert isinstance(failed, Failed)
    assert failed.error.message == "exit 3: segfault in the model client\n"


@pytest.mark.parametrize(
    ("first", "which", "limit"), [(False, "first output", 30), (True, "idle", 10)]
)
async def test_first_output_and_idle_deadlines(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, first: bool, which: str, limit: float
) -> None:
    async def stalls(cli: FakeCli) -> int:
        if first:
            await cli.print("say:a")
        await trio.sleep_forever()

    async with open_fake_backend(stalls) as backend:
        runtime = make_runtime(tmp_path, backend, first_output=30, idle=10)
        started = trio.current_time()
        events = await collect(runtime, make_plan())
        failed = events[-1]
        assert isinstance(failed, Failed)
        assert failed.error.kind is ErrorKind.TIMEOUT
        assert f"{limit} s {which} deadline" in failed.error.message
        # The deadline, then SIGTERM ends the fake at once.
        assert trio.current_time() - started == pytest.approx(limit)
        assert backend.started[0].signals[0] == signal.SIGTERM
        assert backend.live == []


async def test_the_total_deadline_bounds_everything(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async def drips(cli: FakeCli) -> int:
        while True:  # never silent long enough for the idle deadline
            await cli.print("say:.")
            await trio.sleep(5)

    async with open_fake_backend(drips) as backend:
        runtime = make_runtime(tmp_path, backend, idle=10, total=100)
        started = trio.current_time()
        events = await collect(runtime, make_plan())
    assert isinstance(events[-1], Failed)
    assert "100 s total deadline" in events[-1].error.message
    assert trio.current_time() - started == pytest.approx(100)


async def test_a_slow_reader_is_not_cli_silence_and_gets_the_outcome(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """The client pausing longer than the idle deadline (and than any old send timeout)
    between reads: the CLI is the one waiting, so no deadline fires and the outcome still
    arrives whole."""

    async def chatty(cli: FakeCli) -> int:
        for n in range(100):
            await cli.print(f"say:{n}")
        await cli.print("done")
        return 0

    async with open_fake_backend(chatty) as backend:
        runtime = make_runtime(tmp_path, backend, first_output=1, idle=1)
        texts = []
        async with open_job(runtime, make_plan()) as run:
            async for update in run.updates:
                if isinstance(update, TextDelta):
                    texts.append(update.text)
                    await trio.sleep(3)  # the client is behind
        assert run.outcome == Finished()
    assert texts == [str(n) for n in range(100)]


async def test_keepalives_while_the_cli_is_quiet(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async def thinks(cli: FakeCli) -> int:
        await trio.sleep(45)
        await cli.print("say:a")
        await cli.print("done")
        return 0

    async with open_fake_backend(thinks) as backend:
        events = await collect(make_runtime(tmp_path, backend, keepalive_interval=10), make_plan())
    assert events == [Keepalive()] * 4 + [TextDelta("a"), Finished()]


async def test_progress_marks_until_the_answer(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async def slow(cli: FakeCli) -> int:
        await trio.sleep(1.3)
        await cli.print("say:a")
        await cli.print("done")
        return 0

    async with open_fake_backend(slow) as backend:
        events = await collect(make_runtime(tmp_path, backend), make_plan(progress=True))
    assert events == [Progress("⏳ "), Progress("⏳· "), TextDelta("a"), Finished()]

    async with open_fake_backend(slow) as backend:
        for_a_program = make_plan(progress=True, marks_are_content=False)
        events = await collect(make_runtime(tmp_path, backend), for_a_program)
    assert events[:2] == [Progress("⏳ ", content=False), Progress("⏳· ", content=False)]


async def test_draining_stops_the_run_after_the_grace(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_fake_backend(ready_then_silent) as backend:
        runtime = make_runtime(tmp_path, backend, shutdown_grace=5)
        async with open_job(runtime, make_plan()) as run:
            assert await run.updates.receive() == TextDelta("ready")
            runtime.draining.set()
            drained = trio.current_time()
            assert [u async for u in run.updates] == []
        assert isinstance(run.outcome, Failed)
        assert run.outcome.error.kind is ErrorKind.SHUTTING_DOWN
        assert trio.current_time() - drained == pytest.approx(5)
        assert backend.live == []


async def test_a_stop_sequence_ends_the_answer_and_stops_the_cli_at_once(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async def rambles(cli: FakeCli) -> int:
        await cli.print("say:yes. STOP and more")
        await trio.sleep_forever()

    async with open_fake_backend(rambles) as backend:
        stops = make_plan(lambda: StopSequences(("STOP",)))
        started = trio.current_time()
        events = await collect(make_runtime(tmp_path, backend), stops)
        assert events == [TextDelta("yes. "), Finished(stop_sequence="STOP")]
        assert backend.started[0].signals == [signal.SIGTERM]
        assert trio.current_time() == started  # no exit grace for an answer cut short
        assert backend.live == []


async def test_a_cli_that_ignores_sigterm_is_killed_after_the_grace(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async def stubborn(cli: FakeCli) -> int:
        cli.ignored.add(signal.SIGTERM)
        await cli.print("say:ready")
        await trio.sleep_forever()

    async with open_fake_backend(stubborn) as backend:
        runtime = make_runtime(tmp_path, backend, kill_grace=3)
        async with open_job(runtime, make_plan()) as run:
            await run.updates.receive()
            left = trio.current_time()
        assert trio.current_time() - left == pytest.approx(3)
        assert backend.started[0].signals[:2] == [signal.SIGTERM, signal.SIGKILL]
        assert backend.live == []
        assert ledger_empty(runtime)


async def test_a_process_that_survives_sigkill_cannot_hold_the_request(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async def stuck(cli: FakeCli) -> int:
        cli.ignored.add(signal.SIGTERM)
        await trio.sleep_forever()

    async with open_fake_backend(stuck) as backend:
        backend.unkillable_next = True
        runtime = make_runtime(tmp_path, backend, first_output=10, kill_grace=2)
        started = trio.current_time()
        events = await collect(runtime, make_plan())
        assert isinstance(events[-1], Failed)
        bound = 10 + 2 + KILL_WAIT  # first output, SIGTERM's grace, the wait after SIGKILL
        assert bound <= trio.current_time() - started <= bound + 1
        # It could not be reaped: its ledger entry stays for the next start's sweep.
        (entry,) = [p for p in runtime.ledger.folder.iterdir() if p.name.isdigit()]
        assert entry.name == str(backend.started[0].pid)


class UnwritableLedger(Ledger):
    def add(self, pgid: int, workdir: Path | None = None) -> None:
        raise OSError(28, "No space left on device")


async def test_a_ledger_that_cannot_be_written_still_ends_the_cli(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_fake_backend(answer) as backend:
        unwritable = UnwritableLedger(tmp_path / "ledger")
        runtime = attrs.evolve(make_runtime(tmp_path, backend), ledger=unwritable)
        (failed,) = await collect(runtime, make_plan())
        assert isinstance(failed, Failed)
        assert "No space left on device" in failed.error.message
        assert backend.live == []


async def test_a_cli_that_cannot_start_is_a_cli_failure(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_fake_backend(answer) as backend:
        backend.fail_next = PermissionError(13, "Permission denied")
        (failed,) = await collect(make_runtime(tmp_path, backend), make_plan())
    assert isinstance(failed, Failed)
    assert failed.error.kind is ErrorKind.CLI_FAILED
    assert failed.error.message == "Could not start fake-cli: Permission denied."


async def test_a_failed_run_is_reported_with_its_stderr_tail(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async def rate_limited(cli: FakeCli) -> int:
        await cli.eprint("429 from the backend")
        await cli.print("fail")
        await trio.sleep_forever()

    told: list[tuple[ApiError, str]] = []
    async with open_fake_backend(rate_limited) as backend:
        plan = make_plan(on_failure=lambda error, tail: told.append((error, tail)))
        (failed,) = await collect(make_runtime(tmp_path, backend), plan)
    assert isinstance(failed, Failed)
    assert failed.error.retry_after == 7
    assert told == [(failed.error, "429 from the backend\n")]


async def test_leaving_early_ends_the_cli_before_the_exit_completes(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_fake_backend(ready_then_silent) as backend:
        runtime = make_runtime(tmp_path, backend)
        async with open_job(runtime, make_plan()) as run:
            await run.updates.receive()
            assert len(backend.live) == 1
        assert backend.live == []
        assert ledger_empty(runtime)
        assert runtime.gate.running == 0


async def test_a_huge_line_is_parsed_off_the_event_loop(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    big = "x" * (2 * 1024 * 1024)

    async def verbose(cli: FakeCli) -> int:
        await cli.print("say:" + big)
        await cli.print("say:small")
        await cli.print("done")
        return 0

    offloaded: list[str] = []

    async def blocking(function: Callable[..., Any], *args: Any) -> Any:
        offloaded.append(getattr(function, "__name__", repr(function)))
        return function(*args)

    async with open_fake_backend(verbose) as backend:
        runtime = attrs.evolve(make_runtime(tmp_path, backend), blocking=blocking)
        events = await collect(runtime, make_plan())
    assert events == [TextDelta(big), TextDelta("small"), Finished()]
    assert offloaded.count("feed") == 1  # the big line only; the run folder's work too


async def test_the_cli_runs_in_a_work_folder_with_cliwraps_files_beside_it(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    # A CLI that shows the model its working directory (Qwen Code lists it) must find there
    # only what it needs, never cliwrap's taps or system prompt files.
    seen: dict[str, list[str]] = {}

    async def look(cli: FakeCli) -> int:
        seen["here"] = sorted(p.name for p in cli.cwd.iterdir())
        seen["beside"] = sorted(p.name for p in cli.cwd.parent.iterdir())
        return await answer(cli)

    def build(workdir: Path) -> Invocation:
        files: dict[str, str | bytes] = {"tap.cjs": "// ours", "work/image-1.png": b"\x89PNG"}
        return Invocation(argv=("fake-cli",), env={}, stdin=b"hi", files=files)

    async with open_fake_backend(look) as backend:
        runtime = make_runtime(tmp_path, backend)
        await collect(runtime, attrs.evolve(make_plan(), build=build))
        assert backend.started[0].cwd.name == WORK_DIR
    assert seen == {"here": ["image-1.png"], "beside": ["home", "tap.cjs", WORK_DIR]}


async def test_every_cli_process_is_watched_from_start_to_reaping(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    watched: list[str] = []

    def watch(provider: str) -> Callable[[], None]:
        watched.append(f"started {provider}")
        return lambda: watched.append(f"ended {provider}")

    async with open_fake_backend(answer) as backend:
        runtime = attrs.evolve(make_runtime(tmp_path, backend), process_watch=watch)

        def build(workdir: Path) -> Invocation:
            return Invocation(argv=("fake-cli",), env={}, stdin=b"hi", provider="claude")

        async with open_job(runtime, attrs.evolve(make_plan(), build=build)) as run:
            async for _ in run.updates:
                assert watched == ["started claude"]
        assert watched == ["started claude", "ended claude"]
