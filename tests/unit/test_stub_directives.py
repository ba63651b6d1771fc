"""The stub models' directives that tests steer them with (cliwrap.testing.directives)."""

from __future__ import annotations

from cliwrap.testing import read_plan


def test_done_ends_an_agents_loop_once_a_tool_result_is_back() -> None:
    ask = 'write [[call:Write {"path": "a"}]] [[done:Written.]]'
    first = read_plan(ask)
    assert first.reply.startswith("<tool_call>\n")
    assert '"name": "Write"' in first.reply
    later = read_plan(ask + '\n<tool_result name="Write" id="toolu_1">\nok\n</tool_result>')
    assert later.reply == "Written."
