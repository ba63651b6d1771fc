"""Stop sequences, sans I/O: the answer ends where one of them would begin.

No CLI takes stop sequences, so they are applied to the answer as it streams. Text that
could be the start of a stop sequence is held back until it is known either way; when one
appears, the text before it goes out, the answer finishes with ``stop``, and the job ends
the CLI's run, since what it says next is for nobody. The sequence itself is not sent, as
OpenAI and Anthropic do it.
"""

from __future__ import annotations

import attrs

from .events import Event, Failed, Finished, FinishReason, TextDelta

__all__ = ["StopSequences", "overlap"]


@attrs.define
class StopSequences:
    """A filter on the events that cuts the answer at the first stop sequence."""

    stops: tuple[str, ...]
    _held: str = ""
    _stopped: bool = False

    def feed(self, event: Event) -> list[Event]:
        if self._stopped:
            return []
        if isinstance(event, TextDelta):
            return self._text(event.text)
        if isinstance(event, (Finished, Failed)):
            held, self._held = self._held, ""
            return [TextDelta(held), event] if held and isinstance(event, Finished) else [event]
        return [event]

    def _text(self, text: str) -> list[Event]:
        self._held += text
        found = [(i, stop) for stop in self.stops if (i := self._held.find(stop)) >= 0]
        if found:
            at, stop = min(found)
            self._stopped = True
            before = self._held[:at]
            ended = Finished(FinishReason.STOP, stop_sequence=stop)
            return [*([TextDelta(before)] if before else []), ended]
        cut = len(self._held) - max(overlap(self._held, stop) for stop in self.stops)
        ready, self._held = self._held[:cut], self._held[cut:]
        return [TextDelta(ready)] if ready else []


def overlap(text: str, stop: str) -> int:
    """How long an end of ``text`` is also a beginning of ``stop`` (what to hold back)."""
    for size in range(min(len(stop) - 1, len(text)), 0, -1):
        if stop.startswith(text[-size:]):
            return size
    return 0
