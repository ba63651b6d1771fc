"""The README's code blocks, as examples a test runs.

Every fenced block with a language is an example. An HTML comment on the line before its
fence (invisible on GitHub) says more about it; several may stand one after another:

- ``<!-- example name: NAME -->``: a recipe a client's own test reads by that name and runs
  with the real client (a config file, a command line); the README test checks that some
  test under ``tests/clients`` names it;
- ``<!-- example prints: TEXT -->``: its output must hold TEXT;
- ``<!-- example skip: WHY -->``: not run, for the reason given (which must be given);
- ``<!-- example cli: NAME -->``: run against a cliwrap with that CLI alone configured (the
  others disabled), so the example is known to need nothing else (a newcomer's first CLI).

A fence without a language is an illustration (output, a diagram), not an example.
Pure: no I/O.
"""

from __future__ import annotations

import re

import attrs

__all__ = ["README_URL", "Example", "read_examples"]

README_URL = "http://127.0.0.1:8000"
"""The address the README's examples use; tests put the live server's in its place."""

_FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
_MARK = re.compile(r"^\s*<!--\s*example\s+(name|prints|skip|cli):\s*(.*?)\s*-->\s*$")


@attrs.frozen
class Example:
    language: str
    code: str
    line: int
    """1-based line of the opening fence."""
    name: str = ""
    prints: tuple[str, ...] = ()
    skip: str | None = None
    cli: str = ""
    """The one CLI the example is run with (``example cli:``); empty: every CLI configured."""

    @property
    def id(self) -> str:
        return f"{self.name or self.language}@{self.line}"


def read_examples(text: str) -> list[Example]:
    lines = text.splitlines()
    examples: list[Example] = []
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if not fence:
            index += 1
            continue
        indent, language = fence.groups()
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if end == len(lines):
            raise ValueError(f"README line {index + 1}: the fence is never closed")
        body = [line.removeprefix(indent) for line in lines[index + 1 : end]]
        if language:
            examples.append(_marked(language, "\n".join(body) + "\n", index + 1, lines, index))
        index = end + 1
    return examples


def _marked(language: str, code: str, line: int, lines: list[str], fence: int) -> Example:
    fields: dict[str, str] = {}
    prints: list[str] = []
    above = fence - 1
    while above >= 0 and (mark := _MARK.match(lines[above])):
        kind, value = mark.groups()
        if kind == "prints":
            prints.append(value)
        else:
            fields[kind] = value
        above -= 1
    if "skip" in fields and not fields["skip"]:
        raise ValueError(f"README line {line}: a skipped example must say why")
    return Example(
        language,
        code,
        line,
        fields.get("name", ""),
        tuple(prints),
        fields.get("skip"),
        fields.get("cli", ""),
    )
