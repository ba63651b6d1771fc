"""Where an answer ends early, sans I/O: stop sequences, and an output limit the CLI lacks.

No CLI takes stop sequences, so they are applied to the answer as it streams. Text that
could be the start of a stop sequence is held back until it is known either way; when one
appears, the text before it goes out, the answer finishes with ``stop``, and the job ends
the CLI's run, since what it says next is for nobody. The sequence itself is not sent, as
OpenAI and Anthropic do it.
"""

from __future__ import annotations

import attrs

from ..core.events import Event, Failed, Finished, FinishReason, TextDelta

__all__ = ["CHARS_PER_TOKEN", "OutputLimit", "StopSequences", "overlap"]

CHARS_PER_TOKEN = 4
"""How :class:`OutputLimit` counts tokens it cannot see: about four characters each."""


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


@attrs.define
class OutputLimit:
    """A filter that ends the answer after about ``max_tokens`` tokens, with ``length``.

    For CLIs that cannot pass a limit on to the model (the model then stops itself, and
    this is not used). Tokens are counted as characters / :data:`CHARS_PER_TOKEN`, an
    estimate: the CLIs report token counts only at the end.
    """

    max_tokens: int
    _left: int = attrs.field(init=False)
    _stopped: bool = False

    def __attrs_post_init__(self) -> None:
        self._left = self.max_tokens * CHARS_PER_TOKEN

    def feed(self, event: Event) -> list[Event]:
        if self._stopped:
            return []
        if not isinstance(event, TextDelta):
            return [event]
        if len(event.text) < self._left:
            self._left -= len(event.text)
            return [event]
        self._stopped = True
        head = event.text[: self._left]
        return [*([TextDelta(head)] if head else []), Finished(FinishReason.LENGTH)]
