"""Process groups and the ledger's crash sweep: only what dead servers left behind ends."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cliwrap.runtime.groups import identity
from cliwrap.runtime.ledger import WORKDIR_PREFIX, Ledger, this_process
from cliwrap.testing import group_alive


def wait_gone(pgid: int) -> bool:
    deadline = time.monotonic() + 2
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.005)
    return not group_alive(pgid)


@pytest.fixture
def dead_server() -> str:
    """The ledger tag of a server that has exited."""
    process = subprocess.Popen(["sleep", "60"])
    tag = f"{process.pid} {identity(process.pid)}"
    process.kill()
    process.wait()
    return tag


@pytest.fixture
def live_server() -> Iterator[str]:
    """The ledger tag of a server that still runs (a stand-in process)."""
    process = subprocess.Popen(["sleep", "60"])
    try:
        yield f"{process.pid} {identity(process.pid)}"
    finally:
        process.kill()
        process.wait()


@pytest.fixture
def orphan(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A CLI stand-in in its own group, with its run directory."""
    workdir = tmp_path / "cliwrap-run-abc"
    workdir.mkdir()
    (workdir / "scratch").write_text("left behind")
    process = subprocess.Popen(["sleep", "60"], start_new_session=True, cwd=workdir)
    try:
        yield process, workdir
    finally:
        process.kill()
        process.wait()


def test_sweep_kills_groups_left_by_a_crashed_server_and_removes_their_folders(
    tmp_path: Path, dead_server: str, orphan: tuple[subprocess.Popen[bytes], Path]
) -> None:
    process, workdir = orphan
    Ledger(tmp_path / "ledger", owner=dead_server).add(process.pid, workdir)
    ledger = Ledger(tmp_path / "ledger")
    assert ledger.sweep() == [process.pid]
    process.wait(5)
    assert wait_gone(process.pid)
    assert list(ledger.folder.iterdir()) == []
    assert not workdir.exists()


def test_sweep_spares_the_runs_of_a_live_server(
    tmp_path: Path, live_server: str, orphan: tuple[subprocess.Popen[bytes], Path]
) -> None:
    process, workdir = orphan
    first = Ledger(tmp_path / "ledger", owner=live_server)
    first.add(process.pid, workdir)
    first.record_workdir(tmp_path / "cliwrap-run-next")
    assert Ledger(tmp_path / "ledger").sweep() == []
    assert group_alive(process.pid)
    assert workdir.exists()
    assert len(list(first.folder.iterdir())) == 2


def test_sweep_spares_this_servers_own_runs(
    tmp_path: Path, orphan: tuple[subprocess.Popen[bytes], Path]
) -> None:
    process, workdir = orphan
    ledger = Ledger(tmp_path / "ledger")
    assert ledger.owner == this_process()
    ledger.add(process.pid, workdir)
    assert ledger.sweep() == []
    assert group_alive(process.pid)


def test_sweep_removes_only_folders_cliwrap_made(tmp_path: Path, dead_server: str) -> None:
    precious = tmp_path / "my-project"
    precious.mkdir()
    ledger = Ledger(tmp_path / "ledger", owner=dead_server)
    ledger.add(2**22 + 12345, precious)  # a group that is long gone
    ledger.record_workdir(precious)
    assert ledger.sweep() == []
    assert precious.exists()
    assert list(ledger.folder.iterdir()) == []


def test_sweep_spares_a_process_that_reused_the_id(tmp_path: Path, dead_server: str) -> None:
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        (tmp_path / str(stranger.pid)).write_text(f"another-boot 12345\n\n{dead_server}\n")
        assert Ledger(tmp_path).sweep() == []
        assert group_alive(stranger.pid)
        assert list(tmp_path.iterdir()) == []
    finally:
        stranger.kill()
        stranger.wait()


def test_an_entry_without_an_owner_counts_as_a_dead_servers(
    tmp_path: Path, orphan: tuple[subprocess.Popen[bytes], Path]
) -> None:
    process, workdir = orphan
    (tmp_path / str(process.pid)).write_text(f"{identity(process.pid)}\n{workdir}\n")
    assert Ledger(tmp_path).sweep() == [process.pid]
    assert wait_gone(process.pid)


def test_sweep_of_a_missing_folder_is_empty(tmp_path: Path) -> None:
    assert Ledger(tmp_path / "never-made").sweep() == []


def test_a_run_directory_recorded_before_it_was_made_is_removed_after_a_crash(
    tmp_path: Path, dead_server: str
) -> None:
    # The server died between making the directory and starting the CLI: no group to end.
    crashed = Ledger(tmp_path / "ledger", owner=dead_server)
    workdir = crashed.make_workdir("run")
    assert workdir.name.startswith(WORKDIR_PREFIX + "run-")
    (workdir / "prompt.md").write_text("secret prompt")
    assert Ledger(tmp_path / "ledger").sweep() == []
    assert not workdir.exists()
    assert list(crashed.folder.iterdir()) == []


def test_a_removed_run_directory_is_forgotten(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger")
    workdir = ledger.make_workdir("run")
    assert len(list(ledger.folder.iterdir())) == 1
    ledger.remove_workdir(workdir)
    assert not workdir.exists()
    assert list(ledger.folder.iterdir()) == []  # no temporary files either


def _config(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[server]\nport = {port}\nstate_dir = "{tmp_path / "state"}"\n'
        + "".join(f"[providers.{name}]\nenabled = false\n" for name in PROVIDER_NAMES)
    )
    return path


PROVIDER_NAMES = ("claude", "gemini", "qwen", "codex")


def _serve(config: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, "-m", "cliwrap", "serve", "--config", str(config)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_a_second_server_that_cannot_bind_leaves_the_first_ones_runs_alone(
    tmp_path: Path, live_server: str, orphan: tuple[subprocess.Popen[bytes], Path]
) -> None:
    process, workdir = orphan
    Ledger(tmp_path / "state" / "process-groups", owner=live_server).add(process.pid, workdir)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        second = _serve(_config(tmp_path, taken.getsockname()[1]))
        _, stderr = second.communicate(timeout=30)
    assert second.returncode == 1
    assert "cannot listen" in stderr
    assert group_alive(process.pid)
    assert workdir.exists()


def test_a_server_that_cannot_bind_sweeps_nothing(
    tmp_path: Path, dead_server: str, orphan: tuple[subprocess.Popen[bytes], Path]
) -> None:
    # The sweep runs once the port is ours: a start that fails changes nothing on disk.
    process, workdir = orphan
    ledger = Ledger(tmp_path / "state" / "process-groups", owner=dead_server)
    ledger.add(process.pid, workdir)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        second = _serve(_config(tmp_path, taken.getsockname()[1]))
        second.communicate(timeout=30)
    assert second.returncode == 1
    assert group_alive(process.pid)
    assert [p.name for p in ledger.folder.iterdir()] == [str(process.pid)]
