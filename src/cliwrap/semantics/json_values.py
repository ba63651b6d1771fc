"""Where a JSON object or array begins and ends in text that is still arriving, sans I/O.

Structured answers and tool-call arguments are streamed to the client as the model writes
them, so the filters must know, piece by piece, which characters belong to the value: not
the code fence or the sentence before it, not the fence or the words after it. That needs
no parser, only the nesting depth and whether the scan is inside a string; the value is
checked whole (``json.loads``, the schema) once it has ended.
"""

from __future__ import annotations

import re

import attrs

__all__ = ["ValueEnd", "ValueStart"]

_SPECIAL = re.compile(r'["\\{}\[\]]')
_OPENING = re.compile(r"[ \t]*([{\[])\s*(\S?)")
"""An opener at a line's start, and the first character after it (empty: not here yet)."""
_FIRST_IN = {"{": '"}', "[": '{["-0123456789tfn]'}
"""What may follow each opener in real JSON: a key or the end, or a value."""


@attrs.define
class ValueStart:
    """Finds where a JSON object or array begins in text that arrives in pieces.

    A value counts only where a model puts one it means as the answer: at the start of a
    line (the first line, or after a code fence's opening line), and followed by what can
    continue JSON (``{`` then a key or ``}``). Braces inside a sentence ("use {} for none")
    are not a start. Each call looks only at the line it has not decided yet, so a long
    answer that holds no JSON costs no more than reading it once.
    """

    openers: str
    _line: int = 0
    """Where the line not yet decided begins."""
    _searched: int = 0
    """How far the text has been searched for that line's end."""

    def find(self, text: str) -> int | None:
        """Where the value begins in ``text`` (all the text so far), or None while unknown."""
        while True:
            opening = _OPENING.match(text, self._line)
            if opening is not None and opening.group(1) in self.openers:
                following = opening.group(2)
                if not following:
                    return None  # decided by the next piece
                if following in _FIRST_IN[opening.group(1)]:
                    return opening.start(1)
            end = text.find("\n", max(self._line, self._searched))
            if end < 0:
                self._searched = len(text)
                return None
            self._line = self._searched = end + 1


@attrs.define
class ValueEnd:
    """Follows one JSON object or array from its first character to its last.

    Feed it the value's text in pieces with :meth:`take`; ``done`` turns true at the
    character that closes it.
    """

    done: bool = False
    _depth: int = 0
    _in_string: bool = False
    _escaped: bool = False

    def take(self, text: str) -> int:
        """How many characters at the start of ``text`` belong to the value."""
        if self.done or not text:
            return 0
        skip = 0 if self._escaped else -1  # the character a backslash escaped
        self._escaped = False
        for match in _SPECIAL.finditer(text):
            char, at = match.group(), match.start()
            if at == skip:
                continue
            if self._in_string:
                if char == "\\":
                    skip = at + 1
                    self._escaped = skip == len(text)  # it escapes the next piece's first
                elif char == '"':
                    self._in_string = False
            elif char == '"':
                self._in_string = True
            elif char in "{[":
                self._depth += 1
            else:
                self._depth -= 1
                if self._depth == 0:
                    self.done = True
                    return at + 1
        return len(text)
