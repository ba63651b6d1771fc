"""Structured output: ``response_format`` (and the other surfaces' spellings of it).

The filter's decisions as unit tests, then the SDKs against real CLIs whose stub models answer
with JSON (clean, fenced, or not matching) as a model would.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest

from cliwrap.testing import LiveServer, StubThread

from ..unit.test_structured import ADA, PERSON, SCHEMA_FORMAT, reply
from .conftest import SdkFactory
from .test_cli_matrix import CLIS, Cli, marker, model_requests, system_text

# Against the real CLIs.


@pytest.mark.parametrize("cli", [CLIS[0], CLIS[1]], ids=str)
def test_json_schema_answers_validate(
    cli: Cli, server: LiveServer, sdk: SdkFactory, stub: StubThread
) -> None:
    tag = marker()
    answer = sdk(server).chat.completions.create(
        model=cli.model,
        messages=[{"role": "user", "content": f"who? {tag} {reply(ADA)}"}],
        response_format=SCHEMA_FORMAT,
    )
    assert json.loads(answer.choices[0].message.content or "") == ADA
    (sent,) = model_requests(stub, cli, tag)
    assert '\\"age\\"' in system_text(cli, sent.body)  # the schema reached the model
    stream = sdk(server).chat.completions.create(
        model=cli.model,
        stream=True,
        messages=[{"role": "user", "content": f"Sure! ```json {reply(ADA)} ```"}],
        response_format={"type": "json_object"},
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert json.loads(text) == ADA


def test_an_answer_that_does_not_validate_is_an_error(server: LiveServer, sdk: SdkFactory) -> None:
    ask: Any = [{"role": "user", "content": reply({"name": "Ada"})}]
    with pytest.raises(openai.APIStatusError) as caught:
        sdk(server).chat.completions.create(
            model="sonnet",
            messages=ask,
            response_format=SCHEMA_FORMAT,
        )
    assert caught.value.status_code == 502
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["code"] == "invalid_model_output"
    assert "'age' is a required property" in caught.value.body["message"]
    with pytest.raises(openai.APIError) as streamed:
        for _ in sdk(server).chat.completions.create(
            model="sonnet",
            messages=ask,
            stream=True,
            response_format=SCHEMA_FORMAT,
        ):
            pass
    assert "'age' is a required property" in str(streamed.value)


def test_responses_text_format_and_anthropic_output_format(
    server: LiveServer, sdk: SdkFactory
) -> None:
    response = sdk(server).responses.create(
        model="gpt-5.5",
        input=f"who? {reply(ADA)}",
        text={"format": {"type": "json_schema", "name": "person", "schema": PERSON}},
    )
    assert json.loads(response.output_text) == ADA
    with anthropic.Anthropic(base_url=server.url, api_key="unused", max_retries=0) as client:
        message = client.messages.create(
            model="qwen3-coder-plus",
            max_tokens=256,
            messages=[{"role": "user", "content": f"who? {reply(ADA)}"}],
            extra_body={"output_format": {"type": "json_schema", "schema": PERSON}},
        )
    assert message.content[-1].type == "text"
    assert json.loads(message.content[-1].text) == ADA
