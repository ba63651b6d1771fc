"""What the tiers with sockets and processes share: leaks fail the test that leaked."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _collect_garbage_after_each_test() -> Iterator[None]:
    """Finalise what a test left behind while it is still the test being run.

    An unclosed socket or file warns when the garbage collector finalises it; collecting here
    makes that warning (an error under our filterwarnings) fail the test that leaked, rather
    than whichever test happened to be running when a collection came round.
    """
    yield
    gc.collect()
