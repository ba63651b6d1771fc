"""Reading a backend's Retry-After, as the CLIs' taps report it (providers/failures.py)."""

from __future__ import annotations

import email.utils

import pytest

from cliwrap.core.errors import ApiError, ErrorKind
from cliwrap.providers.failures import retry_after_seconds, with_retry_after

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("value", "milliseconds", "seconds"),
    [
        ("7", None, 7.0),
        ("0.5", None, 0.5),
        ("-3", None, 0.0),
        ("7", "1500", 1.5),  # retry-after-ms is the finer of the two
        (None, "250", 0.25),
        ("7", "soon", 7.0),
        (email.utils.formatdate(NOW + 90, usegmt=True), None, 90.0),
        (email.utils.formatdate(NOW - 90, usegmt=True), None, 0.0),  # already past
        ("Sun, 29 Nov 2026 21:20:00 -0000", None, None),  # a date of no known zone
        ("nan", None, None),
        ("inf", None, None),
        ("soon", None, None),
        ("", None, None),
        (None, None, None),
        (7, None, 7.0),
    ],
)
def test_retry_after_seconds(value: object, milliseconds: object, seconds: float | None) -> None:
    assert retry_after_seconds(value, milliseconds, now=NOW) == seconds


def test_a_delay_goes_only_with_errors_a_client_retries() -> None:
    limited = ApiError(ErrorKind.RATE_LIMIT, "slow down", retry_after=3)
    assert with_retry_after(limited, 9).retry_after == 9
    assert with_retry_after(limited, None).retry_after == 3  # the message's delay stays
    overloaded = ApiError(ErrorKind.OVERLOADED, "busy")
    assert with_retry_after(overloaded, 4).retry_after == 4
    denied = ApiError(ErrorKind.AUTHENTICATION, "bad key")
    assert with_retry_after(denied, 4).retry_after is None
