"""The dashboard: a static page (HTML, ES modules, CSS) served by cliwrap itself at ``/``.

No build step and nothing from a CDN: the files here are the page, shipped as package data.
The shell holds no data; the page asks the API for everything, with the key the user typed,
so the dashboard is exactly as protected as the API.
"""

from __future__ import annotations

from importlib import resources

__all__ = ["PREFIX", "asset"]

PREFIX = "/dashboard/"
"""Where the page's own files are served (``/`` serves ``index.html``)."""

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


def asset(name: str) -> tuple[bytes, str] | None:
    """The file ``name`` and its content type; None unless it is one of the page's files."""
    suffix = name[name.rfind(".") :] if "." in name else ""
    if "/" in name or "\\" in name or name.startswith(".") or suffix not in _TYPES:
        return None
    found = resources.files(__name__).joinpath(name)
    if not found.is_file():
        return None
    return found.read_bytes(), _TYPES[suffix]
