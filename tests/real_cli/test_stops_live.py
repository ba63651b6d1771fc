"""Stop sequences: the filter at every split of the answer, and through the SDKs on real CLIs."""

from __future__ import annotations

import anthropic
import pytest

from cliwrap.testing import LiveServer

from ..unit.test_stops import SLOW
from .conftest import SdkFactory


@pytest.mark.parametrize("model", ["sonnet", "qwen3-coder-plus"])
def test_openai_stop_cuts_the_answer_and_ends_the_run(
    model: str, server: LiveServer, sdk: SdkFactory
) -> None:
    client = sdk(server)
    # That the run is stopped at once (not left to finish) is tested on the MockClock
    # (tests/runtime/test_job.py); here, the answer as a client sees it.
    reply = client.chat.completions.create(
        model=model, stop=["END", "nine"], messages=[{"role": "user", "content": SLOW}]
    )
    assert reply.choices[0].message.content == "one two "
    assert reply.choices[0].finish_reason == "stop"
    stream = client.chat.completions.create(
        model=model, stop="END", stream=True, messages=[{"role": "user", "content": SLOW}]
    )
    chunks = [c.choices[0] for c in stream if c.choices]
    assert "".join(c.delta.content or "" for c in chunks) == "one two "
    assert chunks[-1].finish_reason == "stop"


def test_anthropic_stop_sequences_say_which_one(server: LiveServer) -> None:
    with anthropic.Anthropic(base_url=server.url, api_key="unused", max_retries=0) as client:
        message = client.messages.create(
            model="gpt-5.5",
            max_tokens=64,
            stop_sequences=["END"],
            messages=[{"role": "user", "content": SLOW}],
        )
    assert message.content[-1].type == "text"
    assert message.content[-1].text == "one two "
    assert message.stop_reason == "stop_sequence"
    assert message.stop_sequence == "END"
