"""Conversations, sans-IO: what identifies one across requests, and what a turn adds to it.

A client either names its conversation (``session_id``, ``X-Session-Id``,
``previous_response_id``) or simply sends the whole history again. Either way cliwrap needs
to know which turns the CLI has already seen, so that only the new ones reach it as the next
turn of the CLI's own session. :mod:`.fingerprint` answers that with hashes; :mod:`.answer`
records what a turn answered, as the client will send it back.
"""

from .answer import AnswerRecorder
from .fingerprint import (
    Split,
    advanced,
    from_record,
    key_id,
    message_record,
    shape_of,
    split,
)

__all__ = [
    "AnswerRecorder",
    "Split",
    "advanced",
    "from_record",
    "key_id",
    "message_record",
    "shape_of",
    "split",
]
