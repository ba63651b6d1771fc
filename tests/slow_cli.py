"""A stand-in Claude Code that answers one word and then works for ever, and a live server
configured to run it: for the tests that watch a run live and cancel it (the integration
tier's SDK tests and the system tier's browser test)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from cliwrap.providers import PROVIDERS
from cliwrap.testing import LiveServer

WORD = "working"
_DELTA = (
    '{"type":"stream_event","event":{"type":"content_block_delta","index":0,'
    '"delta":{"type":"text_delta","text":"' + WORD + ' "}}}'
)


def slow_claude(folder: Path) -> Path:
    """The script: a version for the inventory; for a run, reads its prompt, says
    :data:`WORD` (so a stream has started), then sleeps until it is stopped."""
    script = folder / "claude"
    script.write_text(
        "#!/bin/sh\n"
        'case "$1" in --version) echo "2.1.328 (Claude Code)"; exit 0 ;; esac\n'
        "cat > /dev/null\n"
        f"echo '{_DELTA}'\n"
        "exec sleep 600\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def slow_server(folder: Path, api_keys: tuple[str, ...] = ()) -> LiveServer:
    """A server (not started) whose only CLI is :func:`slow_claude`: every request a fresh
    run (no conversations, no warm-up)."""
    keys = ", ".join(f'"{key}"' for key in api_keys)
    lines = [
        "[server]",
        f'state_dir = "{folder / "state"}"',
        f"api_keys = [{keys}]",
        "shutdown_grace = 0.0",
        "[sessions]",
        "enabled = false",
        "[warmup]",
        'strategy = "none"',
        "[providers.claude]",
        f'command = "{slow_claude(folder)}"',
    ]
    lines += [f"[providers.{name}]\nenabled = false" for name in PROVIDERS if name != "claude"]
    config = folder / "config.toml"
    config.write_text("\n".join(lines) + "\n")
    env = {"PYTHONPATH": os.pathsep.join(sys.path)}
    return LiveServer(config, folder / "state", env=env)
