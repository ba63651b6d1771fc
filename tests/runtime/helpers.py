"""Helpers for the runtime tier: the job, fan-out, admission and WebSocket sessions on a fake
process backend, on trio's MockClock (pytest-trio's ``autojump_clock``): no real process, no
real sleep, no bound that a busy machine can miss."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from cliwrap.config import Deadlines
from cliwrap.core.errors import ApiError, ErrorKind
from cliwrap.core.events import Event, Failed, Finished, TextDelta
from cliwrap.providers import Invocation
from cliwrap.runtime.admission import Gate
from cliwrap.runtime.job import JobPlan, Runtime
from cliwrap.runtime.ledger import Ledger
from cliwrap.testing.fake_processes import FakeBackend


class LineParser:
    """``say:TEXT`` is answer text, ``done`` finishes, ``fail`` fails; the rest is noise.

    A CLI that exits without an outcome fails with its exit status and stderr.
    """

    def feed(self, line: bytes) -> list[Event]:
        text = line.decode()
        if text == "done":
            return [Finished()]
        if text == "fail":
            return [Failed(ApiError(ErrorKind.RATE_LIMIT, "slow down", retry_after=7))]
        if text.startswith("say:"):
            return [TextDelta(text[4:])]
        return []

    def finish(self, returncode: int, stderr_tail: str) -> list[Event]:
        return [Failed(ApiError(ErrorKind.CLI_FAILED, f"exit {returncode}: {stderr_tail}"))]


async def inline(function: Callable[..., Any], *args: Any) -> Any:
    """Blocking file work, run inline: under the MockClock no real time may pass unseen."""
    return function(*args)


def make_runtime(
    tmp_path: Path,
    backend: FakeBackend,
    *,
    max_concurrent: int = 4,
    max_queue: int = 0,
    keepalive_interval: float = 15.0,
    shutdown_grace: float = 0.0,
    **deadlines: float,
) -> Runtime:
    return Runtime(
        gate=Gate(max_concurrent=max_concurrent, max_queue=max_queue),
        ledger=Ledger(tmp_path / "ledger"),
        deadlines=Deadlines(
            **{"first_output": 60, "idle": 60, "total": 600, "kill_grace": 2, **deadlines}
        ),
        keepalive_interval=keepalive_interval,
        shutdown_grace=shutdown_grace,
        backend=backend,
        blocking=inline,
    )


def make_plan(
    *filters: Callable[[], Any],
    progress: bool = False,
    argv: tuple[str, ...] = ("fake-cli",),
    **extra: Any,
) -> JobPlan:
    def build(workdir: Path) -> Invocation:
        return Invocation(argv=argv, env={}, stdin=b"the prompt")

    return JobPlan(
        build=build, parser=LineParser(), progress=progress, filters=tuple(filters), **extra
    )


def ledger_empty(runtime: Runtime) -> bool:
    folder = runtime.ledger.folder
    return not folder.exists() or not any(folder.iterdir())
