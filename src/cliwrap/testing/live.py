"""Run a real cliwrap server as a subprocess, for tests that need real signals and sockets.

The server is ``python -m cliwrap serve`` on port 0; the helper reads the port from its
"serving on" log line and keeps draining its log so the pipe never blocks the server.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import trio

from ..runtime.groups import group_members

__all__ = ["READY", "LiveServer", "group_alive"]

READY = re.compile(r'serving on (http://[^\s"\\]+)')
"""The address in the "serving on" line, as logfmt or JSON renders it (quoted: the quote
is not part of it)."""


class LiveServer:
    def __init__(
        self, config_path: Path, state_dir: Path, env: dict[str, str] | None = None
    ) -> None:
        self.config_path = config_path
        self.state_dir = state_dir
        self._env = {**os.environ, **(env or {})}
        self._lines: list[str] = []
        self.url = ""
        self.process: subprocess.Popen[str] | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI SDK's ``base_url``."""
        return self.url + "/v1"

    def __enter__(self) -> LiveServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self, timeout: float = 30) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cliwrap",
                "serve",
                "--config",
                str(self.config_path),
                "--port",
                "0",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=self._env,
        )
        ready = threading.Event()
        self._drainer = threading.Thread(target=self._drain, args=(ready,), daemon=True)
        self._drainer.start()
        if not ready.wait(timeout) or not self.url:
            self.kill()
            raise RuntimeError(f"cliwrap did not start:\n{self.log}")

    def _drain(self, ready: threading.Event) -> None:
        assert self.process is not None
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._lines.append(line)
            match = READY.search(line)
            if match and not self.url:
                self.url = match.group(1)
                ready.set()
        ready.set()

    @property
    def log(self) -> str:
        return "".join(self._lines)

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def stop(self, timeout: float = 20, *, signal_first: bool = True) -> int:
        """SIGTERM (unless ``signal_first`` is false), then wait; the exit status."""
        assert self.process is not None
        if signal_first and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        self._close()
        return status

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()
        self._close()

    def _close(self) -> None:
        assert self.process is not None
        assert self.process.stderr is not None
        self._drainer.join(5)
        self.process.stderr.close()

    def pgids(self) -> list[int]:
        """Process groups of CLIs this server is running (from its ledger)."""
        folder = self.state_dir / "process-groups"
        return sorted(int(p.name) for p in folder.glob("*") if p.name.isdigit())

    def wait_for_cli(self, count: int = 1, timeout: float = 15) -> list[int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pgids = self.pgids()
            if len(pgids) >= count:
                return pgids
            time.sleep(0.005)
        raise TimeoutError(f"expected {count} CLI run(s), saw {self.pgids()}")


def group_alive(pgid: int) -> bool:
    """Whether any live process is left in the group (zombies awaiting a reaper don't count).

    Cheap while the leader lives (one /proc read), so tests can poll it tightly without
    stealing the CPU the exiting CLI needs.
    """
    try:
        stat = Path(f"/proc/{pgid}/stat").read_text(encoding="ascii")
    except OSError:
        stat = ""
    if stat and stat.rpartition(")")[2].split()[0] not in ("Z", "X"):
        return True
    return bool(group_members(pgid))


async def eventually(check: Callable[[], object], interval: float = 0.002) -> None:
    """Wait until ``check()`` is true.

    For what has no event to await: a server's ledger, /proc. Polling is the only way to see
    those from outside the server, so callers bound the wait with ``trio.fail_after``.
    """
    while True:
        if check():
            return
        await trio.sleep(interval)
