"""Simon Willison's ``llm``: the README's ``extra-openai-models.yaml`` and commands, as shown."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cliwrap.testing import LiveServer

from .conftest import live_text, run_client
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
    script = ["bash", "-euo", "pipefail", "-c", live_text(examples["llm-run"], server)]
    printed = run_client(script, folder, {**client_env, "PATH": path, "LLM_USER_PATH": str(folder)})
    assert printed.strip() == "7"
