"""Re-record Claude Code's stream-json output for the parser's unit tests.

Run ``.venv/bin/python -m tests.recordings.record_claude`` after `just clis`: it drives the
pinned ``claude`` against the stub Anthropic backend, once per scenario, exactly as cliwrap
starts it (the provider's own invocation, its tap included), and saves stdout (plus the exit
status) next to this file. The recordings are data for unit tests of the
parser; the integration tests still run the real CLI.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from cliwrap.config import ProviderConfig
from cliwrap.providers.base import PRIVATE_HOME, WORK_DIR, find_command
from cliwrap.providers.claude import ClaudeProvider
from cliwrap.testing import StubThread, handle_messages

from .common import prepare, save

SCENARIOS = {
    "thinking_and_text": "hello there [[think:Let me think.]] [[reply:Hi! How can I help?]]",
    "auth_error": "x [[fail:401]]",
    "rate_limit": "x [[fail:429 retry-after=7]]",
    "overloaded": "x [[fail:529]]",
    "overloaded_with_retry_after": "x [[fail:529 retry-after=5]]",
    "server_error": "x [[fail:500]]",
    "bad_request": "x [[fail:400]]",
    "stream_dropped_then_fallback": "x [[drop:stream]] [[reply:one two three four five six]]",
    "connection_dropped": "x [[drop]] [[reply:one two three four five six]]",
    "max_tokens": "x [[stop:max_tokens]] [[reply:cut]]",
}


def main() -> None:
    claude = find_command("claude")
    assert claude is not None, "run `just clis` first"
    with StubThread(handle_messages) as stub:
        settings = ProviderConfig(
            command=str(claude),
            env={"ANTHROPIC_BASE_URL": stub.url, "ANTHROPIC_API_KEY": "sk-ant-recording"},
        )
        for name, prompt in SCENARIOS.items():
            with tempfile.TemporaryDirectory() as folder:
                workdir = Path(folder)
                environ = {"PATH": os.environ["PATH"], "HOME": str(workdir / PRIVATE_HOME)}
                _, invocation = prepare(
                    ClaudeProvider(), "sonnet", prompt, settings, environ, workdir
                )
                done = subprocess.run(
                    invocation.argv,
                    input=invocation.stdin,
                    capture_output=True,
                    env=dict(invocation.env),
                    cwd=workdir / WORK_DIR,
                    check=False,
                )
            save("claude", name, done.stdout, done.returncode)


if __name__ == "__main__":
    main()
