"""The ledger: what this server started and has not yet cleaned up, on disk, with its owner.

A server killed with SIGKILL cannot reap its CLIs nor remove their run directories; the
next server to start reads the ledger and ends what a dead server left behind. Every entry
names the server that wrote it (its pid and that process's start time), so a sweep ends only
what belongs to servers that are gone: several servers may share one state directory, and a
second ``cliwrap serve`` never touches the first one's runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import signal
import tempfile
import time
from pathlib import Path

import attrs

from .groups import group_members, identity, kill_group

__all__ = ["WORKDIR_PREFIX", "Ledger", "owner_alive", "this_process"]

WORKDIR_PREFIX = "cliwrap-"
"""Every private directory cliwrap makes for a CLI starts with this."""

_WORKDIR_ENTRY = "dir-"


def this_process() -> str:
    """This process as a ledger owner: its pid and start time (unique despite pid reuse)."""
    pid = os.getpid()
    return f"{pid} {identity(pid) or ''}"


def owner_alive(owner: str) -> bool:
    """Whether the server that wrote an entry tagged ``owner`` still runs.

    An untagged entry (an older cliwrap's) has no owner to ask: it counts as gone.
    """
    pid, _, recorded = owner.partition(" ")
    if not pid.isdigit() or not recorded.strip():
        return False
    return identity(int(pid)) == recorded


@attrs.frozen
class Ledger:
    """What this server started and has not yet cleaned up, as files in ``folder``.

    A file per process group (named by its id, holding the leader's boot id and start time,
    the run's private directory and the owner) and one per run directory recorded before it
    is made (``dir-…``). A file per entry, written whole and renamed into place, makes adding
    and removing atomic without locks; the leader's identity lets the sweep tell our group
    from an unrelated process that later received the same id; the owner lets it leave
    alone whatever a live server is still using.
    """

    folder: Path
    owner: str = attrs.field(factory=this_process, kw_only=True)
    """Who writes here (:func:`this_process`); tests pass a dead owner's tag."""

    def add(self, pgid: int, workdir: Path | None = None) -> None:
        """Record the group ``pgid`` (and its run directory), just after it started."""
        self._write(str(pgid), identity(pgid) or "", workdir)

    def remove(self, pgid: int) -> None:
        """Forget the group ``pgid``, once it is reaped."""
        self._unlink(str(pgid))

    def record_workdir(self, path: Path) -> None:
        """Record a run directory *before* it is made, so a crash at any point after leaves
        it to the next sweep (which removes it only if its name starts with
        :data:`WORKDIR_PREFIX`)."""
        self._write(_workdir_entry(path), "", path)

    def forget_workdir(self, path: Path) -> None:
        """Forget a run directory recorded with :meth:`record_workdir`, once it is removed."""
        self._unlink(_workdir_entry(path))

    def make_workdir(self, kind: str) -> Path:
        """A new private run directory (``cliwrap-<kind>-…`` in the temp folder), recorded
        before it exists. Blocking; pair it with :meth:`remove_workdir`."""
        path = Path(tempfile.gettempdir()) / f"{WORKDIR_PREFIX}{kind}-{secrets.token_hex(8)}"
        self.record_workdir(path)
        try:
            path.mkdir(mode=0o700)
        except BaseException:
            self.forget_workdir(path)
            raise
        return path

    def remove_workdir(self, path: Path) -> None:
        """Remove a run directory from :meth:`make_workdir`, then its record. Blocking."""
        shutil.rmtree(path, ignore_errors=True)
        self.forget_workdir(path)

    def sweep(self, grace: float = 2.0) -> list[int]:
        """End what servers that are gone left behind; return the process groups stopped.

        Blocking (a server runs it once, after binding its port). Like a live run's stop:
        SIGTERM first, so a CLI can remove its own per-process files, then SIGKILL for what
        is left after ``grace`` seconds. Entries of live servers, this one included, stay.
        """
        ours = []
        leftovers: list[Path] = []
        for entry in sorted(self.folder.iterdir()) if self.folder.is_dir() else ():
            is_group = entry.name.isdigit()
            if not (is_group or entry.name.startswith(_WORKDIR_ENTRY)):
                continue
            try:
                text = entry.read_text(encoding="utf-8")
            except (FileNotFoundError, IsADirectoryError):
                continue  # its owner removed it meanwhile
            recorded, workdir, owner = _parse(text)
            if owner_alive(owner):
                continue
            if is_group:
                pgid = int(entry.name)
                current = identity(pgid)
                leader_is_ours = current is not None and current == recorded
                # While any process is in the group, the kernel won't reuse its id for a new
                # group, so members of a group whose leader is gone are still ours.
                orphans_only = current is None and bool(group_members(pgid))
                if leader_is_ours or orphans_only:
                    kill_group(pgid, signal.SIGTERM)
                    ours.append(pgid)
            if workdir:
                leftovers.append(Path(workdir))
            with contextlib.suppress(FileNotFoundError):
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

    def _write(self, name: str, group: str, workdir: Path | None) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = self.folder / f".{name}.{secrets.token_hex(4)}.tmp"
        temporary.write_text(f"{group}\n{workdir or ''}\n{self.owner}\n", encoding="utf-8")
        temporary.replace(self.folder / name)  # readers see all of it or nothing

    def _unlink(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.folder / name).unlink()


def _workdir_entry(path: Path) -> str:
    return _WORKDIR_ENTRY + hashlib.sha256(str(path).encode()).hexdigest()[:24]


def _parse(text: str) -> tuple[str, str, str]:
    """Group identity, run directory and owner (an older, two-line entry has no owner)."""
    lines = [*text.split("\n"), "", "", ""]
    return lines[0].strip(), lines[1].strip(), lines[2].strip()
