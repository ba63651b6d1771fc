"""Process groups and the ledger's crash sweep."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from cliwrap.runtime.ledger import Ledger
from cliwrap.testing import group_alive


def wait_gone(pgid: int) -> bool:
    deadline = time.monotonic() + 2
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.005)
    return not group_alive(pgid)


def test_sweep_kills_groups_left_by_a_crashed_server_and_removes_their_folders(
    tmp_path: Path,
) -> None:
    workdir = tmp_path / "cliwrap-run-abc"
    workdir.mkdir()
    (workdir / "scratch").write_text("left behind")
    orphan = subprocess.Popen(["sleep", "60"], start_new_session=True, cwd=workdir)
    ledger = Ledger(tmp_path / "ledger")
    ledger.add(orphan.pid, workdir)
    assert ledger.sweep() == [orphan.pid]
    orphan.wait(5)
    assert wait_gone(orphan.pid)
    assert list(ledger.folder.iterdir()) == []
    assert not workdir.exists()


def test_sweep_removes_only_folders_cliwrap_made(tmp_path: Path) -> None:
    precious = tmp_path / "my-project"
    precious.mkdir()
    ledger = Ledger(tmp_path / "ledger")
    ledger.add(2**22 + 12345, precious)  # a group that is long gone
    assert ledger.sweep() == []
    assert precious.exists()


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
