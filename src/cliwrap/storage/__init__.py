"""Durable state: conversations, their transcripts and stored responses, in SQLite.

:mod:`.records` holds the values (no I/O); :mod:`.sqlite` the store, which runs every query in a
worker thread so the event loop never waits on the disk.
"""

from .records import ConversationRecord, StorageError, StoredResponse, UnknownConversationError
from .sqlite import SCHEMA_VERSION, Store

__all__ = [
    "SCHEMA_VERSION",
    "ConversationRecord",
    "StorageError",
    "Store",
    "StoredResponse",
    "UnknownConversationError",
]
