"""The dashboard's files are package data, served by name with their type, and nothing else
is: no path outside the folder, no Python module, no hidden file."""

from __future__ import annotations

import re

import pytest

from cliwrap import dashboard


def test_the_page_and_every_module_it_imports_are_there() -> None:
    page = dashboard.asset("index.html")
    assert page is not None
    html, kind = page
    assert kind.startswith("text/html")
    wanted = re.findall(rb'(?:src|href)="/dashboard/([\w.]+)"', html)
    assert set(wanted) == {b"app.js", b"style.css"}
    scripts = [b"app.js"]
    while scripts:
        found = dashboard.asset(scripts.pop().decode())
        assert found is not None
        code, kind = found
        assert kind.startswith("text/javascript")
        # Plain ES modules, relative imports only: nothing from a CDN, no build step.
        for name in re.findall(rb'from "\./([\w.]+)"', code):
            scripts.append(name)
        assert b"http://" not in code.replace(b"http://www.w3.org/2000/svg", b"")
        assert b"https://" not in code


@pytest.mark.parametrize(
    "name", ["__init__.py", "../__init__.py", "..%2Fconfig.py", ".hidden.js", "nope.js", "app"]
)
def test_anything_else_is_not_served(name: str) -> None:
    assert dashboard.asset(name) is None
