"""Session files a CLI wrote outside cliwrap's own folders, removed after a delay.

A CLI run on its user's home (``home = "user"``) keeps its session files there: Claude Code
under ``~/.claude/projects/<working directory>``. Usage tools read those files, so they are
kept ``cleanup_delay`` (12 h by default, the predecessor's) after the session's process
ends, then removed. Each pending removal is a file in the state directory (written whole,
renamed into place, as the ledger does), so a restart loses none. Only folders named after a
cliwrap session's working directory are ever removed: a user's own sessions never are.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["SessionFiles"]

log = logging.getLogger(__name__)

_OURS = "cliwrap-session-"
"""What the name of every folder removed here holds: the working directory it is named
after was a cliwrap session's (see :meth:`~cliwrap.runtime.ledger.Ledger.make_workdir`)."""


class SessionFiles:
    """Pending removals of CLI session folders, one file each in ``folder``. Blocking."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def schedule(self, path: Path, due: float) -> None:
        """Remove ``path`` at wall-clock time ``due`` (or at the first sweep after it)."""
        if _OURS not in path.name:
            log.error("not scheduling the removal of %s: not a cliwrap session's folder", path)
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256(str(path).encode()).hexdigest()[:32]
        fd, temporary = tempfile.mkstemp(dir=self.folder, prefix=".tmp-")
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump({"path": str(path), "due": due}, file)
        Path(temporary).replace(self.folder / name)

    def sweep(self, now: float) -> list[Path]:
        """Remove every folder whose time has come; the folders removed."""
        removed = []
        for entry in sorted(self.folder.glob("[0-9a-f]*")) if self.folder.exists() else []:
            try:
                pending = json.loads(entry.read_text(encoding="utf-8"))
                path, due = Path(pending["path"]), float(pending["due"])
            except (OSError, ValueError, KeyError, TypeError):
                with contextlib.suppress(OSError):
                    entry.unlink()
                continue
            if due > now:
                continue
            if _OURS in path.name:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
            with contextlib.suppress(OSError):
                entry.unlink()
        return removed
