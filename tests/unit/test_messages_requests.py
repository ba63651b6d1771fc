"""The Messages surface's request side as current clients write it, sans I/O.

Claude Code (the pinned 2.1.328) sends system turns inside ``messages``, ``cache_control`` on
system blocks, messages and tools, ``context_management``, ``thinking`` with a ``display``,
``output_config.effort`` and a ``defer_loading`` tool; the Anthropic SDK's
``messages.parse(output_format=...)`` sends ``output_config.format``. ``CLAUDE_CODE`` is the
shape of Claude Code's first request, recorded against a stub and cut to its fields.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from cliwrap.core.errors import ApiError, ErrorKind
from cliwrap.core.events import Finished, FinishReason, ToolCalled
from cliwrap.core.request import ChatRequest, ResponseFormat, ToolCall
from cliwrap.semantics.chain import semantics_for
from cliwrap.semantics.tools import new_call_id
from cliwrap.semantics.transcript import render_prompt
from cliwrap.surfaces.anthropic_messages import (
    MessageCollector,
    MessageEncoder,
    count_tokens,
    parse_messages_request,
    server_tools,
)

from .test_images import PNG
from .test_structured import PERSON

EPHEMERAL = {"type": "ephemeral"}
CLAUDE_CODE: dict[str, Any] = {
    "model": "claude-opus-5-5",
    "max_tokens": 128000,
    "stream": True,
    "system": [
        {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.328;"},
        {"type": "text", "text": "You are a Claude agent.", "cache_control": EPHEMERAL},
    ],
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "<system-reminder>\nAttribution\n</system-reminder>\n"},
                {"type": "text", "text": "say hi"},
            ],
        },
        {
            "role": "system",
            "content": [
                {
                    "type": "text",
                    "text": "# Environment\nPlatform: linux",
                    "cache_control": EPHEMERAL,
                }
            ],
            "output_config": {"effort": "medium"},
        },
    ],
    "tools": [
        {
            "name": "Write",
            "description": "Writes a file.",
            "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}},
            "cache_control": EPHEMERAL,
        },
        {
            "name": "DeferredToolPlaceholder",
            "description": "Reserved placeholder; never call this tool.",
            "input_schema": {"type": "object", "properties": {}},
            "defer_loading": True,
        },
    ],
    "metadata": {"user_id": '{"device_id":"c6a2","account_uuid":"","session_id":"f412"}'},
    "thinking": {"type": "adaptive", "display": "updates"},
    "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
    "output_config": {"effort": "medium"},
    "cache_control": EPHEMERAL,
    "service_tier": "auto",
}


def parsed(**changes: Any) -> ChatRequest:
    return parse_messages_request({**CLAUDE_CODE, **changes})


def rejected(body: dict[str, Any]) -> ApiError:
    with pytest.raises(ApiError) as caught:
        parse_messages_request(body)
    assert caught.value.kind is ErrorKind.INVALID_REQUEST
    return caught.value


def test_claude_codes_request_is_accepted_and_its_system_turn_stays_in_place() -> None:
    request = parsed()
    assert request.system_prompt == (
        "x-anthropic-billing-header: cc_version=2.1.328;\nYou are a Claude agent."
    )
    assert [(m.role, m.content.splitlines()[0]) for m in request.conversation] == [
        ("user", "<system-reminder>"),
        ("system", "# Environment"),
    ]
    assert request.reasoning_effort == "medium"
    assert request.thinking_budget is None
    assert [t.name for t in request.tools] == ["Write"]  # the deferred one is not loaded
    prompt = render_prompt(request.conversation)
    assert prompt.index("say hi") < prompt.index("<system>\n# Environment") < len(prompt)
    assert "# Environment" not in (semantics_for(request).request.system_prompt or "")


def test_system_turns_before_the_conversation_join_the_system_prompt() -> None:
    request = parsed(
        system="Top.",
        messages=[
            {"role": "system", "content": "Lead."},
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "a"},
            {"role": "system", "content": [{"type": "text", "text": "Now terse."}]},
            {"role": "user", "content": "q2"},
        ],
    )
    assert request.system_prompt == "Top.\n\nLead."
    assert [m.content for m in request.conversation] == ["q", "a", "Now terse.", "q2"]


@pytest.mark.parametrize(
    ("messages", "wording"),
    [
        ([{"role": "system", "content": "only"}], "at least one user message"),
        (
            [{"role": "user", "content": "q"}, {"role": "system", "content": [{"type": "image"}]}],
            "messages.1.content: blocks must be text blocks",
        ),
        ([{"role": "tool", "content": "q"}], "'user', 'assistant' or 'system'"),
    ],
)
def test_bad_system_turns_are_400(messages: list[Any], wording: str) -> None:
    assert wording in rejected({**CLAUDE_CODE, "messages": messages}).message


def test_count_tokens_counts_the_system_prompt_and_the_tools() -> None:
    hi = [{"role": "user", "content": "hi"}]
    bare = parsed(system=None, tools=[], messages=hi)
    with_system = parsed(tools=[], messages=hi)
    with_tools = parsed(messages=hi)
    assert count_tokens(bare) < count_tokens(with_system) < count_tokens(with_tools)
    schema = json.dumps(CLAUDE_CODE["tools"][0]["input_schema"])
    assert count_tokens(with_tools) - count_tokens(with_system) >= len(schema) // 4


def test_a_deferred_tool_is_offered_once_tool_search_loaded_it() -> None:
    weather = {"name": "get_weather", "input_schema": {"type": "object"}, "defer_loading": True}
    request = parsed(
        tools=[weather],
        messages=[
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "toolu_1", "name": "ToolSearch", "input": {}}
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [{"type": "tool_reference", "tool_name": "get_weather"}],
                    }
                ],
            },
        ],
    )
    assert [t.name for t in request.tools] == ["get_weather"]
    assert request.messages[-1].content == "(tool loaded: get_weather)"


def test_a_tool_results_image_goes_with_it() -> None:
    data = base64.b64encode(PNG).decode()
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}
    request = parsed(
        messages=[
            {"role": "user", "content": "look"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {}}],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [image]},
                    {"type": "text", "text": "and?"},
                ],
            },
        ]
    )
    result, question = request.messages[-2:]
    assert (result.role, len(result.images), result.content) == ("tool", 1, "[Image #1]")
    assert (question.role, question.images) == ("user", ())
    planned = semantics_for(request).request  # the result as the tool contract words it
    assert [n for n, _ in planned.new_images()] == [1]
    assert "[Image #1]" in render_prompt(planned.conversation)


@pytest.mark.parametrize("kind", ["adaptive", "between_tools"])
def test_thinking_the_model_decides_on_is_accepted(kind: str) -> None:
    assert parsed(thinking={"type": kind}).thinking_budget is None


def test_output_config_format_and_output_format_are_the_response_format() -> None:
    spec = {"type": "json_schema", "schema": PERSON}
    expected = ResponseFormat("json_schema", PERSON)
    from_config = parsed(output_config={"format": spec, "effort": "high"})
    assert from_config.response_format == expected
    assert from_config.response_format.schema == PERSON
    assert from_config.reasoning_effort == "high"
    assert parsed(output_config=None, output_format=spec).response_format == expected
    assert parsed(output_config={"effort": None}).response_format is None
    instruction = semantics_for(from_config).request.system_prompt or ""
    assert json.dumps(PERSON) in instruction  # the format reaches the CLI's system prompt


@pytest.mark.parametrize(
    ("changes", "wording"),
    [
        ({"output_config": {"effort": "minimal"}}, "output_config.effort"),
        ({"output_config": []}, "output_config: Input should be a valid dictionary"),
        ({"output_config": {"format": {"type": "text"}}}, "output_config.format.type"),
        ({"output_config": {"format": {"type": "json_schema", "schema": 3}}}, "schema"),
        (
            {
                "output_config": {"format": {"type": "json_schema", "schema": PERSON}},
                "output_format": {"type": "json_schema", "schema": PERSON},
            },
            "output_config.format only",
        ),
        ({"output_format": "json"}, "output_format: Input should be a valid dictionary"),
        ({"thinking": {"type": "sometimes"}}, "'between_tools'"),
    ],
)
def test_bad_output_config_is_400(changes: dict[str, Any], wording: str) -> None:
    assert wording in rejected({**CLAUDE_CODE, **changes}).message


def test_tool_use_ids_are_anthropics_and_the_same_in_both_answers() -> None:
    call = ToolCall(new_call_id(), "Write", '{"file_path": "a"}')
    encoder = MessageEncoder("m")
    wire = encoder.start() + encoder.encode(ToolCalled(call))
    wire += encoder.encode(Finished(FinishReason.TOOL_CALLS))
    expected = "toolu_" + call.id.removeprefix("call_")
    assert f'"id":"{expected}"' in wire.decode()
    collector = MessageCollector("m")
    collector.add(ToolCalled(call))
    collector.add(Finished(FinishReason.TOOL_CALLS))
    assert [b["id"] for b in collector.body()["content"] if b["type"] == "tool_use"] == [expected]


def test_message_start_reports_the_input_estimate() -> None:
    start = MessageEncoder("m", count_tokens(parsed())).start().decode()
    usage = json.loads(start.split("data: ", 1)[1])["message"]["usage"]
    assert usage["input_tokens"] == count_tokens(parsed()) > 50


def test_server_tools_and_their_history_are_left_out_not_refused() -> None:
    """Claude Code offers WebSearch as Anthropic's server tool; a history may hold server
    tools' calls and results. cliwrap runs none of them: they never fail the request."""
    body = {
        "model": "sonnet",
        "max_tokens": 64,
        "tools": [
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 8},
            {"name": "ping", "input_schema": {"type": "object"}},
        ],
        "messages": [
            {"role": "user", "content": "news?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search"},
                    {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
                    {"type": "text", "text": "Nothing new."},
                ],
            },
            {"role": "user", "content": "thanks"},
        ],
    }
    chat = parse_messages_request(body)
    assert [t.name for t in chat.tools] == ["ping"]
    assert [m.content for m in chat.messages] == ["news?", "Nothing new.", "thanks"]
    assert server_tools(body) == ["web_search_20250305"]


def test_client_run_anthropic_tools_are_refused_and_deferred_tools_offered_with_server_search() -> (
    None
):
    base: dict[str, Any] = {"model": "sonnet", "max_tokens": 64}
    ask = [{"role": "user", "content": "hi"}]
    bash = {"type": "bash_20250124", "name": "bash"}
    with pytest.raises(ApiError) as caught:
        parse_messages_request({**base, "messages": ask, "tools": [bash]})
    assert "bash_20250124" in caught.value.message
    deferred = {"name": "lookup", "input_schema": {"type": "object"}, "defer_loading": True}
    search = {"type": "tool_search_tool_regex_20251119", "name": "tool_search"}
    alone = parse_messages_request({**base, "messages": ask, "tools": [deferred]})
    assert alone.tools == ()
    searched = parse_messages_request({**base, "messages": ask, "tools": [search, deferred]})
    assert [t.name for t in searched.tools] == ["lookup"]


def test_text_documents_and_search_results_reach_the_model_and_pdfs_are_a_clear_400() -> None:
    base: dict[str, Any] = {"model": "sonnet", "max_tokens": 64}
    document = {
        "type": "document",
        "title": "Notes",
        "source": {"type": "text", "media_type": "text/plain", "data": "The sky is green."},
    }
    found = {
        "type": "search_result",
        "source": "https://example.com/a",
        "title": "A",
        "content": [{"type": "text", "text": "Grass is blue."}],
    }
    ask = {"type": "text", "text": "What colour is the sky?"}
    chat = parse_messages_request(
        {**base, "messages": [{"role": "user", "content": [document, found, ask]}]}
    )
    (message,) = chat.messages
    assert message.content == (
        '<document title="Notes">\nThe sky is green.\n</document>\n'
        '<document title="A — https://example.com/a">\nGrass is blue.\n</document>\n'
        "What colour is the sky?"
    )
    pdf = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf"}}
    with pytest.raises(ApiError) as caught:
        parse_messages_request({**base, "messages": [{"role": "user", "content": [pdf, ask]}]})
    assert caught.value.status == 400
    assert "text documents" in caught.value.message
