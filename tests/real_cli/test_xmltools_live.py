"""Roo Code / Cline XML tools: detection by score on their prompts' real shapes, no false
positives on talk about XML, and the tags intact in answers from the real CLIs."""

from __future__ import annotations

from typing import Any

import pytest

from cliwrap.testing import LiveServer, StubThread

from ..unit.test_xmltools import ROO, TOOL_USE
from .conftest import SdkFactory
from .test_cli_matrix import CLIS, Cli, marker, model_requests, system_text


@pytest.mark.parametrize("cli", [CLIS[0], CLIS[1]], ids=str)
def test_xml_tool_tags_come_back_intact(
    cli: Cli, server: LiveServer, sdk: SdkFactory, stub: StubThread
) -> None:
    tag = marker()
    messages: Any = [
        {"role": "system", "content": ROO},
        {"role": "user", "content": f"<task>fix it {tag}</task> [[reply:{TOOL_USE}]] [[chunk:3]]"},
    ]
    client = sdk(server)
    reply = client.chat.completions.create(model=cli.model, messages=messages)
    assert reply.choices[0].message.content == TOOL_USE
    stream = client.chat.completions.create(
        model=cli.model + "-progress",
        messages=messages,
        stream=True,
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == TOOL_USE  # no progress marks before the XML the client parses
    sent = model_requests(stub, cli, tag)[0]
    assert "write its XML tags directly in your answer" in system_text(cli, sent.body)
