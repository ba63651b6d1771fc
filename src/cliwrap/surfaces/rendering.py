"""What every surface does with a run's events before its own wire format, sans I/O.

The surfaces differ in their bytes, not in how they read the event stream: progress marks
are content only until the answer starts (and only when the answer is for a person: else
they are keepalives), and a blank line separates them from it; a tool call opens, takes its
arguments in pieces and closes, whether it was streamed or came whole; usage
arrives before the end and is reported at the end; nothing follows the end. That reading is
written once here, for streams (:class:`EventEncoder`) and for one-body answers
(:class:`Gathered`); each surface supplies only its wire format.
"""

from __future__ import annotations

import abc

import attrs

from ..core.errors import ApiError
from ..core.events import (
    Event,
    Failed,
    Finished,
    FinishReason,
    Keepalive,
    Progress,
    TextDelta,
    ThinkingDelta,
    ToolArgumentsDelta,
    ToolCalled,
    ToolCallStarted,
    Usage,
)
from ..core.progress import ANSWER_SEPARATOR
from ..core.request import ToolCall

__all__ = ["EventEncoder", "Gathered"]


@attrs.define
class EventEncoder(abc.ABC):
    """A surface's stream encoder: events in, wire bytes out (see the module's docstring).

    Subclasses write the wire format of each kind of output; :meth:`encode` decides what is
    output. After :meth:`fail` or the finish, ``done`` is true and events encode to nothing.
    """

    done: bool = attrs.field(init=False, default=False)
    usage: Usage = attrs.field(init=False, factory=Usage)
    calls: int = attrs.field(init=False, default=0)
    """How many tool calls have gone out."""
    stop_sequence: str | None = attrs.field(init=False, default=None)
    """The client's stop sequence that ended the answer, if one did."""
    _marks_shown: bool = attrs.field(init=False, default=False)
    _answering: bool = attrs.field(init=False, default=False)
    _streaming_call: str | None = attrs.field(init=False, default=None)
    """The id of the tool call whose arguments are streaming."""
    _thinking_held: list[str] = attrs.field(init=False, factory=list)
    """Thinking that came while a call streamed: no wire format has room for it inside a
    call, so it follows the call."""

    @abc.abstractmethod
    def start(self) -> bytes:
        """What goes out before any event."""

    def encode(self, event: Event) -> bytes:
        if self.done:
            return b""
        if isinstance(event, Keepalive):
            return self._keepalive()
        if isinstance(event, Progress):
            if self._answering:
                return b""
            if not event.content:
                return self._keepalive()
            self._marks_shown = True
            return self._content(event.mark)
        if isinstance(event, TextDelta):
            text = event.text
            if self._marks_shown and not self._answering:
                text = ANSWER_SEPARATOR + text
            self._answering = True
            return self._content(text)
        if isinstance(event, ThinkingDelta):
            if self._streaming_call is not None:
                self._thinking_held.append(event.text)
                return b""
            return self._thinking(event.text)
        if isinstance(event, ToolCallStarted):
            self._streaming_call = event.id
            self.calls += 1
            return self._tool_start(event.id, event.name, self.calls - 1)
        if isinstance(event, ToolArgumentsDelta):
            return self._tool_arguments(event.text, self.calls - 1)
        if isinstance(event, ToolCalled):
            return self._tool_called(event.call)
        if isinstance(event, Usage):
            self.usage = event
            return b""
        if isinstance(event, Finished):
            self.done = True
            self.stop_sequence = event.stop_sequence
            return self._finish(event.reason)
        return self.fail(event.error)

    def _tool_called(self, call: ToolCall) -> bytes:
        if self._streaming_call == call.id:
            self._streaming_call = None
            ended = self._tool_end(call, self.calls - 1)
            held, self._thinking_held = "".join(self._thinking_held), []
            return ended + (self._thinking(held) if held else b"")
        self.calls += 1
        return self._whole_call(call, self.calls - 1)

    def _whole_call(self, call: ToolCall, index: int) -> bytes:
        """A call that came whole: opened, its arguments, closed (a surface whose calls of
        some kind have a shape of their own writes them here)."""
        opened = self._tool_start(call.id, call.name, index)
        return opened + self._tool_arguments(call.arguments, index) + self._tool_end(call, index)

    def fail(self, error: ApiError) -> bytes:
        """The failure as the surface sends it mid-stream; nothing follows it."""
        self.done = True
        return self._failed(error)

    @abc.abstractmethod
    def _keepalive(self) -> bytes: ...

    @abc.abstractmethod
    def _content(self, text: str) -> bytes:
        """Answer text (or a progress mark, before the answer)."""

    @abc.abstractmethod
    def _thinking(self, text: str) -> bytes: ...

    @abc.abstractmethod
    def _tool_start(self, call_id: str, name: str, index: int) -> bytes:
        """The ``index``-th tool call of this answer begins; its arguments follow."""

    @abc.abstractmethod
    def _tool_arguments(self, text: str, index: int) -> bytes:
        """A piece of the open tool call's arguments."""

    @abc.abstractmethod
    def _tool_end(self, call: ToolCall, index: int) -> bytes:
        """The open tool call is complete; ``call.arguments`` is all its pieces together."""

    @abc.abstractmethod
    def _finish(self, reason: FinishReason) -> bytes:
        """The end of the stream; the run's usage is in ``self.usage``."""

    @abc.abstractmethod
    def _failed(self, error: ApiError) -> bytes: ...


@attrs.define
class Gathered:
    """A run's events gathered into one answer, for the surfaces' non-streaming bodies."""

    model: str
    _text: list[str] = attrs.field(init=False, factory=list)
    _thinking: list[str] = attrs.field(init=False, factory=list)
    calls: list[ToolCall] = attrs.field(init=False, factory=list)
    usage: Usage = attrs.field(init=False, factory=Usage)
    _reason: FinishReason = attrs.field(init=False, default=FinishReason.STOP)
    stop_sequence: str | None = attrs.field(init=False, default=None)
    _failure: ApiError | None = attrs.field(init=False, default=None)

    def add(self, event: Event) -> None:
        """Take one event (progress marks and keepalives are for streams only)."""
        if isinstance(event, TextDelta):
            self._text.append(event.text)
        elif isinstance(event, ThinkingDelta):
            self._thinking.append(event.text)
        elif isinstance(event, ToolCalled):
            self.calls.append(event.call)
        elif isinstance(event, Usage):
            self.usage = event
        elif isinstance(event, Finished):
            self._reason = event.reason
            self.stop_sequence = event.stop_sequence
        elif isinstance(event, Failed):
            self._failure = event.error

    @property
    def text(self) -> str:
        return "".join(self._text)

    @property
    def thinking(self) -> str:
        return "".join(self._thinking)

    def outcome(self) -> FinishReason:
        """How the answer ended; raises the run's :class:`ApiError` if it failed."""
        if self._failure is not None:
            raise self._failure
        return self._reason
