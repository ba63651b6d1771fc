"""Plan and quota exhaustion, read from each CLI's own words, with the time it resets. Pure.

A used-up plan is not a rate limit that clears in seconds: a client should be told
``quota_exceeded`` (429) and, where the CLI said it, when the quota comes back
(``Retry-After``), and a gateway may try another model instead (``fallback_model``).
The texts, as the pinned CLIs write them (their bundles):

- Claude Code: "You've hit your usage limit · resets 3pm (Europe/Berlin)", "…session limit",
  "…weekly limit · resets Aug 8, 3pm", "spend limit reached · resets Aug 8",
  "You're out of usage credits"; older versions "Claude AI usage limit reached|<epoch>";
  the API's "Your credit balance is too low".
- Codex: "You've hit your usage limit. … or try again at 3:04 PM." (or "Nov 30th, 2026
  3:04 PM"), "Usage limit reached", "You're out of credits", ``resets_at`` (epoch seconds).
- Gemini CLI: "You have exhausted your daily quota on this model.", "Usage limit reached
  for <model>", Google's "Quota exceeded for quota metric …" with "Please retry in 26.5s".
- Qwen Code (OpenAI-compatible backends): "You exceeded your current quota",
  ``insufficient_quota``, "Free allocated quota exceeded".
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from ..core.errors import ApiError, ErrorKind
from ..core.events import Event, Failed

__all__ = ["QuotaFilter", "is_quota", "quota_error", "reset_at"]

_QUOTA = re.compile(
    r"usage[ _]limit|hit your (?:[\w-]+ )*limit|out of (?:usage )?credits"
    r"|(?:usage|spend|session|weekly|daily|monthly|credit|plan|[0-9]+-hour) limit reached"
    r"|\bquota\b|insufficient_quota|credit balance is too low|out of credits",
    re.I,
)
_EPOCH = re.compile(r"(?:\||resets?_?at\"?\s*[:=]\s*\"?)(\d{10})(?:\.\d+)?\b", re.I)
_UNITS = {
    "ms": 0.001,
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
}
_PART = r"\d+(?:\.\d+)?\s*(?:ms|seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d)\b"
_DURATION = re.compile(rf"(?:retry|try again|resets?)\s+in\s+((?:{_PART}[\s,]*(?:and\s+)?)+)", re.I)
_AMOUNT = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)", re.I)
_WHEN = re.compile(
    r"(?:resets?|try again at|reset at)\s+(?:at\s+|on\s+)?(?P<when>[^·∙()]+?)"
    r"\s*(?:\((?P<zone>[A-Za-z_]+(?:/[A-Za-z_+\-]+)*)\))?\s*(?:[·∙]|\.(?:\s|$)|$)",
    re.I,
)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DATE = re.compile(
    r"\b(?P<mon>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+(?P<day>\d{1,2})"
    r"(?:st|nd|rd|th)?(?:,?\s*(?P<year>\d{4}))?",
    re.I,
)
_CLOCK = re.compile(r"\b(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?\s*(?P<half>[ap])\.?m\.?", re.I)
_CLOCK_24 = re.compile(r"\b(?P<hour>\d{1,2}):(?P<minute>\d{2})\b")


def is_quota(message: str) -> bool:
    """Whether ``message`` says a plan or quota is used up (not a passing rate limit)."""
    return _QUOTA.search(message) is not None


def reset_at(message: str, now: float, zone: tzinfo | None = None) -> float | None:
    """When the quota ``message`` speaks of resets (epoch seconds), if it says; ``zone``:
    the server's time zone, in which the CLIs write a time without one (local by default)."""
    epoch = _EPOCH.search(message)
    if epoch:
        return float(epoch.group(1))
    duration = _DURATION.search(message)
    if duration:
        seconds = sum(
            float(amount) * _UNITS.get(unit.lower(), 0)
            for amount, unit in _AMOUNT.findall(duration.group(1))
        )
        return now + seconds if seconds > 0 else None
    when = _WHEN.search(message)
    if when:
        return _wall_time(when.group("when"), when.group("zone"), now, zone)
    return None


def _wall_time(text: str, zone_name: str | None, now: float, zone: tzinfo | None) -> float | None:
    where: tzinfo | None = zone
    if zone_name:
        try:
            where = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            where = zone
    current = datetime.fromtimestamp(now, where).astimezone(where)
    date, clock = _DATE.search(text), _CLOCK.search(text) or _CLOCK_24.search(text)
    if date is None and clock is None:
        return None
    hour = minute = 0
    if clock is not None:
        hour, minute = int(clock.group("hour")), int(clock.group("minute") or 0)
        half = clock.groupdict().get("half")
        if half is not None:
            hour = hour % 12 + (12 if half.lower() == "p" else 0)
        if hour > 23 or minute > 59:
            return None
    if date is None:
        moment = current.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if moment <= current:
            moment += timedelta(days=1)
        return moment.timestamp()
    month = _MONTHS.index(date.group("mon").lower()[:3]) + 1
    year = int(date.group("year") or current.year)
    try:
        moment = current.replace(
            year=year,
            month=month,
            day=int(date.group("day")),
            hour=hour,
            minute=minute,
            second=0,
            microsecond=0,
        )
    except ValueError:
        return None
    if date.group("year") is None and moment < current - timedelta(days=1):
        moment = moment.replace(year=year + 1)  # "resets Jan 2", said in December
    return moment.timestamp()


def quota_error(error: ApiError, now: float, zone: tzinfo | None = None) -> ApiError:
    """``error`` as a 429 ``quota_exceeded`` with the reset as its ``retry_after``, when its
    message says a plan or quota is used up; else ``error`` itself."""
    if error.kind not in _MAYBE_QUOTA or not is_quota(error.message):
        return error
    reset = reset_at(error.message, now, zone)
    retry = max(1.0, reset - now) if reset is not None else error.retry_after
    return attrs.evolve(error, kind=ErrorKind.QUOTA_EXCEEDED, retry_after=retry)


_MAYBE_QUOTA = frozenset(
    {
        ErrorKind.RATE_LIMIT,
        ErrorKind.CLI_FAILED,
        ErrorKind.PERMISSION,
        ErrorKind.INVALID_REQUEST,
        ErrorKind.OVERLOADED,
    }
)
"""What the CLIs call a used-up plan: a 429, a 403, Anthropic's 400 "credit balance", or
only words (exit 1)."""


@attrs.define
class QuotaFilter:
    """A filter on a run's events: a failure that is a used-up quota becomes
    ``quota_exceeded`` with its reset time."""

    clock: Callable[[], float] = time.time

    def feed(self, event: Event) -> list[Event]:
        if isinstance(event, Failed):
            return [Failed(quota_error(event.error, self.clock()))]
        return [event]
