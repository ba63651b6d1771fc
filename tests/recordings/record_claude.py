"""Re-record Claude Code's stream-json output for the parser's unit tests.

Run ``.venv/bin/python -m tests.recordings.record_claude`` after `just clis`: it drives the
pinned ``claude`` against the stub Anthropic backend, once per scenario, and saves stdout
(plus the exit status) next to this file. The recordings are data for unit tests of the
parser; the integration tests still run the real CLI.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

from cliwrap.providers.base import find_command
from cliwrap.testing import StubThread, handle_messages

SCENARIOS = {
    "thinking_and_text": "hello there [[think:Let me think.]] [[reply:Hi! How can I help?]]",
    "auth_error": "x [[fail:401]]",
    "rate_limit": "x [[fail:429 retry-after=7]]",
    "overloaded": "x [[fail:529]]",
    "server_error": "x [[fail:500]]",
    "bad_request": "x [[fail:400]]",
    "stream_dropped_then_fallback": "x [[drop:stream]] [[reply:one two three four five six]]",
    "connection_dropped": "x [[drop]] [[reply:one two three four five six]]",
    "max_tokens": "x [[stop:max_tokens]] [[reply:cut]]",
}


def main() -> None:
    claude = find_command("claude")
    assert claude is not None, "run `just clis` first"
    here = Path(__file__).parent / "claude"
    with StubThread(handle_messages) as stub:
        for name, prompt in SCENARIOS.items():
            with tempfile.TemporaryDirectory() as home:
                env = {
                    "PATH": os.environ["PATH"],
                    "HOME": home,
                    "ANTHROPIC_BASE_URL": stub.url,
                    "ANTHROPIC_API_KEY": "sk-ant-recording",
                    "CLAUDE_CODE_MAX_RETRIES": "0",
                    "DISABLE_AUTOUPDATER": "1",
                    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
                    "DISABLE_TELEMETRY": "1",
                }
                done = subprocess.run(
                    [
                        str(claude),
                        "-p",
                        "--output-format",
                        "stream-json",
                        "--verbose",
                        "--include-partial-messages",
                        "--tools",
                        "",
                        "--no-session-persistence",
                        "--model",
                        "sonnet",
                    ],
                    input=prompt.encode(),
                    capture_output=True,
                    env=env,
                    cwd=home,
                    check=False,
                )
            (here / f"{name}.jsonl").write_bytes(done.stdout)
            (here / f"{name}.status").write_text(json.dumps({"returncode": done.returncode}))
            print(name, done.returncode, len(done.stdout.splitlines()), "lines")


if __name__ == "__main__":
    main()
