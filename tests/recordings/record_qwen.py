"""Re-record Qwen Code's stream-json output for the parser's unit tests.

Run ``.venv/bin/python -m tests.recordings.record_qwen [scenario ...]`` after `just clis`: it
drives the pinned ``qwen`` against the stub Chat Completions API, once per scenario, exactly
as cliwrap starts it (the provider's own invocation: argv, environment, the tap), and saves
stdout plus the exit status next to this file. The recordings are data for unit tests of the
parser; the integration tests still run the real CLI.

The CLI retries a failed call for up to a minute and a half; a scenario is stopped
once it has had a few seconds more than cliwrap would give it, which keeps the lines cliwrap
acts on and some of what would follow.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cliwrap.config import ProviderConfig
from cliwrap.providers.base import PRIVATE_HOME, find_command
from cliwrap.providers.qwen import QwenProvider
from cliwrap.request import ChatRequest, Message
from cliwrap.testing import StubThread
from cliwrap.testing.openai_chat import handle_chat_completions

SCENARIOS = {
    "thinking_and_text": "hello there [[think:Let me think.]] [[reply:Hi! How can I help?]]",
    "auth_error": "x [[fail:401]]",
    "rate_limit": "x [[fail:429 retry-after=7]]",
    "server_error": "x [[fail:500]]",
    "overloaded": "x [[fail:503]]",
    "bad_request": "x [[fail:400]]",
    "context_overflow": "x [[overflow]]",
    "connection_dropped": "x [[drop]] [[reply:one two three four five six]]",
    "max_tokens": "x [[stop:max_tokens]] [[reply:cut short]]",
}
_TIME_LIMIT = 8.0
"""Seconds a scenario may run before it is stopped."""


def main(names: list[str]) -> None:
    qwen = find_command("qwen")
    assert qwen is not None, "run `just clis` first"
    here = Path(__file__).parent / "qwen"
    here.mkdir(exist_ok=True)
    provider = QwenProvider()
    with StubThread(handle_chat_completions) as stub:
        settings = ProviderConfig(
            command=str(qwen),
            env={"OPENAI_BASE_URL": stub.url + "/v1", "OPENAI_API_KEY": "sk-qwen-recording"},
            home="private",
        )
        for name in names or list(SCENARIOS):
            request = ChatRequest("qwen3-coder-plus", (Message("user", SCENARIOS[name]),))
            with tempfile.TemporaryDirectory() as folder:
                workdir = Path(folder)
                (workdir / PRIVATE_HOME).mkdir()
                invocation = provider.invocation(
                    request, "qwen3-coder-plus", workdir, settings, {"PATH": os.environ["PATH"]}
                )
                for relative, text in invocation.files.items():
                    (workdir / relative).write_text(text)
                started = time.monotonic()
                process = subprocess.Popen(
                    invocation.argv,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    env=dict(invocation.env),
                    cwd=workdir,
                    start_new_session=True,  # its launcher starts a second node: stop both
                )
                try:
                    stdout, _ = process.communicate(invocation.stdin, timeout=_TIME_LIMIT)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    stdout, _ = process.communicate()
            (here / f"{name}.jsonl").write_bytes(stdout)
            (here / f"{name}.status").write_text(json.dumps({"returncode": process.returncode}))
            print(
                f"{name}: exit {process.returncode} after {time.monotonic() - started:.1f} s,"
                f" {len(stdout.splitlines())} lines"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
