"""What a request asks beyond plain chat, as the CLI's input and filters on its answer.

Client tools (offered as ``tools`` or defined as XML tools in the system prompt) and answer
formats have no switch in any CLI. Each becomes words in what the
CLI reads (:func:`tools.for_cli`, :func:`structured.instruction`) and a sans-IO filter the
events pass through on their way to the surface (:class:`tools.ToolCallScanner`,
:class:`structured.JsonAnswer`). This is the one place that decides which apply, and in
which order: stop sequences cut the text first (they apply to what the model wrote), then
tool calls are found, then an answer that is not a call is checked.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from . import stops, structured, tools, xmltools
from .config import XmlToolsConfig
from .job import EventFilter
from .request import ChatRequest

__all__ = ["for_cli"]


_XML_DEFAULTS = XmlToolsConfig()


def for_cli(
    chat: ChatRequest, xml: XmlToolsConfig = _XML_DEFAULTS, *, limits_output: bool = True
) -> tuple[ChatRequest, tuple[Callable[[], EventFilter], ...]]:
    """The request as the CLI should get it, and the makers of the filters for its events.

    ``limits_output``: whether the CLI passes ``max_tokens`` on to the model; if not, the
    answer is cut here.
    """
    request = tools.for_cli(chat)
    if xml.enabled and not chat.offers_tools:
        found = xmltools.detect(chat.system_prompt, xml.known_tools)
        if found.found(xml.threshold):
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
    return request, tuple(filters)
