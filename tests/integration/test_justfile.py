"""The Justfile's recipes as a newcomer meets them: arguments kept as typed, one install at a
time, a clear word when the system tests' packages cannot be installed.

Each test runs the real `just` (a dev dependency) on a copy of the Justfile in a temporary
folder, with the recipe's dependencies cut off or satisfied there, so nothing is installed.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
JUST = Path(sys.executable).parent / "just"
"""rust-just from the dev dependencies, beside the venv's python."""

ARGV_PRINTER = f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n"


def _just(folder: Path, *args: str) -> list[str]:
    if not JUST.exists():
        pytest.fail(f"`just` is not in {JUST.parent}: install the dev dependencies (`just setup`)")
    return [
        str(JUST),
        "--justfile",
        str(folder / "Justfile"),
        "--working-directory",
        str(folder),
        *args,
    ]


def _copy(folder: Path, *, without_dependencies: bool) -> None:
    text = (ROOT / "Justfile").read_text()
    if without_dependencies:
        # "test *args: setup clis" ─► "test *args:"; settings and assignments (":=") stay.
        text = re.sub(r"(?m)^([A-Za-z][\w-]*(?: [*+]?\w+)*):(?!=).*$", r"\1:", text)
    (folder / "Justfile").write_text(text)


@pytest.mark.parametrize(
    ("recipe", "fixed"),
    [("test", []), ("test-fast", ["-m", "not real_cli and not system"])],
)
def test_arguments_reach_pytest_as_typed(tmp_path: Path, recipe: str, fixed: list[str]) -> None:
    _copy(tmp_path, without_dependencies=True)
    printer = tmp_path / "python"
    printer.write_text(ARGV_PRINTER)
    printer.chmod(0o755)
    typed = ["-m", "not real_cli", "-k", "a b and 'c'", "$HOME"]
    argv = _just(tmp_path, "--set", "python", str(printer), recipe, *typed)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(done.stdout) == ["-m", "pytest", *fixed, *typed]


def _installed_venv(folder: Path) -> None:
    """A venv `just setup` takes as up to date: nothing for it to do once it holds the lock."""
    (folder / "pyproject.toml").write_text("")
    bin_dir = folder / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").symlink_to(sys.executable)
    stamp = folder / ".venv" / ".cliwrap-installed"
    stamp.touch()
    os.utime(folder / "pyproject.toml", (0, 0))


@pytest.mark.parametrize("flock_on_path", [True, False], ids=["flock", "python3-fcntl"])
def test_an_install_waits_for_the_one_under_way(tmp_path: Path, flock_on_path: bool) -> None:
    _copy(tmp_path, without_dependencies=False)
    _installed_venv(tmp_path)
    env = dict(os.environ)
    if not flock_on_path:
        # A PATH with everything the recipe uses but flock(1), as on macOS.
        tools = tmp_path / "tools"
        tools.mkdir()
        for name in ("bash", "env"):
            found = shutil.which(name)
            assert found, name
            (tools / name).symlink_to(found)
        (tools / "python3").symlink_to(sys.executable)
        env["PATH"] = str(tools)
    with (tmp_path / ".install.lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another recipe is installing
        with subprocess.Popen(
            _just(tmp_path, "setup"), stderr=subprocess.PIPE, text=True, env=env
        ) as setup:
            assert setup.stderr is not None
            assert "waiting for it to finish" in setup.stderr.readline()
            assert setup.poll() is None, "setup went on while another install held the lock"
            fcntl.flock(held, fcntl.LOCK_UN)
            assert setup.wait(timeout=60) == 0


def test_system_names_the_packages_it_cannot_install(tmp_path: Path) -> None:
    _copy(tmp_path, without_dependencies=False)
    tools = tmp_path / "tools"
    tools.mkdir()
    for name in ("bash", "env", "id"):
        found = shutil.which(name)
        assert found, name
        (tools / name).symlink_to(found)
    if all(Path("/usr/sbin", name).exists() for name in ("nginx",)):
        expected = "chromium redis-server"  # nginx is found in /usr/sbin whatever PATH says
    else:
        expected = "chromium redis-server nginx"
    done = subprocess.run(
        _just(tmp_path, "system"),
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": str(tools)},
        check=False,
    )
    assert done.returncode != 0
    assert f"the system tests (tests/system) need {expected}" in done.stderr
    assert "just test-fast" in done.stderr
