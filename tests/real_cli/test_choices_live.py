"""n > 1: parallel runs in the request's nursery, choices by index, streams interleaved."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from cliwrap.testing import LiveServer, group_alive

from .conftest import SdkFactory, ServerFactory


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


def test_a_disconnect_ends_every_run(start_server: ServerFactory) -> None:
    # Keepalives every 0.3 s: the stream's headers come with the first one.
    server = start_server(server={"keepalive_interval": 0.3})
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
    deadline = time.monotonic() + 30
    while any(group_alive(g) for g in groups) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(group_alive(g) for g in groups)
