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

__all__ = ["ValueEnd", "value_start"]

_SPECIAL = re.compile(r'["\\{}\[\]]')
_FIRST_IN = {"{": '"}', "[": '{["-0123456789tfn]'}
"""What may follow each opener (after blanks) in real JSON: a key or the end, or a value."""


def value_start(text: str, openers: str) -> int | None:
    """Where in ``text`` a JSON value opened by one of ``openers`` begins.

    An opener counts only if what follows it can continue JSON (``{`` then a key or ``}``),
    so the braces of a sentence such as "fill {name} in" are passed over. None while it is
    not known yet: no opener, or one whose next character has not arrived.
    """
    at = 0
    while True:
        found = [i for i in (text.find(o, at) for o in openers) if i >= 0]
        if not found:
            return None
        start = min(found)
        rest = text[start + 1 :].lstrip()
        if not rest:
            return None  # decided by the next piece
        if rest[0] in _FIRST_IN[text[start]]:
            return start
        at = start + 1


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
        if self.done:
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
