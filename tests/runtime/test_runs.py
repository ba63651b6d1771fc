"""The runs registry with the job, on the fake process backend and trio's MockClock: a run is
queued, running, then settled once; cancelling it stops its CLI the way a disconnect does (its
process group reaped, the ledger empty) and its outcome is ``request_cancelled``."""

from __future__ import annotations

from pathlib import Path

import attrs
import trio
import trio.testing

from cliwrap.core.errors import ErrorKind
from cliwrap.core.events import Failed, TextDelta, Usage
from cliwrap.runtime.fanout import open_jobs
from cliwrap.runtime.job import open_job
from cliwrap.runtime.runs import Caller, RunReport, Runs
from cliwrap.testing.fake_processes import FakeCli, open_fake_backend

from .helpers import ledger_empty, make_plan, make_runtime

OWNER = Caller("k1", "one", admin=False)


async def answers_then_hangs(cli: FakeCli) -> int:
    await cli.read_stdin()
    await cli.print("say:working")
    await trio.sleep_forever()


async def test_a_cancelled_run_is_reaped_and_fails_with_request_cancelled(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    reports: list[RunReport] = []
    runs = Runs()
    runs.observe(reports.append)
    async with open_fake_backend(answers_then_hangs) as backend:
        runtime = make_runtime(tmp_path, backend)
        live = runs.admit("req-1", "chat_completions", OWNER, model="m", stream=True)
        assert live.state == "queued"
        plan = attrs.evolve(make_plan(), live=live)
        async with open_job(runtime, plan) as run:
            assert await run.updates.receive() == TextDelta("working")
            assert live.state == "running"
            assert live.first_output_at is not None
            (process,) = backend.live
            assert [r.request_id for r in runs.live()] == ["req-1"]
            assert runs.cancel("req-1", OWNER) == [live]
            updates = [update async for update in run.updates]
            # The channel ended: the CLI is reaped, the outcome is the cancellation.
            assert backend.live == []
            assert not process.alive
            assert isinstance(run.outcome, Failed)
            assert run.outcome.error.kind is ErrorKind.CANCELLED
            assert run.outcome.error.status == 409
        assert updates == []
        assert ledger_empty(runtime)
        assert runtime.gate.running == runtime.gate.waiting == 0
    live.failed(run.outcome.error)
    assert [r.outcome for r in reports] == ["cancelled"]
    assert reports[0].status == 200  # the stream had started: its status line was a 200
    assert runs.live() == []
    assert runs.recent() == reports


async def test_a_queued_run_can_be_cancelled_before_it_starts(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    runs = Runs()
    async with open_fake_backend(answers_then_hangs) as backend:
        runtime = make_runtime(tmp_path, backend, max_concurrent=1, max_queue=1)
        first = runs.admit("first", "chat_completions", OWNER)
        second = runs.admit("second", "chat_completions", OWNER)
        async with open_job(runtime, attrs.evolve(make_plan(), live=first)) as one:
            assert await one.updates.receive() == TextDelta("working")
            async with open_job(runtime, attrs.evolve(make_plan(), live=second)) as two:
                await trio.testing.wait_all_tasks_blocked()
                assert second.state == "queued"
                assert runtime.gate.waiting == 1
                runs.cancel("second", OWNER)
                assert [update async for update in two.updates] == []
                assert isinstance(two.outcome, Failed)
                assert two.outcome.error.kind is ErrorKind.CANCELLED
            assert len(backend.live) == 1  # the first run goes on
            first.cancel()
            assert [update async for update in one.updates] == []
        assert backend.live == []
        assert ledger_empty(runtime)


async def test_cancelling_a_request_of_several_answers_stops_them_all(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    runs = Runs()
    async with open_fake_backend(answers_then_hangs) as backend:
        runtime = make_runtime(tmp_path, backend)
        live = runs.admit("n2", "chat_completions", OWNER)
        plans = [attrs.evolve(make_plan(), live=live) for _ in range(2)]
        async with open_jobs(runtime, plans) as run:
            seen = {await run.updates.receive(), await run.updates.receive()}
            assert seen == {(0, TextDelta("working")), (1, TextDelta("working"))}
            assert len(backend.live) == 2
            runs.cancel("n2", OWNER)
            assert [update async for update in run.updates] == []
            assert backend.live == []
            assert run.failure is not None
            assert run.failure.kind is ErrorKind.CANCELLED
        assert ledger_empty(runtime)


async def test_usage_is_noted_and_a_settled_run_reports_once(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    reports: list[RunReport] = []
    runs = Runs(clock=trio.current_time)
    runs.observe(reports.append)
    live = runs.admit("r", "messages", OWNER, model="m", provider="claude")
    live.running()
    live.used(Usage(input_tokens=3, output_tokens=4))
    live.used(Usage(input_tokens=1, output_tokens=1))
    first = live.settle(200, "finished")
    assert live.settle(500, "failed:internal") is first
    assert reports == [first]
    assert first.usage == Usage(input_tokens=4, output_tokens=5)
    assert live.state == "finished"


def test_a_key_sees_and_cancels_only_its_own_runs_an_admin_all() -> None:
    runs = Runs()
    mine = runs.admit("same", "websocket", OWNER)
    theirs = runs.admit("same", "websocket", Caller("k2", "two", admin=False))
    admin = Caller("k3", "config-1", admin=True)
    assert runs.live(OWNER) == [mine]
    assert runs.live(admin) == [mine, theirs]
    assert runs.cancel("same", OWNER) == [mine]
    assert mine.stop.is_set()
    assert not theirs.stop.is_set()
    assert runs.cancel("nope", admin) == []
    theirs.settle(200, "finished")
    assert runs.recent(OWNER) == []
    assert [r.key_name for r in runs.recent(admin)] == ["two"]


def test_the_registry_keeps_the_last_reports_and_survives_a_failing_observer() -> None:
    runs = Runs(keep=2)

    def broken(report: RunReport) -> None:
        raise RuntimeError("observer bug")

    seen: list[str] = []
    runs.observe(broken)
    runs.observe(lambda report: seen.append(report.request_id))
    for name in ("a", "b", "c"):
        runs.admit(name, "responses", Caller()).settle(200, "finished")
    assert seen == ["a", "b", "c"]
    assert [r.request_id for r in runs.recent()] == ["c", "b"]
