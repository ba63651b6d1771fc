"""The Anthropic Messages surface (``POST /v1/messages``): parsing and encoding, sans I/O.

One more adapter around the canonical request and event stream: a Messages request becomes a
:class:`~cliwrap.core.request.ChatRequest`, and the job's events become a ``message`` object or
Anthropic's stream of named SSE events, in the order its SDKs expect: ``message_start``,
then per content block ``content_block_start`` / ``content_block_delta``\\* /
``content_block_stop`` (a ``ping`` after the first block starts), then ``message_delta`` with
the stop reason and usage, and ``message_stop``. Validation follows the API's rules and its
``invalid_request_error`` wording.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from typing import Any

import attrs

from ..core.errors import ApiError, ErrorKind
from ..core.events import FinishReason, Usage
from ..core.fields import is_one_of, named, shown
from ..core.images import Album, Image, RemoteImage, from_base64, from_url
from ..core.request import (
    EFFORTS,
    ChatRequest,
    Effort,
    Message,
    ResponseFormat,
    Role,
    Tool,
    ToolCall,
    ToolChoice,
    placed,
)
from ..semantics.structured import parse_format
from ..semantics.tools import checked_tool
from . import params, sse
from .rendering import EventEncoder, Gathered

__all__ = [
    "STOP_REASONS",
    "MessageCollector",
    "MessageEncoder",
    "count_tokens",
    "error_body",
    "parse_messages_request",
    "server_tools",
    "tool_use_id",
]

_ROLES: dict[str, Role] = {"user": "user", "assistant": "assistant", "system": "system"}
_TOOL_BLOCKS = ("tool_use", "tool_result")
_SERVER_TOOL = re.compile(r"(?:web_search|web_fetch|code_execution|tool_search_tool_\w+?)_\d{8}")
"""The tools Anthropic runs itself (the ``bash_…``, ``text_editor_…``, ``computer_…`` and
``memory_…`` tools are run by the client: those are not server tools)."""
_SERVER_BLOCK = re.compile(
    r"server_tool_use|mcp_tool_use|mcp_tool_result|container_upload|\w+_tool_result"
)
"""Earlier turns' server-tool calls and results (``web_search_tool_result``…): Anthropic ran
those; cliwrap offers no server tool, so they are history from elsewhere, left out."""
_CHOICES = {"auto": ToolChoice("auto"), "any": ToolChoice("required"), "none": ToolChoice("none")}
_EFFORTS: tuple[Effort, ...] = EFFORTS[EFFORTS.index("low") :]
"""``output_config.effort``'s values: the API knows no ``none`` or ``minimal``."""
STOP_REASONS = {
    FinishReason.STOP: "end_turn",
    FinishReason.LENGTH: "max_tokens",
    FinishReason.TOOL_CALLS: "tool_use",
    FinishReason.CONTENT_FILTER: "refusal",
}


def _invalid(message: str) -> ApiError:
    return ApiError(ErrorKind.INVALID_REQUEST, message)


def error_body(error: ApiError) -> dict[str, Any]:
    """Anthropic's error envelope."""
    return {"type": "error", "error": {"type": error.kind.anthropic_type, "message": error.message}}


def parse_messages_request(body: Any) -> ChatRequest:
    """A :class:`ChatRequest` from a Messages request body, or a 400 saying what is wrong."""
    if not isinstance(body, dict):
        raise _invalid("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _invalid("model: Field required")
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        raise _invalid("max_tokens: Field required")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise _invalid("max_tokens: Input should be a valid integer greater than or equal to 1")
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise _invalid("messages: at least one message is required")
    album = Album()
    messages = placed(
        [turn for i, m in enumerate(raw) for turn in _message(m, f"messages.{i}", album)]
    )
    if not any(m.role in ("user", "tool") for m in messages):
        raise _invalid("messages: at least one user message is required")
    system = _system(body.get("system"))
    stop = body.get("stop_sequences")
    if stop is not None and (
        not isinstance(stop, list) or not all(isinstance(s, str) for s in stop)
    ):
        raise _invalid("stop_sequences: Input should be a valid list of strings")
    metadata = body.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise _invalid("metadata: Input should be a valid dictionary")
        user_id = metadata.get("user_id")
        if user_id is not None and not isinstance(user_id, str):
            raise _invalid("metadata.user_id: Input should be a valid string")
        if set(metadata) - {"user_id"}:
            extra = sorted(set(metadata) - {"user_id"})[0]
            raise _invalid(f"metadata.{extra}: Extra inputs are not permitted")
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise _invalid("stream: Input should be a valid boolean")
    head = (Message("system", system),) if system else ()
    offered, choice = _tools(body, _loaded_tools(raw))
    effort, response_format = _output_config(body.get("output_config"), body.get("output_format"))
    return ChatRequest(
        model=model,
        session=params.session_name(body.get("session_id"), "session_id"),
        messages=(*head, *messages),
        stream=bool(stream),
        tools=offered,
        tool_choice=choice,
        response_format=response_format,
        stop=tuple(stop or ()),
        max_tokens=max_tokens,
        reasoning_effort=effort,
        thinking_budget=_thinking_budget(body.get("thinking")),
        temperature=_checked(params.number, body.get("temperature"), 0, 1, "temperature"),
        top_p=_checked(params.number, body.get("top_p"), 0, 1, "top_p"),
    )


def _thinking_budget(thinking: Any) -> int | None:
    """``thinking: {"type": "enabled", "budget_tokens": N}``: N (disabled: 0)."""
    if thinking is None:
        return None
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind == "disabled":
        return 0
    if kind in ("adaptive", "between_tools"):
        return None  # the model decides: as each CLI does by default
    if kind != "enabled":
        raise _invalid(
            "thinking.type: Input should be 'enabled', 'disabled', 'adaptive' or 'between_tools'"
        )
    budget = thinking.get("budget_tokens")
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1024:
        raise _invalid("thinking.budget_tokens: Input should be an integer of at least 1024")
    return budget


def _checked(check: Callable[..., Any], *args: Any) -> Any:
    """A shared parameter check, its error worded as Anthropic words them."""
    try:
        return check(*args)
    except ApiError as error:
        raise _invalid(f"{error.param}: {error.message}") from None


def _output_config(config: Any, legacy: Any) -> tuple[Effort | None, ResponseFormat | None]:
    """``output_config``'s effort and format (what ``messages.parse(output_format=...)``
    sends), or the format of the structured-outputs beta's top-level ``output_format``."""
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise _invalid("output_config: Input should be a valid dictionary")
    effort = config.get("effort")
    if effort is not None and effort not in _EFFORTS:
        raise _invalid(
            "output_config.effort: Input should be 'low', 'medium', 'high', 'xhigh' or 'max'"
        )
    spec, where = config.get("format"), "output_config.format"
    if legacy is not None:
        if spec is not None:
            raise _invalid("output_format: give the format in output_config.format only")
        spec, where = legacy, "output_format"
    return effort, _output_format(spec, where)


def _output_format(spec: Any, where: str) -> ResponseFormat | None:
    """Anthropic's structured outputs (a ``json_schema`` and its schema)."""
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise _invalid(f"{where}: Input should be a valid dictionary")
    if spec.get("type") != "json_schema":
        raise _invalid(f"{where}.type: Input should be 'json_schema'")
    try:
        return parse_format("json_schema", spec.get("schema"), None, where)
    except ApiError as error:
        raise _invalid(error.message.replace("'", "")) from None


def _message(raw: Any, where: str, album: Album) -> list[Message]:
    """One Messages turn as canonical turns: its tool results each become a ``tool`` turn."""
    if not isinstance(raw, dict):
        raise _invalid(f"{where}: Input should be a valid dictionary")
    role = named(_ROLES, raw.get("role"))
    if role is None:
        raise _invalid(f"{where}.role: Input should be 'user', 'assistant' or 'system'")
    if "content" not in raw:
        raise _invalid(f"{where}.content: Field required")
    content = raw["content"]
    if role == "system":
        text = _system(content, f"{where}.content")
        return [Message("system", text)] if text.strip() else []
    blocks = content if isinstance(content, list) else []
    uses = [b for b in blocks if isinstance(b, dict) and b.get("type") == "tool_use"]
    results = [b for b in blocks if isinstance(b, dict) and b.get("type") == "tool_result"]
    rest = [b for b in blocks if not (isinstance(b, dict) and b.get("type") in _TOOL_BLOCKS)]
    before = len(album.images)
    seen = album if role == "user" else None
    text = _text(content if isinstance(content, str) else rest, f"{where}.content", seen)
    if role == "assistant":
        calls = tuple(_call(b, f"{where}.content") for b in uses)
        return [Message("assistant", text, tool_calls=calls)]
    if uses:
        raise _invalid(f"{where}.content: tool_use blocks belong in assistant turns")
    images = album.since(before)
    turns = [_result(b, f"{where}.content", album) for b in results]
    if not turns and not text.strip():  # no CLI takes an empty prompt
        raise _invalid(f"{where}.content: user messages must not be empty")
    if text or not turns:
        turns.append(Message("user", text, images=images))
    return turns


def _call(block: dict[str, Any], where: str) -> ToolCall:
    ident, name, arguments = block.get("id"), block.get("name"), block.get("input", {})
    if not isinstance(ident, str) or not isinstance(name, str) or not isinstance(arguments, dict):
        raise _invalid(f"{where}: a tool_use block needs 'id', 'name' and an 'input' object")
    return ToolCall(ident, name, json.dumps(arguments, ensure_ascii=False))


def _result(block: dict[str, Any], where: str, album: Album) -> Message:
    ident = block.get("tool_use_id")
    if not isinstance(ident, str):
        raise _invalid(f"{where}: a tool_result block needs 'tool_use_id'")
    before = len(album.images)
    text = _text(block.get("content") or "", f"{where}.tool_result", album)
    if block.get("is_error"):
        text = f"(the tool failed) {text}"
    return Message("tool", text, tool_call_id=ident, images=album.since(before))


def _loaded_tools(raw: list[Any]) -> set[str]:
    """The tools that tool search loaded: those named by ``tool_reference`` blocks in the
    turns' tool results (a ``defer_loading`` tool is offered only once it is loaded)."""
    return {
        part["tool_name"]
        for turn in raw
        if isinstance(turn, dict) and isinstance(turn.get("content"), list)
        for block in turn["content"]
        if isinstance(block, dict)
        and block.get("type") == "tool_result"
        and isinstance(block.get("content"), list)
        for part in block["content"]
        if isinstance(part, dict)
        and part.get("type") == "tool_reference"
        and isinstance(part.get("tool_name"), str)
    }


def _tools(body: dict[str, Any], loaded: set[str]) -> tuple[tuple[Tool, ...], ToolChoice]:
    raw, choice = body.get("tools"), body.get("tool_choice")
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise _invalid("tools: Input should be a valid list")
    offered = []
    # Deferred tools wait for a tool search to load them; when that search is the API's
    # own server tool, which cliwrap leaves out, nothing would ever load them: offer them.
    searching = any(t.startswith("tool_search_tool_") for t in server_tools(body))
    for i, tool in enumerate(raw):
        if not isinstance(tool, dict):
            raise _invalid(f"tools.{i}: Input should be a valid dictionary")
        kind = tool.get("type")
        if isinstance(kind, str) and _SERVER_TOOL.fullmatch(kind):
            continue  # a server tool (see server_tools): left out, never an error
        if kind not in (None, "custom"):
            raise _invalid(
                f"tools.{i}: Anthropic-defined client tools ({shown(kind)}) are not supported; "
                "define the tool with a name and an input_schema instead"
            )
        try:
            checked = checked_tool(
                tool.get("name"), tool.get("description"), tool.get("input_schema"), "x"
            )
        except ApiError as error:
            raise _invalid(f"tools.{i}: {error.message.removeprefix('x.')}") from None
        if not tool.get("defer_loading") or checked.name in loaded or searching:
            offered.append(checked)
    if choice is None:
        return tuple(offered), ToolChoice()
    kind = choice.get("type") if isinstance(choice, dict) else None
    simple = named(_CHOICES, kind)
    if simple is not None:
        return tuple(offered), simple
    name = choice.get("name") if isinstance(choice, dict) else None
    if kind != "tool" or not is_one_of(name, {t.name for t in offered}):
        raise _invalid(
            "tool_choice: expected {'type': 'auto' | 'any' | 'none'} or "
            "{'type': 'tool', 'name': <one of the tools>}"
        )
    return tuple(offered), ToolChoice("function", name)


def server_tools(body: Any) -> list[str]:
    """The server tools a request offered (``web_search_…``; Claude Code's WebSearch), which
    the model does not get (see :func:`params.tool_types`)."""
    return params.tool_types(body, _SERVER_TOOL.fullmatch)


def _system(system: Any, where: str = "system") -> str:
    if system is None:
        return ""
    if isinstance(system, list) and not all(
        isinstance(b, dict) and b.get("type") == "text" for b in system
    ):
        raise _invalid(f"{where}: blocks must be text blocks")
    return _text(system, where)


def _text(content: Any, where: str, album: Album | None = None) -> str:
    """The text of a string or a list of content blocks; images (in user turns) go to
    ``album``, leaving their label in the text."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _invalid(f"{where}: Input should be a valid string or list of content blocks")
    texts = []
    for i, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind in ("thinking", "redacted_thinking") or (
            isinstance(kind, str) and _SERVER_BLOCK.fullmatch(kind)
        ):
            continue  # earlier turns' thinking or server tools, sent back; not for the prompt
        elif kind == "image" and album is not None:
            texts.append(album.add(_image(block.get("source"), f"{where}.{i}.source")))
        elif kind in ("document", "search_result"):
            texts.append(_quoted(block, f"{where}.{i}"))
        elif kind == "tool_reference" and isinstance(block.get("tool_name"), str):
            # tool search's answer: the tool is now offered (see _loaded_tools)
            texts.append(f"(tool loaded: {block['tool_name']})")
        elif kind is None:
            raise _invalid(f"{where}.{i}: Input should be a valid content block")
        else:
            raise _invalid(
                f"{where}.{i}: content blocks of type {shown(kind)} are not supported yet"
            )
    return "\n".join(texts)


def _quoted(block: dict[str, Any], where: str) -> str:
    """A text ``document`` or a ``search_result`` as the model reads it: its title (and
    source) as a heading, then its text. PDFs have no text to give a CLI: a 400."""
    kind = block["type"]
    source = block.get("source")
    if kind == "document":
        if not isinstance(source, dict) or source.get("type") not in ("text", "content"):
            raise _invalid(
                f"{where}.source: only text documents (source type 'text' or 'content') "
                "are supported; send a PDF's text instead"
            )
        body = source.get("data") if source["type"] == "text" else source.get("content")
        origin = None
    else:
        body, origin = block.get("content"), source
    text = _text(body, f"{where}.content") if body is not None else ""
    if origin is not None and not isinstance(origin, str):
        raise _invalid(f"{where}.source: Input should be a valid string")
    title = block.get("title")
    heading = " — ".join(x for x in (title, origin) if isinstance(x, str) and x)
    quoted = json.dumps(heading, ensure_ascii=False)
    return f"<document title={quoted}>\n{text}\n</document>" if heading else text


def _image(source: Any, where: str) -> Image | RemoteImage:
    if not isinstance(source, dict):
        raise _invalid(f"{where}: Input should be a valid dictionary")
    try:
        if source.get("type") == "base64":
            return from_base64(source.get("data"), where)
        return from_url(source.get("url"), where)
    except ApiError as error:
        raise _invalid(error.message) from None


def count_tokens(request: ChatRequest) -> int:
    """An estimate of the prompt's tokens (~4 characters each), the system prompt, the
    earlier tool calls and the tools offered included: the CLIs count nothing ahead. It is
    also the input ``message_start`` reports, before the CLI has said what it used."""
    characters = request.input_characters + 8 * len(request.messages)
    return max(1, round(characters / 4))


def _stopped(reason: FinishReason, stop_sequence: str | None) -> dict[str, Any]:
    if stop_sequence is not None:
        return {"stop_reason": "stop_sequence", "stop_sequence": stop_sequence}
    return {"stop_reason": STOP_REASONS[reason], "stop_sequence": None}


def tool_use_id(ident: str) -> str:
    """A call's id as Anthropic writes them (``toolu_…``; cliwrap makes ``call_…`` ids).

    Renamed here, at the surface, rather than made so: the same id always maps to the same
    one and nothing needs it back, since a history's ``tool_result`` only has to name the
    ``tool_use`` block the client was given, and both arrive in the client's spelling.
    """
    return "toolu_" + ident.removeprefix("call_") if ident.startswith("call_") else ident


def tool_use_block(call: ToolCall) -> dict[str, Any]:
    """The ``tool_use`` block of a whole call (its ``input`` parsed; ``{}`` for arguments
    that a cut ended before they were JSON: the block must still be one)."""
    try:
        arguments = json.loads(call.arguments)
    except ValueError:
        arguments = None
    return _tool_use(call.id, call.name, arguments if isinstance(arguments, dict) else {})


def _tool_use(ident: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": tool_use_id(ident), "name": name, "input": arguments}


def _new_id() -> str:
    return "msg_" + secrets.token_hex(12)


def _usage(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
    }


@attrs.define
class MessageCollector(Gathered):
    """Gathers events into one ``message`` object (the non-streaming answer)."""

    def body(self) -> dict[str, Any]:
        reason = self.outcome()
        content: list[dict[str, Any]] = []
        if self.thinking:
            content.append({"type": "thinking", "thinking": self.thinking, "signature": ""})
        if self.text or not self.calls:
            content.append({"type": "text", "text": self.text})
        content += [tool_use_block(call) for call in self.calls]
        return {
            "id": _new_id(),
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            **_stopped(reason, self.stop_sequence),
            "usage": _usage(self.usage),
        }


@attrs.define
class MessageEncoder(EventEncoder):
    """Turns events into Anthropic's named SSE events (see the module's docstring).

    Thinking and text go in blocks of their own, a new block whenever the kind changes;
    progress marks (``-progress`` models) are text before the answer; keepalives are
    ``ping`` events; a failure after the start is an ``error`` event, as the API sends it.
    """

    model: str
    input_tokens: int = 0
    """The estimate ``message_start`` reports (:func:`count_tokens`); the run's own count
    follows in ``message_delta``."""
    _id: str = attrs.field(init=False, factory=_new_id)
    _block: str | None = attrs.field(init=False, default=None)
    """The open block's type."""
    _index: int = attrs.field(init=False, default=-1)
    _pinged: bool = attrs.field(init=False, default=False)

    def start(self) -> bytes:
        message: dict[str, Any] = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": _usage(Usage(input_tokens=self.input_tokens)),
        }
        return self._event("message_start", message=message)

    def _keepalive(self) -> bytes:
        return self._event("ping")

    def _content(self, text: str) -> bytes:
        return self._delta("text", text)

    def _thinking(self, text: str) -> bytes:
        return self._delta("thinking", text)

    def _failed(self, error: ApiError) -> bytes:
        return sse.event("error", error_body(error))

    def _delta(self, kind: str, text: str) -> bytes:
        out = b""
        if self._block != kind:
            out += self._close() + self._open(kind)
        field, delta = (
            ("thinking", "thinking_delta") if kind == "thinking" else ("text", "text_delta")
        )
        return out + self._event(
            "content_block_delta", index=self._index, delta={"type": delta, field: text}
        )

    def _tool_start(self, call_id: str, name: str, index: int) -> bytes:
        return self._close() + self._open("tool_use", _tool_use(call_id, name, {}))

    def _tool_arguments(self, text: str, index: int) -> bytes:
        delta = {"type": "input_json_delta", "partial_json": text}
        return self._event("content_block_delta", index=self._index, delta=delta)

    def _tool_end(self, call: ToolCall, index: int) -> bytes:
        return self._close()

    def _open(self, kind: str, block: dict[str, Any] | None = None) -> bytes:
        self._block = kind
        self._index += 1
        if block is None:
            block = (
                {"type": "thinking", "thinking": "", "signature": ""}
                if kind == "thinking"
                else {"type": "text", "text": ""}
            )
        out = self._event("content_block_start", index=self._index, content_block=block)
        if not self._pinged:
            self._pinged = True
            out += self._event("ping")
        return out

    def _close(self) -> bytes:
        if self._block is None:
            return b""
        out = b""
        if self._block == "thinking":
            signature = {"type": "signature_delta", "signature": ""}
            out = self._event("content_block_delta", index=self._index, delta=signature)
        self._block = None
        return out + self._event("content_block_stop", index=self._index)

    def _finish(self, reason: FinishReason) -> bytes:
        out = b"" if self._index >= 0 else self._open("text")  # an answer has a text block
        out += self._close()
        delta = _stopped(reason, self.stop_sequence)
        out += self._event("message_delta", delta=delta, usage=_usage(self.usage))
        return out + self._event("message_stop")

    @staticmethod
    def _event(name: str, **fields: Any) -> bytes:
        return sse.event(name, {"type": name, **fields})
