"""Roo Code / Cline XML tools: detection by score on their prompts' real shapes, no false
positives on talk about XML, and the tags intact in answers from the real CLIs."""

from __future__ import annotations

from pathlib import Path

import pytest

from cliwrap.config import XmlToolsConfig
from cliwrap.core.request import ChatRequest, Message
from cliwrap.semantics.chain import semantics_for
from cliwrap.semantics.xmltools import detect

PROMPTS = Path(__file__).parents[1] / "prompts"
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
    request = semantics_for(
        chat, XmlToolsConfig(threshold=2.0, known_tools=("deploy_site",))
    ).request
    assert request.system_prompt is not None
    assert "deploy_site" in request.system_prompt.split(bare)[1]
    request = semantics_for(chat).request
    assert request.system_prompt == bare


def test_detection_adds_a_reminder_after_the_clients_prompt() -> None:
    chat = ChatRequest(model="m", messages=(Message("system", ROO), Message("user", "go")))
    planned = semantics_for(chat)
    request, filters = planned.request, planned.filters
    assert request.system_prompt is not None
    assert request.system_prompt.startswith(ROO)
    assert "write its XML tags directly in your answer" in request.system_prompt
    assert filters == ()  # the answer itself passes through untouched
    off = semantics_for(chat, XmlToolsConfig(enabled=False)).request
    assert off.system_prompt == ROO


TOOL_USE = (
    "I'll read the file first.\n\n<read_file>\n<args>\n  <file>\n    <path>src/app.py</path>\n"
    "  </file>\n</args>\n</read_file>"
)
