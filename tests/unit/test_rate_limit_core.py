"""The rate limiter's arithmetic (GCRA, sans-IO) and the endpoint groups.

GCRA's promise, checked on any pace of requests: never more than ``burst`` + ``rate`` * t / 60
requests let through in any window of t seconds; a burst of exactly ``burst`` passes at
once; a refused request charges nothing; and its ``retry_after`` is exact: asked again at
that moment it passes, a moment before it does not.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cliwrap.access.groups import DEFAULT_PER_ADDRESS, EXPOSED_PER_ADDRESS, GROUPS, group_of
from cliwrap.access.limiter import (
    MICROS,
    PERIOD,
    Quota,
    client_address,
    decide,
    decide_all,
    interval_of,
)
from cliwrap.config import ConfigError, load_config

NOW = 1_800_000_000 * MICROS  # epoch-sized, as Redis's clock gives it

rates = st.integers(min_value=1, max_value=10_000)
gaps = st.lists(st.integers(min_value=0, max_value=5 * MICROS), min_size=1, max_size=300)


@pytest.mark.parametrize("rate", [1, 2, 7, 10, 60, 600, 10_000])
def test_a_burst_of_exactly_burst_passes_at_once_and_the_next_waits_one_interval(
    rate: int,
) -> None:
    tat = 0
    for _ in range(rate):
        decision = decide(NOW, tat, rate, rate)
        assert decision.allowed
        tat = decision.tat
    refused = decide(NOW, tat, rate, rate)
    assert not refused.allowed
    assert refused.tat == tat  # a refusal charges nothing
    assert refused.retry_after == interval_of(rate) / MICROS == pytest.approx(PERIOD / rate)


@settings(max_examples=200, deadline=None)
@given(rate=rates, gaps=gaps)
def test_never_more_than_the_burst_plus_the_rate_in_any_window(rate: int, gaps: list[int]) -> None:
    now, tat, passed = NOW, 0, []
    for gap in gaps:
        now += gap
        decision = decide(now, tat, rate, rate)
        if decision.allowed:
            passed.append(now)
            tat = decision.tat
        else:
            assert decision.tat == tat
            assert decision.retry_after > 0
    for i, start in enumerate(passed):
        for j in range(i, len(passed)):
            window = (passed[j] - start) / MICROS
            assert j - i + 1 <= rate + window / (interval_of(rate) / MICROS)


@settings(max_examples=200, deadline=None)
@given(rate=rates, gaps=gaps)
def test_retry_after_is_exact(rate: int, gaps: list[int]) -> None:
    now, tat = NOW, 0
    for gap in gaps:
        now += gap
        decision = decide(now, tat, rate, rate)
        if decision.allowed:
            tat = decision.tat
            continue
        later = now + round(decision.retry_after * MICROS)
        assert decide(later, tat, rate, rate).allowed
        assert not decide(later - 1, tat, rate, rate).allowed
        return


def test_an_idle_bucket_is_as_good_as_new() -> None:
    tat = 0
    for _ in range(3):
        tat = decide(NOW, tat, 3, 3).tat
    assert not decide(NOW, tat, 3, 3).allowed
    # A minute later the whole burst is back.
    later, again = NOW + int(PERIOD) * MICROS, tat
    for _ in range(3):
        decision = decide(later, again, 3, 3)
        assert decision.allowed
        again = decision.tat


def test_all_buckets_or_none() -> None:
    address = Quota("a:chat:1.2.3.4", 10, "address")
    key = Quota("k:chat:K", 1, "key")
    first = decide_all(NOW, [0, 0], [address, key])
    assert first.allowed
    second = decide_all(NOW, first.tats, [address, key])
    assert not second.allowed
    assert second.refused == key
    assert second.tats == first.tats  # the address's bucket was not charged either
    assert second.retry_after == pytest.approx(PERIOD)


def test_the_longest_wait_is_the_one_told() -> None:
    slow, fast = Quota("s", 1, "key"), Quota("f", 2, "address")
    minute = int(PERIOD) * MICROS
    full = decide_all(NOW, [NOW + minute, NOW + minute], [slow, fast])
    assert full.refused == slow
    assert full.retry_after == pytest.approx(60)


@pytest.mark.parametrize(
    ("method", "path", "group"),
    [
        ("POST", "/v1/chat/completions", "chat"),
        ("POST", "/v1/messages", "chat"),
        ("POST", "/v1/responses", "chat"),
        ("GET", "/v1/chat/completions", "other"),  # a 405, not a run
        ("POST", "/v1/messages/count_tokens", "other"),
        ("GET", "/v1/ws", "other"),  # the upgrade; each request frame counts as chat
        ("GET", "/v1/sessions", "sessions"),
        ("DELETE", "/v1/sessions/abc", "sessions"),
        ("GET", "/v1/sessions/stats", "sessions"),
        ("GET", "/v1/auth/status", "auth"),
        ("POST", "/v1/compatibility", "debug"),
        ("GET", "/v1/debug/anything", "debug"),
        ("GET", "/health", "health"),
        ("GET", "/healthz/deep", "health"),
        ("GET", "/version", "health"),
        ("GET", "/metrics", "health"),
        ("GET", "/v1/models", "other"),
        ("GET", "/v1/usage", "other"),
        ("DELETE", "/v1/requests/r1", "other"),
        ("GET", "/openapi.json", "other"),
        ("GET", "/", "other"),
        ("GET", "/v1/sessionsx", "other"),
        ("GET", "/healthzz", "other"),
    ],
)
def test_group_of(method: str, path: str, group: str) -> None:
    assert group_of(method, path) == group


def test_every_group_has_a_default_and_an_exposed_preset() -> None:
    assert set(DEFAULT_PER_ADDRESS) == set(EXPOSED_PER_ADDRESS) == set(GROUPS)
    assert all(DEFAULT_PER_ADDRESS[g] >= EXPOSED_PER_ADDRESS[g] for g in GROUPS)


def test_rate_limits_config(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[rate_limits]\nper_address = {chat = 5, health = 0}\nper_key = {chat = 2}\n")
    limits = load_config(path, {}).rate_limits
    assert limits.enabled
    assert dict(limits.per_address) == {"chat": 5, "health": 0}
    assert dict(limits.per_key) == {"chat": 2}
    for bad, said in [
        ("per_address = {chats = 5}", "per_address.chats: unknown group"),
        ('per_address = {chat = "5"}', "expected a table of whole numbers"),
        ("per_key = {chat = -1}", "per_key.chat: expected 0 (no limit) or more"),
        ("burst = 3", "unknown key 'burst'"),
    ]:
        path.write_text(f"[rate_limits]\n{bad}\n")
        with pytest.raises(ConfigError, match="rate_limits") as error:
            load_config(path, {})
        assert said in str(error.value)
    assert not load_config(None, {"CLIWRAP_RATE_LIMITS": "off"}).rate_limits.enabled
    assert load_config(None, {"CLIWRAP_REDIS_URL": "redis://r:6379/2"}).storage.redis_url == (
        "redis://r:6379/2"
    )
    with pytest.raises(ConfigError, match="redis_url: expected redis://host:port/db"):
        load_config(None, {"CLIWRAP_REDIS_URL": "r:6379"})


def test_the_client_address_is_forwarded_only_by_a_trusted_proxy() -> None:
    forwarded = {
        "client": ("127.0.0.1", 5000),
        "headers": [(b"x-forwarded-for", b"6.6.6.6, 10.1.2.3"), (b"host", b"x")],
    }
    assert client_address(forwarded, ["127.0.0.1"]) == "10.1.2.3"  # what nginx appended
    assert client_address(forwarded) == "127.0.0.1"  # not trusted: its own address
    assert client_address({"client": ("127.0.0.1", 1), "headers": []}, ["127.0.0.1"]) == (
        "127.0.0.1"
    )
    assert client_address({"client": None}) is None
    assert client_address({}) is None
