"""Rendering a conversation as the single prompt a CLI reads on stdin.

The CLIs take one user message per run, so earlier turns travel inside it as a transcript.
A lone user message goes through untouched: most requests are one turn, and the model then
sees exactly what the client sent.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..core.images import label
from ..core.request import ChatRequest, Message

__all__ = ["at_file_prompt", "render_prompt", "turn_text", "turn_texts"]

_PREAMBLE = (
    "The conversation so far is below, oldest turn first. "
    "Answer the last user turn as the assistant; do not repeat the transcript or its tags."
)


def render_prompt(conversation: Sequence[Message]) -> str:
    """The text to send as the run's one user message.

    History is wrapped in role tags the models read reliably; a tag-like string inside a
    message is escaped so that it cannot end the turn it stands in.
    """
    if len(conversation) == 1 and conversation[0].role == "user":
        return conversation[0].content
    turns = [f"<{m.role}>\n{_escape(m.content)}\n</{m.role}>" for m in conversation]
    return _PREAMBLE + "\n\n<transcript>\n" + "\n".join(turns) + "\n</transcript>\n"


def turn_text(message: Message) -> str:
    """A plain turn's text as a CLI's own user turn carries it, in a session that keeps
    turns apart (no transcript): a system turn kept in the conversation is marked as one."""
    if message.role == "system":
        return f"<system>\n{message.content}\n</system>"
    return message.content


def turn_texts(new: Sequence[Message]) -> list[str]:
    """The texts of a session's next user turn: one per new turn that says something, or a
    lone space (a CLI takes no empty turn)."""
    return [turn_text(m) for m in new if m.content] or [" "]


def _escape(text: str) -> str:
    for tag in ("user", "assistant", "system", "transcript"):
        text = text.replace(f"</{tag}>", f"<\\/{tag}>")
    return text


def at_file_prompt(request: ChatRequest) -> tuple[str, dict[str, str | bytes]]:
    """The prompt for CLIs that read ``@file`` references (Gemini CLI, Qwen Code), and the
    image files it refers to, for the run's private directory.

    Each new image is written as ``image-N.png`` and named at the end of the prompt as
    ``[Image #N]: @image-N.png``; the CLI reads it and sends it to the model as an image. A
    prompt starting with "/" would run as one of the CLI's slash commands when one has that
    name ("/memory add …" writes to its memory); a leading space keeps it a question.
    """
    prompt = render_prompt(request.conversation)
    if prompt.startswith("/") and not prompt.startswith(("//", "/*")):
        prompt = " " + prompt
    files: dict[str, str | bytes] = {}
    for number, image in request.new_images():
        name = f"image-{number}{image.suffix}"
        files[name] = image.data
        prompt += f"\n{label(number)}: @{name}"
    return prompt, files
