"""What is installed: /v1/models with versions and discovered models, and `cliwrap doctor`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cliwrap.providers import PROVIDERS
from cliwrap.testing import LiveServer

from .conftest import SdkFactory

CLIS = Path(__file__).resolve().parents[2] / "clis"
PACKAGES = {
    "claude": "@anthropic-ai/claude-code",
    "gemini": "@google/gemini-cli",
    "qwen": "@qwen-code/qwen-code",
    "codex": "@openai/codex",
}


def locked_versions() -> dict[str, str]:
    lock = json.loads((CLIS / "package-lock.json").read_text())
    return {
        name: lock["packages"][f"node_modules/{package}"]["version"]
        for name, package in PACKAGES.items()
    }


def doctor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cliwrap", "doctor", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_pinned_versions_are_the_ones_exercised(server: LiveServer) -> None:
    pins = json.loads((CLIS / "package.json").read_text())["dependencies"]
    locked = locked_versions()
    assert set(PACKAGES) == set(PROVIDERS), "every provider's CLI is pinned"
    assert set(pins) == set(PACKAGES.values()), "nothing is pinned that the tests do not run"
    assert {name: pins[package] for name, package in PACKAGES.items()} == locked
    done = doctor("--json", "--config", str(server.config_path))
    found = {f["provider"]: f for f in json.loads(done.stdout)}
    for name, version in locked.items():
        assert found[name]["version"] == version, f"{name} runs a different version than pinned"
        assert found[name]["path"].startswith(str(CLIS / "node_modules"))


def test_models_list_every_provider_with_its_cli_version(
    server: LiveServer, sdk: SdkFactory
) -> None:
    models = sdk(server).models.list().data
    listed = {m.id: m.model_extra or {} for m in models}
    locked = locked_versions()
    for name in PROVIDERS:
        mine = [model for model, extra in listed.items() if extra["provider"] == name]
        assert mine, f"no models listed for {name}"
        for model in mine:
            assert listed[model]["installed"] is True
            assert listed[model]["cli_version"] == locked[name]
            assert not model.endswith("-progress")  # twins are listed only when configured
            assert listed[model]["context_length"] > 0
            assert listed[model]["top_provider"]["max_completion_tokens"] > 0


def test_doctor_probes_each_cli(server: LiveServer) -> None:
    done = doctor("--probe", "--json", "--config", str(server.config_path))
    assert done.returncode == 0, done.stdout + done.stderr
    findings = json.loads(done.stdout)
    assert [f["provider"] for f in findings] == list(PROVIDERS)
    for finding in findings:
        assert finding["probe"].startswith("ok"), finding
        assert finding["healthy"] is True
        assert "test-key" not in json.dumps(finding)  # hints name credentials, never show them
    table = doctor("--probe", "--config", str(server.config_path)).stdout
    assert table.splitlines()[0].split() == [
        "PROVIDER",
        "CLI",
        "VERSION",
        "MODELS",
        "AUTH",
        "LOGIN",
    ]
    assert "probe ok" in table


def test_doctor_reports_a_missing_cli(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[providers.gemini]\ncommand = "/nonexistent/gemini"\n')
    done = doctor("--strict", "--config", str(config))
    assert done.returncode == 1
    row = next(line for line in done.stdout.splitlines() if line.startswith("gemini"))
    assert "not installed" in row
    assert "npm install -g @google/gemini-cli" in done.stdout
