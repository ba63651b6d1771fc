"""Fixtures for the real-CLI tier: the stub model backends, the pinned CLIs, and live cliwrap
servers running them."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from cliwrap.providers.base import find_command
from cliwrap.testing import (
    LiveServer,
    StubBackends,
    StubThread,
    config_text,
    group_alive,
    provider_tables,
)

from ..leaks import _collect_garbage_after_each_test  # noqa: F401  (autouse)

CLAUDE = find_command("claude", {**os.environ, "PATH": ""})


@pytest.fixture(scope="session")
def claude_bin() -> Path:
    """The pinned Claude Code from `just clis`; its absence fails the tests that need it."""
    if CLAUDE is None:
        pytest.fail("the pinned claude CLI is not installed: run `just clis`")
    return CLAUDE


@pytest.fixture(scope="session")
def backends() -> StubBackends:
    """The stub model APIs, with the simulated prompt cache they share (its ``stats()``)."""
    return StubBackends()


@pytest.fixture(scope="session")
def stub(backends: StubBackends) -> Iterator[StubThread]:
    """One stub server for all four model APIs (see cliwrap.testing.backends)."""
    with StubThread(backends) as stub:
        yield stub


@pytest.fixture(scope="session")
def anthropic_stub(stub: StubThread) -> StubThread:
    return stub


ServerFactory = Callable[..., LiveServer]
SdkFactory = Callable[..., openai.OpenAI]


@pytest.fixture
def sdk() -> Iterator[SdkFactory]:
    """OpenAI SDK clients for live servers, closed when the test ends.

    Closing them ourselves matters: a client caught in a reference cycle (a `pytest.raises`
    traceback holds the frame that made it) is finalised by the garbage collector in no
    particular order, so its pooled socket may be reported unclosed, in some later test,
    before the client's own finaliser closes it.
    """
    with contextlib.ExitStack() as stack:

        def make(server: LiveServer, api_key: str = "unused") -> openai.OpenAI:
            client = openai.OpenAI(
                base_url=server.base_url, api_key=api_key, max_retries=0, timeout=60
            )
            return stack.enter_context(client)

        yield make


@pytest.fixture(scope="session")
def start_server(
    tmp_path_factory: pytest.TempPathFactory, stub: StubThread, claude_bin: Path
) -> Iterator[ServerFactory]:
    """Start a cliwrap subprocess wired to the stub; sections override config tables."""
    started: list[LiveServer] = []

    def start(state_dir: Path | None = None, **sections: dict[str, Any]) -> LiveServer:
        folder = tmp_path_factory.mktemp("server")
        home = folder / "home"
        home.mkdir()
        state = state_dir or folder / "state"
        tables: dict[str, dict[str, Any]] = {
            "server": {"state_dir": str(state), "keepalive_interval": 15.0},
            "limits": {"max_concurrent": 16, "max_queue": 64},
            # No ready processes started beside the ones a test asks for: a test that looks
            # for the CLI of its request finds that one (warm-up has tests of its own).
            "warmup": {"strategy": "none"},
            **provider_tables(stub.url, home),
        }
        for name, table in sections.items():
            tables.setdefault(name.replace("__", "."), {}).update(table)
        path = folder / "config.toml"
        path.write_text(config_text(tables))
        server = LiveServer(path, state)
        server.start()
        started.append(server)
        return server

    yield start
    groups = set()
    for server in started:  # all of them first: servers may share a state directory
        groups.update(server.pgids())
        if server.process is not None and server.process.poll() is None:
            # A clean stop ends every CLI process it keeps (conversations' live ones too).
            server.stop()
    leftovers = sorted(g for g in groups if group_alive(g))
    assert not leftovers, f"CLI process groups left running: {leftovers}"


@pytest.fixture(scope="session")
def server(start_server: ServerFactory) -> LiveServer:
    """One shared server with roomy limits, for tests that don't change the config."""
    return start_server()
