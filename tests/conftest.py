"""Fixtures every tier shares.

The tier is the folder: ``unit/`` (no processes, no Node), ``runtime/`` (the fake process
backend on trio's MockClock), ``integration/`` (real processes, a fake CLI script, no Node) and
``real_cli/`` (the pinned CLIs against stub model backends). Tests under ``real_cli/`` are
marked ``real_cli`` here, so ``-m "not real_cli"`` and ``just test tests/unit`` both work.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

REAL_CLI = Path(__file__).parent / "real_cli"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if REAL_CLI in item.path.parents:
            item.add_marker(pytest.mark.real_cli)


@pytest.fixture(autouse=True)
def _collect_garbage_after_each_test() -> Iterator[None]:
    """Finalise what a test left behind while it is still the test being run.

    An unclosed socket or file warns when the garbage collector finalises it; collecting here
    makes that warning (an error under our filterwarnings) fail the test that leaked, rather
    than whichever test happened to be running when a collection came round.
    """
    yield
    gc.collect()
