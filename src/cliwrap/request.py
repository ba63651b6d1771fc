"""The canonical request: what a client asked for, whatever surface it spoke.

Surfaces build a :class:`ChatRequest`; providers read it. Validation belongs to the surface
(each API has its own rules and error wording); by the time a ChatRequest exists it is valid.
"""

from __future__ import annotations

from typing import Literal

import attrs

__all__ = ["ChatRequest", "Message", "Role"]

Role = Literal["system", "user", "assistant"]


@attrs.frozen
class Message:
    role: Role
    content: str


@attrs.frozen
class ChatRequest:
    """One chat turn to answer: the history, the model asked for, and how to deliver it."""

    model: str
    messages: tuple[Message, ...]
    stream: bool = False
    include_usage: bool = False

    @property
    def system_prompt(self) -> str | None:
        """All system (and developer) messages, joined: CLIs take one system prompt."""
        parts = [m.content for m in self.messages if m.role == "system"]
        return "\n\n".join(parts) if parts else None

    @property
    def conversation(self) -> tuple[Message, ...]:
        """The user and assistant turns, in order."""
        return tuple(m for m in self.messages if m.role != "system")
