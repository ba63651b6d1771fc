"""The decoder worker's own loop: ``python -m cliwrap.runtime.decode_worker``.

It reads one request per stdin line (``body PATH`` or ``line PATH``), decodes the JSON
document stored at PATH, and answers on stdout with an 8-byte length and a pickle of
``("ok", value)`` or ``("error", kind name, message, param)``. It runs until stdin ends, which
is how it learns that its server is gone, however the server went.
"""

from __future__ import annotations

import json
import pickle
import signal
import struct
import sys
from pathlib import Path
from typing import Any

from ..core.errors import ApiError
from ..surfaces import json_body

__all__ = ["HEADER", "answer", "main"]

HEADER = struct.Struct(">Q")


def answer(kind: str, document: bytes) -> tuple[Any, ...]:
    """What the worker says about ``document``: its value, or why it is not one."""
    if kind == "body":
        try:
            return ("ok", json_body.decode(document))
        except ApiError as error:
            return ("error", error.kind.name, error.message, error.param)
    try:
        return ("ok", json.loads(document))
    except (ValueError, RecursionError):
        return ("not-json",)


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is the server's to handle
    out = sys.stdout.buffer
    for request in sys.stdin.buffer:
        kind, _, path = request.decode().strip().partition(" ")
        try:
            reply = answer(kind, Path(path).read_bytes())
        except OSError as error:
            reply = ("unavailable", str(error))
        data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        out.write(HEADER.pack(len(data)) + data)
        out.flush()


if __name__ == "__main__":
    main()
