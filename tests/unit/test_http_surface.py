"""The HTTP surface's wire details: auth, limits, error envelopes, health, models, startup."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cliwrap", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_open_api_on_a_public_address_is_refused(tmp_path: Path) -> None:
    done = run_cli(
        "serve", "--host", "0.0.0.0", "--port", "0", env={"CLIWRAP_STATE_DIR": str(tmp_path)}
    )
    assert done.returncode == 2
    assert "server.api_keys is empty" in done.stderr


def test_bad_config_stops_startup_with_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[limits]\nmax_concurent = 3\n")
    done = run_cli("serve", "--config", str(config))
    assert done.returncode == 2
    assert f"{config}: limits: unknown key 'max_concurent'" in done.stderr
    assert "Traceback" not in done.stderr
