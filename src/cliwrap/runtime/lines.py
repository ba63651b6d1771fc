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
many were dropped (:attr:`LineSplitter.dropped`), to log it. :class:`StreamLines` is the
splitter over a trio stream, for the job.
"""

from __future__ import annotations

import collections
import logging

import trio

__all__ = ["MAX_LINE", "LineSplitter", "StreamLines"]

log = logging.getLogger(__name__)

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


class StreamLines:
    """The lines of a byte stream, one at a time: a :class:`LineSplitter` over its chunks.

    A run reads its CLI's stdout through one; a CLI kept across turns keeps its own, so
    that a line the last turn's reader did not take is the next turn's first.
    """

    def __init__(self, stream: trio.abc.ReceiveStream, max_line: int = MAX_LINE) -> None:
        self._stream = stream
        self._splitter = LineSplitter(max_line)
        self._pending: collections.deque[bytes] = collections.deque()
        self._ended = False

    async def next(self) -> bytes | None:
        """The next line; None once the stream has ended."""
        while not self._pending:
            if self._ended:
                return None
            chunk = await self._stream.receive_some(65536)
            dropped = self._splitter.dropped
            if chunk:
                self._pending.extend(self._splitter.feed(chunk))
            else:
                self._ended = True
                last = self._splitter.finish()
                if last is not None:
                    self._pending.append(last)
            if self._splitter.dropped > dropped:
                log.warning(
                    "dropping a CLI output line longer than %d bytes", self._splitter.max_line
                )
        return self._pending.popleft()
