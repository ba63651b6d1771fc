"""aider, configured by the README's ``.aider.conf.yml``, edits a file in each edit format.

Each format runs in a git repository of its own; the model answers in that format's own
words (a whole file, a SEARCH/REPLACE block, a unified diff) and aider applies the edit. The
three runs go at once: aider takes seconds to start, the model none.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from cliwrap.testing import LiveServer

from .conftest import aider_bin, live_text
from .model import ScriptedModel, reply
from .readme import Example

BEFORE = 'def greet():\n    return "hi"\n'
AFTER = 'def greet():\n    return "hello"\n'
FENCE = "`" * 3
ANSWERS = {
    "whole": f"greet.py\n{FENCE}python\n{AFTER}{FENCE}\n",
    "diff": (
        f'greet.py\n{FENCE}python\n<<<<<<< SEARCH\n    return "hi"\n=======\n'
        f'    return "hello"\n>>>>>>> REPLACE\n{FENCE}\n'
    ),
    "udiff": (
        f"{FENCE}diff\n--- greet.py\n+++ greet.py\n@@ ... @@\n def greet():\n"
        f'-    return "hi"\n+    return "hello"\n{FENCE}\n'
    ),
}


def _repository(folder: Path, config: str, metadata: str, edit_format: str) -> Path:
    folder.mkdir()
    (folder / "greet.py").write_text(BEFORE)
    (folder / ".aider.model.metadata.json").write_text(metadata)
    conf = config.replace("edit-format: diff", f"edit-format: {edit_format}")
    assert f"edit-format: {edit_format}" in conf
    (folder / ".aider.conf.yml").write_text(conf)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    for step in (["init", "-q"], ["add", "."], ["commit", "-qm", "start"]):
        subprocess.run([*git, *step], cwd=folder, check=True)
    return folder


def test_aider_edits_in_each_format(
    server: LiveServer,
    model: ScriptedModel,
    examples: dict[str, Example],
    client_env: dict[str, str],
    tmp_path: Path,
) -> None:
    config = live_text(examples["aider-conf"], server)
    metadata = examples["aider-metadata"].code
    env = {**client_env, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}  # offline: no price list
    runs = {}
    for edit_format, answer in ANSWERS.items():
        task = f"Make greet say hello ({edit_format})."
        model.script(task, reply(answer))
        repository = _repository(tmp_path / edit_format, config, metadata, edit_format)
        argv = [
            aider_bin(), "--message", task, "--yes-always", "--no-auto-commits",
            "--no-check-update", "--no-analytics", "--no-show-release-notes",
            "--no-pretty", "--map-tokens", "0", "greet.py",
        ]  # fmt: skip
        runs[edit_format] = subprocess.Popen(
            argv, cwd=repository, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    for edit_format, process in runs.items():
        output, _ = process.communicate(timeout=180)
        assert process.returncode == 0, output
        assert f"with {edit_format} edit format" in output
        assert "Unknown context window" not in output, output  # the README's metadata file
        assert "Applied edit to greet.py" in output, output
        assert (tmp_path / edit_format / "greet.py").read_text() == AFTER
