"""The system tier: outside services the project's setup installs (redis-server), started
by the fixtures on free loopback ports, and live cliwrap servers around them.

A missing service fails the test with what to install: the suite never skips silently.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..leaks import _collect_garbage_after_each_test  # noqa: F401  (autouse)

_START_BOUND = 20.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``redis-server`` of the test module's own on 127.0.0.1, without persistence;
    its URL."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail(
            "redis-server is not installed: the system tests need it "
            "(`just setup` installs it; by hand: apt-get install -y redis-server, "
            "or brew install redis)",
            pytrace=False,
        )
    folder = tmp_path_factory.mktemp("redis")
    port = free_port()
    process = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_ping(port, process)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_ping(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + _START_BOUND
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"redis-server exited at start (status {process.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.02)
    pytest.fail(f"redis-server did not answer on port {port} within {_START_BOUND:g} s")


def flush(url: str) -> None:
    """Empty the database (tests of one module share its server)."""
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()


@pytest.fixture
def clean_redis(redis_url: str) -> str:
    flush(redis_url)
    return redis_url


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
