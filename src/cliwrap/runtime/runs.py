"""What a finished request reports to whoever keeps account of runs.

A :class:`RunReport` is written once per chat request (HTTP or WebSocket), when its run has
settled, and handed to every :data:`RunObserver`: usage accounting, metrics, the dashboard's
list of recent requests. One value for all of them, so they never disagree about a run.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from ..core.events import Usage

__all__ = ["RunObserver", "RunReport"]


@attrs.frozen
class RunReport:
    """One settled chat request, as its observers see it (no prompt, no answer, no secret)."""

    request_id: str
    surface: str
    """``chat_completions``, ``responses``, ``messages`` or ``websocket``."""
    key_name: str
    """The API key's name ("" when the request presented none)."""
    key_id: str
    """The key's hash (:func:`cliwrap.conversations.key_id`), "" for none."""
    client: str
    """The client's address."""
    model: str
    """The model as the client asked for it."""
    provider: str
    """The CLI that answered ("" when none was reached)."""
    stream: bool
    accepted_at: float
    """Wall-clock time (``time.time()``) the request arrived."""
    first_output_at: float | None
    """Wall-clock time of the first answer bytes; None when nothing was produced."""
    ended_at: float
    status: int
    """The HTTP status the request was answered with (or would have been, for a stream
    that had already started: 200)."""
    outcome: str
    """``finished``, ``failed:<kind>`` (``failed:rate_limit`` …), ``cancelled`` or
    ``disconnected``."""
    usage: Usage | None = None
    fallback_from: str | None = None
    """The model first tried, when a fallback model answered instead."""


RunObserver = Callable[[RunReport], None]
"""Told of every settled run; must not block (a slow observer hands work to a task)."""
