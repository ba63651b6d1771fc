"""A key's budget, sans-IO: which period is running, and whether the key has spent it.

Periods are UTC days or months. The check happens before a run starts, against what the
key's finished runs have spent; a run's cost is known only when it ends, so runs already in
flight when the budget runs out may take a key past it (by at most what they spend).
"""

from __future__ import annotations

import calendar
import time

from ..core.errors import ApiError, ErrorKind
from .keys import KeyLimits

__all__ = ["budget_error", "period_of"]

_DAY = 86_400


def period_of(period: str, now: float) -> tuple[str, float]:
    """The first UTC day (``YYYY-MM-DD``) of the ``day`` or ``month`` holding ``now``
    (``time.time()`` seconds), and when the next one starts (seconds, same clock)."""
    t = time.gmtime(now)
    if period == "day":
        start = calendar.timegm((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0))
        return time.strftime("%Y-%m-%d", t), float(start + _DAY)
    if period == "month":
        year, month = (t.tm_year + 1, 1) if t.tm_mon == 12 else (t.tm_year, t.tm_mon + 1)
        reset = calendar.timegm((year, month, 1, 0, 0, 0))
        return f"{t.tm_year:04d}-{t.tm_mon:02d}-01", float(reset)
    raise ValueError(f"a budget period is 'day' or 'month', not {period!r}")


def budget_error(
    limits: KeyLimits, spent_tokens: int, spent_usd: float, now: float, name: str = ""
) -> ApiError | None:
    """A 429 ``budget_exceeded`` (with ``retry_after``: the seconds until the period
    starts afresh) when the key has spent its token or dollar budget; else ``None``."""
    over = []
    if limits.budget_tokens and spent_tokens >= limits.budget_tokens:
        over.append(f"{spent_tokens} of {limits.budget_tokens} tokens")
    if limits.budget_usd and spent_usd >= limits.budget_usd:
        over.append(f"${spent_usd:.4f} of ${limits.budget_usd:g}")
    if not over:
        return None
    _, reset = period_of(limits.budget_period, now)
    whose = f"API key {name!r}" if name else "This API key"
    return ApiError(
        ErrorKind.BUDGET_EXCEEDED,
        f"{whose} has spent its budget for this {limits.budget_period} (UTC):"
        f" {' and '.join(over)}. It starts afresh at"
        f" {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(reset))}.",
        retry_after=max(1.0, reset - now),
    )
