"""``n`` > 1 and admission, on the fake process backend and trio's MockClock."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import trio
import trio.testing

from cliwrap.core.errors import ApiError, ErrorKind
from cliwrap.core.events import Failed, Finished, Indexed, Keepalive, TextDelta
from cliwrap.runtime.fanout import open_jobs
from cliwrap.runtime.job import open_job
from cliwrap.testing.fake_processes import FakeCli, open_fake_backend

from .helpers import ledger_empty, make_plan, make_runtime


async def test_one_failed_run_ends_the_request_at_once(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async def script(cli: FakeCli) -> int:
        index = int(cli.argv[1])
        if index == 1:
            await trio.sleep(1)
            await cli.print("fail")
        else:
            await cli.print(f"say:answer {index}")
        await trio.sleep_forever()  # the others would go on for ever

    async with open_fake_backend(script) as backend:
        runtime = make_runtime(tmp_path, backend)
        plans = [make_plan(argv=("fake-cli", str(i))) for i in range(3)]
        started = trio.current_time()
        seen: list[Indexed] = []
        async with open_jobs(runtime, plans) as run:
            seen = [event async for event in run.updates]
            assert backend.live == []  # the siblings were stopped and reaped first
        index, outcome = run.outcome
        assert (index, type(outcome)) == (1, Failed)
        assert run.failure is not None
        assert run.failure.kind is ErrorKind.RATE_LIMIT
        # Fail fast: one second in, not at any deadline.
        assert trio.current_time() - started == pytest.approx(1)
        assert sorted(seen, key=lambda e: e[0]) == [
            (0, TextDelta("answer 0")),
            (2, TextDelta("answer 2")),
        ]
        assert [p.signals[:1] for p in backend.started] == [[signal.SIGTERM]] * 3
        assert ledger_empty(runtime)
        assert runtime.gate.running == runtime.gate.waiting == 0


async def test_each_run_s_finish_comes_once_its_cli_is_reaped(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async def script(cli: FakeCli) -> int:
        await cli.print(f"say:{cli.argv[1]}")
        await cli.print("done")
        return 0

    async with open_fake_backend(script) as backend:
        runtime = make_runtime(tmp_path, backend)
        plans = [make_plan(argv=("fake-cli", str(i))) for i in range(2)]
        async with open_jobs(runtime, plans) as run:
            events = [event async for event in run.updates]
        assert run.failure is None
        assert sorted(events, key=lambda e: e[0]) == [
            (0, TextDelta("0")),
            (0, Finished()),
            (1, TextDelta("1")),
            (1, Finished()),
        ]


async def test_admission_is_one_atomic_reservation(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """A burst that arrives before any run has started is refused at the door, all at once,
    with Retry-After; n runs are admitted together or not at all."""

    async def forever(cli: FakeCli) -> int:
        await trio.sleep_forever()

    async with open_fake_backend(forever) as backend:
        runtime = make_runtime(tmp_path, backend, max_concurrent=2, max_queue=1)
        gate = runtime.gate
        first = gate.reserve()
        second = gate.reserve(2)
        assert gate.waiting == 3  # reserved, not yet running
        with pytest.raises(ApiError) as refused:
            gate.reserve()
        assert refused.value.kind is ErrorKind.QUEUE_FULL
        assert refused.value.retry_after
        for ticket in first + second:
            ticket.release()
            ticket.release()  # once only
        assert gate.waiting == 0
        with pytest.raises(ApiError):
            async with open_jobs(runtime, [make_plan()] * 4):
                pass  # four runs never fit in two slots and one place in the queue
        assert gate.waiting == 0
        assert backend.started == []


async def test_a_refused_run_starts_nothing_and_a_queued_one_keeps_its_place(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async def short(cli: FakeCli) -> int:
        await trio.sleep(20)
        await cli.print("say:ok")
        await cli.print("done")
        return 0

    async with open_fake_backend(short) as backend:
        runtime = make_runtime(
            tmp_path, backend, max_concurrent=1, max_queue=1, keepalive_interval=5
        )
        async with open_job(runtime, make_plan()):
            async with open_job(runtime, make_plan()) as queued:
                with pytest.raises(ApiError) as refused:
                    async with open_job(runtime, make_plan()):
                        pass
                assert refused.value.kind is ErrorKind.QUEUE_FULL
                # The queued run gets keepalives while it waits, then its answer.
                first = [await queued.updates.receive() for _ in range(3)]
                assert first == [Keepalive()] * 3
                assert runtime.gate.waiting == 1
                rest = [u async for u in queued.updates if not isinstance(u, Keepalive)]
            assert rest == [TextDelta("ok")]
            assert queued.outcome == Finished()
        assert len(backend.started) == 2
