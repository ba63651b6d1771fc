"""Keys and usage in the SQLite store, the keyring's cache on trio's MockClock, and the usage
observer writing what runs report."""

from __future__ import annotations

import calendar
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio.lowlevel
import trio.testing

from cliwrap.access import ApiKey, KeyExistsError, KeyLimits, Keyring, UsageRecorder, new_key
from cliwrap.access.sqlite import SqliteKeys, SqliteUsage
from cliwrap.access.usage import rows_of
from cliwrap.core.errors import ApiError
from cliwrap.core.events import Usage
from cliwrap.runtime.runs import RunReport
from cliwrap.storage import Store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with await Store.open(tmp_path / "state.sqlite3") as opened:
        yield opened


async def test_keys_are_created_listed_revoked_and_looked_up(store: Store) -> None:
    keys = SqliteKeys(store)
    limits = KeyLimits(rpm={"chat": 5}, concurrent=1, budget_tokens=10, budget_period="month")
    _, ci = new_key("ci", 1.0, limits=limits)
    _, root = new_key("root", 2.0, admin=True)
    await keys.create(ci)
    await keys.create(root)
    assert await keys.list() == [ci, root]
    assert await keys.lookup(ci.id) == ci
    assert await keys.lookup("nope") is None
    with pytest.raises(KeyExistsError, match="'ci'"):
        await keys.create(new_key("ci", 3.0)[1])
    revoked = await keys.revoke("ci", 4.0)
    assert revoked is not None
    assert revoked.revoked == 4.0
    assert revoked.limits == limits
    assert await keys.revoke("ci", 5.0) is None  # no active key of that name left
    assert await keys.list() == [root]
    assert await keys.list(include_revoked=True) == [revoked, root]
    assert await keys.lookup(ci.id) == revoked
    _, again = new_key("ci", 6.0)  # the name is free again
    await keys.create(again)
    assert [k.name for k in await keys.list()] == ["root", "ci"]


async def test_usage_adds_up_per_key_model_and_day(store: Store) -> None:
    usage = SqliteUsage(store)
    run = Usage(input_tokens=10, output_tokens=2, cache_read_tokens=100, cost_usd=0.5)
    await usage.add("ci", "sonnet", "2026-03-14", run)
    await usage.add("ci", "sonnet", "2026-03-14", run)
    await usage.add("ci", "opus", "2026-03-15", None)
    await usage.add("root", "sonnet", "2026-03-16", Usage(output_tokens=7))
    rows = await usage.rows(None, "2026-03-01", "2026-03-31")
    assert [(r.key, r.model, r.date, r.requests) for r in rows] == [
        ("ci", "sonnet", "2026-03-14", 2),
        ("ci", "opus", "2026-03-15", 1),
        ("root", "sonnet", "2026-03-16", 1),
    ]
    first = rows[0]
    assert (first.input_tokens, first.output_tokens, first.cached_tokens) == (20, 4, 200)
    assert first.cost_usd == 1.0
    assert [r.date for r in await usage.rows("ci", "2026-03-15", "2026-03-16")] == ["2026-03-15"]
    assert await usage.spent("ci", "2026-03-14") == (24, 1.0)  # cache reads not counted
    assert await usage.spent("ci", "2026-03-15") == (0, 0.0)
    assert await usage.spent("nobody", "2000-01-01") == (0, 0.0)


def report(key: str, ended_at: float, usage: Usage | None) -> RunReport:
    return RunReport(
        request_id="req",
        surface="chat_completions",
        key_name=key,
        key_id="",
        client="127.0.0.1",
        model="sonnet",
        provider="claude",
        stream=True,
        accepted_at=ended_at,
        first_output_at=None,
        ended_at=ended_at,
        status=200,
        outcome="finished",
        usage=usage,
    )


async def test_the_observer_records_each_report(store: Store) -> None:
    day = float(calendar.timegm((2026, 3, 14, 12, 0, 0)))
    reports = [
        report("ci", day, Usage(input_tokens=3, output_tokens=1, cost_usd=0.1)),
        report("ci", day + 5, Usage(input_tokens=3, output_tokens=1, cost_usd=0.1)),
        report("", day + 86400, None),  # an open server's run, with no usage reported
    ]
    recorder = UsageRecorder(SqliteUsage(store))
    async with trio.open_nursery() as nursery:
        await nursery.start(recorder.run)
        for each in reports:
            recorder(each)  # as a run's observer: never waits
        with trio.fail_after(30):
            while len(await store.usage_rows(None, "2026-03-01", "2026-03-31")) < 2:
                await trio.testing.wait_all_tasks_blocked()
                await trio.lowlevel.checkpoint()
        nursery.cancel_scope.cancel()
    rows = await store.usage_rows(None, "2026-03-01", "2026-03-31")
    assert sorted(rows, key=lambda r: r.key) == sorted(rows_of(reports), key=lambda r: r.key)


async def test_a_full_observer_drops_reports_instead_of_blocking() -> None:
    recorder = UsageRecorder(None, backlog=1)
    recorder(report("ci", 0, None))
    recorder(report("ci", 0, None))  # dropped (and logged), not waited for
    await recorder.record(report("ci", 0, None))  # no store: nothing to do


class CountingKeys(SqliteKeys):
    """The SQLite key store, counting its listings and lookups."""

    listed = 0
    looked_up = 0

    async def list(self, *, include_revoked: bool = False) -> list[ApiKey]:
        type(self).listed += 1
        return await super().list(include_revoked=include_revoked)

    async def lookup(self, key_id: str) -> ApiKey | None:
        type(self).looked_up += 1
        return await super().lookup(key_id)


async def test_a_new_key_works_at_once_and_a_revoked_one_stops_within_the_refresh(
    store: Store,
) -> None:
    clock = trio.testing.MockClock()  # moved by hand: the store's threads take real time
    keys = CountingKeys(store)
    ring = Keyring(("configured",), keys, clock=clock.current_time, refresh=1.0)
    configured = await ring.identify("configured")
    assert configured is not None
    assert configured.name == "config-1"
    token, made = new_key("ci", 0.0)
    await keys.create(made)
    assert await ring.identify(token) == made  # at once: looked up, not waited for
    assert CountingKeys.looked_up == 1
    for _ in range(3):
        assert await ring.identify(token) == made  # from memory now
    assert (CountingKeys.listed, CountingKeys.looked_up) == (1, 1)
    await keys.revoke("ci", 1.0)
    clock.jump(0.5)
    assert await ring.identify(token) == made  # the listing is still trusted
    clock.jump(0.5)
    with pytest.raises(ApiError) as refused:
        await ring.identify(token)
    assert (refused.value.status, refused.value.message) == (401, "Incorrect API key provided.")
    assert (CountingKeys.listed, CountingKeys.looked_up) == (2, 2)  # it was looked up too
    with pytest.raises(ApiError, match="Missing API key"):
        await ring.identify(None)
    for _ in range(3):  # an unknown token is looked up once per listing, not per request
        assert await ring.error("cwk_guess") is not None
    assert CountingKeys.looked_up == 3


async def test_a_server_is_open_until_a_key_exists(store: Store) -> None:
    clock = trio.testing.MockClock()
    keys = SqliteKeys(store)
    ring = Keyring((), keys, clock=clock.current_time)
    assert await ring.identify(None) is None
    assert await ring.identify("anything") is None
    assert not await ring.any()
    token, made = new_key("first", 0.0)
    await keys.create(made)
    clock.jump(1.0)
    assert await ring.any()
    assert await ring.identify(token) == made
    with pytest.raises(ApiError, match="Missing API key"):
        await ring.identify(None)
    await keys.revoke("first", 0.0)
    clock.jump(1.0)
    assert await ring.identify(None) is None  # open again


async def test_without_a_store_only_the_configs_keys_count() -> None:
    ring = Keyring(("k",))
    configured = await ring.identify("k")
    assert configured is not None
    assert configured.admin
    assert await ring.error("other") is not None
    assert await Keyring().identify(None) is None
