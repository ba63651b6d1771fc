"""The ledger: the process groups this server started and has not yet reaped, on disk.

A server killed with SIGKILL cannot reap its CLIs; the next start reads the ledger and ends
the groups a dead server left behind, and removes their private directories.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import time
from pathlib import Path

import attrs

from .groups import group_members, identity, kill_group

__all__ = ["WORKDIR_PREFIX", "Ledger"]

WORKDIR_PREFIX = "cliwrap-"
"""Every private directory cliwrap makes for a CLI starts with this."""


@attrs.frozen
class Ledger:
    """Process groups this server started and has not yet reaped, as files in ``folder``.

    A file per group (named by its id, holding the leader's boot id and start time, and the
    run's private directory) makes adding and removing atomic without locks, lets the sweep
    tell our group from an unrelated process that later received the same id, and lets it
    remove the directory a killed server could not.
    """

    folder: Path

    def add(self, pgid: int, workdir: Path | None = None) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        entry = f"{identity(pgid) or ''}\n{workdir or ''}\n"
        (self.folder / str(pgid)).write_text(entry, encoding="utf-8")

    def remove(self, pgid: int) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.folder / str(pgid)).unlink()

    def sweep(self, grace: float = 2.0) -> list[int]:
        """Stop the groups a previous server left behind; return their ids.

        Blocking (it runs once, before serving). Like a live run's stop: SIGTERM first, so a
        CLI can remove its own per-process files, then SIGKILL for what is left after
        ``grace`` seconds.
        """
        ours = []
        leftovers: list[Path] = []
        for entry in self.folder.glob("*") if self.folder.is_dir() else ():
            if not entry.name.isdigit():
                continue
            pgid = int(entry.name)
            recorded, _, workdir = entry.read_text(encoding="utf-8").partition("\n")
            current = identity(pgid)
            leader_is_ours = current is not None and current == recorded
            # While any process is in the group, the kernel won't reuse its id for a new
            # group, so members of a group whose leader is gone are still ours.
            orphans_only = current is None and bool(group_members(pgid))
            if leader_is_ours or orphans_only:
                kill_group(pgid, signal.SIGTERM)
                ours.append(pgid)
            if workdir.strip():
                leftovers.append(Path(workdir.strip()))
            entry.unlink()
        deadline = time.monotonic() + grace
        while any(group_members(g) for g in ours) and time.monotonic() < deadline:
            time.sleep(0.01)
        for pgid in ours:
            kill_group(pgid)
        for folder in leftovers:
            if folder.name.startswith(WORKDIR_PREFIX):  # never anything we did not make
                shutil.rmtree(folder, ignore_errors=True)
        return ours
