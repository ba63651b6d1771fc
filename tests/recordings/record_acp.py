"""Re-record Gemini CLI's and Qwen Code's Agent Client Protocol output for the ACP client's
unit tests.

Run ``.venv/bin/python -m tests.recordings.record_acp [cli_scenario ...]`` after `just clis`:
it starts the pinned CLI with ``--acp`` against the stub backends, once per scenario, set up
as its provider sets it up (the provider's own invocation: argv, environment, files, tap)
with the one-shot output flags swapped for ``--acp``, talks to it with
:class:`cliwrap.providers.acp.AcpClient` itself (a scripted caller: its turns, a cancel after
the first text), and saves stdout next to this file (``acp/<cli>_<scenario>.jsonl``). The
unit tests replay the same script against those lines.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import attrs

from cliwrap.config import ProviderConfig
from cliwrap.core.events import Failed, Finished, TextDelta
from cliwrap.providers.acp import AcpClient, AcpStart, LoadSession, ResumeSession, text_block
from cliwrap.providers.base import PRIVATE_HOME, WORK_DIR, Invocation, find_command
from cliwrap.providers.gemini import GeminiProvider
from cliwrap.providers.qwen import QwenProvider
from cliwrap.testing import StubThread, handle_backends

from .common import FAULTS, HERE, prepare

SEEDED_SESSION = "5eeded00-0000-4000-8000-000000000001"
SEEDED_TURNS = (("user", "My name is Bob."), ("assistant", "Hello Bob."))


@attrs.frozen
class Turn:
    text: str
    cancel_after_first_text: bool = False


@attrs.frozen
class Scenario:
    turns: tuple[Turn, ...]
    start: AcpStart | None = None
    seeded: bool = False


SCENARIOS: dict[str, Scenario] = {
    "two_turns": Scenario((Turn("My name is Bob."), Turn("What's my name?"))),
    "thinking": Scenario((Turn("hello [[think:Let me think.]] [[reply:Hi! How can I help?]]"),)),
    "cancel": Scenario(
        (
            Turn("long [[reply:" + "abcdefgh " * 20 + "]] [[delay:0.05]]", True),
            Turn("after the cancel [[reply:Fine.]]"),
        )
    ),
    "load": Scenario((Turn("What's my name?"),), LoadSession(SEEDED_SESSION), seeded=True),
    **{
        name: Scenario((Turn(FAULTS[name]),))
        for name in ("auth_error", "rate_limit", "server_error", "connection_dropped")
    },
    "max_tokens": Scenario((Turn(FAULTS["max_tokens"]),)),
}
QWEN_ONLY = {
    "resume": Scenario((Turn("What's my name?"),), ResumeSession(SEEDED_SESSION), seeded=True),
}
MODELS = {"gemini": "gemini-2.5-flash", "qwen": "qwen3-coder-plus"}
_TIME_LIMIT = 20.0
"""Seconds a scenario may run (Qwen Code drains a cancelled turn only after its backoff)."""


def main(names: list[str]) -> None:
    every = [f"{cli}_{name}" for cli in MODELS for name in SCENARIOS] + [
        f"qwen_{name}" for name in QWEN_ONLY
    ]
    with StubThread(handle_backends) as stub:
        for full in names or every:
            cli, _, name = full.partition("_")
            scenario = (SCENARIOS | QWEN_ONLY)[name]
            with tempfile.TemporaryDirectory() as folder:
                workdir = Path(folder)
                invocation = acp_invocation(cli, stub.url, workdir)
                if scenario.seeded:
                    seed(cli, workdir)
                stdout = _talk(cli, invocation, workdir, scenario)
            (HERE / "acp").mkdir(exist_ok=True)
            (HERE / "acp" / f"{full}.jsonl").write_bytes(stdout)
            print(f"acp {full}: {len(stdout.splitlines())} lines")


def acp_invocation(cli: str, url: str, workdir: Path) -> Invocation:
    """The provider's invocation, its output flags swapped for ``--acp``."""
    command = find_command(cli)
    assert command is not None, "run `just clis` first"
    if cli == "gemini":
        provider: Any = GeminiProvider()
        env = {"GOOGLE_GEMINI_BASE_URL": url, "GEMINI_API_KEY": "gemini-recording"}
    else:
        provider = QwenProvider()
        env = {"OPENAI_BASE_URL": url + "/v1", "OPENAI_API_KEY": "sk-qwen-recording"}
    settings = ProviderConfig(command=str(command), env=env, home="private")
    environ = {"PATH": os.environ["PATH"]}
    _, invocation = prepare(provider, MODELS[cli], "unused", settings, environ, workdir)
    argv = list(invocation.argv)
    index = argv.index("--output-format")
    del argv[index : index + 2]
    for flag in ("--include-partial-messages", "--chat-recording=false"):
        if flag in argv:
            argv.remove(flag)  # the sessions are to be loaded
    argv.insert(1, "--acp")
    if cli == "qwen":
        # ACP sessions read the settings files even with --bare; without this one, each turn
        # from the second on adds a background "suggest the next prompt" model call.
        settings_file = workdir / PRIVATE_HOME / ".qwen" / "settings.json"
        settings_file.parent.mkdir(parents=True, exist_ok=True)
        settings_file.write_text(json.dumps({"ui": {"enableFollowupSuggestions": False}}))
    return attrs.evolve(invocation, argv=tuple(argv), stdin=b"", dialogue=True)


def seed(cli: str, workdir: Path) -> None:
    """Write :data:`SEEDED_TURNS` into the CLI's session store as session
    :data:`SEEDED_SESSION` (the formats are in docs/cli-sessions.md)."""
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
    now = now.replace("+00:00", "Z")
    cwd = workdir / WORK_DIR
    if cli == "gemini":
        chats = workdir / PRIVATE_HOME / ".gemini" / "tmp" / cwd.name / "chats"
        head = {"sessionId": SEEDED_SESSION, "projectHash": "seeded", "kind": "main"}
        lines: list[dict[str, Any]] = [{**head, "startTime": now, "lastUpdated": now}]
        for role, text in SEEDED_TURNS:
            kind = "user" if role == "user" else "gemini"
            lines.append(
                {
                    "id": str(uuid.uuid4()),
                    "timestamp": now,
                    "type": kind,
                    "content": [{"text": text}],
                }
            )
        path = chats / f"session-cliwrap-{SEEDED_SESSION[:8]}.jsonl"
    else:
        chats = workdir / PRIVATE_HOME / ".qwen" / "projects" / str(cwd).replace("/", "-") / "chats"
        lines, parent = [], None
        for role, text in SEEDED_TURNS:
            record_id = str(uuid.uuid4())
            lines.append(
                {
                    "uuid": record_id,
                    "parentUuid": parent,
                    "sessionId": SEEDED_SESSION,
                    "timestamp": now,
                    "type": role,
                    "cwd": str(cwd),
                    "version": "0.24.4",
                    "message": {
                        "role": "user" if role == "user" else "model",
                        "parts": [{"text": text}],
                    },
                }
            )
            parent = record_id
        path = chats / f"{SEEDED_SESSION}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def _talk(cli: str, invocation: Invocation, workdir: Path, scenario: Scenario) -> bytes:
    """Run the scenario's turns with an AcpClient; stop the group when they are over."""
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
    client = AcpClient(str(workdir / WORK_DIR), scenario.start, agent=cli)
    turns = list(scenario.turns)
    cancel_pending = turns[0].cancel_after_first_text
    client.prompt([text_block(turns.pop(0).text)])
    lines: list[bytes] = []
    deadline = time.monotonic() + _TIME_LIMIT
    buffer = b""
    try:
        while time.monotonic() < deadline:
            out = client.to_send()
            if out:
                process.stdin.write(out)
                process.stdin.flush()
            if not client.busy and not client.draining and not turns:
                break
            ready, _, _ = select.select([process.stdout], [], [], 0.5)
            if not ready:
                continue
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:
                break
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                lines.append(line + b"\n")
                events = client.feed(line)
                for event in list(events):
                    if isinstance(event, TextDelta) and cancel_pending:
                        cancel_pending = False
                        events += client.cancel()
                if any(isinstance(e, Finished | Failed) for e in events) and turns:
                    cancel_pending = turns[0].cancel_after_first_text
                    client.prompt([text_block(turns.pop(0).text)])
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return _anonymous(b"".join(lines), workdir)


def _anonymous(stdout: bytes, workdir: Path) -> bytes:
    """The run's temporary folder named ``/run`` in the recording."""
    return re.sub(re.escape(str(workdir)).encode(), b"/run", stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
