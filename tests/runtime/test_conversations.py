"""Conversations on live CLI processes, on the fake backend and trio's MockClock.

The fake CLI keeps a session: it reads one ``turn:TEXT`` line per turn and answers
``say:echo TEXT`` then ``done``; a turn whose text starts with ``slow`` waits for a ``stop``
(the CLI's own interrupt) and answers ``stopped``. Each test checks who owns the process
and when it ends: reused across turns, interrupted and replaced after a cancel, cancelled by
a newer request, ended when idle or when the server stops.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import trio
import trio.lowlevel
import trio.testing

from cliwrap.config import SessionsConfig, WarmupConfig
from cliwrap.conversations import AnswerRecorder
from cliwrap.core.errors import ApiError, ErrorKind
from cliwrap.core.events import Event, Failed, Finished, TextDelta
from cliwrap.core.request import ChatRequest, Message
from cliwrap.providers.base import Invocation, SessionStart
from cliwrap.runtime.conversations import Conversations, TurnSpec
from cliwrap.runtime.job import Runtime, open_job
from cliwrap.runtime.sessions import SessionPool, SessionRecipe
from cliwrap.runtime.warmup import Warmup
from cliwrap.testing.fake_processes import FakeBackend, FakeCli, open_fake_backend

from .helpers import ledger_empty, make_plan, make_runtime

SEEDS: list[tuple[Message, ...]] = []
"""The seed each started process got, in start order."""


async def session_cli(cli: FakeCli) -> int:
    """A CLI that keeps a conversation: one turn per stdin line until stdin ends."""
    while line := (await cli.read_line()).decode():
        if not line.startswith("turn:"):
            continue
        text = line.removeprefix("turn:")
        if text.startswith("slow"):
            await cli.print("say:thinking")
            while (word := (await cli.read_line()).decode()) != "stop":
                if not word:
                    return 0  # stdin closed: it was told to end
            await cli.print("stopped")
            continue
        await cli.print(f"say:echo {text}")
        await cli.print("done")
    return 0


class FakeTurn:
    def __init__(self) -> None:
        self.turn_over = False

    def feed(self, line: bytes) -> list[Event]:
        text = line.decode()
        if text.startswith("say:"):
            return [TextDelta(text[4:])]
        if text == "done":
            self.turn_over = True
            return [Finished()]
        if text == "stopped":
            self.turn_over = True
        return []

    def finish(self, returncode: int, stderr_tail: str) -> list[Event]:
        return [Failed(ApiError(ErrorKind.CLI_FAILED, f"exit {returncode}"))]

    def to_send(self) -> bytes | None:
        return b""


class FakeSession:
    def turn(self, request: ChatRequest, new: tuple[Message, ...]) -> tuple[bytes, FakeTurn]:
        return f"turn:{new[-1].content}\n".encode(), FakeTurn()

    def interrupt(self) -> bytes:
        return b"stop\n"


def recipe(start: SessionStart) -> SessionRecipe:
    def build(workdir: Path) -> tuple[Invocation, FakeSession, Path | None]:
        SEEDS.append(start.seed)
        invocation = Invocation(argv=("fake-session",), env={}, stdin=b"", dialogue=True)
        return invocation, FakeSession(), None

    return build


@attrs.define
class World:
    backend: FakeBackend
    runtime: Runtime
    pool: SessionPool
    conversations: Conversations
    nursery: trio.Nursery

    async def ask(self, chat: ChatRequest, key: str = "k") -> list[Event]:
        """One request through the job, as the service would plan it: its updates, then
        its outcome."""
        continuation = await self.conversations.resolve(key, "fake", "m", chat)
        whole = continuation.request(chat)
        recorder = AnswerRecorder()

        def rebuild(history: tuple[Message, ...], new: tuple[Message, ...]) -> ChatRequest:
            return attrs.evolve(continuation, history=history, new=new).request(chat)

        spec = TurnSpec("shape", recipe, whole, recorder, rebuild=rebuild)
        plan = make_plan(
            lambda: recorder, turn=partial(self.conversations.turn, continuation, spec)
        )
        async with open_job(self.runtime, plan) as run:
            updates = [u async for u in run.updates]
        return [*updates, run.outcome]


@asynccontextmanager
async def world(
    tmp_path: Path, warmup: WarmupConfig | None = None, **settings: Any
) -> AsyncIterator[World]:
    SEEDS.clear()
    async with open_fake_backend(session_cli) as backend:
        runtime = make_runtime(tmp_path, backend, max_concurrent=8, max_queue=8)
        config = SessionsConfig(**settings)
        pool = SessionPool(runtime, config)
        ready = Warmup(pool, warmup) if warmup is not None else None
        conversations = Conversations(pool, config, None, ready)
        async with trio.open_nursery() as nursery:
            await nursery.start(pool.run)
            if ready is not None:
                await nursery.start(ready.run)
            yield World(backend, runtime, pool, conversations, nursery)
            nursery.cancel_scope.cancel()
        assert not backend.live, "the pool ends every process it owns"
        assert ledger_empty(runtime)


def chat(*turns: str, session: str | None = None) -> ChatRequest:
    roles = ("user", "assistant")
    messages = tuple(Message(roles[i % 2], text) for i, text in enumerate(turns))  # type: ignore[arg-type]
    return ChatRequest(model="m", messages=messages, session=session)


def texts(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def test_a_stateless_conversation_keeps_one_process(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with world(tmp_path) as w:
        history = ["hello"]
        for n in range(5):
            events = await w.ask(chat(*history))
            assert isinstance(events[-1], Finished)
            history += [texts(events), f"next {n}"]
        assert len(w.backend.started) == 1
        assert SEEDS == [()]
        assert w.conversations.continued == 4


async def test_a_named_conversation_takes_only_the_new_turn(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with world(tmp_path) as w:
        await w.ask(chat("My name is Bob.", session="bob"))
        events = await w.ask(chat("What's my name?", session="bob"))
        assert texts(events) == "echo What's my name?"
        assert len(w.backend.started) == 1
        (conversation,) = list(w.conversations._by_id.values())
        assert [m.content for m in conversation.transcript or ()] == [
            "My name is Bob.",
            "echo My name is Bob.",
            "What's my name?",
            "echo What's my name?",
        ]


async def test_a_new_conversation_with_history_is_seeded(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with world(tmp_path) as w:
        await w.ask(chat("one", "an answer from elsewhere", "two"))
        assert [m.content for m in SEEDS[0]] == ["one", "an answer from elsewhere"]


async def test_an_edited_history_starts_a_new_conversation(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with world(tmp_path) as w:
        await w.ask(chat("first"))
        await w.ask(chat("first", "echo first", "second"))
        await w.ask(chat("first", "an edited answer", "second"))
        assert len(w.backend.started) == 2
        assert [m.content for m in SEEDS[1]] == ["first", "an edited answer"]


async def test_keys_never_share_a_conversation(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with world(tmp_path) as w:
        await w.ask(chat("hello"), key="a")
        await w.ask(chat("hello", "echo hello", "again"), key="b")
        assert len(w.backend.started) == 2, "b's history matched nothing of its own"
        assert [m.content for m in SEEDS[1]] == ["hello", "echo hello"]
        assert await w.conversations.named("b", "bob") is None


async def test_a_cancelled_turn_is_interrupted_and_its_process_replaced(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with world(tmp_path) as w:
        await w.ask(chat("hello"))
        (first,) = w.backend.started
        with trio.move_on_after(5):
            await w.ask(chat("hello", "echo hello", "slow one"))
        # The pool, not the gone request, interrupts the turn and ends the process.
        await first.wait()
        assert first.returncode == 0, "it ended by itself once its stdin closed"
        assert first.signals == []
        events = await w.ask(chat("hello", "echo hello", "after the cancel"))
        assert texts(events) == "echo after the cancel"
        assert len(w.backend.started) == 2
        assert [m.content for m in SEEDS[1]] == ["hello", "echo hello"]


async def test_a_cli_that_ignores_its_interrupt_is_ended(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async def deaf(cli: FakeCli) -> int:
        cli.ignored.add(signal.SIGTERM)
        await cli.read_line()
        await cli.print("say:thinking")
        await trio.sleep_forever()

    async with world(tmp_path, interrupt_grace=3) as w:
        w.backend.script = deaf
        with trio.move_on_after(5):
            await w.ask(chat("slow"))
        (process,) = w.backend.started
        await process.wait()
        assert process.signals == [signal.SIGTERM, signal.SIGKILL]


async def test_latest_wins_cancels_the_running_turn(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with world(tmp_path) as w:
        await w.ask(chat("start", session="s"))
        results: dict[str, list[Event]] = {}

        async def ask(name: str, text: str) -> None:
            results[name] = await w.ask(chat(text, session="s"))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask, "old", "slow and long")
            await trio.sleep(1)
            nursery.start_soon(ask, "new", "quick")
        old = results["old"][-1]
        assert isinstance(old, Failed)
        assert old.error.kind is ErrorKind.SUPERSEDED
        assert texts(results["new"]) == "echo quick"


async def test_queue_runs_turns_in_order(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with world(tmp_path, concurrent="queue") as w:
        await w.ask(chat("start", session="q"))
        results: dict[str, list[Event]] = {}

        async def ask(name: str) -> None:
            results[name] = await w.ask(chat(name, session="q"))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask, "first")
            await trio.lowlevel.checkpoint()
            nursery.start_soon(ask, "second")
        assert texts(results["first"]) == "echo first"
        assert texts(results["second"]) == "echo second"
        conversation = await w.conversations.named("k", "q")
        assert conversation is not None
        assert [m.content for m in conversation.transcript or ()][-2:] == [
            "second",
            "echo second",
        ]
        assert len(w.backend.started) == 1


async def test_an_idle_process_ends_and_the_next_turn_reseeds(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with world(tmp_path, idle_timeout=60) as w:
        await w.ask(chat("hello"))
        (first,) = w.backend.started
        await trio.sleep(120)
        assert not first.alive
        await w.ask(chat("hello", "echo hello", "later"))
        assert len(w.backend.started) == 2


async def test_the_pool_keeps_at_most_max_processes(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with world(tmp_path, max_processes=2) as w:
        for n in range(4):
            await w.ask(chat(f"conversation {n}"))
        await trio.sleep(5)
        assert len(w.backend.live) == 2


async def test_a_ready_process_serves_a_new_conversation(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    warm = WarmupConfig(strategy="persistent", size=1)
    async with world(tmp_path, warmup=warm) as w:
        await w.ask(chat("first conversation"))
        await trio.sleep(1)  # the ready one starts in the background
        assert len(w.backend.started) == 2
        await w.ask(chat("second conversation"))
        assert w.conversations.warmup is not None
        assert w.conversations.warmup.hits == 1
        await trio.sleep(1)
        assert len(w.backend.started) == 3, "taking the ready one started its replacement"


async def test_fifty_conversations_of_ten_turns_at_once_never_mix(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with world(tmp_path, max_processes=64) as w:
        w.runtime = attrs.evolve(w.runtime, gate=type(w.runtime.gate)(64, 64))

        async def converse(n: int) -> None:
            history = [f"c{n} t0"]
            for t in range(1, 10):
                events = await w.ask(chat(*history), key=f"key-{n % 3}")
                assert texts(events) == f"echo {history[-1]}"
                history += [texts(events), f"c{n} t{t}"]
                await trio.sleep(n % 7 / 10)  # the turns interleave differently each time

        async with trio.open_nursery() as nursery:
            for n in range(50):
                nursery.start_soon(converse, n)
        assert len(w.backend.started) == 50, "one process per conversation, for all its turns"
        assert w.conversations.continued == 50 * 8


async def test_adaptive_keeps_ready_processes_for_shapes_that_come_back(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    warm = WarmupConfig(strategy="adaptive", persistent_threshold=0)
    async with world(tmp_path, warmup=warm) as w:
        await w.ask(chat("an agent's main conversation"))
        await trio.sleep(1)
        assert len(w.backend.started) == 1, "one conversation of a shape earns no ready one"
        await w.ask(chat("a second conversation of that shape"))
        await trio.sleep(1)
        assert len(w.backend.started) == 3, "the shape came back: one is kept ready"
        await w.ask(chat("a third"))
        assert w.conversations.warmup is not None
        assert w.conversations.warmup.hits == 1


async def test_deleting_a_conversation_mid_turn_ends_the_turn_and_keeps_nothing(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with world(tmp_path) as w:
        await w.ask(chat("start", session="gone"))
        results: list[Event] = []

        async def slow() -> None:
            results.extend(await w.ask(chat("slow turn", session="gone")))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(slow)
            await trio.sleep(1)
            found = await w.conversations.named("k", "gone")
            assert found is not None
            assert await w.conversations.delete("k", found.record.id) is not None
        outcome = results[-1]
        assert isinstance(outcome, Failed)
        assert outcome.error.kind is ErrorKind.NOT_FOUND
        assert await w.conversations.named("k", "gone") is None
        (process,) = w.backend.started
        await process.wait()


async def test_a_full_pool_never_ends_a_process_started_for_a_turn_before_its_lease(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Making room ends idle processes only: one just started for a turn that has not leased
    it yet is not idle (it was, once, and that turn failed with a 500)."""
    async with world(tmp_path, max_processes=2) as w:

        async def in_a_thread(function: Callable[..., Any], *args: Any) -> Any:
            await trio.sleep(0.001)  # as a worker thread would, other tasks run meanwhile
            return function(*args)

        w.runtime = attrs.evolve(w.runtime, blocking=in_a_thread)
        w.pool.runtime = w.runtime
        outcomes: list[Event] = []

        async def converse(n: int) -> None:
            history = [f"c{n}"]
            for turn in range(3):
                await trio.sleep((n * 7 + turn * 3) % 11 * 0.0004)  # starts interleave
                events = await w.ask(chat(*history))
                outcomes.append(events[-1])
                history += [texts(events), "more"]

        async with trio.open_nursery() as nursery:
            for n in range(10):
                nursery.start_soon(converse, n)
        assert all(isinstance(o, Finished) for o in outcomes), outcomes


async def test_one_name_with_another_system_prompt_is_another_conversation(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """OpenCode sends one X-Session-Id with its title requests and its agent's turns."""
    async with world(tmp_path) as w:
        title = attrs.evolve(
            chat("Title this: hello", session="oc"),
            messages=(
                Message("system", "You title conversations."),
                Message("user", "Title this: hello"),
            ),
        )
        agent = attrs.evolve(
            chat("hello", session="oc"),
            messages=(Message("system", "You are an agent."), Message("user", "hello")),
        )
        await w.ask(title)
        await w.ask(agent)
        assert SEEDS[1] == (), "the agent's first turn did not get the title's turns"
        again = attrs.evolve(
            agent,
            messages=(*agent.messages, Message("assistant", "echo hello"), Message("user", "more")),
        )
        await w.ask(again)
        assert len(w.backend.started) == 2
