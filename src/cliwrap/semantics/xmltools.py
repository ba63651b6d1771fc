"""Clients whose system prompt defines XML-style tools (Roo Code, Cline, Kilo Code…), sans I/O.

Those clients do not send ``tools``: their system prompt describes each tool and says to call
it by writing its tags, ``<read_file><path>…</path></read_file>``, and they parse the answer
for them. cliwrap passes answers through untouched, so the tags always arrive intact; what
detection adds is a short reminder after the client's prompt, because a CLI's model is
otherwise inclined to reach for tools of its own, or to put the tags in a code block.

Detection is a score, so that a prompt that merely talks about XML is left alone. Points come
from tools the prompt *defines* (a ``## name`` section whose ``<name>`` tags appear in it), from
configured well-known tool names used as tags, and from the phrases these prompts share;
the client is taken for an XML-tool client when the score reaches the threshold.
"""

from __future__ import annotations

import re

import attrs

__all__ = ["KNOWN_TOOLS", "XmlTools", "detect", "reminder"]

KNOWN_TOOLS = (
    "read_file",
    "write_to_file",
    "apply_diff",
    "replace_in_file",
    "search_files",
    "list_files",
    "list_code_definition_names",
    "execute_command",
    "ask_followup_question",
    "attempt_completion",
    "new_task",
    "switch_mode",
    "update_todo_list",
    "browser_action",
    "use_mcp_tool",
    "access_mcp_resource",
    "insert_content",
    "search_and_replace",
    "plan_mode_respond",
)
"""The tools of Roo Code and Cline; ``[xml_tools] known_tools`` replaces the list."""

_PHRASES = (
    "tool use formatting",
    "xml-style tags",
    "tool name itself becomes the xml tag name",
    "one tool per message",
    "tool name is enclosed in opening and closing tags",
)
_SECTION = re.compile(r"^#{2,3} ([a-z][a-z0-9_]{2,63})\s*$", re.MULTILINE)

DEFINED = 3.0
KNOWN = 2.0
PHRASE = 1.5


@attrs.frozen
class XmlTools:
    """What detection found: the score, and the tool names the prompt defines or uses."""

    score: float
    names: tuple[str, ...]

    def found(self, threshold: float) -> bool:
        return self.score >= threshold


def detect(system_prompt: str | None, known: tuple[str, ...] = KNOWN_TOOLS) -> XmlTools:
    """Score ``system_prompt`` as the prompt of an XML-tool client (pure; no I/O)."""
    if not system_prompt:
        return XmlTools(0.0, ())
    lowered = system_prompt.lower()
    defined = [
        name
        for name in dict.fromkeys(_SECTION.findall(system_prompt))
        if f"<{name}>" in system_prompt and f"</{name}>" in system_prompt
    ]
    used = [
        name
        for name in known
        if name not in defined and f"<{name}>" in system_prompt and f"</{name}>" in system_prompt
    ]
    phrases = sum(phrase in lowered for phrase in _PHRASES)
    score = DEFINED * len(defined) + KNOWN * len(used) + PHRASE * phrases
    return XmlTools(score, (*defined, *used))


def reminder(tools: XmlTools) -> str:
    """The words added after such a client's system prompt."""
    names = ", ".join(tools.names[:30]) or "the tools described above"
    return (
        "# Calling the tools above\n\n"
        f"Your only tools are the XML tools described above ({names}). To use one, write "
        "its XML tags directly in your answer, exactly in the format shown above: not inside "
        "a code block, not escaped, one tool per message, and end your message after the "
        "closing tag. Do not use any other tool or function-calling mechanism."
    )
