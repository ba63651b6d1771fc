"""Fixtures for the client tier: one live cliwrap whose CLIs talk to a scripted stub model, and
the README's examples.

The real clients (aider, OpenCode, Continue's ``cn``, the Python libraries) run against it
end to end, configured as the README's recipes say. The inner CLIs are the pinned ones
(``just clis``) against the repo's stub backends: the client is what these tests try, so
the model only has to answer the way a competent one does (:mod:`.model`).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from cliwrap.providers.base import find_command
from cliwrap.testing import LiveServer, StubThread, config_text, group_alive, provider_tables

from ..leaks import _collect_garbage_after_each_test  # noqa: F401  (autouse)
from .model import ScriptedModel
from .readme import README_URL, Example, read_examples

ROOT = Path(__file__).parents[2]
README = ROOT / "README.md"
CLIENT_BIN = ROOT / "clients" / "node_modules" / ".bin"
"""The pinned Node clients, installed by `just clients`."""
AIDER = ROOT / ".venv-aider" / "bin" / "aider"
"""aider in a venv of its own (it pins exact versions of what the project also uses)."""


FAST_ALIASES = ("sonnet", "gemini-2.5-flash")


@pytest.fixture(scope="session")
def model() -> ScriptedModel:
    """The model, scripted by each test for the questions it asks."""
    return ScriptedModel()


@pytest.fixture(scope="session")
def stub(model: ScriptedModel) -> Iterator[StubThread]:
    with StubThread(model) as stub:
        yield stub


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, stub: StubThread) -> Iterator[LiveServer]:
    """cliwrap with every CLI wired to the stub, no keys (so any key a recipe shows works)."""
    # The clients are under test, not the CLIs: the README's model names go to Codex CLI,
    # the quickest pinned CLI to start (the routing itself is tested in tests/real_cli).
    fast = {"codex": dict.fromkeys(FAST_ALIASES, "gpt-5.5")}
    with live_cliwrap(tmp_path_factory.mktemp("server"), stub, model_maps=fast) as live:
        yield live


@contextmanager
def live_cliwrap(
    folder: Path,
    stub: StubThread,
    *,
    alone: str = "",
    model_maps: Mapping[str, Mapping[str, str]] | None = None,
) -> Iterator[LiveServer]:
    """A live cliwrap whose CLIs talk to ``stub``: every CLI, or ``alone`` (the others off)."""
    if find_command("claude", {**os.environ, "PATH": ""}) is None:
        pytest.fail("the pinned CLIs are not installed: run `just clis`")
    home = folder / "home"
    home.mkdir()
    tables: dict[str, dict[str, Any]] = {
        "server": {"state_dir": str(folder / "state")},
        "limits": {"max_concurrent": 8, "max_queue": 64},
        **provider_tables(stub.url, home),
    }
    if alone:
        assert f"providers.{alone}" in tables, alone
        for name in tables:
            if name.startswith("providers.") and name != f"providers.{alone}":
                tables[name] = {"enabled": False}
    for name, model_map in (model_maps or {}).items():
        tables[f"providers.{name}"]["model_map"] = dict(model_map)
    path = folder / "config.toml"
    path.write_text(config_text(tables))
    with LiveServer(path, folder / "state") as live:
        yield live
        groups = live.pgids()
    # Conversations keep their CLI processes while the server runs; its stop ends them all.
    leftovers = [g for g in groups if group_alive(g)]
    assert not leftovers, f"CLI process groups left running: {leftovers}"


@pytest.fixture(scope="session")
def examples() -> dict[str, Example]:
    """The README's named examples, by name."""
    return {e.name: e for e in read_examples(README.read_text()) if e.name}


def live_text(example: Example, server: LiveServer) -> str:
    """An example's text with the README's address replaced by the live server's."""
    return example.code.replace(README_URL, server.url)


@pytest.fixture
def client_env(tmp_path: Path) -> dict[str, str]:
    """An environment for a client process: a private HOME, no keys of the machine's."""
    home = tmp_path / "home"
    home.mkdir()
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TERM")}
    return {
        **keep,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_STATE_HOME": str(home / ".local/state"),
        "NO_COLOR": "1",
    }


def node_client(name: str) -> str:
    """A pinned Node client's path; its absence fails the test that needs it."""
    path = CLIENT_BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed: run `just clients`")
    return str(path)


def aider_bin() -> str:
    if not AIDER.exists():
        pytest.fail("aider is not installed: run `just clients`")
    return str(AIDER)


__all__ = ["aider_bin", "live_cliwrap", "live_text", "node_client"]


def run_client(argv: list[str], cwd: Path, env: dict[str, str]) -> str:
    """Run a client to its end; fail with what it printed unless it succeeded."""
    done = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, f"{argv[0]}:\n{done.stdout}\n{done.stderr}"
    return done.stdout
