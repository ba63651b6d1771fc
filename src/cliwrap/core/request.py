"""The canonical request: what a client asked for, whatever surface it spoke.

Surfaces build a :class:`ChatRequest`; providers read it. Validation belongs to the surface
(each API has its own rules and error wording); by the time a ChatRequest exists it is valid.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import attrs

from .images import Image, RemoteImage

__all__ = [
    "EFFORTS",
    "ChatRequest",
    "Effort",
    "Message",
    "ResponseFormat",
    "Role",
    "Tool",
    "ToolCall",
    "ToolChoice",
    "placed",
]

Role = Literal["system", "user", "assistant", "tool"]
Effort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]
EFFORTS: tuple[Effort, ...] = ("none", "minimal", "low", "medium", "high", "xhigh", "max")


@attrs.frozen
class ToolCall:
    """A call the model made to one of the client's tools (the client runs it, never the CLI)."""

    id: str
    name: str
    arguments: str
    """A JSON object, as text: what OpenAI's ``function.arguments`` carries."""
    namespace: str | None = None
    """The Responses ``namespace`` tool the called function belongs to (``name`` is its name
    there), for the client to find it; None for a plain function."""
    freeform: bool = False
    """A call to a Responses ``custom`` (freeform) tool: ``arguments`` is ``{"input": TEXT}``
    and the Responses surface answers a ``custom_tool_call`` whose ``input`` is TEXT."""


@attrs.frozen
class Message:
    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    """An assistant turn's calls."""
    tool_call_id: str | None = None
    """For a ``tool`` turn: the call whose result ``content`` is."""
    name: str | None = None
    """For a ``tool`` turn: the tool's name, when the client said it."""
    images: tuple[Image | RemoteImage, ...] = ()
    """The turn's images, in order; the text holds ``[Image #N]`` where each was. Remote
    ones are fetched (or refused) before the request is run."""
    in_conversation: bool = False
    """For a ``system`` turn: it stays where the client put it among the turns (an update
    that applies from there on) instead of joining the system prompt; see :func:`placed`."""


def placed(turns: Sequence[Message]) -> tuple[Message, ...]:
    """System turns where the client put them: those before the first user or assistant
    turn make the system prompt (nothing precedes them for them to follow); later ones stay
    in the conversation, since what they say applies from there on (Claude Code's
    environment and reminders come after the user's turn they concern; an agent's mid-task
    instruction after the steps it changes)."""
    lead = next((i for i, m in enumerate(turns) if m.role != "system"), len(turns))
    return tuple(
        attrs.evolve(m, in_conversation=i >= lead) if m.role == "system" else m
        for i, m in enumerate(turns)
    )


@attrs.frozen
class Tool:
    """A function the client offers the model."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = attrs.field(factory=dict, eq=False, hash=False)
    """Its arguments' JSON Schema."""
    namespace: str | None = None
    """The Responses ``namespace`` tool it came in (``name`` is its name there)."""
    freeform: bool = False
    """A Responses ``custom`` tool: it takes one text, offered as one string argument
    ``input`` (``parameters`` says so), and its calls are :attr:`ToolCall.freeform`."""


@attrs.frozen
class ToolChoice:
    """Whether the model may, must, or must not call a tool: ``auto``, ``required``,
    ``none``, or ``function`` with ``name`` (that tool, and only it)."""

    mode: Literal["auto", "required", "none", "function"] = "auto"
    name: str | None = None


@attrs.frozen
class ResponseFormat:
    """What the answer must be: any JSON object, or JSON matching ``schema``."""

    kind: Literal["json_object", "json_schema"]
    schema: Mapping[str, Any] | None = attrs.field(default=None, eq=False, hash=False)
    name: str | None = None


@attrs.frozen
class ChatRequest:
    """One chat turn to answer: the history, the model asked for, and how to deliver it."""

    model: str
    messages: tuple[Message, ...]
    stream: bool = False
    include_usage: bool = False
    n: int = 1
    """Answers wanted: each is a run of its own, all in the request's nursery."""
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice = ToolChoice()
    legacy_functions: bool = False
    """The client sent OpenAI's old ``functions``: it wants ``function_call`` back."""
    response_format: ResponseFormat | None = None
    stop: tuple[str, ...] = ()
    """Stop sequences: the answer ends where one would begin."""
    max_tokens: int | None = None
    """The most answer tokens (passed on where the CLI can take it, else enforced)."""
    max_budget_usd: float | None = None
    """The most this request may spend (``[budgets]``, ``X-Max-Budget-Usd``), where the CLI
    can be told (Claude Code's ``--max-budget-usd``)."""
    reasoning_effort: Effort | None = None
    thinking_budget: int | None = None
    """Tokens the model may think for, where the CLI can be told."""
    temperature: float | None = None
    top_p: float | None = None
    max_turns: int | None = None
    """The CLI's agent turns (with its tools off, one is all a run takes)."""
    session: str | None = None
    """The conversation the client names (``session_id``, ``X-Session-Id``): its earlier
    turns are the server's to remember, and ``messages`` may hold only the new ones."""
    previous_response_id: str | None = None
    """The Responses API's way to name a conversation: the answer this request follows."""
    store: bool = True
    """Whether the answer may be stored for a later ``previous_response_id`` (Responses'
    ``store``)."""

    def with_system(self, text: str) -> ChatRequest:
        """This request with ``text`` added to the system prompt, after what is there."""
        return attrs.evolve(self, messages=(*self.messages, Message("system", text)))

    @property
    def input_characters(self) -> int:
        """How much input the request carries: what every prompt is built from (the
        messages, earlier tool calls, the tools offered), in characters."""
        size = 0
        for message in self.messages:
            size += len(message.content)
            size += sum(len(c.name) + len(c.arguments) for c in message.tool_calls)
        for tool in self.tools:
            size += len(tool.name) + len(tool.description) + len(json.dumps(tool.parameters))
        return size

    @property
    def offers_tools(self) -> bool:
        return bool(self.tools) and self.tool_choice.mode != "none"

    @property
    def system_prompt(self) -> str | None:
        """All system (and developer) messages, joined: CLIs take one system prompt. System
        turns kept in the conversation are not part of it."""
        parts = [m.content for m in self.messages if m.role == "system" and not m.in_conversation]
        return "\n\n".join(parts) if parts else None

    def new_images(self) -> list[tuple[int, Image]]:
        """The images to hand to the CLI, with their numbers (``[Image #N]``): those since
        the last assistant turn. Earlier ones were seen already and stay labels in the text.
        """
        numbered = [(m, image) for m in self.messages for image in m.images]
        last = max((i for i, m in enumerate(self.messages) if m.role == "assistant"), default=-1)
        fresh = {id(m) for m in self.messages[last + 1 :]}
        return [
            (n, image)
            for n, (m, image) in enumerate(numbered, 1)
            if id(m) in fresh and isinstance(image, Image)
        ]

    @property
    def conversation(self) -> tuple[Message, ...]:
        """The user and assistant turns (and the system turns kept among them), in order."""
        return tuple(m for m in self.messages if m.role != "system" or m.in_conversation)
