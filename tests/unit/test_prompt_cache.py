"""The stubs' simulated prompt cache (cliwrap.testing.prompt_cache): its two rules, the usage
each stub API reports from it, and the cached tokens in the usage cliwrap's surfaces report."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from cliwrap.core.events import Finished, Usage
from cliwrap.surfaces.anthropic_messages import MessageCollector, MessageEncoder
from cliwrap.surfaces.openai_responses import ResponseCollector
from cliwrap.surfaces.websocket_frames import event_frames
from cliwrap.testing import CacheStats, PromptCache, Recorded, StubBackends
from cliwrap.testing.prompt_cache import CacheUsage, Prompt, estimate_tokens

EPHEMERAL = {"type": "ephemeral"}


def block(text: str, *, mark: bool = False) -> dict[str, Any]:
    return {"type": "text", "text": text, **({"cache_control": EPHEMERAL} if mark else {})}


def text_of_tokens(tokens: int, tag: str) -> str:
    """A text part whose JSON is exactly ``tokens`` tokens."""
    overhead = len(json.dumps(block(""), separators=(",", ":")))
    return tag + "x" * (4 * tokens - overhead - len(tag))


def test_the_estimate_is_a_quarter_of_the_json_rounded_up() -> None:
    assert [estimate_tokens("a" * n) for n in (0, 1, 4, 5, 8)] == [0, 1, 1, 2, 2]
    prompt = Prompt.of([{"a": 1}, "é"])
    assert prompt.parts == ('{"a":1}', '"é"')
    assert prompt.tokens == 2 + 1


def test_cache_control_marks_a_breakpoint_and_is_not_content() -> None:
    marked = Prompt.of([block("a"), block("b", mark=True), {**block("c"), "cache_control": None}])
    assert marked.breakpoints == (1,)
    assert marked.parts == Prompt.of([block("a"), block("b"), block("c")]).parts


# Anthropic: breakpoints


def anthropic(cache: PromptCache, *blocks: dict[str, Any], model: str = "m") -> CacheUsage:
    return cache.breakpoints("messages", [model], Prompt.of(blocks))


def test_a_breakpoint_writes_its_prefix_and_the_same_prefix_is_read_next_time() -> None:
    cache = PromptCache(min_tokens=100)
    system = block(text_of_tokens(120, "system"), mark=True)
    question = block(text_of_tokens(30, "q1"))
    first = anthropic(cache, system, question)
    assert first == CacheUsage(prompt_tokens=150, cached_tokens=0, written_tokens=120)
    assert first.uncached_tokens == 30
    second = anthropic(cache, system, block(text_of_tokens(40, "q2")))
    assert second == CacheUsage(prompt_tokens=160, cached_tokens=120, written_tokens=0)
    assert second.uncached_tokens == 40


def test_a_breakpoint_that_moves_to_the_newest_turn_reads_the_last_turns_prefix() -> None:
    cache = PromptCache(min_tokens=100)
    system = block(text_of_tokens(100, "system"), mark=True)
    turn1 = block(text_of_tokens(50, "turn1"))
    anthropic(cache, system, {**turn1, "cache_control": EPHEMERAL})
    answer = block(text_of_tokens(20, "answer"))
    turn2 = block(text_of_tokens(30, "turn2"), mark=True)
    usage = anthropic(cache, system, turn1, answer, turn2)
    assert usage == CacheUsage(prompt_tokens=200, cached_tokens=150, written_tokens=50)


def test_the_lookback_reaches_20_blocks_before_a_breakpoint_and_no_further() -> None:
    system = block(text_of_tokens(100, "system"))
    for turns, read in ((19, 100), (20, 0)):
        cache = PromptCache(min_tokens=100)
        anthropic(cache, {**system, "cache_control": EPHEMERAL})
        later = [block(f"turn {n}") for n in range(turns)] + [block("last", mark=True)]
        assert anthropic(cache, system, *later).cached_tokens == read


def test_nothing_is_cached_without_a_breakpoint_below_the_minimum_or_after_a_change() -> None:
    cache = PromptCache(min_tokens=100)
    long = block(text_of_tokens(150, "long"))
    anthropic(cache, long)
    assert anthropic(cache, long) == CacheUsage(150)  # no breakpoint: nothing written
    short = block(text_of_tokens(99, "short"), mark=True)
    anthropic(cache, short)
    assert anthropic(cache, short) == CacheUsage(99)  # too short to cache
    tools = {"name": "t", "input_schema": {}, "description": "x" * 400}
    marked = block(text_of_tokens(150, "system"), mark=True)
    anthropic(cache, tools, marked)
    assert anthropic(cache, {**tools, "description": "y" * 400}, marked).cached_tokens == 0
    assert anthropic(cache, tools, marked, model="other").cached_tokens == 0


def test_the_longest_cached_breakpoint_prefix_is_read() -> None:
    cache = PromptCache(min_tokens=100)
    tools = block(text_of_tokens(110, "tools"), mark=True)
    system = block(text_of_tokens(100, "system"), mark=True)
    first = anthropic(cache, tools, system)
    assert (first.cached_tokens, first.written_tokens) == (0, 110 + 100)
    other = block(text_of_tokens(100, "other"), mark=True)
    usage = anthropic(cache, tools, other)
    assert (usage.cached_tokens, usage.written_tokens) == (110, 100)


# OpenAI and Gemini: automatic prefixes


def automatic(cache: PromptCache, *parts: str, key: str = "") -> CacheUsage:
    return cache.prefix("chat", ["model", key], Prompt.of(parts))


def test_an_identical_prompt_reads_whole_blocks_of_its_prefix() -> None:
    cache = PromptCache(min_tokens=256, granularity=128)
    prompt = "a" * (4 * 600 - 2)  # 600 tokens of JSON: four whole blocks of 128 and some
    assert automatic(cache, prompt) == CacheUsage(600)
    assert automatic(cache, prompt) == CacheUsage(600, cached_tokens=512)


def test_a_prompt_that_grows_inside_its_last_part_still_reads_its_start() -> None:
    cache = PromptCache(min_tokens=256, granularity=128)
    automatic(cache, "system", "user: " + "b" * 2000)
    usage = automatic(cache, "system", "user: " + "b" * 2000 + " and then " + "c" * 2000)
    assert usage.cached_tokens == 384  # 2,015 characters shared: three whole blocks of 512


def test_the_minimum_holds_for_storing_and_for_reading() -> None:
    cache = PromptCache(min_tokens=256, granularity=128)
    short = "a" * (4 * 250)
    automatic(cache, short)
    assert automatic(cache, short + "more" * 100).cached_tokens == 0  # the short one was not kept
    automatic(cache, "b" * 4 * 300)
    assert automatic(cache, "b" * 4 * 200 + "c" * 4 * 200).cached_tokens == 0  # 128 < 256 shared


def test_a_prompt_cache_key_keeps_its_own_entries() -> None:
    cache = PromptCache(min_tokens=256, granularity=128)
    prompt = "a" * 4 * 600
    automatic(cache, prompt, key="thread-1")
    assert automatic(cache, prompt, key="thread-2").cached_tokens == 0
    assert automatic(cache, prompt, key="thread-1").cached_tokens == 512
    assert automatic(cache, prompt).cached_tokens == 0


# Stats


def test_stats_add_up_per_api_and_in_all() -> None:
    cache = PromptCache(min_tokens=256, granularity=128)
    prompt = "a" * (4 * 600 - 2)
    automatic(cache, prompt)
    before = cache.stats()
    automatic(cache, prompt)
    anthropic(cache, block("hi", mark=True))
    assert cache.stats("chat") == CacheStats(requests=2, input_tokens=1200, cached_tokens=512)
    assert cache.stats("messages").requests == 1
    assert cache.stats("gemini") == CacheStats()
    stretch = cache.stats() - before
    assert stretch == CacheStats(requests=2, input_tokens=600 + 7, cached_tokens=512)
    assert stretch.cached_share == pytest.approx(512 / 607)
    assert CacheStats().cached_share == 0.0


def test_requests_from_many_threads_are_all_counted() -> None:
    cache = PromptCache(min_tokens=256, granularity=128)

    def ask(n: int) -> None:
        for turn in range(50):
            automatic(cache, "shared " * 300, f"thread {n} turn {turn}")

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = cache.stats()
    assert stats.requests == 400
    assert stats.cached_tokens == 399 * 512  # 2,103 characters shared: four blocks of 128 tokens


# The stubs' usage


def post(backends: StubBackends, path: str, body: dict[str, Any]) -> list[Any]:
    """The JSON payloads of the stub's answer (each SSE event's data, or the whole body)."""
    response = backends(Recorded("POST", path, {}, body))
    raw = b"".join(step for step in response.steps if isinstance(step, bytes)).decode()
    if ("content-type", "text/event-stream") not in response.headers:
        return [response.status, json.loads(raw)]
    lines = [line[6:] for line in raw.splitlines() if line.startswith("data: ")]
    return [response.status, *(json.loads(line) for line in lines if line != "[DONE]")]


LONG = "Be brief. " * 500  # about 1,250 tokens: over the default minimum of 1,024


def test_messages_report_cache_reads_and_writes_at_start_and_at_the_end() -> None:
    backends = StubBackends()
    body = {
        "model": "claude-x",
        "stream": True,
        "system": [block(LONG, mark=True)],
        "messages": [{"role": "user", "content": [block("hello [[reply:hi]]", mark=True)]}],
    }
    status, start, *_, delta, _stop = post(backends, "/v1/messages", body)
    assert status == 200
    first = start["message"]["usage"]
    assert first["cache_read_input_tokens"] == 0
    assert first["cache_creation_input_tokens"] > 1024
    assert first["input_tokens"] == 0  # everything is before the last breakpoint
    status, again = post(backends, "/v1/messages", {**body, "stream": False})
    usage = again["usage"]
    assert usage["cache_read_input_tokens"] == first["cache_creation_input_tokens"]
    assert (usage["cache_creation_input_tokens"], usage["input_tokens"]) == (0, 0)
    assert delta["type"] == "message_delta"
    assert delta["usage"]["cache_creation_input_tokens"] == first["cache_creation_input_tokens"]
    assert backends.stats("messages").cached_share == pytest.approx(0.5)


def test_messages_refuse_more_than_four_breakpoints_as_the_api_does() -> None:
    blocks = [block(f"part {n}", mark=True) for n in range(5)]
    body = {"model": "m", "messages": [{"role": "user", "content": blocks}]}
    status, error = post(StubBackends(), "/v1/messages", body)
    assert status == 400
    assert error["error"]["type"] == "invalid_request_error"
    limit = "A maximum of 4 blocks with cache_control may be provided. Found 5."
    assert limit in error["error"]["message"]


def test_chat_completions_count_cached_tokens_inside_the_prompt_tokens() -> None:
    backends = StubBackends()
    body = {
        "model": "qwen",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "system", "content": LONG}, {"role": "user", "content": "hi"}],
    }
    *_, cold = post(backends, "/v1/chat/completions", body)
    *_, warm = post(backends, "/v1/chat/completions", body)
    assert cold["usage"]["prompt_tokens_details"] == {"cached_tokens": 0}
    assert warm["usage"]["prompt_tokens"] == cold["usage"]["prompt_tokens"]
    assert warm["usage"]["prompt_tokens_details"]["cached_tokens"] >= 1024
    assert warm["usage"]["prompt_tokens_details"]["cached_tokens"] % 128 == 0
    _, whole = post(backends, "/v1/chat/completions", {**body, "stream": False, "model": "other"})
    assert whole["usage"]["prompt_tokens_details"] == {"cached_tokens": 0}  # another model


def test_responses_ignore_item_ids_and_keep_each_prompt_cache_key_apart() -> None:
    backends = StubBackends()

    def body(item_id: str, key: str) -> dict[str, Any]:
        message = {"type": "message", "id": item_id, "role": "developer", "content": LONG}
        return {"model": "gpt", "prompt_cache_key": key, "input": [message]}

    post(backends, "/v1/responses", body("msg_1", "thread-a"))
    _, hit = post(backends, "/v1/responses", body("msg_2", "thread-a"))
    _, miss = post(backends, "/v1/responses", body("msg_3", "thread-b"))
    assert hit["usage"]["input_tokens_details"]["cached_tokens"] >= 1024
    assert hit["usage"]["input_tokens"] > hit["usage"]["input_tokens_details"]["cached_tokens"]
    assert miss["usage"]["input_tokens_details"]["cached_tokens"] == 0


def test_gemini_reports_cached_content_within_the_prompt_count() -> None:
    backends = StubBackends()
    path = "/v1beta/models/gemini-x:streamGenerateContent?alt=sse"
    body = {
        "systemInstruction": {"parts": [{"text": LONG}]},
        "contents": [{"role": "user", "parts": [{"text": "hi [[reply:hello]]"}]}],
    }
    *_, cold = post(backends, path, body)
    _, warm = post(backends, "/v1beta/models/gemini-x:generateContent", body)
    assert "cachedContentTokenCount" not in cold["usageMetadata"]  # Google leaves out a zero
    usage = warm["usageMetadata"]
    assert 1024 <= usage["cachedContentTokenCount"] < usage["promptTokenCount"]
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]


def test_each_stub_server_has_a_cache_of_its_own() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": LONG}]}
    one, other = StubBackends(), StubBackends()
    post(one, "/v1/chat/completions", body)
    _, fresh = post(other, "/v1/chat/completions", body)
    assert fresh["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
    assert (one.stats().requests, other.stats().requests) == (1, 1)


# What cliwrap reports of them


def test_every_surface_reports_the_cached_tokens_a_cli_reported() -> None:
    usage = Usage(input_tokens=10, output_tokens=2, cache_read_tokens=300, cache_write_tokens=40)
    messages, responses = MessageCollector("m"), ResponseCollector("m")
    for collector in (messages, responses):
        collector.add(usage)
        collector.add(Finished())
    assert messages.body()["usage"] == {
        "input_tokens": 10,
        "output_tokens": 2,
        "cache_creation_input_tokens": 40,
        "cache_read_input_tokens": 300,
    }
    answer = responses.body()["usage"]
    assert answer["input_tokens"] == 350
    assert answer["input_tokens_details"] == {"cached_tokens": 300, "cache_write_tokens": 40}
    (frame,) = event_frames("r1", usage)
    assert frame["usage"]["prompt_tokens"] == 350
    assert frame["usage"]["prompt_tokens_details"] == {"cached_tokens": 300}
    stream = MessageEncoder("m")
    wire = (stream.start() + stream.encode(usage) + stream.encode(Finished())).decode()
    (delta,) = [line for line in wire.splitlines() if '"message_delta"' in line]
    assert json.loads(delta.removeprefix("data: "))["usage"]["cache_read_input_tokens"] == 300
