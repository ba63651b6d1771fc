"""``cliwrap serve`` as a process: Ctrl-C at any moment ends it cleanly, and what it leaves.

Each moment is reached by waiting for something the server does (never by sleeping): the
process handing SIGINT back to its default, the sweep signalling a dead server's CLI, the
"serving on" line while a CLI probe hangs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cliwrap.runtime.groups import identity
from cliwrap.runtime.ledger import Ledger
from cliwrap.testing import LiveServer, group_alive

PROVIDERS = ("claude", "gemini", "qwen", "codex")
_BOUND = 30.0


def wait_for(check: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + _BOUND
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.0005)


def config(tmp_path: Path, *, claude: str | None = None, kill_grace: float = 2.0) -> Path:
    path = tmp_path / "config.toml"
    lines = [
        "[server]",
        f'state_dir = "{tmp_path / "state"}"',
        "shutdown_grace = 0.0",
        "[deadlines]",
        f"kill_grace = {kill_grace}",
    ]
    for name in PROVIDERS:
        lines.append(f"[providers.{name}]")
        lines.append(f'command = "{claude}"' if name == "claude" and claude else "enabled = false")
    path.write_text("\n".join(lines) + "\n")
    return path


def start(config_path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cliwrap", "serve", "--config", str(config_path), "--port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


def catches_sigint(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status").read_text()
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) & (1 << (signal.SIGINT - 1)))


def interrupted(server: subprocess.Popen[str]) -> tuple[int, str]:
    server.send_signal(signal.SIGINT)
    _, stderr = server.communicate(timeout=_BOUND)
    return server.returncode, stderr


def test_ctrl_c_right_after_the_start_ends_it_quietly(tmp_path: Path) -> None:
    server = start(config(tmp_path))
    # Python catches SIGINT from its start; cliwrap hands it back to the default at once.
    wait_for(lambda: catches_sigint(server.pid), "Python's own SIGINT handler")
    wait_for(lambda: not catches_sigint(server.pid), "cliwrap giving SIGINT back")
    status, stderr = interrupted(server)
    assert status in (-signal.SIGINT, 0, 130)
    assert "Traceback" not in stderr


@pytest.fixture
def stubborn_orphan(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """A dead server's CLI that notes SIGTERM and goes on: the sweep waits its grace."""
    noted = tmp_path / "got-sigterm"
    script = (
        "import pathlib, signal, time\n"
        f"signal.signal(signal.SIGTERM, lambda *_: pathlib.Path({str(noted)!r}).touch())\n"
        "print('ready', flush=True)\n"
        "while True: time.sleep(1)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script], start_new_session=True, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "ready\n"
    try:
        yield process, noted
    finally:
        process.kill()
        process.wait()
        process.stdout.close()


def test_ctrl_c_during_the_startup_sweep_ends_it_quietly(
    tmp_path: Path, stubborn_orphan: tuple[subprocess.Popen[str], Path]
) -> None:
    orphan, noted = stubborn_orphan
    gone = subprocess.Popen(["true"])
    dead_server = f"{gone.pid} {identity(gone.pid)}"
    gone.wait()
    Ledger(tmp_path / "state" / "process-groups", owner=dead_server).add(orphan.pid)
    server = start(config(tmp_path, kill_grace=1.0))
    wait_for(noted.exists, "the sweep's SIGTERM")
    status, stderr = interrupted(server)
    assert status == 0, stderr
    assert "Traceback" not in stderr
    assert "serving on" not in stderr
    orphan.wait(_BOUND)  # the sweep finished its work: SIGKILL after the grace
    assert not group_alive(orphan.pid)


def test_ctrl_c_while_the_inventory_probes_ends_it_quietly(tmp_path: Path) -> None:
    hangs = tmp_path / "hanging-cli"
    hangs.write_text("#!/bin/sh\nexec sleep 60\n")
    hangs.chmod(0o755)
    live = LiveServer(config(tmp_path, claude=str(hangs)), tmp_path / "state")
    live.start()
    probes = live.state_dir / "process-groups" / "probes"

    def probing() -> list[int]:
        return [int(p.name) for p in probes.glob("*") if p.name.isdigit()]

    wait_for(probing, "the version probe in the ledger")
    pgids = probing()
    live.signal(signal.SIGINT)
    assert live.stop(signal_first=False) == 0
    assert "Traceback" not in live.log
    assert not group_alive(pgids[0])
    assert list(probes.iterdir()) == []


def test_ctrl_c_once_serving_ends_it_quietly(tmp_path: Path) -> None:
    with LiveServer(config(tmp_path), tmp_path / "state") as live:
        live.signal(signal.SIGINT)
        assert live.stop(signal_first=False) == 0
    assert "Traceback" not in live.log
    assert "cliwrap stopped" in live.log
