"""Simon Willison's ``llm``: the README's ``extra-openai-models.yaml`` and commands, as shown."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cliwrap.testing import LiveServer

from .conftest import live_text
from .model import ScriptedModel, reply
from .readme import Example


def test_llm_answers_through_cliwrap(
    server: LiveServer,
    model: ScriptedModel,
    examples: dict[str, Example],
    client_env: dict[str, str],
    tmp_path: Path,
) -> None:
    folder = tmp_path / "llm"
    folder.mkdir()
    (folder / "extra-openai-models.yaml").write_text(live_text(examples["llm-models"], server))
    model.script("Name a prime number.", reply("7"))
    # llm is installed with the test dependencies, beside this Python.
    path = os.pathsep.join([str(Path(sys.executable).parent), client_env["PATH"]])
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", live_text(examples["llm-run"], server)],
        env={**client_env, "PATH": path, "LLM_USER_PATH": str(folder)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "7"
