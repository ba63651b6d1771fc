"""What a request asks beyond plain chat, as the CLI's input and filters on its answer.

Client tools (offered as ``tools`` or defined as XML tools in the system prompt) and answer
formats have no switch in any CLI. Each becomes words in what the CLI reads
(:func:`tools.with_contract`, :func:`structured.instruction`) and a sans-IO filter the events
pass through on their way to the surface (:class:`tools.ToolCallScanner`,
:class:`structured.JsonAnswer`). This is the one place that decides which apply, and in
which order: stop sequences cut the text first (they apply to what the model wrote), then
tool calls are found, then an answer that is not a call is checked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Protocol

import attrs

from ..config import XmlToolsConfig
from ..core.events import Event, Failed, Finished
from ..core.request import ChatRequest
from . import stops, structured, tools, xmltools

__all__ = ["EventFilter", "FilterChain", "Semantics", "semantics_for"]


class EventFilter(Protocol):
    """A sans-IO step between the CLI's parser and the surface: events in, events out."""

    def feed(self, event: Event) -> list[Event]: ...


class FilterChain:
    """One run's filters, in order: each event passes through every step.

    ``cut`` turns true when a step ended the answer on its own (a stop sequence, an output
    limit): what the CLI says after that is for nobody, and the run may stop it at once.
    """

    def __init__(self, steps: Sequence[EventFilter] = ()) -> None:
        self._steps = tuple(steps)
        self.cut = False

    def feed(self, event: Event) -> list[Event]:
        events = [event]
        for step in self._steps:
            events = [out for each in events for out in step.feed(each)]
        if not isinstance(event, (Finished, Failed)) and any(
            isinstance(out, (Finished, Failed)) for out in events
        ):
            self.cut = True
        return events


@attrs.frozen
class Semantics:
    """The request as the CLI gets it, and the makers of each run's filters (filters keep
    state, so every run builds its own :class:`FilterChain` from them)."""

    request: ChatRequest
    filters: tuple[Callable[[], EventFilter], ...] = ()
    marks_are_content: bool = True
    """Whether ``-progress`` marks may be shown as answer text: not when the answer is for a
    program (tool calls, XML tools, an answer format), which would parse or store them."""


_XML_DEFAULTS = XmlToolsConfig()


def semantics_for(
    chat: ChatRequest, xml: XmlToolsConfig = _XML_DEFAULTS, *, limits_output: bool = True
) -> Semantics:
    """Decide what ``chat`` becomes for the CLI and which filters its answer passes through.

    ``limits_output``: whether the CLI passes ``max_tokens`` on to the model; if not, the
    answer is cut here.
    """
    request = tools.with_contract(chat)
    xml_tools = False
    if xml.enabled and not chat.offers_tools:
        found = xmltools.detect(chat.system_prompt, xml.known_tools)
        if found.found(xml.threshold):
            xml_tools = True
            request = request.with_system(xmltools.reminder(found))
    filters: list[Callable[[], EventFilter]] = []
    if chat.stop:
        filters.append(partial(stops.StopSequences, chat.stop))
    if chat.max_tokens is not None and not limits_output:
        filters.append(partial(stops.OutputLimit, chat.max_tokens))
    if chat.offers_tools:
        filters.append(partial(tools.ToolCallScanner, chat))
    if chat.response_format is not None:
        request = request.with_system(structured.instruction(chat.response_format))
        filters.append(partial(structured.JsonAnswer, chat.response_format))
    for_a_program = chat.offers_tools or xml_tools or chat.response_format is not None
    return Semantics(request, tuple(filters), marks_are_content=not for_a_program)
