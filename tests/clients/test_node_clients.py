"""OpenCode and Continue's CLI, configured as the README says, write a file through a tool call.

Each runs headless (``opencode run``, ``cn -p``) in a fresh project folder with a private HOME;
the model calls the client's own file-writing tool, the client writes the file, sends the
result back, and the model's last answer is what the client prints.
"""

from __future__ import annotations

from pathlib import Path

from cliwrap.testing import LiveServer

from .conftest import live_text, node_client, run_client
from .model import ScriptedModel, call, reply
from .readme import Example


def test_opencode_writes_a_file(
    server: LiveServer,
    model: ScriptedModel,
    examples: dict[str, Example],
    client_env: dict[str, str],
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "opencode.json").write_text(live_text(examples["opencode.json"], server))
    model.script(
        "Write the OpenCode greeting",
        call("write", {"filePath": "hello.txt", "content": "hi from OpenCode"}),
        reply("Wrote hello.txt."),
    )
    # OpenCode fetches its model catalog at start; not from this test (it may be offline).
    env = {**client_env, "OPENCODE_DISABLE_MODELS_FETCH": "1", "OPENCODE_DISABLE_AUTOUPDATE": "1"}
    argv = [node_client("opencode"), "run", "-m", "cliwrap/sonnet", "Write the OpenCode greeting"]
    printed = run_client(argv, project, env)
    assert (project / "hello.txt").read_text() == "hi from OpenCode"
    assert "Wrote hello.txt." in printed


def test_continue_cli_writes_a_file(
    server: LiveServer,
    model: ScriptedModel,
    examples: dict[str, Example],
    client_env: dict[str, str],
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(live_text(examples["continue-config"], server))
    model.script(
        "Write the Continue greeting",
        call("Write", {"filepath": "hello.txt", "content": "hi from cn"}),
        reply("Wrote hello.txt."),
    )
    env = {**client_env, "CONTINUE_GLOBAL_DIR": str(tmp_path / "continue")}
    argv = [
        node_client("cn"),
        "--config",
        str(config),
        "--auto",
        "-p",
        "Write the Continue greeting",
    ]
    printed = run_client(argv, project, env)
    assert (project / "hello.txt").read_text() == "hi from cn"
    assert "Wrote hello.txt." in printed
