"""What a turn answered, as the client will send it back in its next request.

The last step of a conversation turn's filter chain: it passes every event through and
keeps the answer's text and tool calls, *after* the other filters (stop sequences cut,
tool-call blocks became calls), since that is what the client saw and will repeat.
"""

from __future__ import annotations

from ..core.events import Event, TextDelta, ToolCalled, Usage
from ..core.request import Message, ToolCall

__all__ = ["AnswerRecorder"]


class AnswerRecorder:
    """An event filter that records the answer and its usage on the way through."""

    def __init__(self) -> None:
        self._text: list[str] = []
        self._calls: list[ToolCall] = []
        self.usage = Usage()

    def feed(self, event: Event) -> list[Event]:
        if isinstance(event, TextDelta):
            self._text.append(event.text)
        elif isinstance(event, ToolCalled):
            self._calls.append(event.call)
        elif isinstance(event, Usage):
            self.usage = event
        return [event]

    @property
    def message(self) -> Message:
        """The answer as an assistant turn."""
        return Message("assistant", "".join(self._text), tool_calls=tuple(self._calls))
