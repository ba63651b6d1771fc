"""Re-record Gemini CLI's stream-json output for the parser's unit tests.

Run ``.venv/bin/python -m tests.recordings.record_gemini`` after `just clis`: it drives the
pinned ``gemini`` against the stub Gemini API, once per scenario, exactly as cliwrap starts it
(the provider's own invocation: argv, environment, settings file), and saves stdout (with the
echoed prompt cut short) plus the exit status next to this file. The recordings are data for
unit tests of the parser; the integration tests still run the real CLI.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

from cliwrap.config import ProviderConfig
from cliwrap.providers.base import WORK_DIR, find_command
from cliwrap.providers.gemini import GeminiProvider
from cliwrap.testing import StubThread, handle_backends

from .common import FAULTS, prepare, save

SCENARIOS = {
    "text": "hello there [[reply:Hi! How can I help?]]",
    "thinking": "hello there [[think:Let me think.]] [[reply:Hi! How can I help?]]",
    **FAULTS,
    "rate_limit_without_delay": "x [[fail:429]]",
    "overloaded_with_retry_after": "x [[fail:503 retry-after=5]]",
    "model_not_found": "x [[fail:404]]",
    "max_tokens_before_any_text": "x [[stop:max_tokens]] [[think:so much to say]] [[reply:]]",
    "empty_reply": "x [[reply:]]",
    # Over the context window by the CLI's own estimate (~1.4M tokens): never sent.
    "prompt_too_large_to_send": ("word " * 12 + "\n") * 70_000,
}
_ECHO_KEPT = 200
"""Characters kept of the prompt the CLI echoes (the large one would be 4 MB of words)."""


def main() -> None:
    gemini = find_command("gemini")
    assert gemini is not None, "run `just clis` first"
    with StubThread(handle_backends) as stub:
        settings = ProviderConfig(
            command=str(gemini),
            env={"GOOGLE_GEMINI_BASE_URL": stub.url, "GEMINI_API_KEY": "gemini-recording-key"},
            home="private",
        )
        environ = {"PATH": os.environ["PATH"]}
        for name, prompt in SCENARIOS.items():
            with tempfile.TemporaryDirectory() as folder:
                workdir = Path(folder)
                _, invocation = prepare(
                    GeminiProvider(), "gemini-2.5-flash", prompt, settings, environ, workdir
                )
                done = subprocess.run(
                    invocation.argv,
                    input=invocation.stdin,
                    capture_output=True,
                    env=dict(invocation.env),
                    cwd=workdir / WORK_DIR,
                    check=False,
                )
            save("gemini", name, _shorten_echo(done.stdout), done.returncode)


def _shorten_echo(stdout: bytes) -> bytes:
    lines = []
    for line in stdout.splitlines(keepends=True):
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        echo = event.get("content", "") if isinstance(event, dict) else ""
        if isinstance(event, dict) and event.get("role") == "user" and len(echo) > _ECHO_KEPT:
            event["content"] = echo[:_ECHO_KEPT] + "…"
            line = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        lines.append(line)
    return b"".join(lines)


if __name__ == "__main__":
    main()
