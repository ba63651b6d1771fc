"""Client tools (function calling) as a prompt contract, sans I/O.

The CLIs run with every tool of their own switched off, and cliwrap never gives them the
client's tools to run: the client's tools are described in the system prompt with one way to
call them, a ``<tool_call>`` block holding ``{"name": ..., "arguments": {...}}``, and the
answer is read against that contract as it streams. A block that parses, names an offered
tool and carries a JSON object becomes a tool call; anything else stays text. Nothing can
execute a client tool on the server, because no CLI is told the tool exists as a tool.

Earlier turns go to the CLI in the same words: an assistant's calls as ``<tool_call>``
blocks, a tool's result as a ``<tool_result>`` block, so the model reads its own history in
the format it is asked to write.

A tool from a Responses ``namespace`` is offered under its own name, or as
``namespace.name`` when another offered tool has that name too (:func:`offered_names`); its
calls carry the namespace back. A ``custom`` (freeform) tool is offered as a function of one
string, ``input``; the model may also write its text as the bare ``arguments`` string.
"""

from __future__ import annotations

import json
import re
import secrets
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from ..core.errors import ApiError, ErrorKind
from ..core.events import (
    Event,
    Finished,
    FinishReason,
    TextDelta,
    ToolArgumentsDelta,
    ToolCalled,
    ToolCallStarted,
)
from ..core.fields import shown
from ..core.request import ChatRequest, Message, Tool, ToolCall
from .json_values import ValueEnd
from .stops import overlap

__all__ = [
    "ToolCallScanner",
    "checked_arguments",
    "checked_tool",
    "is_json_object",
    "new_call_id",
    "offered_names",
    "with_contract",
]

OPEN = "<tool_call>"
CLOSE = "</tool_call>"
_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


def checked_tool(name: Any, description: Any, parameters: Any, where: str) -> Tool:
    """A :class:`Tool` from a surface's fields, or a 400 naming the field at ``where``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ApiError(
            ErrorKind.INVALID_REQUEST,
            f"{where}.name must be 1 to 128 letters, digits, '_', '-', '.' or ':' "
            f"(got {shown(name)}).",
            param=f"{where}.name",
        )
    if description is not None and not isinstance(description, str):
        raise ApiError(
            ErrorKind.INVALID_REQUEST,
            f"{where}.description must be a string.",
            param=f"{where}.description",
        )
    if parameters is not None and not isinstance(parameters, dict):
        raise ApiError(
            ErrorKind.INVALID_REQUEST,
            f"{where}.parameters must be a JSON Schema object.",
            param=f"{where}.parameters",
        )
    return Tool(name, description or "", parameters or {})


def is_json_object(text: str) -> bool:
    """Whether ``text`` is one JSON object (nested too deeply to read: it is not)."""
    try:
        return isinstance(json.loads(text), dict)
    except (ValueError, RecursionError):
        return False


def checked_arguments(arguments: object, param: str) -> str:
    """A call's ``arguments`` (a JSON object, as text, as OpenAI sends them), or a 400
    naming ``param``: every CLI is shown them, and Anthropic clients get them back parsed."""
    if not isinstance(arguments, str) or not is_json_object(arguments):
        raise ApiError(
            ErrorKind.INVALID_REQUEST,
            f"{param} must be a JSON object, as text.",
            param=param,
        )
    return arguments


def new_call_id() -> str:
    return "call_" + secrets.token_hex(12)


def offered_names(tools: Sequence[Tool]) -> dict[str, Tool]:
    """Each tool by the name the model is told to call it: its own name, or
    ``namespace.name`` for a namespaced tool whose name another offered tool has too."""
    counts = Counter(tool.name for tool in tools)

    def name(tool: Tool) -> str:
        shared = tool.namespace and counts[tool.name] > 1
        return f"{tool.namespace}.{tool.name}" if shared else tool.name

    return {name(tool): tool for tool in tools}


def with_contract(request: ChatRequest) -> ChatRequest:
    """``request`` as plain text turns a CLI can take: the contract, calls and results."""
    if not request.tools and not any(m.tool_calls or m.role == "tool" for m in request.messages):
        return request
    names = {(t.namespace, t.name): name for name, t in offered_names(request.tools).items()}
    plain = attrs.evolve(request, messages=tuple(_plain(m, names) for m in request.messages))
    return plain.with_system(_contract(request)) if request.offers_tools else plain


def _plain(message: Message, names: Mapping[tuple[str | None, str], str]) -> Message:
    if message.role == "tool":
        label = f' name="{message.name}"' if message.name else ""
        ident = f' id="{message.tool_call_id}"' if message.tool_call_id else ""
        text = f"<tool_result{label}{ident}>\n{message.content}\n</tool_result>"
        return Message("user", text, images=message.images)
    if message.tool_calls:
        calls = "\n".join(
            _block(names.get((call.namespace, call.name), call.name), call.arguments)
            for call in message.tool_calls
        )
        text = f"{message.content}\n{calls}" if message.content else calls
        return Message(message.role, text)
    return message


def _block(name: str, arguments: str) -> str:
    call = {"name": name, "arguments": json.loads(arguments or "{}")}
    return f"{OPEN}\n{json.dumps(call, ensure_ascii=False)}\n{CLOSE}"


def _contract(request: ChatRequest) -> str:
    described = "\n".join(
        json.dumps(
            {"name": name, "description": t.description, "parameters": dict(t.parameters)},
            ensure_ascii=False,
        )
        for name, t in offered_names(request.tools).items()
    )
    choice = request.tool_choice
    if choice.mode == "required":
        when = "You must call at least one of these tools in this answer."
    elif choice.mode == "function":
        when = f'You must call the tool "{choice.name}" in this answer, and no other tool.'
    else:
        when = "Call a tool when it helps answer; otherwise answer in plain text."
    return (
        "# Tools\n\n"
        "The client offers you these tools, one JSON object per line with the tool's name, "
        "description and the JSON Schema of its arguments:\n"
        f"<tools>\n{described}\n</tools>\n\n"
        "To call a tool, write a block exactly like this, with the arguments as a JSON object "
        "that matches the tool's schema:\n"
        f'{OPEN}\n{{"name": "TOOL_NAME", "arguments": {{"ARG": "VALUE"}}}}\n{CLOSE}\n\n'
        "Write one block per call; several blocks call several tools. After your last block, "
        "stop: the client runs the tools and sends the results back in <tool_result> blocks "
        "in its next message. These are the only tools you have: use no built-in tool, and "
        f"call these only with {OPEN} blocks.\n\n{when}"
    )


_HEAD = re.compile(
    r'\s*(?:```(?:json)?\s*)?\{\s*"name"\s*:\s*"([A-Za-z0-9_.:-]{1,128})"\s*,'
    r'\s*"arguments"\s*:\s*(?=\{)'
)
"""The start of a block written the way the contract shows it: name first, then the
arguments object, whose text can then be streamed as it is written."""
_HEAD_WITHIN = 512
"""How much of a block may come before its arguments for them to be streamed."""


@attrs.define
class _Streaming:
    """A call whose arguments are going out as the model writes them."""

    id: str
    name: str
    arguments: list[str] = attrs.field(factory=list)
    value: ValueEnd = attrs.field(factory=ValueEnd)

    def called(self) -> ToolCalled:
        return ToolCalled(ToolCall(self.id, self.name, "".join(self.arguments)))

    @property
    def complete(self) -> bool:
        """Whether the arguments ended and are a JSON object (a cut or a stop sequence can
        end the answer inside them; the call, already open, is then closed as it is)."""
        return self.value.done and is_json_object("".join(self.arguments))


@attrs.define
class ToolCallScanner:
    """Finds ``<tool_call>`` blocks in the answer as it streams; a filter on the events.

    Text streams on untouched until something that could be the start of a block arrives;
    that much is held back until it is known either way. A block written as the contract
    shows it (the name of an offered tool, then the arguments object) is a call at once: a
    :class:`ToolCallStarted`, its arguments in pieces as they arrive, then its
    :class:`ToolCalled`. Any other block is read whole at its end: a valid call is one
    :class:`ToolCalled`, a broken one is let through as the text it was.
    """

    request: ChatRequest
    _offered: dict[str, Tool] = attrs.field(init=False)
    _streamable: frozenset[str] = attrs.field(init=False)
    """The tools whose calls stream: plain functions (a namespaced or freeform call goes
    out whole, in the shape of its kind)."""
    _held: str = ""
    _in_call: bool = False
    _streaming: _Streaming | None = None
    _called: bool = False
    _broken: bool = False
    """A streamed call ended with arguments that are not a JSON object: the answer does not
    end as a tool-call answer (its finish reason stays the CLI's)."""

    def __attrs_post_init__(self) -> None:
        self._offered = offered_names(self.request.tools)
        self._streamable = frozenset(
            name
            for name, tool in self._offered.items()
            if tool.namespace is None and not tool.freeform
        )

    def feed(self, event: Event) -> list[Event]:
        if isinstance(event, TextDelta):
            return self._text(event.text)
        if isinstance(event, Finished):
            out = self._flush()
            calls = self._called and not self._broken
            cut = event.reason is FinishReason.LENGTH
            reason = FinishReason.TOOL_CALLS if calls and not cut else event.reason
            return [*out, attrs.evolve(event, reason=reason)]
        return [event]

    def _text(self, text: str) -> list[Event]:
        self._held += text
        out: list[Event] = []
        while True:
            if self._in_call:
                if not self._in_block(out):
                    return out
                continue
            start = self._held.find(OPEN)
            if start >= 0:
                before, self._held = self._held[:start], self._held[start + len(OPEN) :]
                out += self._plain(before)
                self._in_call = True
                continue
            cut = len(self._held) - overlap(self._held, OPEN)
            ready, self._held = self._held[:cut], self._held[cut:]
            out += self._plain(ready)
            return out

    def _in_block(self, out: list[Event]) -> bool:
        """Go on inside a block with what is held; whether the block has ended."""
        if self._streaming is None and len(self._held) <= _HEAD_WITHIN:
            head = _HEAD.match(self._held)
            if head is not None and head.group(1) in self._streamable:
                self._streaming = _Streaming(new_call_id(), head.group(1))
                self._called = True
                out.append(ToolCallStarted(self._streaming.id, self._streaming.name))
                self._held = self._held[head.end() :]
        streaming = self._streaming
        if streaming is not None and not streaming.value.done:
            taken = streaming.value.take(self._held)
            piece, self._held = self._held[:taken], self._held[taken:]
            if piece:
                streaming.arguments.append(piece)
                out.append(ToolArgumentsDelta(piece))
            if not streaming.value.done:
                return False
        end = self._held.find(CLOSE)
        if streaming is not None:
            # The rest of the block is the object's closing brace; a next block that opens
            # before this one closed ends it (the model forgot the closing tag).
            following = self._held.find(OPEN)
            if following >= 0 and (end < 0 or following < end):
                self._held = self._held[following:]
            elif end < 0:
                return False
            else:
                self._held = self._held[end + len(CLOSE) :]
            self._in_call = False
            out.append(self._end_streamed())
            return True
        if end < 0:
            return False
        body, self._held = self._held[:end], self._held[end + len(CLOSE) :]
        self._in_call = False
        out.append(self._call(body))
        return True

    def _end_streamed(self) -> ToolCalled:
        assert self._streaming is not None
        streaming, self._streaming = self._streaming, None
        self._broken = self._broken or not streaming.complete
        return streaming.called()

    def _plain(self, text: str) -> list[Event]:
        if not text or (self._called and not text.strip()):
            return []  # the blank lines between and after calls are not an answer
        return [TextDelta(text)]

    def _call(self, body: str) -> Event:
        call = _parse_call(body, self._offered)
        if call is None:
            return TextDelta(f"{OPEN}{body}{CLOSE}")
        self._called = True
        return ToolCalled(call)

    def _flush(self) -> list[Event]:
        held, self._held = self._held, ""
        if self._streaming is not None:  # cut inside the call: it is the answer's last
            self._in_call = False
            return [self._end_streamed()]
        if self._in_call:
            self._in_call = False
            return self._plain(OPEN + held)  # an unclosed block is text
        return self._plain(held)


def _parse_call(body: str, offered: Mapping[str, Tool]) -> ToolCall | None:
    text = body.strip()
    if text.startswith("```"):  # a block the model fenced anyway
        text = text.strip("`").removeprefix("json").strip()
    try:
        call: Any = json.loads(text)
    except ValueError:
        return None
    name = call.get("name") if isinstance(call, dict) else None
    tool = offered.get(name) if isinstance(name, str) else None
    if tool is None:
        return None
    arguments = call.get("arguments", {})
    if isinstance(arguments, str) and tool.freeform:  # a freeform tool's text, as it is
        arguments = {"input": arguments}
    elif isinstance(arguments, str):  # the OpenAI wire shape, which models also write
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return None
    if not isinstance(arguments, dict):
        return None
    if tool.freeform and not isinstance(arguments.get("input"), str):
        return None
    return ToolCall(
        new_call_id(),
        tool.name,
        json.dumps(arguments, ensure_ascii=False),
        namespace=tool.namespace,
        freeform=tool.freeform,
    )
