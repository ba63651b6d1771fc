"""Codex CLI as a *client* of cliwrap's /v1/responses, in front of each of the four CLIs.

The real pinned Codex runs ``codex exec`` with the README's profile file (read from the README,
so the recipe stays the one that works) and nothing else. The stub model, reached through
whichever CLI cliwrap runs, answers as a competent model does: a tool call that writes a file
in Codex's working directory, then, once it has seen the tool's result, a short report.

Codex chooses its tools by model name, so the runs cover both sets it sends: a name it does
not know gets its shell (``exec_command``), namespaced tools and ``web_search``; a name that
starts with one of its models (a ``model_map`` alias) gets ``apply_patch`` as a ``custom``
tool, ``tool_search`` and ``web_search``.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cliwrap.providers.base import find_command
from cliwrap.testing import LiveServer

from .conftest import SdkFactory, ServerFactory

README = Path(__file__).parents[2] / "README.md"
README_URL = "http://127.0.0.1:8000/v1"
CODEX = find_command("codex", {**os.environ, "PATH": ""})

PATCH = "*** Begin Patch\\n*** Add File: hello.txt\\n+hello from {cli}\\n*** End Patch\\n"
APPLY_PATCH = '[[call:apply_patch {{"input": "' + PATCH + '"}}]]'
SHELL = '[[call:exec_command {{"cmd": "printf \'hello from {cli}\\\\n\' > hello.txt"}}]]'

RUNS = [
    # (the model Codex asks for, the inner CLI, the call that writes the file)
    pytest.param("gpt-5.5-claude", "claude", APPLY_PATCH, id="claude-apply_patch"),
    pytest.param("gemini", "gemini", SHELL, id="gemini-shell"),
    pytest.param("qwen", "qwen", SHELL, id="qwen-shell"),
    pytest.param("gpt-5.5", "codex", APPLY_PATCH, id="codex-apply_patch"),
]


def readme_codex_config() -> str:
    """The profile file of the README's "Codex CLI as a client" recipe."""
    section = README.read_text().split("#### Codex CLI as a client", 1)[1]
    match = re.search(r"```toml\n(.*?)```", section, re.DOTALL)
    assert match, "the README's Codex recipe has no toml block"
    assert README_URL in match.group(1)
    return match.group(1)


@pytest.fixture(scope="module")
def codex_client_server(start_server: ServerFactory) -> LiveServer:
    """One server for the module; the aliases make Codex offer apply_patch (see above)."""
    if CODEX is None:
        pytest.fail("the pinned codex CLI is not installed: run `just clis`")
    return start_server(
        providers__claude={"model_map": {"gpt-5.5-claude": "sonnet"}},
    )


@pytest.mark.parametrize(("model", "cli", "call"), RUNS)
def test_codex_writes_the_file_its_tool_call_asked_for(
    model: str, cli: str, call: str, codex_client_server: LiveServer, tmp_path: Path
) -> None:
    assert CODEX is not None
    server = codex_client_server
    codex_home = tmp_path / "codex-home"
    codex_home.mkdir()
    config = readme_codex_config().replace(README_URL, server.base_url)
    (codex_home / "cliwrap.config.toml").write_text(config)
    work = tmp_path / "work"
    work.mkdir()
    logged = len(server.log)
    prompt = f"Write hello.txt. {call.format(cli=cli)} [[done:Done: hello.txt is written.]]"
    argv = [str(CODEX), "exec", "--profile", "cliwrap", "--model", model]
    argv += ["--sandbox", "workspace-write"]
    done = subprocess.run(
        [*argv, "--skip-git-repo-check", prompt],
        cwd=work,
        env={**os.environ, "CODEX_HOME": str(codex_home), "CLIWRAP_API_KEY": "any"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    answered = re.findall(r"path=/v1/responses status=(\d+) .* provider=(\w+)", server.log[logged:])
    assert done.returncode == 0, done.stderr[-3000:]
    assert (work / "hello.txt").read_text() == f"hello from {cli}\n", done.stderr[-3000:]
    assert "Done: hello.txt is written." in done.stdout
    assert len(answered) == 2, answered  # the call, then the answer after its result
    assert answered == [("200", cli)] * 2, server.log[logged:]


def test_instructions_echo_only_what_the_client_sent(
    codex_client_server: LiveServer, sdk: SdkFactory
) -> None:
    # Codex sends its 20 kB prompt as developer messages and no instructions: the response's
    # three copies of `instructions` used to repeat the joined system prompt.
    developer: Any = {"role": "developer", "content": "You are a coding agent. " * 50}
    with sdk(codex_client_server).responses.stream(
        model="sonnet", input=[developer, {"role": "user", "content": "hi"}]
    ) as stream:
        carried = [e.response.instructions for e in stream if hasattr(e, "response")]
    assert carried == [None, None, None]
    response = sdk(codex_client_server).responses.create(
        model="sonnet",
        instructions="Be brief.",
        input=[developer, {"role": "user", "content": "hi"}],
    )
    assert response.instructions == "Be brief."
