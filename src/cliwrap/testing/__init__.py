"""Test support that ships with cliwrap: stub model backends, a fake process backend, and
helpers to run a live server.

Public so that anyone extending cliwrap (a new provider, a new surface) tests against the
same stubs the project's own suite uses.
"""

from .anthropic import handle_messages
from .backends import (
    StubBackends,
    codex_stub_args,
    config_text,
    handle_backends,
    provider_tables,
)
from .directives import Plan, read_plan
from .fake_processes import FakeBackend, FakeCli, FakeProcess, open_fake_backend
from .http import DROP, Recorded, Response, StubThread, serve_stub
from .live import LiveServer, eventually, group_alive
from .prompt_cache import CacheStats, PromptCache

__all__ = [
    "DROP",
    "CacheStats",
    "FakeBackend",
    "FakeCli",
    "FakeProcess",
    "LiveServer",
    "Plan",
    "PromptCache",
    "Recorded",
    "Response",
    "StubBackends",
    "StubThread",
    "codex_stub_args",
    "config_text",
    "eventually",
    "group_alive",
    "handle_backends",
    "handle_messages",
    "open_fake_backend",
    "provider_tables",
    "read_plan",
    "serve_stub",
]
