"""Every example in the README runs against a live cliwrap.

Python and shell examples run as they are written, the README's address replaced by the live
server's; what an example must print is written beside it (:mod:`.readme`). Named examples
(client configs) are run by their client's own test; configs nobody names are parsed. The
model answers the README's questions as :data:`ANSWERS` says.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from cliwrap.testing import LiveServer, StubThread

from .conftest import README, live_cliwrap, live_text
from .model import ScriptedModel, call, reply
from .readme import Example, read_examples

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ANSWERS: dict[str, tuple[str, str]] = {
    # the README's question: (the model's first answer, its answer once a tool's result is back)
    "Explain trio nurseries in a line.": (
        reply("A nursery runs tasks and waits for them all."),
        "",
    ),
    "Count to five.": (reply("1, 2, 3, 4, 5"), ""),
    "Say hello.": (reply("Hello!"), ""),
    "Say hi": (reply("Hi!"), ""),
    "Name a prime number.": (reply("7"), ""),
    "Weather in Oslo?": (call("get_weather", {"city": "Oslo"}), reply("Sunny, 21 °C in Oslo.")),
    "Weather in Bergen?": (
        call("get_weather", {"city": "Bergen"}),
        reply("Sunny, 21 °C in Bergen."),
    ),
    "Where is the Eiffel Tower?": (reply('{"name": "Paris", "country": "France"}'), ""),
    "Where is the Colosseum?": (call("City", {"name": "Rome", "country": "Italy"}), ""),
    "Where is the Alhambra?": (
        call("final_result", {"name": "Granada", "country": "Spain"}),
        reply("Done."),
    ),
}

EXAMPLES = read_examples(README.read_text())
RUNNABLE = [e for e in EXAMPLES if e.language in ("python", "sh") and not e.name and not e.skip]
CONFIGS = [e for e in EXAMPLES if e.language in ("json", "yaml", "toml")]
TESTS = Path(__file__).parent


@pytest.fixture(scope="module", autouse=True)
def _answers(model: ScriptedModel) -> None:
    for question, (first, then) in ANSWERS.items():
        model.script(question, first, then)


@pytest.fixture(scope="module")
def claude_alone(
    tmp_path_factory: pytest.TempPathFactory, stub: StubThread
) -> Iterator[LiveServer]:
    """cliwrap with Claude Code alone configured, for the examples marked ``cli: claude``."""
    with live_cliwrap(tmp_path_factory.mktemp("claude-alone"), stub, alone="claude") as live:
        yield live


@pytest.fixture(scope="module")
def runs(
    server: LiveServer, claude_alone: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Run]:
    """Every runnable example, started together (they are independent), and its outcome."""
    servers = {"": server, "claude": claude_alone}
    started = {
        e.id: _start(e, servers[e.cli], tmp_path_factory.mktemp("example")) for e in RUNNABLE
    }
    return {name: _finish(process) for name, process in started.items()}


Run = tuple[int, str, str]


def _start(example: Example, server: LiveServer, folder: Path) -> subprocess.Popen[str]:
    code = live_text(example, server).replace("ws://127.0.0.1:8000", "ws" + server.url[4:])
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(folder),
        # LiteLLM fetches its model price list at import; this machine may be offline.
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    argv = [sys.executable, "-c", code] if example.language == "python" else ["bash", "-c", code]
    return subprocess.Popen(
        argv, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _finish(process: subprocess.Popen[str]) -> Run:
    try:
        stdout, stderr = process.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
    return process.returncode, stdout, stderr


@pytest.mark.parametrize("example", RUNNABLE, ids=[e.id for e in RUNNABLE])
def test_example_runs(example: Example, runs: dict[str, Run]) -> None:
    status, stdout, stderr = runs[example.id]
    assert status == 0, f"README line {example.line}:\n{stdout}\n{stderr}"
    for text in example.prints:
        assert text in stdout, f"README line {example.line}: {text!r} not in {stdout!r}"


@pytest.mark.parametrize("example", CONFIGS, ids=[e.id for e in CONFIGS])
def test_config_parses(example: Example) -> None:
    if example.language == "json":
        json.loads(example.code)
    elif example.language == "yaml":
        yaml.safe_load(example.code)
    else:
        tomllib.loads(example.code)


def test_every_example_is_run_or_says_why_not() -> None:
    sources = "".join(p.read_text() for p in TESTS.parent.rglob("test_*.py"))
    for example in EXAMPLES:
        if example.name:
            assert f'"{example.name}"' in sources, f"no test runs README example {example.id}"
        elif example.skip is None:
            assert example in RUNNABLE or example in CONFIGS, f"what runs README {example.id}?"
    assert len(RUNNABLE) >= 10


def test_a_newcomers_examples_need_claude_code_alone() -> None:
    """The first request, the async client and the WebSocket run with Claude Code alone."""
    alone = [e for e in RUNNABLE if e.cli]
    assert {e.cli for e in alone} == {"claude"}
    assert any("curl http://127.0.0.1:8000/v1/chat/completions" in e.code for e in alone)
    assert any("AsyncOpenAI(" in e.code and "asyncio.run(" in e.code for e in alone)
    assert any("/v1/ws" in e.code for e in alone)
