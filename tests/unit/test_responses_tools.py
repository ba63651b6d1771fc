"""Responses tools as Codex CLI sends them: ``namespace``, ``custom`` (freeform) and hosted tools,
and the history items that carry their calls back; what the model is offered, and the output
items a call becomes (checked against the OpenAI SDK's own types)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pydantic
import pytest
from openai.types.responses import ResponseOutputItem, ResponseStreamEvent

from cliwrap.config import Config, ServerConfig
from cliwrap.core.errors import ApiError
from cliwrap.core.events import Event, Finished, TextDelta, Usage
from cliwrap.core.request import ChatRequest
from cliwrap.semantics.tools import ToolCallScanner, with_contract
from cliwrap.server.app import create_app
from cliwrap.surfaces.openai_responses import (
    ResponseCollector,
    ResponseEncoder,
    hosted_tools,
    parse_responses_request,
)

GRAMMAR = 'start: begin_patch hunk+ end_patch\nbegin_patch: "*** Begin Patch" LF'
SCHEMA = {"type": "object", "properties": {"target": {"type": "string"}}}

CODEX_TOOLS: list[dict[str, Any]] = [
    {"type": "function", "name": "exec_command", "description": "Run it.", "parameters": SCHEMA},
    {
        "type": "custom",
        "name": "apply_patch",
        "description": "Edit files.",
        "format": {"type": "grammar", "syntax": "lark", "definition": GRAMMAR},
    },
    {
        "type": "namespace",
        "name": "multi_agent_v1",
        "description": "Sub-agents.",
        "tools": [
            {"type": "function", "name": "close_agent", "parameters": SCHEMA, "strict": False},
            {"type": "function", "name": "exec_command", "parameters": SCHEMA},
        ],
    },
    {"type": "web_search", "external_web_access": False},
    {"type": "tool_search", "execution": "client", "description": "Find tools."},
    {"type": "image_generation"},
]


def codex_request(*items: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "model": "sonnet",
        "stream": True,
        "tools": CODEX_TOOLS,
        "tool_choice": "auto",
        "input": [
            {
                "type": "message",
                "role": "developer",
                "content": [{"type": "input_text", "text": "Be an agent."}],
            },
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "go"}]},
            *items,
        ],
        **fields,
    }


def offered(request: ChatRequest) -> dict[str, dict[str, Any]]:
    """The tools as the model is told of them, by the name it is to call them."""
    system = with_contract(request).system_prompt or ""
    listed = system.split("<tools>\n", 1)[1].split("\n</tools>", 1)[0]
    return {tool["name"]: tool for tool in map(json.loads, listed.splitlines())}


def answer(request: ChatRequest, text: str) -> list[Event]:
    scanner = ToolCallScanner(request)
    return [*scanner.feed(TextDelta(text)), *scanner.feed(Finished())]


def call_block(name: str, arguments: Any) -> str:
    return f"<tool_call>\n{json.dumps({'name': name, 'arguments': arguments})}\n</tool_call>"


def streamed(events: list[Event]) -> list[dict[str, Any]]:
    encoder = ResponseEncoder("m")
    wire = encoder.start() + b"".join(encoder.encode(e) for e in [*events, Usage()])
    data = [
        json.loads(line[6:]) for line in wire.decode().splitlines() if line.startswith("data: ")
    ]
    for event in data:  # the calls' items and events are in the SDK's shapes
        if "response" in event:
            items(event["response"])
        elif event["type"].startswith(_CALL_EVENTS):
            _EVENT.validate_python(event)
    return data


def items(response: dict[str, Any]) -> list[Any]:
    """A response's output items, as the SDK's types (which they must be)."""
    return [_ITEM.validate_python(item) for item in response["output"]]


_CALL_EVENTS = ("response.output_item.", "response.custom_tool_call_input.")
_EVENT: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(ResponseStreamEvent)
_ITEM: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(ResponseOutputItem)


# What the model is offered


def test_namespaced_functions_and_custom_tools_are_offered_and_hosted_ones_left_out() -> None:
    request = parse_responses_request(codex_request())
    tools = offered(request)
    # close_agent by its own name; the namespace's exec_command shares a name, so is qualified
    assert set(tools) == {
        "exec_command",
        "apply_patch",
        "close_agent",
        "multi_agent_v1.exec_command",
    }
    patch = tools["apply_patch"]["parameters"]
    assert patch["required"] == ["input"]
    assert patch["properties"]["input"]["type"] == "string"
    assert GRAMMAR in patch["properties"]["input"]["description"]
    assert hosted_tools(codex_request()) == ["web_search", "tool_search", "image_generation"]


@pytest.mark.parametrize(
    ("tool", "param"),
    [
        ({"type": "namespace", "name": "ns"}, "tools[0]"),
        ({"type": "namespace", "name": "n s", "tools": []}, "tools[0].name"),
        (
            {"type": "namespace", "name": "ns", "tools": [{"type": "web_search"}]},
            "tools[0].tools[0]",
        ),
        ({"type": "custom"}, "tools[0].name"),
        ({"name": "f"}, "tools[0]"),
        ("function", "tools[0]"),
    ],
)
def test_malformed_tools_are_400s_naming_the_field(tool: Any, param: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_responses_request({"model": "m", "input": "hi", "tools": [tool]})
    assert caught.value.status == 400
    assert caught.value.param == param


# The calls, as output items


def test_a_namespaced_call_names_its_namespace_and_a_plain_one_does_not() -> None:
    request = parse_responses_request(codex_request())
    text = call_block("close_agent", {"target": "a"}) + call_block("exec_command", {"target": "b"})
    text += call_block("multi_agent_v1.exec_command", {"target": "c"})
    events = streamed(answer(request, text))
    done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert [(i["type"], i["name"], i.get("namespace")) for i in done] == [
        ("function_call", "close_agent", "multi_agent_v1"),
        ("function_call", "exec_command", None),
        ("function_call", "exec_command", "multi_agent_v1"),
    ]
    assert [json.loads(i["arguments"]) for i in done] == [{"target": t} for t in "abc"]
    assert "namespace" not in done[1], "a plain call keeps today's shape"


@pytest.mark.parametrize("arguments", [{"input": "*** Begin Patch\n"}, "*** Begin Patch\n"])
def test_a_custom_tool_call_is_a_custom_tool_call_item_with_the_text(arguments: Any) -> None:
    request = parse_responses_request(codex_request())
    events = streamed(answer(request, "Patching.\n" + call_block("apply_patch", arguments)))
    kinds = [e["type"] for e in events]
    assert "response.custom_tool_call_input.delta" in kinds
    assert "response.function_call_arguments.delta" not in kinds
    (done,) = [e for e in events if e["type"] == "response.custom_tool_call_input.done"]
    assert done["input"] == "*** Begin Patch\n"
    message, call = items(events[-1]["response"])
    assert message.type == "message"
    assert call.type == "custom_tool_call"
    assert (call.name, call.input, call.call_id) == (
        "apply_patch",
        "*** Begin Patch\n",
        done["item_id"].replace("ctc_", "call_"),
    )


def test_a_custom_call_without_its_text_stays_text() -> None:
    request = parse_responses_request(codex_request())
    (text, _) = answer(request, call_block("apply_patch", {"patch": "x"}))
    assert isinstance(text, TextDelta)


def test_the_collected_response_has_the_same_items() -> None:
    request = parse_responses_request(codex_request(stream=False))
    collector = ResponseCollector("m")
    for event in answer(request, call_block("apply_patch", "p") + call_block("close_agent", {})):
        collector.add(event)
    assert [(i.type, i.namespace) for i in items(collector.body())] == [
        ("custom_tool_call", None),
        ("function_call", "multi_agent_v1"),
    ]


# History: the calls and their results coming back


def test_custom_and_namespaced_calls_and_their_outputs_reach_the_model() -> None:
    body = codex_request(
        {"type": "reasoning", "summary": [], "encrypted_content": None},
        {
            "type": "custom_tool_call",
            "call_id": "c1",
            "name": "apply_patch",
            "input": "PATCH",
            "status": "completed",
        },
        {"type": "custom_tool_call_output", "call_id": "c1", "output": "Success. Updated a.txt"},
        {
            "type": "function_call",
            "call_id": "c2",
            "name": "exec_command",
            "namespace": "multi_agent_v1",
            "arguments": "{}",
        },
        {
            "type": "function_call_output",
            "call_id": "c2",
            "output": [{"type": "input_text", "text": "ran"}],
        },
        {
            "type": "web_search_call",
            "status": "completed",
            "action": {"type": "search", "query": "q"},
        },
    )
    prompt = with_contract(parse_responses_request(body))
    turns = [m.content for m in prompt.conversation]
    assert json.loads(turns[1].split("\n")[1]) == {
        "name": "apply_patch",
        "arguments": {"input": "PATCH"},
    }
    assert turns[2] == '<tool_result id="c1">\nSuccess. Updated a.txt\n</tool_result>'
    assert json.loads(turns[3].split("\n")[1])["name"] == "multi_agent_v1.exec_command"
    assert turns[4] == '<tool_result id="c2">\nran\n</tool_result>'
    assert len(turns) == 5, "reasoning and hosted-call items are left out"


@pytest.mark.parametrize(
    ("item", "param"),
    [
        ({"type": "custom_tool_call", "call_id": "c", "name": "t"}, "input[2]"),
        ({"type": "custom_tool_call_output", "call_id": "c", "output": 3}, "input[2]"),
        (
            {
                "type": "function_call",
                "call_id": "c",
                "name": "t",
                "arguments": "{}",
                "namespace": 1,
            },
            "input[2]",
        ),
        (
            {"type": "custom_tool_call_output", "call_id": "c", "output": [{"type": "x"}]},
            "input[2].output[0]",
        ),
    ],
)
def test_malformed_history_items_are_400s(item: dict[str, Any], param: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_responses_request(codex_request(item))
    assert caught.value.param == param


# Through the app (raw HTTP): no CLI runs, so only what happens before one would


async def test_codex_shaped_requests_pass_the_surface(tmp_path: Path) -> None:
    app = create_app(Config(server=ServerConfig(state_dir=str(tmp_path))), {"PATH": "/nonexistent"})
    client = app.test_client()
    good = await client.post("/v1/responses", json=codex_request())
    # No CLI is installed here, so none serves the model: the request got past the surface.
    assert (await good.get_json())["error"]["code"] == "model_not_found"
    bad = {**codex_request(), "tools": [{"type": "namespace", "name": "ns"}]}
    refused = await client.post("/v1/responses", json=bad)
    assert refused.status_code == 400
    assert (await refused.get_json())["error"]["param"] == "tools[0]"
