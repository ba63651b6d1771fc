"""Keys, usage and budgets as values: tokens, limits, periods, the 429, the usage answer."""

from __future__ import annotations

import calendar
import math
from typing import Any

import pytest

from cliwrap.access import (
    ApiKey,
    KeyLimits,
    UsageRow,
    budget_error,
    counters,
    day_of,
    new_key,
    period_of,
    sees_everyone,
    usage_body,
)
from cliwrap.access.keys import config_keys
from cliwrap.access.usage import rows_of, usage_answer
from cliwrap.conversations import key_id
from cliwrap.core.errors import ApiError, ErrorKind
from cliwrap.core.events import Usage
from cliwrap.runtime.runs import RunReport
from cliwrap.surfaces import anthropic_messages, openai_chat


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    return float(calendar.timegm((year, month, day, hour, minute, 0)))


def test_a_new_key_is_stored_as_its_hash_and_prefix_only() -> None:
    token, key = new_key("ci", 12.5, admin=True)
    assert token.startswith("cwk_")
    assert len(token) == 4 + 43
    assert key.id == key_id(token)
    assert token not in repr(key)
    assert key.prefix == token[:12]
    assert key.created == 12.5
    assert key.admin
    assert key.active
    assert new_key("ci", 0)[0] != token


@pytest.mark.parametrize("name", ["", " padded", "a" * 65, "tab\there"])
def test_a_key_needs_a_plain_name(name: str) -> None:
    with pytest.raises(ValueError, match="name"):
        new_key(name, 0)


def test_limits_round_trip_and_are_checked() -> None:
    limits = KeyLimits(rpm={"other": 5, "chat": 30}, concurrent=2, budget_usd=1.5)
    assert list(limits.rpm) == ["chat", "other"]  # one order, whatever the input's
    assert KeyLimits.from_dict(limits.as_dict()) == limits
    assert limits.has_budget
    assert not KeyLimits().has_budget
    with pytest.raises(ValueError, match="unknown endpoint group 'chats'"):
        KeyLimits(rpm={"chats": 1})
    with pytest.raises(ValueError, match="whole number"):
        KeyLimits(rpm={"chat": 0})
    with pytest.raises(ValueError, match="budget_period"):
        KeyLimits(budget_period="week")
    with pytest.raises(ValueError, match="concurrent"):
        KeyLimits(concurrent=-1)


def test_the_configs_keys_are_admin_keys_named_in_order() -> None:
    keys = config_keys(("first", "second"))
    assert [(k.name, k.admin, k.prefix) for k in keys.values()] == [
        ("config-1", True, ""),
        ("config-2", True, ""),
    ]
    assert set(keys) == {key_id("first"), key_id("second")}


def test_who_sees_everyone() -> None:
    assert sees_everyone(None)
    assert sees_everyone(ApiKey("i", "root", "cwk_", 0, admin=True))
    assert not sees_everyone(ApiKey("i", "ci", "cwk_", 0))


@pytest.mark.parametrize(
    ("period", "now", "start", "reset"),
    [
        ("day", utc(2026, 3, 14, 15, 9), "2026-03-14", utc(2026, 3, 15)),
        ("day", utc(2026, 12, 31, 23, 59), "2026-12-31", utc(2027, 1, 1)),
        ("month", utc(2026, 3, 14, 15, 9), "2026-03-01", utc(2026, 4, 1)),
        ("month", utc(2026, 12, 31, 23, 59), "2026-12-01", utc(2027, 1, 1)),
        ("month", utc(2028, 2, 29), "2028-02-01", utc(2028, 3, 1)),
    ],
)
def test_periods_are_utc_days_and_months(period: str, now: float, start: str, reset: float) -> None:
    assert period_of(period, now) == (start, reset)


def test_a_spent_budget_is_a_429_until_the_period_starts_afresh() -> None:
    now = utc(2026, 3, 14, 23, 0)
    tokens = KeyLimits(budget_tokens=1000)
    assert budget_error(tokens, 999, 0.0, now) is None
    error = budget_error(tokens, 1000, 0.0, now, "ci")
    assert error is not None
    assert (error.status, error.kind.openai_code) == (429, "budget_exceeded")
    assert error.retry_after == 3600.0  # midnight UTC
    assert "'ci'" in error.message
    assert "1000 of 1000 tokens" in error.message
    dollars = KeyLimits(budget_usd=2.0, budget_period="month")
    assert budget_error(dollars, 10**9, 1.99, now) is None  # no token budget: tokens are free
    error = budget_error(dollars, 0, 2.5, now)
    assert error is not None
    assert error.retry_after == utc(2026, 4, 1) - now
    assert budget_error(KeyLimits(), 10**9, 10**9, now) is None


def test_the_429_goes_out_with_retry_after_in_both_shapes() -> None:
    error = ApiError(ErrorKind.BUDGET_EXCEEDED, "spent", retry_after=3599.2)
    body = openai_chat.error_body(error)["error"]
    assert (body["type"], body["code"], body["retry_after"]) == (
        "rate_limit_error",
        "budget_exceeded",
        3600,
    )
    assert anthropic_messages.error_body(error)["error"]["type"] == "rate_limit_error"


def test_counters_count_fresh_input_cached_reads_output_and_cost() -> None:
    usage = Usage(
        input_tokens=10,
        output_tokens=5,
        cache_read_tokens=1000,
        cache_write_tokens=20,
        cost_usd=0.25,
    )
    assert counters(usage) == (30, 5, 1000, 0.25)
    assert counters(None) == (0, 0, 0, 0.0)
    assert counters(Usage(cost_usd=math.nan)) == (0, 0, 0, 0.0)
    assert counters(Usage(cost_usd=-1.0))[3] == 0.0


def test_a_day_is_a_utc_day() -> None:
    assert day_of(utc(2026, 3, 14, 23, 59)) == "2026-03-14"
    assert day_of(utc(2026, 3, 15)) == "2026-03-15"


def report(key: str, model: str, ended_at: float, usage: Usage | None) -> RunReport:
    return RunReport(
        request_id="req",
        surface="chat_completions",
        key_name=key,
        key_id="",
        client="127.0.0.1",
        model=model,
        provider="claude",
        stream=False,
        accepted_at=ended_at - 1,
        first_output_at=None,
        ended_at=ended_at,
        status=200,
        outcome="finished",
        usage=usage,
    )


def test_reports_sum_into_rows_per_key_model_and_day() -> None:
    day = utc(2026, 3, 14, 12)
    rows = rows_of(
        [
            report("ci", "sonnet", day, Usage(input_tokens=3, output_tokens=4, cost_usd=0.5)),
            report("ci", "sonnet", day + 60, Usage(input_tokens=1, cache_read_tokens=9)),
            report("ci", "sonnet", day + 86400, None),
            report("ci", "opus", day, None),
        ]
    )
    assert rows == [
        UsageRow("ci", "sonnet", "2026-03-14", 2, 4, 4, 9, 0.5),
        UsageRow("ci", "sonnet", "2026-03-15", 1),
        UsageRow("ci", "opus", "2026-03-14", 1),
    ]
    body = usage_body(rows)
    assert body["object"] == "list"
    assert [(r["date"], r["model"]) for r in body["data"]] == [
        ("2026-03-14", "opus"),
        ("2026-03-14", "sonnet"),
        ("2026-03-15", "sonnet"),
    ]
    assert body["totals"] == {
        "requests": 4,
        "input_tokens": 4,
        "output_tokens": 4,
        "cached_tokens": 9,
        "cost_usd": 0.5,
    }


class Rows:
    """A usage store that notes what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str | None, str, str]] = []

    async def add(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("not here")

    async def rows(self, key_name: str | None, since: str, until: str) -> list[UsageRow]:
        self.asked.append((key_name, since, until))
        return [UsageRow(key_name or "anyone", "sonnet", since, 1)]

    async def spent(self, key_name: str, since_day: str) -> tuple[int, float]:
        raise AssertionError("not here")


NOW = utc(2026, 3, 14, 12)
ADMIN = ApiKey("a", "root", "cwk_", 0, admin=True)
CI = ApiKey("c", "ci", "cwk_", 0)


async def test_usage_defaults_to_this_month_and_admins_see_everyone() -> None:
    store = Rows()
    body = await usage_answer(store, ADMIN, {}, NOW)
    assert store.asked == [(None, "2026-03-01", "2026-03-14")]
    assert body["data"][0]["key"] == "anyone"
    await usage_answer(store, None, {"key": "ci", "since": "2026-01-02"}, NOW)
    assert store.asked[-1] == ("ci", "2026-01-02", "2026-03-14")


async def test_other_keys_see_only_their_own_usage() -> None:
    store = Rows()
    await usage_answer(store, CI, {"until": "2026-03-10"}, NOW)
    await usage_answer(store, CI, {"key": "ci"}, NOW)
    assert [asked[0] for asked in store.asked] == ["ci", "ci"]
    with pytest.raises(ApiError) as refused:
        await usage_answer(store, CI, {"key": "root"}, NOW)
    assert (refused.value.status, refused.value.param) == (403, "key")


@pytest.mark.parametrize(
    ("args", "param"),
    [
        ({"since": "2026-3-1"}, "since"),
        ({"until": "2026-02-30"}, "until"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-03-02", "until": "2026-03-01"}, "since"),
    ],
)
async def test_bad_dates_are_a_400_naming_the_parameter(args: dict[str, str], param: str) -> None:
    with pytest.raises(ApiError) as refused:
        await usage_answer(Rows(), None, args, NOW)
    assert (refused.value.status, refused.value.param) == (400, param)


async def test_without_a_store_there_is_no_usage() -> None:
    body = await usage_answer(None, None, {}, NOW)
    assert body["data"] == []
    assert body["totals"]["requests"] == 0
