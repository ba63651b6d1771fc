"""The progress marks shown to `*-progress` model users while the CLI has not answered yet.

An hourglass, then the rotating circles with growing dots (⏳ ⏳· ◐ ◐· ◐·· ◓ …), spaced by
exponential backoff so a long wait does not fill the chat with marks. Pure: the job sleeps.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

__all__ = ["ANSWER_SEPARATOR", "marks"]

_CIRCLES = "◐◓◑◒"
ANSWER_SEPARATOR = "\n\n"
"""Put between the last mark and the answer, so the answer starts on its own line."""


def marks(
    first_delay: float = 0.0, base: float = 1.0, factor: float = 1.5, cap: float = 20.0
) -> Iterator[tuple[float, str]]:
    """(seconds to wait, mark) pairs, forever; each mark ends with a space."""
    delays = itertools.chain([first_delay], (min(base * factor**n, cap) for n in itertools.count()))
    names = itertools.chain(
        ["⏳", "⏳·"],
        (circle + "·" * dots for circle in itertools.cycle(_CIRCLES) for dots in range(3)),
    )
    for delay, name in zip(delays, names, strict=False):
        yield delay, name + " "
