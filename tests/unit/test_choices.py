"""n > 1: parallel runs in the request's nursery, choices by index, streams interleaved."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cliwrap.core.errors import ApiError, ErrorKind
from cliwrap.core.events import Failed, Finished, Indexed, TextDelta, Usage
from cliwrap.surfaces.openai_chat import ChoicesCollector, ChoicesEncoder, parse_chat_request


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
