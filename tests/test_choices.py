"""n > 1: parallel runs in the request's nursery, choices by index, streams interleaved."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest

from cliwrap.api.openai_chat import ChoicesCollector, ChoicesEncoder, parse_chat_request
from cliwrap.errors import ApiError, ErrorKind
from cliwrap.events import Failed, Finished, Indexed, TextDelta, Usage
from cliwrap.testing import LiveServer, group_alive

from .conftest import SdkFactory


def chunks(wire: bytes) -> list[Any]:
    return [
        line[6:] if line == b"data: [DONE]" else json.loads(line[6:])
        for line in wire.splitlines()
        if line.startswith(b"data: ")
    ]


def test_choices_stream_interleaved_by_index_and_end_once() -> None:
    encoder = ChoicesEncoder("m", 2, include_usage=True)
    wire = encoder.start()
    events: list[Indexed] = [
        (1, TextDelta("b1")),
        (0, TextDelta("a1")),
        (0, Usage(input_tokens=3, output_tokens=2)),
        (0, Finished()),
        (1, TextDelta("b2")),
        (1, Usage(input_tokens=3, output_tokens=4)),
        (1, Finished()),
    ]
    for event in events:
        wire += encoder.encode(event)
    data = chunks(wire)
    assert data[-1] == b"[DONE]"
    assert data.count(b"[DONE]") == 1
    body = [d for d in data if isinstance(d, dict)]
    assert len({d["id"] for d in body}) == 1
    text = {0: "", 1: ""}
    for d in body:
        for choice in d["choices"]:
            text[choice["index"]] += choice["delta"].get("content", "")
    assert text == {0: "a1", 1: "b1b2"}
    finishes = [c["index"] for d in body for c in d["choices"] if c["finish_reason"]]
    assert sorted(finishes) == [0, 1]
    assert body[-1]["choices"] == []
    assert body[-1]["usage"]["completion_tokens"] == 6
    assert encoder.done


def test_one_failed_run_fails_the_stream() -> None:
    encoder = ChoicesEncoder("m", 2)
    encoder.start()
    wire = encoder.encode((0, TextDelta("a")))
    wire += encoder.encode((1, Failed(ApiError(ErrorKind.CLI_FAILED, "boom"))))
    wire += encoder.encode((0, Finished()))
    data = chunks(wire)
    assert data[-2]["error"]["message"] == "boom"
    assert data[-1] == b"[DONE]"


def test_choices_collect_into_one_completion() -> None:
    collector = ChoicesCollector("m", 2)
    for event in [(0, TextDelta("a")), (1, TextDelta("b")), (0, Finished()), (1, Finished())]:
        collector.add(event)  # type: ignore[arg-type]
    body = collector.body()
    assert [(c["index"], c["message"]["content"]) for c in body["choices"]] == [(0, "a"), (1, "b")]


def test_n_is_checked() -> None:
    for bad in (0, 9, "2", True):
        with pytest.raises(ApiError) as caught:
            parse_chat_request(
                {"model": "m", "messages": [{"role": "user", "content": "x"}], "n": bad}
            )
        assert caught.value.param == "n"


@pytest.mark.real_cli
@pytest.mark.parametrize("model", ["sonnet", "gpt-5.5"])
def test_n_answers_come_from_parallel_runs(model: str, server: LiveServer, sdk: SdkFactory) -> None:
    before = set(server.pgids())
    most = 0
    done = threading.Event()

    def watch() -> None:
        nonlocal most
        while not done.wait(0.01):
            most = max(most, len(set(server.pgids()) - before))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        reply = sdk(server).chat.completions.create(
            model=model, n=3, messages=[{"role": "user", "content": "[[hold:1.5]] [[reply:hi]]"}]
        )
    finally:
        done.set()
        watcher.join()
    assert most == 3, "the three runs were not all running at once"
    assert [c.index for c in reply.choices] == [0, 1, 2]
    assert all(c.message.content == "hi" and c.finish_reason == "stop" for c in reply.choices)
    assert reply.usage is not None
    stream = sdk(server).chat.completions.create(
        model=model,
        n=2,
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "[[reply:one two three]] [[chunk:3]]"}],
    )
    text = {0: "", 1: ""}
    finished = set()
    usage = None
    for chunk in stream:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            text[choice.index] += choice.delta.content or ""
            if choice.finish_reason:
                finished.add(choice.index)
    assert text == {0: "one two three", 1: "one two three"}
    assert finished == {0, 1}
    assert usage is not None


@pytest.mark.real_cli
def test_a_disconnect_ends_every_run(server: LiveServer) -> None:
    before = set(server.pgids())
    body = {
        "model": "gpt-5.5",
        "n": 3,
        "stream": True,
        "messages": [{"role": "user", "content": "[[hold:30]]"}],
    }
    with httpx.stream("POST", server.base_url + "/chat/completions", json=body, timeout=30) as r:
        lines = r.iter_lines()  # kept: a dropped line iterator closes the response
        next(lines)
        groups = set(server.wait_for_cli(len(before) + 3)) - before
    assert len(groups) == 3
    deadline = time.monotonic() + 3
    while any(group_alive(g) for g in groups) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(group_alive(g) for g in groups)
