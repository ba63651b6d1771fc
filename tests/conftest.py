"""Fixtures every tier shares.

The tier is the folder: ``unit/`` (no processes, no Node), ``runtime/`` (the fake process
backend on trio's MockClock), ``integration/`` (real processes, a fake CLI script, no Node) and
``real_cli/`` (the pinned CLIs against stub model backends) and ``clients/`` (real clients,
from ``just clients``, against a live cliwrap running the pinned CLIs). Tests under
``real_cli/`` and ``clients/`` are marked ``real_cli`` here, so ``-m "not real_cli"`` and
``just test tests/unit`` both work; tests under ``system/`` (outside services such as
redis-server, which the fixtures start) are marked ``system``.
"""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

REAL_CLI = (Path(__file__).parent / "real_cli", Path(__file__).parent / "clients")
SYSTEM = Path(__file__).parent / "system"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(folder in item.path.parents for folder in REAL_CLI):
            item.add_marker(pytest.mark.real_cli)
        if SYSTEM in item.path.parents:
            item.add_marker(pytest.mark.system)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Move everything imported so far out of the garbage collector's sight (``gc.freeze``).

    The tiers with sockets and processes collect after every test (tests/leaks.py), so that a
    leak fails the test that leaked; what a test makes is still collected, but the libraries
    and the collected tests no longer have to be walked every time (a third of the tier
    without Node went on that).
    """
    gc.collect()
    gc.freeze()
