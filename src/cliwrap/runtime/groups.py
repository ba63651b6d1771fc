"""Process groups as the kernel shows them: who is in one, who leads it, how to signal it.

Blocking reads of /proc, each quick; the ledger's sweep and the tests use them.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

__all__ = ["group_members", "group_rss", "identity", "kill_group"]


def identity(pid: int) -> str | None:
    """Boot id and start time of ``pid``: unique across reboots and pid reuse."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return f"{boot} {fields[19]}"  # field 22 of stat: start time in clock ticks after boot


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in group ``pgid``, read from /proc.

    Zombies are left out: they run nothing, and where PID 1 does not reap orphans (some
    containers) they linger after being killed.
    """
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="ascii").rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def group_rss(pgid: int) -> int:
    """Resident memory of the live members of group ``pgid``, in bytes (0 if none)."""
    total = 0
    for pid in group_members(pgid):
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
                    break
    return total
