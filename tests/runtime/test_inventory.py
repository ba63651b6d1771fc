"""The inventory never holds a request once it knows an answer (stale while revalidate)."""

from __future__ import annotations

from pathlib import Path

import trio
import trio.testing

from cliwrap.config import ProviderConfig
from cliwrap.runtime.inventory import CliInfo, Inventory
from cliwrap.runtime.ledger import Ledger


class SlowProbe:
    """A CLI that takes ``seconds`` to answer, with a new version each time it is asked."""

    def __init__(self, seconds: float = 5.0) -> None:
        self.seconds = seconds
        self.asked = 0
        self.answering = 0

    async def __call__(self, name: str) -> CliInfo:
        self.asked += 1
        self.answering += 1
        try:
            await trio.sleep(self.seconds)
        finally:
            self.answering -= 1
        return CliInfo(name, Path("/bin/cli"), version=str(self.asked))


def inventory(probe: SlowProbe, ttl: float = 60.0) -> Inventory:
    return Inventory(
        {"claude": ProviderConfig()}, {}, Ledger(Path("/nonexistent")), ttl=ttl, probe=probe
    )


async def test_an_expired_answer_comes_at_once_and_is_refreshed_behind_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    probe = SlowProbe()
    known = inventory(probe)
    async with trio.open_nursery() as nursery:
        await nursery.start(known.run)
        assert (await known.get("claude")).version == "1"  # the first answer is waited for
        await trio.sleep(61)
        asked_at = trio.current_time()
        assert (await known.get("claude")).version == "1"
        assert trio.current_time() == asked_at  # no waiting
        assert (await known.get("claude")).version == "1"
        await trio.testing.wait_all_tasks_blocked()
        assert probe.answering == 1  # one refresh, however many asked
        await trio.sleep(probe.seconds + 1)
        assert (await known.get("claude")).version == "2"
        assert probe.asked == 2
        nursery.cancel_scope.cancel()


async def test_a_failing_refresh_keeps_the_answer_it_had(
    autojump_clock: trio.testing.MockClock,
) -> None:
    probe = SlowProbe()
    known = inventory(probe, ttl=10)
    async with trio.open_nursery() as nursery:
        await nursery.start(known.run)
        assert (await known.get("claude")).version == "1"

        async def broken(name: str) -> CliInfo:
            raise OSError("exec format error")

        known._probe = broken
        await trio.sleep(11)
        assert (await known.get("claude")).version == "1"
        await trio.testing.wait_all_tasks_blocked()
        assert (await known.get("claude")).version == "1"
        nursery.cancel_scope.cancel()


async def test_the_first_round_starts_with_the_server(
    autojump_clock: trio.testing.MockClock,
) -> None:
    probe = SlowProbe()
    known = inventory(probe)
    async with trio.open_nursery() as nursery:
        await nursery.start(known.run)
        await trio.testing.wait_all_tasks_blocked()
        assert probe.answering == 1
        assert (await known.get("claude")).version == "1"  # waits for that one, no second
        assert probe.asked == 1
        nursery.cancel_scope.cancel()


async def test_without_a_background_nursery_an_expired_answer_is_refreshed_in_place(
    autojump_clock: trio.testing.MockClock,
) -> None:
    probe = SlowProbe()
    known = inventory(probe, ttl=10)
    assert (await known.get("claude")).version == "1"
    await trio.sleep(11)
    assert (await known.get("claude")).version == "2"
