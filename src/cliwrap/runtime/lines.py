"""Framing a CLI's stdout into lines, in time linear in its length (sans-IO).

The job reads stdout in chunks of whatever size the pipe hands over and needs whole lines
for the provider's parser. Splitting the whole pending buffer again for every chunk costs
time quadratic in a line's length: a CLI printing one 30 MiB line (a big tool result
echoed back, a base64 image) kept the event loop busy for seconds, and every other
request on the server waited. :class:`LineSplitter` looks at each byte once: it searches
only the new chunk for newlines, and a line's earlier part waits, already searched, in a
buffer of its own.

A line longer than the limit is dropped whole, without being kept: from the moment it is
too long, its bytes are only searched for the newline that ends it. The caller learns how
many were dropped (:attr:`LineSplitter.dropped`), to log it.
"""

from __future__ import annotations

__all__ = ["MAX_LINE", "LineSplitter"]

MAX_LINE = 64 * 1024 * 1024
"""The longest line kept, in bytes (without its newline); longer ones are dropped."""


class LineSplitter:
    """Turns chunks of a byte stream into its complete, non-blank lines.

    Lines are split at ``\\n`` only and returned without it (a ``\\r`` before it stays);
    blank lines (empty or only ASCII whitespace) are skipped. Chunking never matters: any
    split of a stream into chunks gives the same lines as the whole stream in one chunk.
    """

    def __init__(self, max_line: int = MAX_LINE) -> None:
        if max_line < 0:
            raise ValueError("max_line must not be negative")
        self.max_line = max_line
        self.dropped = 0
        """Over-long lines dropped so far: counted as soon as a line passes the limit."""
        self.scanned = 0
        """Bytes searched for a newline so far: each byte fed once (for tests, benchmarks)."""
        self._partial = bytearray()  # the current line's bytes so far, already searched
        self._discarding = False  # the current line passed the limit: skip to its end
        self._finished = False

    def feed(self, chunk: bytes | bytearray) -> list[bytes]:
        """The lines ``chunk`` completes, in order."""
        if self._finished:
            raise RuntimeError("feed() after finish()")
        lines: list[bytes] = []
        start = 0
        while (end := chunk.find(b"\n", start)) != -1:
            self.scanned += end + 1 - start
            if self._discarding:
                self._discarding = False
            elif self._partial:
                if len(self._partial) + end - start > self.max_line:
                    self.dropped += 1
                else:
                    self._partial += chunk[start:end]
                    _keep(lines, bytes(self._partial))
                self._partial.clear()
            elif end - start > self.max_line:
                self.dropped += 1
            else:
                _keep(lines, bytes(chunk[start:end]))
            start = end + 1
        self.scanned += len(chunk) - start
        if not self._discarding and start < len(chunk):
            if len(self._partial) + len(chunk) - start > self.max_line:
                self.dropped += 1
                self._discarding = True
                self._partial.clear()
            else:
                self._partial += chunk[start:]
        return lines

    def finish(self) -> bytes | None:
        """The stream ended: its last line if it had no newline (and is kept), else None."""
        self._finished = True
        line = bytes(self._partial)
        self._partial.clear()
        if self._discarding or _blank(line):
            return None
        return line


def _blank(line: bytes) -> bool:
    # Not ``line.strip()``: that copies a line that may be megabytes long.
    return not line or line.isspace()


def _keep(lines: list[bytes], line: bytes) -> None:
    if not _blank(line):
        lines.append(line)
