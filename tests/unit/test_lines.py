"""The line splitter: lines independent of chunking, over-long lines dropped, linear work."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cliwrap.runtime.lines import LineSplitter


def split(chunks: list[bytes], max_line: int = 1 << 20) -> tuple[list[bytes], LineSplitter]:
    splitter = LineSplitter(max_line)
    lines = [line for chunk in chunks for line in splitter.feed(chunk)]
    last = splitter.finish()
    return lines + ([last] if last is not None else []), splitter


def reference(stream: bytes, max_line: int) -> tuple[list[bytes], int]:
    """What the splitter must give: the whole stream split at once (and the drops)."""
    lines = stream.split(b"\n")
    kept = [line for line in lines if line.strip() and len(line) <= max_line]
    return kept, sum(1 for line in lines if len(line) > max_line)


STREAMS = [
    b"",
    b"\n",
    b"\n\n \n\t\r\n",
    b"one",
    b"one\n",
    b"one\ntwo",
    b"one\n\ntwo\n",
    b'{"a": 1}\r\n{"b": 2}\r\n',
    b"  padded  \n",
    b"x" * 10 + b"\n" + b"y" * 11 + b"\n" + b"z" * 9,  # around a limit of 10
    b"x" * 11,
    b"x" * 10,
    b"\n" + b"y" * 25 + b"\nshort\n" + b"z" * 30 + b"\n" + b"w" * 10,
]
"""Streams that sit on the edges: empty, blank lines, no final newline, around the limit."""


@st.composite
def chunkings(draw: st.DrawFn) -> tuple[bytes, list[bytes], int]:
    """A stream (an edge case, or random bytes from a small alphabet), cut into chunks at
    random places (empty chunks included), and a line limit."""
    stream = draw(st.sampled_from(STREAMS) | st.binary(max_size=400).map(_few_bytes))
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=40)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    return stream, chunks, draw(st.integers(0, 12))


def _few_bytes(data: bytes) -> bytes:
    alphabet = b"ab \r\n\n"
    return bytes(alphabet[byte % len(alphabet)] for byte in data)


@settings(max_examples=500, derandomize=True, deadline=None)
@given(chunkings())
def test_any_chunking_gives_the_lines_of_the_whole_stream(
    case: tuple[bytes, list[bytes], int],
) -> None:
    stream, chunks, max_line = case
    lines, splitter = split(chunks, max_line)
    assert (lines, splitter.dropped) == reference(stream, max_line)


def test_lines_come_out_as_soon_as_they_are_complete() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"one\ntw") == [b"one"]
    assert splitter.feed(b"o") == []
    assert splitter.feed(b"\nthree\nfo") == [b"two", b"three"]
    assert splitter.finish() == b"fo"


def test_an_over_long_line_is_counted_once_as_soon_as_it_is_too_long() -> None:
    splitter = LineSplitter(max_line=8)
    assert splitter.feed(b"ok\n" + b"x" * 6) == [b"ok"]
    assert splitter.dropped == 0
    assert splitter.feed(b"x" * 3) == []
    assert splitter.dropped == 1, "the caller can log it before the line ends"
    assert splitter.feed(b"x" * 100) == []
    assert splitter.feed(b"x\nnext\n") == [b"next"], "its tail is not a line of its own"
    assert splitter.dropped == 1
    assert splitter.finish() is None


def test_an_unterminated_over_long_last_line_is_dropped() -> None:
    splitter = LineSplitter(max_line=4)
    assert splitter.feed(b"12345") == []
    assert splitter.finish() is None
    assert splitter.dropped == 1


def test_a_line_of_exactly_the_limit_is_kept() -> None:
    assert split([b"1234\n", b"12", b"34"], max_line=4)[0] == [b"1234", b"1234"]


def test_feeding_after_finish_is_a_mistake() -> None:
    splitter = LineSplitter()
    splitter.finish()
    with pytest.raises(RuntimeError):
        splitter.feed(b"late\n")


def test_a_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="max_line"):
        LineSplitter(-1)


@pytest.mark.parametrize("max_line", [1 << 30, 1 << 20])
def test_a_huge_line_costs_work_linear_in_its_length(max_line: int) -> None:
    """30 MiB in 64 KiB chunks, as the job reads a pipe: every byte is searched once.

    Splitting the whole pending buffer for each chunk searched ~7 GiB here (480 chunks,
    each re-searching all before it). Kept or dropped, the line costs one pass.
    """
    size, chunk = 30 * 1024 * 1024, b"x" * 65536
    splitter = LineSplitter(max_line)
    lines = [line for _ in range(size // len(chunk)) for line in splitter.feed(chunk)]
    lines += splitter.feed(b"\n{}\n")
    assert splitter.scanned == size + 4
    assert [len(line) for line in lines] == ([size, 2] if max_line > size else [2])
    assert splitter.dropped == (0 if max_line > size else 1)
