"""Cline 3.x, replayed: its real request through the OpenAI SDK, as its "OpenAI Compatible"
provider sends it.

Cline is a VS Code extension with no headless mode, so no test can run it. What it sends is
known: its system prompt (tests/prompts/cline.md, taken from Cline 3.x), the task and the
environment details as text parts of the user turn, ``temperature: 0``, a stream with usage.
It reads its XML tools out of the streamed text, so they must arrive exactly as the model
wrote them; the tool's result comes back as text in the next user turn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai

from cliwrap.testing import LiveServer

from .model import ScriptedModel, reply

CLINE = (Path(__file__).parents[1] / "prompts" / "cline.md").read_text()
WRITE = (
    "<write_to_file>\n<path>hello.txt</path>\n<content>\nhi from Cline\n</content>\n"
    "</write_to_file>"
)
DONE = "<attempt_completion>\n<result>\nhello.txt is written.\n</result>\n</attempt_completion>"
TASK = "<task>\nWrite the Cline greeting to hello.txt\n</task>"
ENVIRONMENT = (
    "<environment_details>\n# Current Working Directory (/home/me/project) Files\n"
    "No files found.\n</environment_details>"
)


def _streamed(client: openai.OpenAI, messages: list[Any]) -> tuple[str, Any]:
    stream = client.chat.completions.create(
        model="sonnet",
        messages=[{"role": "system", "content": CLINE}, *messages],
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage = "", None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
        usage = chunk.usage or usage
    return text, usage


def test_cline_gets_its_xml_tools_back_verbatim(server: LiveServer, model: ScriptedModel) -> None:
    model.script("Write the Cline greeting", reply(WRITE), reply(DONE))
    task: dict[str, Any] = {
        "role": "user",
        "content": [{"type": "text", "text": TASK}, {"type": "text", "text": ENVIRONMENT}],
    }
    with openai.OpenAI(base_url=server.base_url, api_key="KEY", max_retries=0) as client:
        text, usage = _streamed(client, [task])
        assert text == WRITE
        assert usage is not None
        assert usage.completion_tokens > 0
        result = "[write_to_file for 'hello.txt'] Result:\nThe content was successfully saved."
        answer, _ = _streamed(
            client,
            [
                task,
                {"role": "assistant", "content": text},
                {"role": "user", "content": [{"type": "text", "text": result}]},
            ],
        )
    assert answer == DONE
