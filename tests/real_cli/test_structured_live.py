"""Structured output: ``response_format`` (and the other surfaces' spellings of it).

The filter's decisions as unit tests, then the SDKs against real CLIs whose stub models answer
with JSON (clean, fenced, or not matching) as a model would.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anthropic
import instructor
import openai
import pydantic
import pytest
from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

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
        messages=[{"role": "user", "content": f"[[reply:Sure!\n```json\n{json.dumps(ADA)}\n```]]"}],
        response_format={"type": "json_object"},
    )
    pieces = [c.choices[0].delta.content for c in stream if c.choices]
    text = "".join(p or "" for p in pieces)
    assert json.loads(text) == ADA
    assert len([p for p in pieces if p]) > 3  # streamed as written, fence dropped


def test_an_answer_that_does_not_validate_reaches_the_client(
    server: LiveServer, sdk: SdkFactory
) -> None:
    """As written, finished as the model finished it: the client validates, and may ask
    again; a 5xx would only make the SDK repeat the same prompt."""
    ask: Any = [{"role": "user", "content": reply({"name": "Ada"})}]
    answer = sdk(server).chat.completions.create(
        model="sonnet", messages=ask, response_format=SCHEMA_FORMAT
    )
    assert answer.choices[0].message.content == '{"name": "Ada"}'
    assert answer.choices[0].finish_reason == "stop"
    chunks = list(
        sdk(server).chat.completions.create(
            model="sonnet", messages=ask, stream=True, response_format=SCHEMA_FORMAT
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        '{"name": "Ada"}'
    )
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


class Person(pydantic.BaseModel):
    name: str
    age: int


def test_instructor_reasks_and_gets_a_valid_answer(
    server: LiveServer, sdk: SdkFactory, stub: StubThread
) -> None:
    tag = marker()
    client = instructor.from_openai(sdk(server), mode=instructor.Mode.JSON)
    person = client.chat.completions.create(
        model="sonnet",
        response_model=Person,
        max_retries=2,
        messages=[
            {
                "role": "user",
                "content": f"who? {tag} {reply({'name': 'Ada'})} [[repaired:{json.dumps(ADA)}]]",
            }
        ],
    )
    assert person.model_dump() == ADA
    assert len(model_requests(stub, CLIS[0], tag)) == 2  # the first answer, then the re-ask


def test_pydantic_ai_retries_its_output_and_gets_a_valid_answer(
    server: LiveServer, stub: StubThread
) -> None:
    """pydantic-ai asks for its output as a call of its ``final_result`` tool; a call whose
    arguments do not validate goes back to the model with what was wrong."""
    tag = marker()
    good = json.dumps({"name": "final_result", "arguments": ADA})
    prompt = (
        f"who? {tag} [[call:final_result {json.dumps({'name': 'Ada'})}]] "
        f"[[repaired:<tool_call>\n{good}\n</tool_call>]]"
    )

    async def ask() -> Any:
        async with openai.AsyncOpenAI(
            base_url=server.base_url, api_key="unused", max_retries=0
        ) as client:
            model = OpenAIChatModel("sonnet", provider=OpenAIProvider(openai_client=client))
            agent = Agent(model, output_type=Person, retries=2)
            return (await agent.run(prompt)).output

    assert asyncio.run(ask()).model_dump() == ADA
    assert len(model_requests(stub, CLIS[0], tag)) == 2


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
