"""Process groups and the ledger's crash sweep."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from cliwrap.process import Ledger
from cliwrap.testing import group_alive


def wait_gone(pgid: int) -> bool:
    deadline = time.monotonic() + 2
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.005)
    return not group_alive(pgid)


def test_sweep_kills_groups_left_by_a_crashed_server(tmp_path: Path) -> None:
    orphan = subprocess.Popen(["sleep", "60"], start_new_session=True)
    ledger = Ledger(tmp_path)
    ledger.add(orphan.pid)
    assert ledger.sweep() == [orphan.pid]
    orphan.wait(5)
    assert wait_gone(orphan.pid)
    assert list(tmp_path.iterdir()) == []


def test_sweep_spares_a_process_that_reused_the_id(tmp_path: Path) -> None:
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        (tmp_path / str(stranger.pid)).write_text("another-boot 12345")
        assert Ledger(tmp_path).sweep() == []
        assert group_alive(stranger.pid)
        assert list(tmp_path.iterdir()) == []
    finally:
        stranger.kill()
        stranger.wait()


def test_sweep_of_a_missing_folder_is_empty(tmp_path: Path) -> None:
    assert Ledger(tmp_path / "never-made").sweep() == []
