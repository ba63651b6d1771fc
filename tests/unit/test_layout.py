"""The folders are the design: the sans-IO packages never reach for I/O or the runtime.

``core`` holds values only; ``semantics``, ``providers`` and ``surfaces`` turn values into
values. None of them may import the packages that spawn, wait and serve (``runtime``,
``server``) or the libraries that do I/O for them (trio, Quart, hypercorn, httpx).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import cliwrap

PACKAGE = Path(cliwrap.__file__).parent
SANS_IO = ("core", "semantics", "providers", "surfaces")
FORBIDDEN = ("cliwrap.runtime", "cliwrap.server", "trio", "quart", "hypercorn", "httpx")


def imports(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                names.add(".".join([*base, node.module] if node.module else base))
            else:
                names.add(node.module or "")
    return names


@pytest.mark.parametrize("folder", SANS_IO)
def test_sans_io_packages_import_no_runtime_server_or_io_library(folder: str) -> None:
    offenders = {
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in (PACKAGE / folder).rglob("*.py")
        for name in imports(path)
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN)
    }
    assert offenders == set()


def test_the_package_is_typed() -> None:
    assert (PACKAGE / "py.typed").exists()


def test_relative_imports_are_resolved() -> None:
    """The check above sees what a module imports, relative imports included."""
    assert "cliwrap.core.errors" in imports(PACKAGE / "core" / "events.py")
    assert "cliwrap.runtime.admission" in imports(PACKAGE / "runtime" / "job.py")
    assert "trio" in imports(PACKAGE / "runtime" / "job.py")
