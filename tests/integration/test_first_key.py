"""The first start's offer of an API key: asked on a terminal (a pty here), never elsewhere.

``cliwrap serve`` runs as a process whose stdin and stdout are a pseudo-terminal the test
holds; its log (stderr) is a pipe, read until the "serving on" line.
"""

from __future__ import annotations

import io
import os
import pty
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trio

from cliwrap.access.commands import offer_first_key
from cliwrap.access.keys import new_key
from cliwrap.access.sqlite import SqliteKeys
from cliwrap.config import load_config
from cliwrap.providers import PROVIDERS
from cliwrap.storage import Store
from cliwrap.testing.live import READY

from .test_keys import ENV, write_config

_BOUND = 30.0
DEFAULTS = {name: provider.defaults for name, provider in PROVIDERS.items()}
QUESTION = b"Create an API key? [y/N] "


class Started:
    """A ``cliwrap serve`` process, its terminal's side (``master``) and its log."""

    def __init__(self, config: Path, *, terminal: bool) -> None:
        self.master: int | None = None
        if terminal:
            self.master, child_side = pty.openpty()
            stdin: int = child_side
            stdout: int = child_side
        else:
            stdin = stdout = subprocess.PIPE
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cliwrap", "serve", "--config", str(config), "--port", "0"],
            stdin=stdin,
            stdout=stdout,
            stderr=subprocess.PIPE,
            env={**os.environ, **ENV},
        )
        if terminal:
            os.close(child_side)
        self.url = ""
        self._serving = threading.Event()
        self._log: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.process.stderr is not None
        for raw in self.process.stderr:
            line = raw.decode(errors="replace")
            self._log.append(line)
            found = READY.search(line)
            if found:
                self.url = found.group(1)
                self._serving.set()
        self._serving.set()

    def read_until(self, marker: bytes) -> bytes:
        """What the terminal shows up to and including ``marker``."""
        assert self.master is not None
        seen = b""
        deadline = time.monotonic() + _BOUND
        while marker not in seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    f"{marker!r} not shown; the terminal had {seen!r}; the log:\n"
                    + "".join(self._log)
                )
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                seen += os.read(self.master, 4096)
        return seen

    def type(self, text: bytes) -> None:
        assert self.master is not None
        os.write(self.master, text)

    def serving(self) -> str:
        if not self._serving.wait(_BOUND) or not self.url:
            raise RuntimeError("cliwrap did not start:\n" + "".join(self._log))
        return self.url

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        self.process.wait(_BOUND)
        if self.master is not None:
            os.close(self.master)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path)


@pytest.fixture
def started() -> Iterator[list[Started]]:
    servers: list[Started] = []
    yield servers
    for server in servers:
        server.stop()


def stored_keys(config: Path) -> list[str]:
    async def names() -> list[str]:
        path = load_config(config, {}, DEFAULTS).storage_path
        async with await Store.open(path) as store:
            return [key.name for key in await SqliteKeys(store).list()]

    return trio.run(names)


def test_yes_on_a_terminal_makes_a_key_that_the_server_then_requires(
    config: Path, started: list[Started]
) -> None:
    server = Started(config, terminal=True)
    started.append(server)
    server.read_until(QUESTION)
    server.type(b"y\n")
    shown = server.read_until(b"-d '").decode()
    (token,) = re.findall(r"^(cwk_\S+)\r?$", shown, re.MULTILINE)
    assert f"Authorization: Bearer {token}" in shown  # the curl example carries it
    url = server.serving()
    with httpx.Client(base_url=url, timeout=_BOUND) as http:
        assert http.get("/v1/models").status_code == 401
        assert http.get("/v1/models", headers={"Authorization": f"Bearer {token}"}).is_success
    assert stored_keys(config) == ["default"]


def test_no_on_a_terminal_leaves_the_server_open(config: Path, started: list[Started]) -> None:
    server = Started(config, terminal=True)
    started.append(server)
    server.read_until(QUESTION)
    server.type(b"\n")  # the default: no
    server.read_until(b"cliwrap keys create NAME")
    with httpx.Client(base_url=server.serving(), timeout=_BOUND) as http:
        assert http.get("/v1/models").is_success
    assert stored_keys(config) == []


def test_a_program_is_never_asked(config: Path, started: list[Started]) -> None:
    server = Started(config, terminal=False)
    started.append(server)
    server.serving()
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(_BOUND)
    assert server.process.stdout is not None
    assert server.process.stdout.read() == b""  # no question, nothing printed
    assert stored_keys(config) == []


def test_no_offer_once_a_key_is_configured_or_stored(tmp_path: Path) -> None:
    asked: list[str] = []
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()

    def ask(question: str) -> str:
        asked.append(question)
        return "y"

    configured = load_config(write_config(tmp_path / "a", api_keys=("k",)), {}, DEFAULTS)
    assert offer_first_key(configured, ask, io.StringIO()) is None
    stored = load_config(write_config(tmp_path / "b"), {}, DEFAULTS)

    async def store_one() -> None:
        async with await Store.open(stored.storage_path) as store:
            await SqliteKeys(store).create(new_key("ci", 0.0)[1])

    trio.run(store_one)
    assert offer_first_key(stored, ask, io.StringIO()) is None
    assert asked == []
    fresh = load_config(write_config(tmp_path / "c"), {}, DEFAULTS)
    out = io.StringIO()
    made = offer_first_key(fresh, ask, out)
    assert made is not None
    assert made.name == "default"
    assert len(asked) == 1
    assert "curl http://127.0.0.1:8000/v1/chat/completions" in out.getvalue()
