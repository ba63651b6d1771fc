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

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from cliwrap.config import ProviderConfig
from cliwrap.providers.base import WORK_DIR, find_command
from cliwrap.providers.qwen import QwenProvider
from cliwrap.testing import StubThread, handle_backends

from .common import FAULTS, prepare, save

SCENARIOS = {
    "thinking_and_text": "hello there [[think:Let me think.]] [[reply:Hi! How can I help?]]",
    **FAULTS,
}
_TIME_LIMIT = 8.0
"""Seconds a scenario may run before it is stopped."""


def main(names: list[str]) -> None:
    qwen = find_command("qwen")
    assert qwen is not None, "run `just clis` first"
    with StubThread(handle_backends) as stub:
        settings = ProviderConfig(
            command=str(qwen),
            env={"OPENAI_BASE_URL": stub.url + "/v1", "OPENAI_API_KEY": "sk-qwen-recording"},
            home="private",
        )
        environ = {"PATH": os.environ["PATH"]}
        for name in names or list(SCENARIOS):
            with tempfile.TemporaryDirectory() as folder:
                workdir = Path(folder)
                _, invocation = prepare(
                    QwenProvider(), "qwen3-coder-plus", SCENARIOS[name], settings, environ, workdir
                )
                process = subprocess.Popen(
                    invocation.argv,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    env=dict(invocation.env),
                    cwd=workdir / WORK_DIR,
                    start_new_session=True,  # its launcher starts a second node: stop both
                )
                try:
                    stdout, _ = process.communicate(invocation.stdin, timeout=_TIME_LIMIT)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    stdout, _ = process.communicate()
            save("qwen", name, stdout, process.returncode)


if __name__ == "__main__":
    main(sys.argv[1:])
