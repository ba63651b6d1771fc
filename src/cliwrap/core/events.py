"""The canonical stream a job produces: what the CLI said, whatever CLI it was.

Providers turn CLI output lines into these; surfaces turn these into wire bytes. Nothing in
here knows about either end.
"""

from __future__ import annotations

import enum

import attrs

from .errors import ApiError
from .request import ToolCall

__all__ = [
    "Event",
    "Failed",
    "FinishReason",
    "Finished",
    "Indexed",
    "Keepalive",
    "Outcome",
    "Progress",
    "TextDelta",
    "ThinkingDelta",
    "ToolArgumentsDelta",
    "ToolCallStarted",
    "ToolCalled",
    "Update",
    "Usage",
]


class FinishReason(enum.Enum):
    STOP = "stop"
    LENGTH = "length"
    TOOL_CALLS = "tool_calls"
    CONTENT_FILTER = "content_filter"


@attrs.frozen
class TextDelta:
    """A piece of the answer, as soon as the CLI printed it."""

    text: str


@attrs.frozen
class ThinkingDelta:
    """A piece of the model's visible reasoning (thinking), kept apart from the answer."""

    text: str


@attrs.frozen
class ToolCallStarted:
    """The model began to call one of the client's tools; its arguments stream next, as
    :class:`ToolArgumentsDelta` pieces, and its :class:`ToolCalled` (same ``id``) ends it."""

    id: str
    name: str


@attrs.frozen
class ToolArgumentsDelta:
    """A piece of the arguments (JSON text) of the tool call that started last."""

    text: str


@attrs.frozen
class ToolCalled:
    """The model called one of the client's tools; the answer ends with ``tool_calls``.

    Either the end of a call that was streamed (a :class:`ToolCallStarted` with the same
    id came first, and ``call.arguments`` is what its deltas said), or a whole call at once.
    """

    call: ToolCall


@attrs.frozen
class Usage:
    """Token counts (and cost, when the CLI reports one) for the whole run."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float | None = None

    def __add__(self, other: Usage) -> Usage:
        """Two runs' usage together (``n`` > 1)."""
        costs = [c for c in (self.cost_usd, other.cost_usd) if c is not None]
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            cost_usd=sum(costs) if costs else None,
        )

    @property
    def prompt_tokens(self) -> int:
        """Everything the model read, cached or not, as OpenAI counts prompt tokens."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens


@attrs.frozen
class Finished:
    """The answer is complete."""

    reason: FinishReason = FinishReason.STOP
    stop_sequence: str | None = None
    """The client's stop sequence that ended it, if one did."""
    note: str | None = None
    """For the server's log: what is wrong with an answer that went out as the model wrote
    it (a structured answer that does not validate)."""


@attrs.frozen
class Failed:
    """The run failed; nothing more follows."""

    error: ApiError


@attrs.frozen
class Keepalive:
    """Nothing happened for a while: surfaces send something invisible to keep the line open."""


@attrs.frozen
class Progress:
    """A progress mark for `*-progress` models, shown as content before the answer starts.

    Not content (``content`` false) when the answer is for a program, not a person: a
    request with tools or an answer format gets the mark as a keepalive, so neither a tool
    call nor a JSON answer is preceded by text its client would parse or store.
    """

    mark: str
    content: bool = True


Update = (
    TextDelta
    | ThinkingDelta
    | ToolCallStarted
    | ToolArgumentsDelta
    | ToolCalled
    | Usage
    | Keepalive
    | Progress
)
"""What a run says while it goes on."""

Outcome = Finished | Failed
"""How a run ended: exactly one per run, decided once, known only after its CLI is reaped."""

Event = Update | Outcome
"""What parsers and filters produce: updates, and the outcome as they see it."""

Indexed = tuple[int, Event]
"""An event of the ``index``-th of several runs answering one request (``n`` > 1)."""
