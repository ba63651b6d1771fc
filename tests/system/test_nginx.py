"""deploy/nginx.conf in front of two live cliwrap instances, in Debian's nginx.

The README's nginx config, with the test's ports in place of its own, is included in a small
main config that adds the answering upstream's address to each response (``X-Upstream``), so
the test sees where each request went: a conversation (its ``X-Session-Id``) and, without
one, a client's key always reach the same instance, the instances share the work, and a
WebSocket upgrade passes through. The instances have no CLI: ``/health`` and the WebSocket's
answer to a bad frame need none.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trio
from trio_websocket import open_websocket_url

from cliwrap.providers import PROVIDERS
from cliwrap.testing import LiveServer, config_text

from ..leaks import _collect_garbage_after_each_test  # noqa: F401  (autouse)

pytestmark = pytest.mark.system

ROOT = Path(__file__).parents[2]
DEPLOYED = ROOT / "deploy" / "nginx.conf"
_START_BOUND = 20.0
"""Seconds nginx may take to listen: a failure bound, never reached when all is well."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _nginx() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        pytest.fail("nginx is not installed: `just system` installs it (apt-get install nginx)")
    return found


@pytest.fixture(scope="module")
def instances(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[LiveServer]]:
    """Two cliwrap instances with no CLI (every command points nowhere)."""
    with _instance(tmp_path_factory.mktemp("a")) as a, _instance(tmp_path_factory.mktemp("b")) as b:
        yield [a, b]


def _instance(folder: Path) -> LiveServer:
    tables = {
        "server": {"state_dir": str(folder / "state")},
        **{f"providers.{name}": {"command": str(folder / "no-cli")} for name in PROVIDERS},
    }
    path = folder / "config.toml"
    path.write_text(config_text(tables))
    return LiveServer(path, folder / "state")


def _address(server: LiveServer) -> str:
    return server.url.removeprefix("http://")


@pytest.fixture(scope="module")
def proxy(instances: list[LiveServer], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """nginx with deploy/nginx.conf in front of ``instances``; its URL."""
    folder = tmp_path_factory.mktemp("nginx")
    port = _free_port()
    text = DEPLOYED.read_text()
    for theirs, ours in (
        ("server 127.0.0.1:8001;", f"server {_address(instances[0])};"),
        ("server 127.0.0.1:8002;", f"server {_address(instances[1])};"),
        ("listen 127.0.0.1:8080;", f"listen 127.0.0.1:{port};"),
    ):
        assert text.count(theirs) == 1, f"deploy/nginx.conf no longer says {theirs!r}"
        text = text.replace(theirs, ours)
    (folder / "cliwrap.conf").write_text(text)
    temp = "".join(
        f"    {kind}_temp_path {folder / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (folder / "nginx.conf").write_text(
        f"daemon off;\npid {folder / 'nginx.pid'};\nerror_log {folder / 'error.log'};\n"
        "events {}\n"
        "http {\n    access_log off;\n"
        + temp
        + "    add_header X-Upstream $upstream_addr always;\n"
        f"    include {folder / 'cliwrap.conf'};\n}}\n"
    )
    nginx = subprocess.Popen(
        [
            _nginx(),
            "-p",
            str(folder),
            "-e",
            str(folder / "error.log"),
            "-c",
            str(folder / "nginx.conf"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_listen(port, nginx)
        yield f"127.0.0.1:{port}"
    finally:
        nginx.terminate()
        try:
            _, errors = nginx.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            nginx.kill()
            _, errors = nginx.communicate()
    assert "[emerg]" not in errors


def _wait_for_listen(port: int, nginx: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + _START_BOUND
    while time.monotonic() < deadline:
        if nginx.poll() is not None:
            assert nginx.stderr is not None
            pytest.fail(f"nginx exited at start:\n{nginx.stderr.read()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    pytest.fail(f"nginx did not listen on port {port} within {_START_BOUND:g} s")


def _upstreams(proxy: str, headers: dict[str, str], times: int = 3) -> set[str]:
    with httpx.Client(base_url=f"http://{proxy}") as client:
        answers = [client.get("/health", headers=headers) for _ in range(times)]
    assert all(answer.status_code == 200 for answer in answers)
    return {answer.headers["x-upstream"] for answer in answers}


def test_a_conversations_turns_reach_the_instance_of_its_first(
    proxy: str, instances: list[LiveServer]
) -> None:
    """The first turn carries no X-Session-Id (its answer brings one); the next turns do:
    they must reach the instance that holds the conversation."""
    for n in range(8):
        key = {"Authorization": f"Bearer key-{n}"}
        first = _upstreams(proxy, key, times=1)
        assert _upstreams(proxy, {**key, "X-Session-Id": f"conversation-{n}"}) == first


def test_without_a_session_a_clients_key_picks_its_instance(
    proxy: str, instances: list[LiveServer]
) -> None:
    reached = [_upstreams(proxy, {"Authorization": f"Bearer key-{n}"}) for n in range(16)]
    assert all(len(upstreams) == 1 for upstreams in reached)
    assert set().union(*reached) == {_address(server) for server in instances}
    assert _upstreams(proxy, {"x-api-key": "key-3"}) == _upstreams(proxy, {"x-api-key": "key-3"})


async def test_a_websocket_passes_through(proxy: str) -> None:
    with trio.fail_after(30):
        async with open_websocket_url(f"ws://{proxy}/v1/ws") as ws:
            await ws.send_message("not json")
            frame = json.loads(await ws.get_message())
    assert frame["type"] == "error"
    assert frame["status"] == 400
