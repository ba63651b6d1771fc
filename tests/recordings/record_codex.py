"""Re-record Codex CLI's app-server output for the parser's unit tests.

Run ``.venv/bin/python -m tests.recordings.record_codex [scenario ...]`` after `just clis`: it
drives the pinned ``codex app-server`` against the stub Responses API, once per scenario,
exactly as cliwrap starts it (the provider's own invocation, with the catalog the inventory
would read), answering it with the provider's own parser as the job does, and saves stdout
plus the exit status next to this file. Codex retries failed calls by itself; a scenario is
stopped after a few seconds, which keeps the lines cliwrap acts on and some that follow.
The recordings are data for unit tests of the parser; the integration tests still run the
real CLI.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from cliwrap.config import ProviderConfig
from cliwrap.core.request import ChatRequest
from cliwrap.providers.base import WORK_DIR, Invocation, find_command
from cliwrap.providers.codex import CodexProvider
from cliwrap.testing import StubThread, codex_stub_args, handle_backends

from .common import FAULTS, prepare, save

SCENARIOS = {
    "thinking_and_text": "hello there [[think:Let me think.]] [[reply:Hi! How can I help?]]",
    **FAULTS,
}
MODEL = "gpt-5.5"
_TIME_LIMIT = 5.0


def main(names: list[str]) -> None:
    codex = find_command("codex")
    assert codex is not None, "run `just clis` first"
    provider = CodexProvider()
    with StubThread(handle_backends) as stub, tempfile.TemporaryDirectory() as home:
        environ = {"PATH": os.environ["PATH"], "HOME": home}
        listing = subprocess.run(
            [str(codex), *(provider.models_args or ())],
            capture_output=True,
            text=True,
            env=environ,
            check=True,
        ).stdout
        settings = ProviderConfig(
            command=str(codex),
            args=tuple(codex_stub_args(stub.url)),
            env={"STUB_API_KEY": "sk-codex-recording"},
            home="user",
        )
        for name in names or list(SCENARIOS):
            with tempfile.TemporaryDirectory() as folder:
                workdir = Path(folder)
                request, invocation = prepare(
                    provider, MODEL, SCENARIOS[name], settings, environ, workdir, listing
                )
                stdout, returncode = _talk(invocation, provider, request, workdir)
            save("codex", name, stdout, returncode)


def _talk(
    invocation: Invocation, provider: CodexProvider, request: ChatRequest, workdir: Path
) -> tuple[bytes, int]:
    """Run it, answering as the job would; stop its group after the time limit."""
    parser = provider.parser(request, MODEL)
    process = subprocess.Popen(
        invocation.argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=dict(invocation.env),
        cwd=workdir / WORK_DIR,
        start_new_session=True,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    signal.signal(signal.SIGALRM, lambda *_: os.killpg(process.pid, signal.SIGKILL))
    signal.setitimer(signal.ITIMER_REAL, _TIME_LIMIT)
    process.stdin.write(invocation.stdin)
    process.stdin.flush()
    lines = []
    for line in process.stdout:
        lines.append(line)
        parser.feed(line)
        out = parser.to_send()
        if out is None and not process.stdin.closed:
            process.stdin.close()
        elif out:
            process.stdin.write(out)
            process.stdin.flush()
    returncode = process.wait()
    signal.setitimer(signal.ITIMER_REAL, 0)
    return b"".join(lines), returncode


if __name__ == "__main__":
    main(sys.argv[1:])
