"""Roo Code / Cline XML tools: detection by score on their prompts' real shapes, no false
positives on talk about XML, and the tags intact in answers from the real CLIs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cliwrap.config import XmlToolsConfig
from cliwrap.request import ChatRequest, Message
from cliwrap.semantics import for_cli
from cliwrap.testing import LiveServer, StubThread
from cliwrap.xmltools import detect

from .conftest import SdkFactory
from .test_cli_matrix import CLIS, Cli, marker, model_requests, system_text

PROMPTS = Path(__file__).parent / "prompts"
ROO = (PROMPTS / "roo_code.md").read_text()
CLINE = (PROMPTS / "cline.md").read_text()
THRESHOLD = XmlToolsConfig().threshold

ORDINARY = [
    "You are a helpful assistant. Explain HTML: the <div> and <span> tags, and how </p> closes"
    " a paragraph. XML-ish markup such as <note><to>Tove</to></note> is fine to discuss.",
    "You are an expert in XML. When asked, write XML documents like <catalog><book id='1'>"
    "<title>Dune</title></book></catalog>, and explain XSLT and XPath.",
    "## Style guide\nAnswer briefly.\n## read_me\nMention that <read_me> files exist.",
    "",
]


@pytest.mark.parametrize(("prompt", "defined"), [(ROO, "apply_diff"), (CLINE, "replace_in_file")])
def test_roo_and_cline_prompts_are_detected_with_their_tools(prompt: str, defined: str) -> None:
    found = detect(prompt)
    assert found.found(THRESHOLD)
    assert found.score >= 3 * THRESHOLD
    assert defined in found.names
    assert "attempt_completion" in found.names
    assert "read_file" in found.names


@pytest.mark.parametrize("prompt", ORDINARY)
def test_talk_about_xml_is_not_an_xml_tool_client(prompt: str) -> None:
    assert not detect(prompt).found(THRESHOLD)


def test_known_tools_and_the_threshold_are_configurable() -> None:
    bare = "Use <deploy_site><env>prod</env></deploy_site> to deploy."
    assert not detect(bare).found(THRESHOLD)
    assert detect(bare, known=("deploy_site",)).score == 2.0
    chat = ChatRequest(model="m", messages=(Message("system", bare), Message("user", "go")))
    request, _ = for_cli(chat, XmlToolsConfig(threshold=2.0, known_tools=("deploy_site",)))
    assert request.system_prompt is not None
    assert "deploy_site" in request.system_prompt.split(bare)[1]
    request, _ = for_cli(chat)
    assert request.system_prompt == bare


def test_detection_adds_a_reminder_after_the_clients_prompt() -> None:
    chat = ChatRequest(model="m", messages=(Message("system", ROO), Message("user", "go")))
    request, filters = for_cli(chat)
    assert request.system_prompt is not None
    assert request.system_prompt.startswith(ROO)
    assert "write its XML tags directly in your answer" in request.system_prompt
    assert filters == ()  # the answer itself passes through untouched
    off, _ = for_cli(chat, XmlToolsConfig(enabled=False))
    assert off.system_prompt == ROO


TOOL_USE = (
    "I'll read the file first.\n\n<read_file>\n<args>\n  <file>\n    <path>src/app.py</path>\n"
    "  </file>\n</args>\n</read_file>"
)


@pytest.mark.real_cli
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
    assert text.endswith(TOOL_USE)
    sent = model_requests(stub, cli, tag)[0]
    assert "write its XML tags directly in your answer" in system_text(cli, sent.body)
