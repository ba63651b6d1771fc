"""Is the Node.js on PATH new enough for the pinned CLIs?

The pinned CLIs declare the Node versions they support (``engines.node`` in each package,
copied into ``clis/package-lock.json``). npm only warns (``EBADENGINE``) when the running
Node is outside that range, and a CLI started on an older Node may still fail later, in the
middle of a request. ``just clis`` and ``just doctor`` run this module to say so plainly:

    python -m cliwrap.node_engines clis/package-lock.json [clients/package-lock.json]

It reads the lock files rather than ``node_modules`` so the answer is known before anything
is installed. The range matching covers what npm packages write in ``engines`` (``>=22``,
``^18.17.0 || >=21``, ``>= 10.16.0 < 11``, ``20.x``); a range it cannot read is left out
rather than guessed at. Everything but :func:`main` is pure.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

__all__ = ["Unmet", "minimum", "satisfies", "unmet", "version_of"]

Version = tuple[int, int, int]

_COMPARATOR = re.compile(
    r"^(>=|<=|>|<|=|\^|~)?v?(\*|x|X|\d+)(?:\.(\*|x|X|\d+))?(?:\.(\*|x|X|\d+))?"
)


@attrs.frozen
class Unmet:
    """A package whose declared Node range the running Node is outside of."""

    package: str
    wanted: str


def version_of(text: str) -> Version | None:
    """``v20.20.2`` (``node --version``) or ``22.0.0`` as a tuple; None if it is neither."""
    match = re.fullmatch(r"\s*v?(\d+)\.(\d+)\.(\d+)(?:[-+][\w.+-]*)?\s*", text)
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def satisfies(version: Version, wanted: str) -> bool | None:
    """Whether ``version`` is in the npm range ``wanted``; None when the range is unreadable."""
    alternatives = [alt.strip() for alt in wanted.split("||")]
    answers = [_in_set(version, alt) for alt in alternatives]
    if any(answer is True for answer in answers):
        return True
    return None if any(answer is None for answer in answers) else False


def _in_set(version: Version, comparators: str) -> bool | None:
    # npm allows a space between an operator and its version (">= 10.16.0 < 11").
    tokens = re.sub(r"(>=|<=|>|<|=|\^|~)\s+", r"\1", comparators).split()
    if " - " in comparators:
        return None  # hyphen ranges: not written in any engines field cliwrap installs
    for token in tokens or ["*"]:
        bounds = _bounds(token)
        if bounds is None:
            return None
        low, low_inclusive, high = bounds
        if low is not None and (version < low or (version == low and not low_inclusive)):
            return False
        if high is not None and version >= high:
            return False
    return True


def _bounds(token: str) -> tuple[Version | None, bool, Version | None] | None:
    """``token`` as (lower bound, whether it is included, exclusive upper bound)."""
    match = _COMPARATOR.fullmatch(token) or _COMPARATOR.fullmatch(token.split("-")[0])
    if match is None:
        return None
    op = match[1] or "="
    numbers: list[int] = []
    for part in match.groups()[1:]:
        if part is None or part in "*xX":
            break  # 20.x and 20 alike: the parts after a wildcard do not count
        numbers.append(int(part))
    if not numbers:
        return (None, True, None)
    padded = [*numbers, 0, 0]
    full: Version = (padded[0], padded[1], padded[2])
    # The first version past a partial one: 20 ─► 21.0.0, 20.9 ─► 20.10.0.
    past: Version = (numbers[0] + 1, 0, 0) if len(numbers) == 1 else (numbers[0], numbers[1] + 1, 0)
    if op == "=":
        return (full, True, past) if len(numbers) < 3 else (full, True, _next(full))
    if op == ">=":
        return (full, True, None)
    if op == ">":
        return (past if len(numbers) < 3 else full, len(numbers) < 3, None)
    if op == "<":
        return (None, True, full)
    if op == "<=":
        return (None, True, past if len(numbers) < 3 else _next(full))
    if op == "~":
        return (full, True, past if len(numbers) == 1 else (full[0], full[1] + 1, 0))
    # "^": the leftmost non-zero part stays the same
    if full[0] > 0 or len(numbers) == 1:
        return (full, True, (full[0] + 1, 0, 0))
    if full[1] > 0 or len(numbers) == 2:
        return (full, True, (0, full[1] + 1, 0))
    return (full, True, _next(full))


def _next(version: Version) -> Version:
    return (version[0], version[1], version[2] + 1)


def _declared(lock: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    """(package, engines.node) for every package a lock installs that declares one."""
    for path, entry in lock.get("packages", {}).items():
        node = entry.get("engines", {}).get("node") if isinstance(entry, dict) else None
        if path and isinstance(node, str):
            yield path.rsplit("node_modules/", 1)[-1], node


def unmet(version: Version, lock: Mapping[str, Any]) -> list[Unmet]:
    """The packages of ``lock`` that declare a Node range ``version`` is outside of."""
    found = {
        Unmet(name, wanted)
        for name, wanted in _declared(lock)
        if satisfies(version, wanted) is False
    }
    return sorted(found, key=lambda u: u.package)


def minimum(lock: Mapping[str, Any]) -> Version | None:
    """The oldest Node the direct dependencies of ``lock`` all accept (by their lower bounds)."""
    packages = lock.get("packages", {})
    lows: list[Version] = []
    for name in packages.get("", {}).get("dependencies", {}):
        wanted = packages.get(f"node_modules/{name}", {}).get("engines", {}).get("node")
        if isinstance(wanted, str) and (low := _lowest(wanted)) is not None:
            lows.append(low)
    return max(lows, default=None)


def _lowest(wanted: str) -> Version | None:
    """The lowest version a range's alternatives start at (None: unreadable or unbounded)."""
    starts: list[Version] = []
    for alternative in wanted.split("||"):
        tokens = re.sub(r"(>=|<=|>|<|=|\^|~)\s+", r"\1", alternative).split()
        bounds = [_bounds(token) for token in tokens]
        if not tokens or any(b is None for b in bounds):
            return None
        starts.append(max((b[0] for b in bounds if b and b[0]), default=(0, 0, 0)))
    return min(starts, default=None)


def _node_version() -> str | None:
    try:
        done = subprocess.run(
            ["node", "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _shown(version: Version) -> str:
    return ".".join(map(str, version))


def main(argv: Sequence[str] | None = None) -> int:
    """Warn on stderr about each lock's packages the Node on PATH does not satisfy.

    Exits 0 (a warning, since the CLIs may still run) unless Node is missing: then 1.
    """
    locks = [Path(arg) for arg in (sys.argv[1:] if argv is None else argv)]
    parsed = {path: json.loads(path.read_text()) for path in locks}
    needed = max((v for lock in parsed.values() if (v := minimum(lock))), default=None)
    want = f"Node.js >= {_shown(needed)}" if needed else "Node.js"
    found = _node_version()
    version = version_of(found) if found else None
    if version is None:
        print(f"cliwrap: `node` was not found on PATH: install {want} (with npm).", file=sys.stderr)
        return 1
    for path, lock in parsed.items():
        problems = unmet(version, lock)
        if problems:
            listed = "".join(f"\n  {u.package} wants node {u.wanted}" for u in problems)
            print(
                f"cliwrap: WARNING: Node.js {found} is older than {path} needs "
                f"(install {want}); the CLIs may fail at run time:{listed}",
                file=sys.stderr,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
