"""The CLIs cliwrap drives, one module each."""

from collections.abc import Mapping

from .base import Invocation, LineParser, Provider, build_env, find_command
from .claude import ClaudeProvider

__all__ = ["PROVIDERS", "Invocation", "LineParser", "Provider", "build_env", "find_command"]

PROVIDERS: Mapping[str, Provider] = {p.name: p for p in (ClaudeProvider(),)}
"""Every known provider by name, in routing order."""
