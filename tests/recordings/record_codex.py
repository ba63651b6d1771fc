"""Re-record Codex CLI's app-server output for the parser's unit tests.

Run ``.venv/bin/python -m tests.recordings.record_codex [scenario ...]`` after `just clis`: it
drives the pinned ``codex app-server`` against the stub Responses API, once per scenario,
exactly as cliwrap starts it (the provider's own invocation, with the catalog the inventory
would read), answering it with the provider's own parser as the job does, and saves stdout
plus the exit status next to this file. Codex retries failed calls by itself; a scenario is
stopped after a few seconds, which keeps the lines cliwrap acts on and some that follow.
The ``session_*`` scenarios keep one app-server across turns as a conversation's live process
does (:class:`~cliwrap.providers.codex.CodexSession`): the seed goes into the thread, each
turn's lines are read until the turn is over, and the interrupted one is stopped with the
CLI's own interrupt once it has streamed a little. The recordings are data for unit tests of
the parser; the integration tests still run the real CLI.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from cliwrap.config import ProviderConfig
from cliwrap.core.events import TextDelta
from cliwrap.core.request import ChatRequest, Message
from cliwrap.providers.base import WORK_DIR, Invocation, SessionStart, find_command
from cliwrap.providers.codex import CodexProvider
from cliwrap.testing import StubThread, codex_stub_args, handle_backends

from .common import FAULTS, prepare, save

SCENARIOS = {
    "thinking_and_text": "hello there [[think:Let me think.]] [[reply:Hi! How can I help?]]",
    **FAULTS,
}
SESSIONS: dict[str, tuple[tuple[Message, ...], tuple[str, ...], int | None]] = {
    # seed, the turns' user messages, and after how many text deltas to interrupt
    "session_seeded": (
        (Message("user", "My name is Bob."), Message("assistant", "echo: My name is Bob.")),
        ("What's my name?", "And now?"),
        None,
    ),
    "session_interrupted": ((), ("go [[delay:0.3]] [[reply:" + "word " * 40 + "]]",), 2),
}
"""Sessions: each an app-server kept across turns (a conversation's live process)."""
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
        for name in names or [*SCENARIOS, *SESSIONS]:
            with tempfile.TemporaryDirectory() as folder:
                workdir = Path(folder)
                if name in SESSIONS:
                    stdout, returncode = _session(
                        provider, SESSIONS[name], settings, environ, workdir, listing
                    )
                else:
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
    process = _start(invocation, workdir)
    assert process.stdin is not None
    assert process.stdout is not None
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


def _session(
    provider: CodexProvider,
    scenario: tuple[tuple[Message, ...], tuple[str, ...], int | None],
    settings: ProviderConfig,
    environ: dict[str, str],
    workdir: Path,
    listing: str,
) -> tuple[bytes, int]:
    """One app-server kept across the scenario's turns, answered as the job and the session
    pool would; stdin is closed after the last turn."""
    seed, turns, interrupt_after = scenario
    history = list(seed)
    first = ChatRequest(MODEL, (*history, Message("user", turns[0])))
    _, invocation = prepare(provider, MODEL, turns[0], settings, environ, workdir, listing)
    kept, session = provider.session(
        first, MODEL, workdir, settings, environ, SessionStart("recording", seed), listing
    )
    assert kept == invocation, "a session's app-server is a run's own"
    process = _start(invocation, workdir)
    assert process.stdin is not None
    assert process.stdout is not None

    def write(data: bytes) -> None:
        assert process.stdin is not None
        if data:
            process.stdin.write(data)
            process.stdin.flush()

    write(invocation.stdin)
    lines = []
    for text in turns:
        history.append(Message("user", text))
        data, parser = session.turn(ChatRequest(MODEL, tuple(history)), (history[-1],))
        write(data)
        said = []
        while not parser.turn_over and (line := process.stdout.readline()):
            lines.append(line)
            events = parser.feed(line)
            said += [e.text for e in events if isinstance(e, TextDelta)]
            write(parser.to_send())
            if interrupt_after and len(said) >= interrupt_after and not session.interrupting:
                write(session.interrupt())
        history.append(Message("assistant", "".join(said)))
    process.stdin.close()
    lines += process.stdout.readlines()
    returncode = process.wait()
    signal.setitimer(signal.ITIMER_REAL, 0)
    return b"".join(lines), returncode


def _start(invocation: Invocation, workdir: Path) -> subprocess.Popen[bytes]:
    """The CLI in its own group, killed after the time limit."""
    process = subprocess.Popen(
        invocation.argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=dict(invocation.env),
        cwd=workdir / WORK_DIR,
        start_new_session=True,
    )
    signal.signal(signal.SIGALRM, lambda *_: os.killpg(process.pid, signal.SIGKILL))
    signal.setitimer(signal.ITIMER_REAL, _TIME_LIMIT)
    return process


if __name__ == "__main__":
    main(sys.argv[1:])
