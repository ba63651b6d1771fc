"""The OpenAI Responses surface (``POST /v1/responses``): parsing and encoding, sans I/O.

A Responses request becomes a :class:`~cliwrap.core.request.ChatRequest`; the job's events become
a ``response`` object, or the Responses event stream: ``response.created``,
``response.in_progress``, then per output item ``response.output_item.added``, its part
added, its deltas (``response.reasoning_summary_text.delta`` for thinking,
``response.output_text.delta`` for the answer), the part and the item done, and finally
``response.completed`` (``response.incomplete`` when the output limit cut it) with usage.
A failure after the stream began is ``response.failed``. Every event carries a
``sequence_number``, as the API's do.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from typing import Any

import attrs

from ..core.errors import ApiError, ErrorKind
from ..core.events import FinishReason, Usage
from ..core.fields import is_one_of, named, shown
from ..core.images import Album, from_url
from ..core.request import ChatRequest, Message, Tool, ToolCall, ToolChoice, placed
from ..semantics.structured import parse_format
from ..semantics.tools import checked_arguments, checked_tool, offered_names
from . import params, sse
from .openai_chat import ROLES
from .rendering import EventEncoder, Gathered

__all__ = [
    "LEFT_OUT_ITEMS",
    "ResponseCollector",
    "ResponseEncoder",
    "hosted_tools",
    "new_response_id",
    "parse_responses_request",
]

_TEXT_PARTS = ("input_text", "output_text", "text")
LEFT_OUT_ITEMS = frozenset(
    {
        "reasoning",  # an earlier turn's reasoning, sent back by clients; not for the prompt
        "compaction",  # encrypted: only OpenAI can read it
        # hosted tools' calls and results: cliwrap offers no hosted tool, so these are from
        # an earlier conversation with OpenAI; the answers built on them are in the history
        "web_search_call",
        "file_search_call",
        "image_generation_call",
        "code_interpreter_call",
        "computer_call",
        "computer_call_output",
        "local_shell_call",
        "local_shell_call_output",
        "tool_search_call",
        "tool_search_output",
        "mcp_list_tools",
        "mcp_approval_request",
        "mcp_approval_response",
        "mcp_call",
        "item_reference",
    }
)


def _invalid(message: str, param: str | None = None) -> ApiError:
    return ApiError(ErrorKind.INVALID_REQUEST, message, param=param)


def parse_responses_request(body: Any) -> ChatRequest:
    """A :class:`ChatRequest` from a Responses request body, or a 400 saying what is wrong."""
    if not isinstance(body, dict):
        raise _invalid("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _invalid("Missing required parameter: 'model'.", "model")
    previous = body.get("previous_response_id")
    if previous is not None and (not isinstance(previous, str) or not previous):
        raise _invalid(
            "Invalid type for 'previous_response_id': expected a string.", "previous_response_id"
        )
    store = body.get("store", True)
    if store is not None and not isinstance(store, bool):
        raise _invalid("Invalid type for 'store': expected a boolean.", "store")
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise _invalid("Invalid type for 'instructions': expected a string.", "instructions")
    messages = placed(_input(body.get("input")))
    if not any(m.role in ("user", "tool") for m in messages):
        raise _invalid("'input' must contain a user message.", "input")
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise _invalid("Invalid type for 'stream': expected a boolean.", "stream")
    head = (Message("system", instructions),) if instructions else ()
    offered, choice = _tools(body)
    text: Any = body.get("text") if isinstance(body.get("text"), dict) else {}
    spec: Any = text.get("format") if isinstance(text.get("format"), dict) else {}
    reasoning: Any = body.get("reasoning") if isinstance(body.get("reasoning"), dict) else {}
    return ChatRequest(
        model=model,
        session=params.session_name(body.get("session_id"), "session_id"),
        previous_response_id=previous,
        store=store is not False,
        messages=(*head, *messages),
        stream=bool(stream),
        tools=offered,
        tool_choice=choice,
        response_format=parse_format(
            spec.get("type"), spec.get("schema"), spec.get("name"), "text.format"
        ),
        max_tokens=params.positive_int(body.get("max_output_tokens"), "max_output_tokens"),
        reasoning_effort=params.effort(reasoning.get("effort"), "reasoning.effort"),
        temperature=params.number(body.get("temperature"), 0, 2, "temperature"),
        top_p=params.number(body.get("top_p"), 0, 1, "top_p"),
    )


def _input(raw: Any) -> tuple[Message, ...]:
    album = Album()
    if isinstance(raw, str):
        if not raw.strip():  # no CLI takes an empty prompt
            raise _invalid("Invalid value for 'input': it must not be empty.", "input")
        return (Message("user", raw),)
    if not isinstance(raw, list) or not raw:
        raise _invalid("Missing required parameter: 'input'.", "input")
    messages = []
    for i, item in enumerate(raw):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise _invalid(f"Invalid type for '{where}': expected an object.", where)
        kind = item.get("type", "message")
        if is_one_of(kind, LEFT_OUT_ITEMS):
            continue
        if kind in ("function_call", "custom_tool_call"):
            messages.append(Message("assistant", "", tool_calls=(_call(item, where),)))
            continue
        if kind in ("function_call_output", "custom_tool_call_output"):
            messages.append(_call_output(item, where, album))
            continue
        if kind != "message":
            raise _invalid(f"Input items of type {shown(kind)} are not supported yet.", where)
        role = named(ROLES, item.get("role"))
        if role is None:
            raise _invalid(
                f"Invalid value for '{where}.role': expected one of system, developer, "
                "user or assistant.",
                f"{where}.role",
            )
        before = len(album.images)
        text = _content(item.get("content"), f"{where}.content", album if role == "user" else None)
        if role == "user" and not text.strip():
            raise _invalid(
                f"Invalid value for '{where}.content': a user message must not be empty.",
                f"{where}.content",
            )
        messages.append(Message(role, text, images=album.since(before)))
    return tuple(messages)


def _call(item: dict[str, Any], where: str) -> ToolCall:
    """A ``function_call`` or ``custom_tool_call`` input item (an earlier turn's call)."""
    freeform = item["type"] == "custom_tool_call"
    field = "input" if freeform else "arguments"
    ident, name, value = item.get("call_id"), item.get("name"), item.get(field)
    namespace = item.get("namespace")
    if not (
        isinstance(ident, str)
        and isinstance(name, str)
        and isinstance(value, str)
        and isinstance(namespace, str | None)
    ):
        raise _invalid(
            f"Invalid '{where}': a {item['type']} needs 'call_id', 'name' and '{field}'.", where
        )
    if freeform:
        arguments = json.dumps({"input": value}, ensure_ascii=False)
    else:
        arguments = checked_arguments(value, f"{where}.arguments")
    return ToolCall(ident, name, arguments, namespace=namespace, freeform=freeform)


def _call_output(item: dict[str, Any], where: str, album: Album) -> Message:
    """A ``function_call_output`` or ``custom_tool_call_output`` item: a call's result, as
    text, or as content parts (text and images, as Codex sends a viewed image)."""
    ident, output = item.get("call_id"), item.get("output")
    if not isinstance(ident, str) or not isinstance(output, str | list):
        raise _invalid(
            f"Invalid '{where}': a {item['type']} needs 'call_id' and 'output'.",
            where,
        )
    before = len(album.images)
    text = _content(output, f"{where}.output", album)
    return Message("tool", text, tool_call_id=ident, images=album.since(before))


def hosted_tools(body: Any) -> list[str]:
    """The hosted tools a request offered (``web_search``…), which the model does not get
    (see :func:`params.tool_types`)."""
    return params.tool_types(body, lambda kind: kind not in _CLIENT_TOOLS)


_CLIENT_TOOLS = ("function", "custom", "namespace")
"""The tool types the client runs; every other type is a hosted tool."""


def _tools(body: dict[str, Any]) -> tuple[tuple[Tool, ...], ToolChoice]:
    raw, choice = body.get("tools") or [], body.get("tool_choice")
    if not isinstance(raw, list):
        raise _invalid("Invalid type for 'tools': expected an array.", "tools")
    offered: list[Tool] = []
    for i, tool in enumerate(raw):
        where = f"tools[{i}]"
        kind = tool.get("type") if isinstance(tool, dict) else None
        if not isinstance(kind, str):
            raise _invalid(f"Invalid '{where}': a tool is an object with a 'type'.", where)
        if kind == "namespace":
            offered += _namespace(tool, where)
        elif kind in _CLIENT_TOOLS:
            offered.append(_tool(tool, where))
        # any other type is a hosted tool, left out (see hosted_tools)
    if choice is None:
        return tuple(offered), ToolChoice()
    if choice in ("auto", "none", "required"):
        return tuple(offered), ToolChoice(choice)
    name = choice.get("name") if isinstance(choice, dict) else None
    if not is_one_of(name, set(offered_names(offered))):
        raise _invalid(
            "Invalid value for 'tool_choice': expected 'auto', 'none', 'required' or "
            "{'type': 'function', 'name': <one of the tools>}.",
            "tool_choice",
        )
    return tuple(offered), ToolChoice("function", name)


def _namespace(namespace: dict[str, Any], where: str) -> list[Tool]:
    """A ``namespace`` tool's functions (and custom tools), each offered on its own."""
    name, tools = namespace.get("name"), namespace.get("tools")
    if not isinstance(tools, list):
        raise _invalid(f"Invalid '{where}': a namespace needs 'name' and 'tools'.", where)
    inner = checked_tool(name, namespace.get("description"), None, where).name
    offered = []
    for i, tool in enumerate(tools):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind not in ("function", "custom"):
            raise _invalid(
                f"Tools of type {shown(kind)} are not supported in a namespace; use 'function' "
                "or 'custom'.",
                f"{where}.tools[{i}]",
            )
        offered.append(attrs.evolve(_tool(tool, f"{where}.tools[{i}]"), namespace=inner))
    return offered


def _tool(tool: dict[str, Any], where: str) -> Tool:
    name, description = tool.get("name"), tool.get("description")
    if tool["type"] == "function":
        return checked_tool(name, description, tool.get("parameters"), where)
    checked = checked_tool(name, description, None, where)
    return attrs.evolve(checked, parameters=_freeform_schema(tool.get("format")), freeform=True)


def _freeform_schema(spec: Any) -> dict[str, Any]:
    """A custom tool's one text input as a JSON Schema, saying what its ``format`` asks."""
    says = "The tool's input: free text."
    if isinstance(spec, dict) and spec.get("type") == "grammar":
        syntax, definition = spec.get("syntax"), spec.get("definition")
        if isinstance(definition, str):
            says = f"The tool's input, text matching this {syntax or ''} grammar:\n{definition}"
    return {
        "type": "object",
        "properties": {"input": {"type": "string", "description": says}},
        "required": ["input"],
    }


def _content(content: Any, where: str, album: Album | None) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _invalid(f"Invalid type for '{where}': expected a string or an array.", where)
    texts = []
    for i, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in _TEXT_PARTS and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "input_image" and album is not None:
            texts.append(album.add(from_url(part.get("image_url"), f"{where}[{i}].image_url")))
        else:
            raise _invalid(
                f"Content parts of type {shown(kind)} are not supported yet.", f"{where}[{i}]"
            )
    return "\n".join(texts)


def _usage(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {
            "cached_tokens": usage.cache_read_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
        },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.prompt_tokens + usage.output_tokens,
    }


def _error(error: ApiError) -> dict[str, Any]:
    return {"code": error.kind.openai_code or error.kind.openai_type, "message": error.message}


def new_response_id() -> str:
    return "resp_" + secrets.token_hex(12)


@attrs.define
class _Shape:
    """What a response object is made of, whether it is built at once or streamed."""

    model: str
    instructions: str | None
    id: str = attrs.field(factory=lambda: new_response_id())
    created_at: int = attrs.field(factory=lambda: int(time.time()))
    reasoning_id: str = attrs.field(factory=lambda: "rs_" + secrets.token_hex(12))
    message_id: str = attrs.field(factory=lambda: "msg_" + secrets.token_hex(12))

    def response(
        self,
        status: str,
        output: list[dict[str, Any]],
        usage: Usage | None = None,
        error: ApiError | None = None,
    ) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "error": _error(error) if error else None,
            "incomplete_details": (
                {"reason": "max_output_tokens"} if status == "incomplete" else None
            ),
            "instructions": self.instructions,
            "model": self.model,
            "output": output,
            "parallel_tool_calls": False,
            "tool_choice": "auto",
            "tools": [],
            "usage": _usage(usage) if usage else None,
            "metadata": {},
        }

    def reasoning(self, text: str) -> dict[str, Any]:
        summary = [{"type": "summary_text", "text": text}] if text else []
        return {"id": self.reasoning_id, "type": "reasoning", "summary": summary}

    def function_call(self, call: ToolCall, status: str = "completed") -> dict[str, Any]:
        """The call's output item: a ``function_call``, or a ``custom_tool_call`` whose
        ``input`` is the text for a freeform tool; either names its namespace, if any."""
        ident = call.id.removeprefix("call_")
        item: dict[str, Any] = (
            {"id": "ctc_" + ident, "type": "custom_tool_call", "status": status}
            if call.freeform
            else {"id": "fc_" + ident, "type": "function_call", "status": status}
        )
        item |= {"call_id": call.id, "name": call.name}
        if call.namespace is not None:
            item["namespace"] = call.namespace
        if call.freeform:
            item["input"] = _freeform_input(call)
        else:
            item["arguments"] = call.arguments
        return item

    def message(self, text: str | None, status: str) -> dict[str, Any]:
        content = [] if text is None else [_text_part(text)]
        return {
            "id": self.message_id,
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": content,
        }


def _freeform_input(call: ToolCall) -> str:
    text: str = json.loads(call.arguments)["input"]  # the scanner made sure it is there
    return text


def _field(call: ToolCall) -> str:
    """Where a call's item holds what the model passed: a freeform tool's ``input`` text, or
    a function's ``arguments``."""
    return "input" if call.freeform else "arguments"


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": []}


def _status(reason: FinishReason) -> str:
    return "incomplete" if reason is FinishReason.LENGTH else "completed"


@attrs.define
class ResponseCollector(Gathered):
    """Gathers events into one ``response`` object (the non-streaming answer)."""

    instructions: str | None = None
    response_id: str = attrs.field(factory=new_response_id)

    def body(self) -> dict[str, Any]:
        status = _status(self.outcome())
        shape = _Shape(self.model, self.instructions, self.response_id)
        output = [shape.reasoning(self.thinking)] if self.thinking else []
        if self.text or not self.calls:
            output.append(shape.message(self.text, status))
        output += [shape.function_call(call) for call in self.calls]
        return shape.response(status, output, self.usage)


@attrs.define
class ResponseEncoder(EventEncoder):
    """Turns events into the Responses event stream (see the module's docstring)."""

    model: str
    instructions: str | None = None
    response_id: str = attrs.field(factory=lambda: new_response_id())
    _shape: _Shape = attrs.field(init=False)
    _sequence: itertools.count[int] = attrs.field(init=False, factory=itertools.count)
    _open: str | None = attrs.field(init=False, default=None)
    """The output item being streamed: "reasoning" or "message"."""
    _output: list[dict[str, Any]] = attrs.field(init=False, factory=list)
    _text: list[str] = attrs.field(init=False, factory=list)
    _call_at: dict[str, Any] = attrs.field(init=False, factory=dict)
    """The open tool call's ``item_id`` and ``output_index``."""
    _freeform: bool = attrs.field(init=False, default=False)
    """Whether the open call is a freeform tool's (its events are ``custom_tool_call_input``)."""

    def __attrs_post_init__(self) -> None:
        self._shape = _Shape(self.model, self.instructions, self.response_id)

    def start(self) -> bytes:
        response = self._shape.response("in_progress", [])
        return self._event("response.created", response=response) + self._event(
            "response.in_progress", response=response
        )

    def _keepalive(self) -> bytes:
        return sse.KEEPALIVE

    def _content(self, text: str) -> bytes:
        return self._delta("message", text)

    def _thinking(self, text: str) -> bytes:
        return self._delta("reasoning", text)

    def _tool_start(self, call_id: str, name: str, index: int) -> bytes:
        return self._open_call(ToolCall(call_id, name, ""))

    def _open_call(self, call: ToolCall) -> bytes:
        """The call's item, in progress: a ``function_call`` (named in its namespace, if
        any) or a freeform ``custom_tool_call``, whose ``input`` is text, not arguments."""
        out = self._close("completed")
        item = {**self._shape.function_call(call, "in_progress"), _field(call): ""}
        self._call_at = {"item_id": item["id"], "output_index": len(self._output)}
        return out + self._event(
            "response.output_item.added", output_index=len(self._output), item=item
        )

    def _tool_arguments(self, text: str, index: int) -> bytes:
        return self._call_event("delta", delta=text)

    def _tool_end(self, call: ToolCall, index: int) -> bytes:
        item = self._shape.function_call(call)
        named = {} if call.freeform else {"name": call.name}
        out = self._call_event("done", **named, **{_field(call): item[_field(call)]})
        out += self._event("response.output_item.done", output_index=len(self._output), item=item)
        self._output.append(item)
        return out

    def _whole_call(self, call: ToolCall, index: int) -> bytes:
        """Namespaced and freeform calls never stream (their items differ from a plain
        function's from the start); they go out whole, in their own shapes."""
        self._freeform = call.freeform
        text = self._shape.function_call(call)[_field(call)]
        out = self._open_call(call) + self._tool_arguments(text, index)
        out += self._tool_end(call, index)
        self._freeform = False
        return out

    def _call_event(self, kind: str, **fields: Any) -> bytes:
        events = "custom_tool_call_input" if self._freeform else "function_call_arguments"
        return self._event(f"response.{events}.{kind}", **self._call_at, **fields)

    def _failed(self, error: ApiError) -> bytes:
        response = self._shape.response("failed", self._output, error=error)
        return self._event("response.failed", response=response)

    def _delta(self, kind: str, text: str) -> bytes:
        out = b""
        if self._open != kind:
            out += self._close("completed") + self._start_item(kind)
        self._text.append(text)
        where = self._where()
        if kind == "reasoning":
            return out + self._event(
                "response.reasoning_summary_text.delta", **where, summary_index=0, delta=text
            )
        return out + self._event(
            "response.output_text.delta", **where, content_index=0, delta=text, logprobs=[]
        )

    def _where(self) -> dict[str, Any]:
        item_id = self._shape.reasoning_id if self._open == "reasoning" else self._shape.message_id
        return {"item_id": item_id, "output_index": len(self._output)}

    def _start_item(self, kind: str) -> bytes:
        self._open = kind
        self._text = []
        where = self._where()
        if kind == "reasoning":
            item = self._shape.reasoning("")
            added = "response.reasoning_summary_part.added"
            part: dict[str, Any] = {
                "summary_index": 0,
                "part": {"type": "summary_text", "text": ""},
            }
        else:
            item = self._shape.message(None, "in_progress")
            added = "response.content_part.added"
            part = {"content_index": 0, "part": _text_part("")}
        out = self._event(
            "response.output_item.added", output_index=where["output_index"], item=item
        )
        return out + self._event(added, **where, **part)

    def _close(self, status: str) -> bytes:
        if self._open is None:
            return b""
        where = self._where()
        text = "".join(self._text)
        if self._open == "reasoning":
            item = self._shape.reasoning(text)
            part = {"type": "summary_text", "text": text}
            out = self._event(
                "response.reasoning_summary_text.done", **where, summary_index=0, text=text
            ) + self._event(
                "response.reasoning_summary_part.done", **where, summary_index=0, part=part
            )
        else:
            item = self._shape.message(text, status)
            out = self._event(
                "response.output_text.done", **where, content_index=0, text=text, logprobs=[]
            ) + self._event(
                "response.content_part.done", **where, content_index=0, part=_text_part(text)
            )
        out += self._event(
            "response.output_item.done", output_index=where["output_index"], item=item
        )
        self._output.append(item)
        self._open = None
        return out

    def _finish(self, reason: FinishReason) -> bytes:
        status = _status(reason)
        out = b""
        answered = any(item["type"] != "reasoning" for item in self._output)
        if not answered and self._open != "message":
            out += self._close("completed") + self._start_item("message")
        out += self._close(status)
        name = "response.incomplete" if status == "incomplete" else "response.completed"
        response = self._shape.response(status, self._output, self.usage)
        return out + self._event(name, response=response)

    def _event(self, kind: str, /, **fields: Any) -> bytes:
        return sse.event(kind, {"type": kind, "sequence_number": next(self._sequence), **fields})
