"""Claude Code (the pinned CLI) as a client of cliwrap's /v1/messages.

The README's recipe, run as its users would: ``ANTHROPIC_BASE_URL`` at cliwrap, any
``ANTHROPIC_API_KEY``, a private ``HOME`` and ``CLAUDE_CONFIG_DIR``. Behind cliwrap the inner
CLI is Claude Code again (the model name Claude Code sends routes to it), talking to the stub
model. Claude Code retries a refused request silently in another shape, so its answer alone
proves little: the server's access log must show no 4xx at all.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from cliwrap.testing import LiveServer, StubThread

from ..clients.conftest import README
from ..clients.readme import README_URL, read_examples
from .conftest import ServerFactory


def readme_environment(server: LiveServer) -> dict[str, str]:
    """The variables the README's recipe sets, with the live server's address."""
    (recipe,) = [e for e in read_examples(README.read_text()) if e.name == "claude-code-client"]
    pairs = re.findall(r"\b([A-Z][A-Z0-9_]*)=(\S+)", recipe.code)
    assert {name for name, _ in pairs} >= {"ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY"}
    return {name: value.replace(README_URL, server.url) for name, value in pairs}


@pytest.fixture(scope="module")
def server(start_server: ServerFactory) -> LiveServer:
    """A server of this module's own, its access log in JSON lines to read the statuses."""
    return start_server(server={"log_format": "json"})


def claude_code(
    claude_bin: Path, server: LiveServer, folder: Path, prompt: str, *options: str
) -> list[dict[str, Any]]:
    """Run ``claude -p PROMPT`` in ``folder`` with cliwrap as its API; its stream-json lines."""
    home = folder / "home"
    home.mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        **readme_environment(server),
    }
    argv = [str(claude_bin), "-p", prompt, "--output-format", "stream-json", "--verbose"]
    done = subprocess.run(
        [*argv, *options],
        env=env,
        cwd=folder,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def statuses(server: LiveServer) -> list[tuple[str, int]]:
    """(path, status) of every request the server has answered, from its access log."""
    found = []
    for line in server.log.splitlines():
        start = line.find("{")
        if start < 0:
            continue
        try:
            fields = json.loads(line[start:])
        except ValueError:
            continue
        if isinstance(fields, dict) and "status" in fields and "path" in fields:
            found.append((fields["path"], fields["status"]))
    return found


def result(lines: list[dict[str, Any]]) -> dict[str, Any]:
    (final,) = [line for line in lines if line.get("type") == "result"]
    return final


def test_claude_code_gets_the_answer_and_its_system_turn_reaches_the_model_in_place(
    claude_bin: Path, server: LiveServer, stub: StubThread, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:12]
    lines = claude_code(claude_bin, server, tmp_path, f"say hi {tag} [[reply:Hello {tag}.]]")
    final = result(lines)
    assert not final["is_error"]
    assert final["result"] == f"Hello {tag}."
    answered = statuses(server)
    assert any(path.startswith("/v1/messages") for path, _ in answered)
    assert [(path, status) for path, status in answered if status >= 400] == []
    # Claude Code's environment is a system turn after the user's: the model read it there.
    (sent,) = [r for r in stub.find(tag) if r.path.startswith("/v1/messages")]
    prompt = json.dumps(sent.body["messages"])
    assert prompt.index(f"say hi {tag}") < prompt.index("<system>\\n# Environment")


def test_a_tool_round_trip_writes_the_file(
    claude_bin: Path, server: LiveServer, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:12]
    target = tmp_path / "hello.txt"
    arguments = json.dumps({"file_path": str(target), "content": f"written {tag}\n"})
    prompt = f"write the file {tag} [[call:Write {arguments}]] [[done:Wrote it {tag}.]]"
    lines = claude_code(claude_bin, server, tmp_path, prompt, "--allowedTools", "Write")
    assert target.read_text() == f"written {tag}\n"
    assert result(lines)["result"] == f"Wrote it {tag}."
    uses = [
        block
        for line in lines
        if line.get("type") == "assistant"
        for block in line["message"]["content"]
        if block["type"] == "tool_use"
    ]
    assert [use["name"] for use in uses] == ["Write"]
    assert uses[0]["id"].startswith("toolu_")
    assert [(path, status) for path, status in statuses(server) if status >= 400] == []
